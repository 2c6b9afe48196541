"""Labelled evaluation set for bench/privacy.py: real prose with planted PII and planted hard negatives.

Fixed seed, valid-by-construction values (Luhn cards, mod-97 IBANs, checksummed CN IDs, NANP phones, global IPs),
sentences in EN/DE/ZH and code. Each record: {"id", "text", "spans": [{start, end, type}], "negatives": [{start,
end, kind}]}. Run it alone to write a small sample: python bench/data/privacy/generate.py > sample.jsonl
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
import sys
import uuid

_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_NAMES = ["anna", "lukas", "mia", "jonas", "wei", "li", "fang", "james", "olivia", "müller", "zoë", "chen", "sara"]
_DOMAINS = ["example.com", "mail-box.de", "uni-sample.edu", "firma.example.org", "example.cn", "post.example.net"]


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def email(rng: random.Random) -> tuple[str, str]:
    local = f"{rng.choice(_NAMES)}.{rng.choice(_NAMES)}{rng.randint(1, 999)}"
    domain = rng.choice(_DOMAINS)
    if rng.random() < 0.15:
        host, tld = domain.rsplit(".", 1)
        return f"{local} [at] {host} [dot] {tld}", "EMAIL"
    return f"{local}@{domain}", "EMAIL"


def phone(rng: random.Random) -> tuple[str, str]:
    area, exch = f"{rng.randint(2, 9)}{_digits(rng, 2)}", f"{rng.randint(2, 9)}{_digits(rng, 2)}"
    forms = [
        f"({area}) {exch}-{_digits(rng, 4)}",
        f"+1 {area}-{exch}-{_digits(rng, 4)}",
        f"+49 30 {_digits(rng, 8)}",
        f"0{rng.choice(['151', '171', '176'])} {_digits(rng, 7)}",
        f"1{rng.choice('3456789')}{_digits(rng, 9)}",
        f"0755-{rng.randint(2, 8)}{_digits(rng, 7)}",
        f"+44 20 {rng.randint(7, 8)}{_digits(rng, 3)} {_digits(rng, 4)}",
        f"+86 1{rng.choice('3589')}{_digits(rng, 1)} {_digits(rng, 4)} {_digits(rng, 4)}",
    ]
    return rng.choice(forms), "PHONE"


def ipv4(rng: random.Random) -> tuple[str, str]:
    while True:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if addr.is_global and not addr.is_multicast and not addr.is_reserved:
            return str(addr), "IPV4"


def ipv6(rng: random.Random) -> tuple[str, str]:
    prefix = rng.choice(["2a01:4f8", "2606:4700", "2a00:1450", "240e:3b7", "2001:4860"])
    groups = [f"{rng.getrandbits(16):x}" for _ in range(rng.randint(1, 3))]
    return f"{prefix}:{':'.join(groups)}::{rng.getrandbits(12):x}", "IPV6"


def card(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["visa", "mc", "amex"])
    body = {
        "visa": "4" + _digits(rng, 14),
        "mc": f"5{rng.randint(1, 5)}" + _digits(rng, 13),
        "amex": rng.choice(["34", "37"]) + _digits(rng, 12),
    }[kind]
    number = body + _luhn_digit(body)
    sep = rng.choice(["", " ", "-"])
    if kind == "amex":
        return sep.join([number[:4], number[4:10], number[10:]]), "CREDIT_CARD"
    return sep.join(number[i : i + 4] for i in range(0, 16, 4)), "CREDIT_CARD"


def iban(rng: random.Random) -> tuple[str, str]:
    cc, bban = rng.choice(
        [
            ("DE", _digits(rng, 18)),
            ("GB", "NWBK" + _digits(rng, 14)),
            ("FR", _digits(rng, 23)),
            ("NL", "ABNA" + _digits(rng, 10)),
        ]
    )
    number = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    value = f"{cc}{98 - number % 97:02d}{bban}"
    if rng.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value, "IBAN"


def ssn(rng: random.Random) -> tuple[str, str]:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}", "US_SSN"


def cn_id(rng: random.Random) -> tuple[str, str]:
    prefix = rng.choice(["110105", "310115", "440305", "510104", "330106"])
    body = f"{prefix}{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{_digits(rng, 3)}"
    check = "10X98765432"[sum(w * int(c) for w, c in zip(_CN_WEIGHTS, body, strict=True)) % 11]
    return body + check, "CN_ID"


def secret(rng: random.Random) -> tuple[str, str]:
    alnum = string.ascii_letters + string.digits
    upper = string.ascii_uppercase + string.digits
    b64 = lambda n: base64.urlsafe_b64encode(rng.randbytes(n)).decode().rstrip("=")  # noqa: E731
    return rng.choice(
        [
            "AKIA" + "".join(rng.choice(upper) for _ in range(16)),
            "ghp_" + "".join(rng.choice(alnum) for _ in range(36)),
            "eyJhbGciOiJIUzI1NiJ9." + "eyJ" + b64(30) + "." + b64(32),
            "".join(rng.choice(alnum + "#!$%") for _ in range(14)),
        ]
    ), "SECRET"


#: Sentences a value is planted in; {x} is the value. Password-style secrets need an assignment context.
TEMPLATES = {
    "en": ["Please contact {x} for details.", "The record lists {x} as the value.", "Reach it via {x} today."],
    "de": ["Bitte wenden Sie sich an {x} bei Fragen.", "Im Formular steht {x} als Angabe.", "Erreichbar über {x}."],
    "zh": ["请通过{x}联系我们。", "表格中填写的是{x}，请核对。", "相关信息：{x}。"],
    "code": ['value = "{x}"  # from the form', "send(target='{x}')", "config['contact'] = '{x}'"],
}
SECRET_TEMPLATES = ['password = "{x}"', "Das Passwort lautet {x} ab sofort.", "数据库密码：{x}", "api_key: {x}"]
GENERATORS = [email, phone, ipv4, ipv6, card, iban, ssn, cn_id, secret]


def negative(rng: random.Random) -> tuple[str, str, str]:
    """(sentence, needle, kind): a string that looks like PII but is not."""
    body = "97" + rng.choice("89") + _digits(rng, 9)
    isbn = body + str((10 - sum((3 if i % 2 else 1) * int(c) for i, c in enumerate(body)) % 10) % 10)
    order = "4" + _digits(rng, 14)
    order += _luhn_digit(order)
    private = rng.choice(["192.168", "10.0", "172.16"]) + f".{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    options = [
        ("Released on {x}.", f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "date"),
        (
            "Logged at {x} UTC.",
            f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}Z",
            "timestamp",
        ),
        ("Upgrade to version {x} now.", f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}", "version"),
        ("See ISBN {x} in the catalogue.", isbn, "isbn"),
        ("Order number {x} has shipped.", order, "order"),
        ("Rechnungsnummer {x} ist bezahlt.", f"{rng.randint(2015, 2025)}-{_digits(rng, 6)}", "invoice"),
        ("Fixed in commit {x}.", f"{rng.getrandbits(160):040x}", "git_sha"),
        ("sha256 {x}", f"{rng.getrandbits(256):064x}", "sha256"),
        ("Request id {x}.", str(uuid.UUID(int=rng.getrandbits(128))), "uuid"),
        ("The host {x} is internal.", private, "private_ip"),
        ("Example address {x} from the docs.", f"192.0.2.{rng.randint(1, 254)}", "doc_ip"),
        ("Located at {x}.", f"{rng.uniform(-89, 89):.4f}, {rng.uniform(-179, 179):.4f}", "coordinates"),
        ("We get {x}.", f"{rng.randint(100, 99999)} * {rng.randint(100, 99999)} = {rng.randint(10**6, 10**9)}", "math"),
        ("Already clean: {x}.", rng.choice(["<EMAIL>", "<PHONE>", "<IP>", "<SECRET>"]), "placeholder"),
    ]
    sentence, needle, kind = rng.choice(options)
    return sentence, needle, kind


def build_eval(paragraphs: list[str], n_docs: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        parts = [paragraphs[i % len(paragraphs)]]
        spans, negatives = [], []
        pos = len(parts[0])
        items = [("pii", rng.choice(GENERATORS)) for _ in range(rng.randint(0, 3))]
        items += [("neg", None) for _ in range(rng.randint(0, 2))]
        rng.shuffle(items)
        for what, gen in items:
            if what == "pii":
                value, kind = gen(rng)
                if gen is secret and not value.startswith(("AKIA", "ghp_", "eyJ")):
                    template = rng.choice(SECRET_TEMPLATES)
                else:
                    template = rng.choice(TEMPLATES[rng.choice(list(TEMPLATES))])
            else:
                template, value, kind = negative(rng)
            sentence = " " + template.replace("{x}", value)
            start = pos + sentence.index(value)
            (spans if what == "pii" else negatives).append(
                {"start": start, "end": start + len(value), ("type" if what == "pii" else "kind"): kind}
            )
            parts.append(sentence)
            pos += len(sentence)
        docs.append({"id": f"eval-{seed}-{i}", "text": "".join(parts), "spans": spans, "negatives": negatives})
    return docs


if __name__ == "__main__":
    sample = ["The quick brown fox jumps over the lazy dog, and the dog does not mind at all, being lazy. " * 3]
    for doc in build_eval(sample, int(sys.argv[1]) if len(sys.argv) > 1 else 40, 7):
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
