"""Checks that turn a pattern match into a detection: checksums, number ranges, context words, entropy.

Patterns alone flag every 16-digit order number as a card; these validators are what keep hard negatives
(dates, versions, ISBNs, invoice numbers, hashes) untouched.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from datetime import date

#: IBAN length per country (SWIFT IBAN registry, release 2024); a candidate must match its country's length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

#: Province codes (first two digits) of a PRC resident ID (GB 11643-1999 with GB/T 2260 regions).
CN_PROVINCES: frozenset[str] = frozenset(
    ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
     "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"]
)  # fmt: skip

#: Country calling codes in use (ITU-T E.164 assignments, 2024, with the shared and satellite codes): they form
#: a prefix code, so a number's code is the one of these its digits start with. A "+" before digits that start
#: with none of them (`+2147483647`: no country has +2, +21 or +214) is a signed number, not a phone.
COUNTRY_CODES: frozenset[str] = frozenset(
    ["1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48",
     "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82",
     "84", "86", "90", "91", "92", "93", "94", "95", "98", "211", "212", "213", "216", "218", "220", "221", "222",
     "223", "224", "225", "226", "227", "228", "229", "230", "231", "232", "233", "234", "235", "236", "237", "238",
     "239", "240", "241", "242", "243", "244", "245", "246", "247", "248", "249", "250", "251", "252", "253", "254",
     "255", "256", "257", "258", "260", "261", "262", "263", "264", "265", "266", "267", "268", "269", "290", "291",
     "297", "298", "299", "350", "351", "352", "353", "354", "355", "356", "357", "358", "359", "370", "371", "372",
     "373", "374", "375", "376", "377", "378", "379", "380", "381", "382", "383", "385", "386", "387", "389", "420",
     "421", "423", "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "590", "591", "592", "593",
     "594", "595", "596", "597", "598", "599", "670", "672", "673", "674", "675", "676", "677", "678", "679", "680",
     "681", "682", "683", "685", "686", "687", "688", "689", "690", "691", "692", "800", "808", "850", "852", "853",
     "855", "856", "870", "878", "880", "881", "882", "883", "886", "888", "960", "961", "962", "963", "964", "965",
     "966", "967", "968", "970", "971", "972", "973", "974", "975", "976", "977", "979", "992", "993", "994", "995",
     "996", "997", "998"]
)  # fmt: skip

_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"

#: Words just before a number that mark it as an identifier of a thing, not a person (EN/DE/ZH).
_NEGATIVE_CONTEXT = re.compile(
    r"(?<![a-z])(?:order|invoice|inv|serial|s/n|sn|isbn|issn|doi|arxiv|sku|ean|upc|part|model|version|ver|release|build|"
    r"ticket|case|tracking|shipment|batch|lot|patent|bestell\w*|rechnung\w*|auftrag\w*|seriennummer|artikel\w*|"
    r"kunden\w*|vorgang\w*|sendung\w*|订单号?|发票号?|序列号|编号|单号|版本|批次|型号|快递)"
    r"\s{0,2}(?:number|nummer|nr|no|num|id)?\.?\s{0,2}[:#=：]?\s{0,3}$",
    re.IGNORECASE,
)


def country_code_ok(digits: str) -> bool:
    """The digits after a "+" start with an assigned country code; after +1 (the North American plan) they go on
    with an area code and an exchange that start with 2-9 (NANP: neither starts with 0 or 1)."""
    if digits[:1] == "1":
        return len(digits) >= 11 and digits[1] in "23456789" and digits[4] in "23456789"
    return any(digits[:n] in COUNTRY_CODES for n in (1, 2, 3))


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) checksum used by every payment card number (ISO/IEC 7812-1)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    """Issuer ranges of the major networks (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro)."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    two, four = int(digits[:2]), int(digits[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    if two in (35, 62, 65) or four == 6011 or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19
    return two in (50, 56, 57, 58, 63, 67) and 12 <= n <= 19


def isbn13_ok(digits: str) -> bool:
    """ISBN-13 (978/979 prefix, weights 1,3): such a number is a book, never a card."""
    if len(digits) != 13 or digits[:3] not in ("978", "979"):
        return False
    return sum((3 if i % 2 else 1) * (ord(c) - 48) for i, c in enumerate(digits)) % 10 == 0


def iban_ok(compact: str) -> bool:
    """Country length from the registry and the ISO 13616 mod-97 check (== 1)."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN ranges (SSA): area not 000/666/9xx, group not 00, serial not 0000; 078-05-1120 is the famous fake."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return f"{area}{group}{serial}" not in ("078051120", "219099999", "123456789")


def cn_id_ok(value: str) -> bool:
    """PRC resident ID (GB 11643-1999): province code, a real past birth date, and the ISO 7064 MOD 11-2 check."""
    if len(value) != 18 or value[:2] not in CN_PROVINCES:
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > date.today():
        return False
    total = sum(w * (ord(c) - 48) for w, c in zip(_CN_WEIGHTS, value[:17], strict=True))
    return _CN_CHECK[total % 11] == value[17].upper()


def public_ip(value: str) -> bool:
    """True for globally routed unicast addresses; private, loopback, link-local, documentation, multicast are kept."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return False
    return addr.is_global and not addr.is_multicast and not addr.is_reserved


def shannon_entropy(value: str) -> float:
    """Bits per character of the value's own character distribution (the measure detect-secrets and truffleHog use)."""
    n = len(value)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


#: A random generator's seed in code (`np.random.default_rng(348932549825235)`, `torch.manual_seed(…)`,
#: `random_state=…`), and a clause of a regulation (`DFARS 252.227-7013`, `Clause 252.227-7013` in licenses).
_SEED_OR_CLAUSE = re.compile(
    r"(?i)(?:(?:seed|rng|randomstate|random_state|generator)\s{0,2}[(=:]|(?<![a-z])(?:clause|dfars|far)\s)\s{0,2}$"
)


def negative_context(text: str, start: int) -> bool:
    """True when the words just before `start` say the number is an order, invoice, serial, version, ISBN …, a
    random seed or a regulation's clause."""
    return (
        _NEGATIVE_CONTEXT.search(text, max(0, start - 32), start) is not None
        or _SEED_OR_CLAUSE.search(text, max(0, start - 24), start) is not None
    )


def trivial_digits(digits: str) -> bool:
    """`0123456789`, `9876543210`, `0000000000`, `0001111011`: digit alphabets, fillers and binary strings in code,
    not numbers of people."""
    return len(set(digits)) <= 1 or set(digits) <= {"0", "1"} or counting_digits(digits)


def counting_digits(digits: str) -> bool:
    """`1234`, `123456789`, `4321`: each digit one more (or one less) than the last, as placeholders are written."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(digits, digits[1:], strict=False)}
    return steps in ({1}, {9})


def digits_of(value: str) -> str:
    return "".join(ch for ch in value if "0" <= ch <= "9")


#: The parts of a name in code: an acronym (`HTTP` in `HTTPServer`), a word that may start with a capital, a lone
#: capital (`X25519`, `AType`), a number.
_NAME_PART = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[A-Z]|[0-9]+")
#: What joins the segments of snake_case, kebab-case, dotted and namespaced names, paths and entry points.
_NAME_JOINT = re.compile(r"[_\-./:~]+")
#: `+xml`, `+jwt`: the suffix of a structured-syntax media type (RFC 6838); `+5` of `Etc/GMT+5`. Elsewhere a '+'
#: joins no name (base64 holds it).
_PLUS_SUFFIX = re.compile(r"\+(?:[a-z]{2,6}|[0-9]{1,2})$")
_HEX = frozenset("0123456789abcdefABCDEF")
_CAPITAL = re.compile("[A-Z]")
#: Capitalised words of two letters that names are made of (`ClientId`, `IoError`, `OsPath`, `DeGroote`, `IAmReady`).
_TWO_LETTER_WORDS = frozenset(
    ["Am", "An", "As", "At", "Be", "By", "De", "Do", "Db", "Fs", "Go", "He", "Id", "If", "In", "Io", "Ip", "Is", "It",
     "Me", "My", "No", "Of", "Ok", "On", "Or", "Os", "Pk", "Qt", "So", "Tf", "To", "Tz", "Ui", "Up", "Us", "We"]
)  # fmt: skip
#: The letter pairs that make up 0.01% or more of the pairs inside the lower-case words of the Python documentation
#: (the stdlib part of `lmforge corpus default`): 321 of the 676. A random string of letters holds the others
#: often, an English word seldom.
_WORD_PAIRS = frozenset(
    ["ab", "ac", "ad", "af", "ag", "ai", "ak", "al", "am", "an", "ap", "ar", "as", "at", "au", "av", "aw", "ax", "ay",
     "ba", "bc", "be", "bi", "bj", "bl", "bo", "bp", "br", "bs", "bt", "bu", "by", "ca", "cc", "ce", "ch", "ci", "ck",
     "cl", "co", "cr", "cs", "ct", "cu", "cy", "da", "db", "dd", "de", "dg", "di", "dl", "do", "dr", "ds", "dt", "du",
     "dy", "ea", "eb", "ec", "ed", "ee", "ef", "eg", "eh", "ei", "el", "em", "en", "eo", "ep", "eq", "er", "es", "et",
     "ev", "ew", "ex", "ey", "fa", "fe", "ff", "fi", "fl", "fo", "fr", "ft", "fu", "fy", "ga", "ge", "gg", "gh", "gi",
     "gl", "gn", "go", "gr", "gs", "gt", "gu", "ha", "he", "hi", "ho", "hr", "ht", "hu", "ia", "ib", "ic", "id", "ie",
     "if", "ig", "ik", "il", "im", "in", "io", "ip", "ir", "is", "it", "iv", "ix", "iz", "je", "jo", "ju", "ka", "ke",
     "kg", "ki", "kl", "kn", "kp", "ks", "kw", "la", "lb", "lc", "ld", "le", "lf", "li", "ll", "lo", "lp", "lr", "ls",
     "lt", "lu", "lw", "ly", "ma", "mb", "me", "mi", "mm", "mo", "mp", "ms", "mu", "na", "nc", "nd", "ne", "nf", "ng",
     "ni", "nk", "nl", "nm", "nn", "no", "np", "ns", "nt", "nu", "nv", "ny", "oa", "ob", "oc", "od", "oe", "of", "og",
     "oi", "ok", "ol", "om", "on", "oo", "op", "or", "os", "ot", "ou", "ov", "ow", "ox", "pa", "pd", "pe", "ph", "pi",
     "pl", "po", "pp", "pr", "ps", "pt", "pu", "py", "qu", "ra", "rb", "rc", "rd", "re", "rf", "rg", "ri", "rk", "rl",
     "rm", "rn", "ro", "rp", "rr", "rs", "rt", "ru", "rv", "rw", "ry", "sa", "sc", "se", "sf", "sg", "sh", "si", "sk",
     "sl", "sm", "sn", "so", "sp", "ss", "st", "su", "sy", "ta", "tc", "td", "te", "tf", "th", "ti", "tl", "tm", "to",
     "tp", "tr", "ts", "tt", "tu", "tw", "ty", "ua", "ub", "uc", "ud", "ue", "uf", "ug", "ui", "ul", "um", "un", "uo",
     "up", "ur", "us", "ut", "va", "ve", "vi", "vo", "wa", "we", "wh", "wi", "wl", "wn", "wo", "wr", "ws", "xa", "xc",
     "xe", "xi", "xp", "xt", "ye", "yi", "yl", "ym", "yn", "yo", "yp", "ys", "yt", "yw", "za", "ze", "zi"]
)  # fmt: skip


def name_words(value: str) -> int:
    """How many words (two letters or more) `value` has when it reads as a name in code or a path (`dep_token0`,
    `PKCS12PrivateKeyTypes`, `s3_full_path`, `/oidc/v1/token`, `AWS4-HMAC-SHA256`); 0 when it does not, as random
    strings seldom do: their letters fall into runs of one or two between case changes and digits (`Xk9pLw2rTz7`),
    some run is no word (`hk`, `Fxqr`: letter pairs words do not have), letters stand between two numbers
    (`p4ssw0rd`, `abc123def456`), a segment holds long hex (`1234abcd`), three numbers, two with no capital between
    them, or a number of seven digits or more, or is a number of five digits or more (`user:123456`)."""
    words = fragments = longest = 0
    for segment in _NAME_JOINT.split(_PLUS_SUFFIX.sub("", value)):
        if not segment:
            continue
        if not (segment.isascii() and segment.isalnum()) or _random_segment(segment):
            return 0
        parts = _NAME_PART.findall(segment)
        numbers = [k for k, part in enumerate(parts) if part.isdigit()]
        if not _numbers_of_a_name(segment, parts, numbers):
            return 0
        for i, part in enumerate(parts):
            if part.isdigit():
                continue
            if not _word_like(part, i, parts):
                return 0
            words += len(part) >= 2
            longest = max(longest, len(part))
            # a run of one or two letters that is no common word and names no number
            short = len(part) == 2 and not part.isupper() and part not in _TWO_LETTER_WORDS
            fragments += short or (len(part) == 1 and not numbers and len(parts) > 1)
    return words if fragments <= 1 and longest >= 4 else 0


def _random_segment(segment: str) -> bool:
    """Hex of eight characters or more (`1234abcd`), or a number of five digits or more (`123456`)."""
    if segment.isdigit():
        return len(segment) > 4
    return len(segment) >= 8 and set(segment) <= _HEX and not segment.isalpha()


def _numbers_of_a_name(segment: str, parts: list[str], numbers: list[int]) -> bool:
    """At most two numbers of six digits or fewer, two only around a capital (`MLKEM768X25519`); in capitals alone
    one, at the end or before one letter (`AWS4`, `SHA256`, `P384`, `TZ9X`; not `E6F4YSY9ZQ`, `XCTV45EA`); and in a
    camel-case segment one acronym at most (`ForwardTokenAOTOutput`)."""
    if len(numbers) > 2 or any(len(parts[k]) > 6 for k in numbers):
        return False
    if len(numbers) == 2 and not (numbers[1] - numbers[0] == 2 and _CAPITAL.fullmatch(parts[numbers[0] + 1])):
        return False
    if segment.isupper():
        return not numbers or (len(numbers) == 1 and len(parts[0]) <= 6 and len("".join(parts[numbers[0] + 1 :])) <= 1)
    return sum(len(part) > 1 and part.isupper() for part in parts) <= 1


def _word_like(part: str, i: int, parts: list[str]) -> bool:
    """`parts[i]` (letters) can be a word of a name: a letter that names a number (`s3`, `X25519`, `Indexer2D`, `2d`),
    a capital before a word or at the end (`AType`, `LikeT`), an acronym (of five letters at most, four beside a
    number), a capitalised word, a lower-case word at the start of its segment or (`1hr`, `base64url`) of three
    letters at most after a number that ends it; and, but for short acronyms and an abbreviation alone in its
    segment (`ssh`, `oidc`, `pkcs12`), made of the letter pairs words have."""
    last = len(parts) - 1
    after_number = i > 0 and parts[i - 1].isdigit()
    before = parts[i + 1] if i < last else ""
    if len(part) == 1:
        if part.isupper() and (after_number or before.isdigit()):
            return True  # `X25519`, `768X25519`, `Indexer2D`
        if part.islower() and (after_number or before.isdigit()):
            return (i == 0 and not after_number) or (i == last and after_number)  # `s3`, `2d`; not `p4ssw0rd`
        return i == last or (part.isupper() and before[:1].isupper() and before[1:2].islower())
    if part.isupper():
        return len(part) <= (4 if after_number or before.isdigit() else 5) or _wordy(part)
    if part[0].islower() and i > 0:
        return after_number and i == last and len(part) <= 3 and _wordy(part)
    if part[0].isupper() and len(part) == 2:
        return part in _TWO_LETTER_WORDS
    if i == 0 and part.islower() and len(part) <= 4 and (i == last or (last == 1 and parts[1].isdigit())):
        return True
    return _wordy(part)


def _wordy(letters: str) -> bool:
    """At most one letter pair outside `_WORD_PAIRS` per five (none in a word of five letters or fewer)."""
    word = letters.lower()
    rare = sum(a + b not in _WORD_PAIRS for a, b in zip(word, word[1:], strict=False))
    return rare <= (len(word) - 1) // 5
