"""Planted fake PII ("canaries") and a scanner that proves none of them survived anywhere downstream.

Every needle is unique and random-looking, so finding one in a snapshot, shard, log, database or MLflow artifact
means the privacy filter let it through. `find_canaries` returns (path, canary name) hits; an empty list is a pass.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True, slots=True)
class Canary:
    """`needle` is written verbatim inside `sentence`; `digits` is its digits-only form when that has ≥ 8 digits."""

    name: str
    type: str
    lang: str
    sentence: str
    needle: str

    @property
    def digits(self) -> str | None:
        d = "".join(ch for ch in self.needle if ch.isdigit() and ch.isascii())
        return d if len(d) >= 8 else None


_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYW5hcnktN2YzYTkiLCJuYW1lIjoiQ2FuYXJ5In0."
    "Qm9ndXNTaWduYXR1cmVDYW5hcnk3ZjNhOV9fX3g"
)

CANARIES: tuple[Canary, ...] = tuple(
    Canary(name=n, type=t, lang=lang, sentence=s.format(x=x), needle=x)
    for n, t, lang, x, s in (
        ("email_en", "EMAIL", "en", "canary.7f3a9@example-mail.com", "Please write to {x} if the parcel is late."),
        (
            "email_de",
            "EMAIL",
            "de",
            "lena.kanarie.4d2b@beispiel-post.de",
            "Bei Fragen erreichen Sie Frau Vogel unter {x} jederzeit.",
        ),
        ("email_zh", "EMAIL", "zh", "jinsique.5e7c@mail-canary.cn", "如有疑问，请发送邮件至{x}联系我们。"),
        ("email_code", "EMAIL", "code", "ops.canary.91ad@internal-example.org", 'ALERT_RECIPIENT = "{x}"'),
        ("phone_en", "PHONE", "en", "+1 (415) 555-0173", "You can call the front desk at {x} during office hours."),
        ("phone_us_national", "PHONE", "en", "(646) 555-0188", "Her direct line is {x}, ask for extension nine."),
        ("phone_de", "PHONE", "de", "+49 30 90182736", "Unser Kundendienst ist unter {x} erreichbar."),
        ("phone_de_national", "PHONE", "de", "0171 4829361", "Rufen Sie mich mobil unter {x} an."),
        ("phone_zh", "PHONE", "zh", "13912345678", "请拨打我的手机{x}，工作日随时可以。"),
        ("phone_zh_landline", "PHONE", "zh", "021-63581247", "公司总机号码是{x}，请在工作时间拨打。"),
        ("ipv4_en", "IPV4", "en", "81.169.207.33", "The login came from the address {x} at midnight."),
        ("ipv6_code", "IPV6", "code", "2a01:4f8:c17:3b2e::7a1", 'UPSTREAM_HOST = "{x}"'),
        ("card_en", "CREDIT_CARD", "en", "4539 1488 0343 6467", "The booking was paid with card {x} last week."),
        (
            "card_de",
            "CREDIT_CARD",
            "de",
            "5271-8392-0461-8351",
            "Die Zahlung erfolgte mit der Kreditkarte {x} im März.",
        ),
        ("card_zh", "CREDIT_CARD", "zh", "62258803917246056", "我的银行卡号是{x}，请尽快退款。"),
        (
            "iban_de",
            "IBAN",
            "de",
            "DE27 3704 0044 0918 2736 45",
            "Bitte überweisen Sie den Betrag auf das Konto {x} bei der Bank.",
        ),
        ("iban_en", "IBAN", "en", "GB29NWBK60161331926819", "Refunds go to the account {x} within five days."),
        (
            "ssn_en",
            "US_SSN",
            "en",
            "536-90-4399",
            "His social security number, 536-90-4399, was on the form.".replace("536-90-4399", "{x}"),
        ),
        ("cn_id_zh", "CN_ID", "zh", "110108198703142637", "申请人的身份证号码为{x}，已经核实。"),
        ("cn_id_en", "CN_ID", "en", "310115199205274819", "The resident ID {x} was printed on the visa form."),
        ("aws_key_code", "SECRET", "code", "AKIAQ7CANARY4F3A9XYZ", 'aws_access_key_id = "{x}"'),
        ("github_token_code", "SECRET", "code", "ghp_C4n4ry7f3a9Xq2Lm8Rt5Vb1Nz6Kd0Wy3Hj9P", "export GITHUB_TOKEN={x}"),
        ("jwt_en", "SECRET", "en", _JWT, "The session header was Bearer {x} on every request."),
        ("password_de", "SECRET", "de", "Kq7#vZ2!mR9pX4wL", "Das Passwort lautet {x} und gilt ab sofort."),
        ("password_zh", "SECRET", "zh", "Zh8$cN3qT6yW1uE5", "数据库密码：{x}，请勿外传。"),
        ("password_code", "SECRET", "code", "Cn7#qZ4!vK9pW2xR", 'DB_PASSWORD = "{x}"'),
        # Disguised forms (the needle is what must not survive: a local part, a password, a token)
        ("email_spaced", "EMAIL", "en", "ramona.kite.3c8e", "Send the signed forms to {x} @ mailbox-canary.com soon."),
        ("email_bracket_at", "EMAIL", "en", "brack.4e7a", "Questions about the event go to {x}(@)mailbox-canary.net."),
        ("email_tag_split", "EMAIL", "en", "hidden.9b2e", "The curator is reachable as {x}<b>@</b>mailbox-canary.org."),
        ("email_cjk_mark", "EMAIL", "zh", "lanque.6d1f", "投稿请发邮件到{x}@mail-canary。cn，我们会尽快回复。"),
        ("phone_br", "PHONE", "en", "(11) 98273-6415", "In São Paulo our office answers at {x} on weekdays."),
        (
            "password_curl",
            "SECRET",
            "code",
            "Tz8qLm4vWn2kR7c",
            "curl -u deploy:{x} https://api.example.org/v1/items",
        ),
        (
            "telegram_code",
            "SECRET",
            "code",
            "5829461037:AAGc7Tq2Zk9Lm4Vn8Rx1Wb6Yd3Hs0Pj5FeQ",
            'BOT_URL = "https://api.telegram.org/bot{x}/getMe"',
        ),
    )
)

CANARY_BY_NAME: dict[str, Canary] = {c.name: c for c in CANARIES}

_PROSE = {
    "en": (
        "The spring newsletter covers the new reading room, the longer opening hours and the volunteer program. "
        "Members told us that the quiet corner near the windows is the best place to study on rainy afternoons. "
        "We also repaired the heating in the east wing and replaced several old chairs with comfortable ones. "
        "Next month the library will host a small exhibition about the history of the harbour and its ships."
    ),
    "de": (
        "Der Verein hat im Frühjahr den Garten hinter dem Gemeindehaus neu angelegt und viele Beete bepflanzt. "
        "Die Mitglieder treffen sich jeden Samstag, um Unkraut zu jäten und die jungen Pflanzen zu gießen. "
        "Im Sommer soll ein kleines Fest mit Kuchen, Musik und einer Führung durch den Garten stattfinden. "
        "Wer mithelfen möchte, ist herzlich eingeladen und braucht keine besonderen Kenntnisse mitzubringen."
    ),
    "zh": (
        "今年春天，社区图书馆延长了开放时间，并新增了一个安静的阅读区。"
        "许多读者表示，靠窗的位置是下雨天学习的最佳地点。"
        "我们还修好了东侧的暖气，并更换了几把旧椅子。"
        "下个月，图书馆将举办一个关于港口历史的小型展览，欢迎大家参观。"
    ),
    "code": (
        "# Deployment settings for the staging cluster.\n"
        "import os\n\n"
        "RETRIES = 3\n"
        "TIMEOUT_SECONDS = 30\n\n"
        "def connect(host: str) -> None:\n"
        '    """Open a connection to the staging host and retry a few times before giving up."""\n'
        "    for attempt in range(RETRIES):\n"
        "        print(f'connecting to {host}, attempt {attempt}')\n"
    ),
}


def canary_documents() -> list[dict]:
    """JSONL-ready records, one per language group, every canary planted in ordinary prose (≥ 60 words each)."""
    docs = []
    for lang in ("en", "de", "zh", "code"):
        planted = [c for c in CANARIES if c.lang == lang]
        for part in range(2):  # two documents per language, the canaries split between them
            mine = planted[part::2]
            if not mine:
                continue
            sep = "\n" if lang == "code" else " "
            body = _PROSE[lang] + sep + sep.join(c.sentence for c in mine) + sep + _PROSE[lang]
            docs.append(
                {
                    "id": f"canary-{lang}-{part}",
                    "text": body,
                    "source": f"canary-{lang}",
                    "url": f"https://example.org/canary/{lang}/{part}",
                    "created_at": "2024-03-01T12:00:00Z",
                    "lang": "en" if lang == "code" else lang,
                }
            )
    return docs


Decoder = Callable[[Path], Iterable[str]]

_TEXT_SUFFIXES = {
    ".json",
    ".jsonl",
    ".txt",
    ".log",
    ".csv",
    ".tsv",
    ".md",
    ".yaml",
    ".yml",
    ".toml",
    ".html",
    ".xml",
    ".py",
}


def find_canaries(paths: Iterable[Path], decoders: dict[str, Decoder] | None = None) -> list[tuple[str, str]]:
    """(path, canary name) for every canary needle — or its ≥ 8-digit digits-only form — found under `paths`.

    Reads Parquet (every string/binary column), SQLite (every text/blob cell), .gz/.zst (decompressed), text files,
    and anything else as raw bytes; `decoders` maps a suffix (".bin") to a function yielding decoded text.
    """
    decoders = decoders or {}
    hits: set[tuple[str, str]] = set()
    for file in _walk(paths):
        for blob in _contents(file, decoders):
            for canary in CANARIES:
                if _contains(blob, canary):
                    hits.add((str(file), canary.name))
    return sorted(hits)


def _walk(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def _contains(blob: str | bytes, canary: Canary) -> bool:
    forms = [canary.needle] + ([canary.digits] if canary.digits else [])
    if isinstance(blob, bytes):
        return any(f.encode("utf-8") in blob for f in forms)
    return any(f in blob for f in forms)


def _contents(file: Path, decoders: dict[str, Decoder]) -> Iterator[str | bytes]:
    raw = file.read_bytes()
    yield raw  # always: catches text in any container we do not parse
    suffix = file.suffix.lower()
    if suffix in decoders:
        yield from decoders[suffix](file)
    if suffix == ".parquet" or raw[:4] == b"PAR1":
        yield from _parquet_cells(file)
    elif raw[:16] == b"SQLite format 3\x00":
        yield from _sqlite_cells(file)
    elif suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        yield from _decompressed(file, raw, gzip.decompress)
    elif suffix == ".zst" or raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        yield from _decompressed(file, raw, lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b))
    elif suffix in _TEXT_SUFFIXES:
        text = raw.decode("utf-8", errors="replace")
        yield text
        if suffix in (".json", ".jsonl"):  # \uXXXX escapes hide CJK needles from a byte search
            yield from _json_strings(text)


def _decompressed(file: Path, raw: bytes, decompress: Callable[[bytes], bytes]) -> Iterator[bytes | str]:
    try:
        data = decompress(raw)
    except Exception:  # a truncated archive still yields what the raw-bytes search found
        return
    yield data
    yield data.decode("utf-8", errors="replace")


def _json_strings(text: str) -> Iterator[str]:
    for line in text.splitlines() or [text]:
        try:
            yield json.dumps(json.loads(line), ensure_ascii=False)
        except ValueError:
            continue


def _parquet_cells(file: Path) -> Iterator[str | bytes]:
    try:
        table = pq.read_table(file)
    except Exception:
        return
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            yield "\n".join(v for v in column.to_pylist() if v is not None)
        elif pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            yield b"\n".join(v for v in column.to_pylist() if v is not None)
        else:
            yield json.dumps(column.to_pylist(), ensure_ascii=False, default=str)


def _sqlite_cells(file: Path) -> Iterator[str | bytes]:
    try:
        con = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    except sqlite3.Error:
        return
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, str | bytes):
                        yield cell
    except sqlite3.Error:
        return
    finally:
        con.close()
