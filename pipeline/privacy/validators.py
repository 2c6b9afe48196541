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
