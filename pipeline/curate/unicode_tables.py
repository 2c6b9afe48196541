"""Unicode tables computed once per process from `unicodedata` (so they follow the interpreter's Unicode version):
which code points NFC can never change, for the C modules that skip `unicodedata.normalize` on text made of them
(`_clean.c`'s cleaning, `_langid.c`'s sample preparation)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from itertools import compress

import numpy as np


def special_code_points(block: int = 64) -> list[int]:
    """Code points with a combining class or a decomposition, in order: those that `unicodedata.combining` or
    `unicodedata.decomposition` answer for.

    Asking both for each of the 1.1 M code points took 0.3 s of every process's start, so whole blocks are asked
    first, in C: every code point is put behind U+0345 (combining class 240, no decomposition). A block that NFD and
    NFKD both leave as it is holds no such code point: NFKD would replace any code point with a decomposition (a
    Hangul syllable too), and NFD's canonical ordering would move any combining class between 1 and 239 ahead of
    U+0345 (U+0345 is the only code point of class 240, and its own block is asked code point by code point like
    every block that changes). Only the ~430 of 17,408 blocks that change are asked code point by code
    point.
    """
    code_points = np.arange(0x110000, dtype=np.uint32)
    paired = np.empty(2 * code_points.size, dtype=np.uint32)
    paired[0::2] = 0x345
    paired[1::2] = code_points
    text = paired.tobytes().decode("utf-32-le", "surrogatepass")
    chars = text[1::2]
    found: set[int] = set()
    for lo in range(0, len(chars), block):
        probe = text[2 * lo : 2 * (lo + block)]
        if unicodedata.is_normalized("NFD", probe) and unicodedata.is_normalized("NFKD", probe):
            continue
        here = range(lo, min(lo + block, len(chars)))
        found.update(compress(here, map(unicodedata.combining, chars[lo : lo + block])))
        found.update(compress(here, map(unicodedata.decomposition, chars[lo : lo + block])))
    return sorted(found)


@lru_cache(maxsize=1)
def nfc_stable_bitmap() -> np.ndarray:
    """Bit c (little-endian packed) set: a text made only of such code points is its own NFC.

    A stable code point has combining class 0, is its own NFC, is not the second half of any canonical
    decomposition (NFC quick check "maybe": it could compose with what precedes it), nor a Hangul vowel or
    trailing jamo, and its decomposition does not start with such a code point. Conservative: text with any other
    code point goes through `unicodedata.normalize`.
    """
    stable = np.ones(0x110000, dtype=bool)
    special = special_code_points()
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for c in special:
        parts = unicodedata.decomposition(chr(c)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            seconds.add(int(parts[1], 16))
    for c in special:
        ch = chr(c)
        changes = unicodedata.combining(ch) or unicodedata.normalize("NFC", ch) != ch
        if changes or ord(unicodedata.normalize("NFD", ch)[0]) in seconds:
            stable[c] = False
    stable[sorted(seconds)] = False
    return np.packbits(stable, bitorder="little")
