"""Text normalisation and shingle hashing, vectorised with numpy.

Normalisation (the same for the exact digest and for shingles): invisible format characters removed, Unicode NFKC,
case folding, every digit folded to `0`, and only runs of word characters (`\\w` and combining marks) kept, so
punctuation and whitespace differences vanish. Shingles are
word n-grams for space-delimited languages and character n-grams (spaces dropped) for languages written without
spaces, picked per document by its `lang` (`DedupConfig.char_langs`) or by its script (`unspaced_script`): a Chinese
text tagged `en` is one or a few space-delimited "words" long, too few for word shingles.

A unit's (word's or character's) 64-bit hash is a polynomial hash of its normalised UTF-8 bytes, `sum b[i] * P**i
mod 2**64`, mixed with its length by MurmurHash3's 64-bit finaliser. For a whole batch of documents it is computed
without a Python loop: the texts are joined into one byte buffer, bytes are classified and case/digit-folded by
table lookup, and every unit's hash is a difference of prefix sums times an inverse power of P (P is odd, so it is
invertible mod 2**64). Shingle hashes combine consecutive unit hashes polynomially, are finalised with the same
mixer, and MinHash permutes their top 32 bits. `shingle_hash32` computes the same value for one shingle in plain
Python, so `datasketch.MinHash(hashfunc=shingle_hash32)` reproduces our signatures exactly (tested). The exact
digest of a document is blake2b-128 of its word hashes, so it ignores case, punctuation, spacing and digits; a
document without words (only punctuation, symbols, emoji) is digested by its other characters instead (see
`wordless_digest`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np

_TOKEN = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
#: Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt): soft hyphen, zero-width space and joiners,
#: bidi controls, variation selectors, tags. Invisible, so they must not split words; NFKC_Casefold removes them too.
_IGNORABLE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    r"\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_ASCII_DIGITS = str.maketrans("123456789", "000000000")
_MASK64 = (1 << 64) - 1
#: Multiplier that combines consecutive unit hashes into an n-gram hash (an odd 64-bit constant).
_COMBINE = 0x9E3779B97F4A7C15
#: Base of the polynomial byte hash of a unit (odd, so invertible mod 2**64) and its inverse.
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 1 << 64)
#: Multiplier of a unit's byte length before the finaliser (so units that differ only by trailing zeros differ).
_LENGTH = 0xD6E8FEB86659FD93
_CACHE_LIMIT = 2_000_000

#: Byte tables of the vectorised path. `\w` on ASCII is [A-Za-z0-9_]; bytes >= 0x80 only occur in text that
#: `normalize` has already reduced to word characters joined by spaces, so they are word bytes too.
_WORD = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _WORD[_c] = True
_WORD[0x80:] = True
_FOLD = np.arange(256, dtype=np.uint8)
_FOLD[ord("A") : ord("Z") + 1] += 32
_FOLD[ord("1") : ord("9") + 1] = ord("0")
del _c


@lru_cache(maxsize=1)
def _word_with_marks() -> re.Pattern[str]:
    """`\\w+` that also takes combining marks (Mn, Mc, Me), as Unicode's word characters do (UTS #18, annex C) and
    Python's `\\w` does not: without them Indic vowel signs vanish and split their words. Built on first use, from
    planes 0, 1 and 14 only (~20 ms): the roadmap keeps planes 2-3 for ideographs and 15-16 for private use."""
    ranges: list[list[int]] = []
    for c in chain(range(0x20000), range(0xE0000, 0xF0000)):
        if unicodedata.category(chr(c))[0] == "M":
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
    marks = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return re.compile(rf"[\w{marks}]+")


#: Half-open [start, end) code point ranges of the scripts written without spaces between words: Thai, Lao, Myanmar,
#: Khmer, the ideographic iteration/closing marks, kana, CJK ideographs (with extensions and compatibility forms),
#: Myanmar extensions and halfwidth katakana. Hangul is not among them: Korean spaces its words.
_UNSPACED_BOUNDS = np.array(
    [0x0E00, 0x0F00, 0x1000, 0x10A0, 0x1780, 0x1800, 0x19E0, 0x1A00, 0x3005, 0x3008, 0x3040, 0x3100, 0x31F0, 0x3200,
     0x3400, 0x4DC0, 0x4E00, 0xA000, 0xA9E0, 0xAA00, 0xAA60, 0xAA80, 0xF900, 0xFB00, 0xFF66, 0xFFA0, 0x20000, 0x31350],
    dtype=np.uint32,
)  # fmt: skip
#: Ranges of the characters a share of "letters" counts: ASCII letters and every other character outside the blocks
#: of punctuation, symbols, spaces and emoji (approximate, but digits, spaces and punctuation must not dilute a script).
_LETTER_BOUNDS = np.array(
    [0x41, 0x5B, 0x61, 0x7B, 0xC0, 0x2000, 0x2C00, 0x3000, 0x3005, 0x3008, 0x3040, 0xFE30, 0xFE70, 0xFF00, 0xFF21,
     0xFF3B, 0xFF41, 0xFF5B, 0xFF66, 0xFFF0, 0x10000, 0x1F000, 0x20000, 0x110000],
    dtype=np.uint32,
)  # fmt: skip
UNSPACED_SHARE = 0.5
"""Share of a text's letters in scripts without spaces from which it is shingled by characters whatever its `lang`."""


def _in_ranges(cps: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    return np.searchsorted(bounds, cps, side="right") % 2 == 1


def unspaced_script(text: str) -> bool:
    """Whether most of `text`'s letters are of a script written without spaces (CJK, Thai, Lao, Khmer, Myanmar): such
    a text split at spaces has a few phrase-long "words", so its near copies are found only by character shingles,
    whatever language its `lang` claims (a source's own tag, or one detected on a mixed text, can be wrong)."""
    if text.isascii() or max(text) < "\u0e00":  # Latin, Greek, Cyrillic, Arabic, ...: no such script at all
        return False
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    letters = int(np.count_nonzero(_in_ranges(cps, _LETTER_BOUNDS)))
    return letters > 0 and np.count_nonzero(_in_ranges(cps, _UNSPACED_BOUNDS)) >= UNSPACED_SHARE * letters


def normalize(text: str) -> list[str]:
    """The normalised word tokens of `text` (see the module docstring)."""
    if text.isascii():  # NFKC is the identity on ASCII, which has no marks: skip the costly calls for most English
        return _TOKEN.findall(text.casefold().translate(_ASCII_DIGITS))
    text = unicodedata.normalize("NFKC", _IGNORABLE.sub("", text))
    text = _DIGIT.sub("0", text)
    return _word_with_marks().findall(text.casefold().translate(_ASCII_DIGITS))


def exact_digest(tokens: Sequence[str | bytes]) -> bytes:
    """16-byte digest of the normalised words: equal for texts that differ only in case, punctuation, spacing, digits."""
    hashes = np.fromiter(map(token_hash64, tokens), dtype=np.uint64, count=len(tokens))
    return hashlib.blake2b(hashes.astype("<u8").tobytes(), digest_size=16).digest()


def wordless_digest(text: str) -> bytes:
    """Exact digest of a document without words: of its NFKC, case-folded characters, whitespace and invisible
    characters dropped, in a blake2b domain of its own.

    The word digest of every such document is the digest of nothing, so "!!!", "???" and an emoji were all exact
    duplicates of each other (and of every such document in the index): with the quality filters off
    (`lmforge dedup`) all but one were removed. An empty or whitespace-only document keeps the digest of nothing
    (`exact_digest([])`), so it still matches the index entries of such documents made before this digest existed;
    those entries match nothing else, which is why the recipe name did not change (that would refuse every index).
    """
    kept = "".join(unicodedata.normalize("NFKC", _IGNORABLE.sub("", text)).casefold().split())
    if not kept:
        return exact_digest([])
    return hashlib.blake2b(kept.encode("utf-8", "surrogatepass"), digest_size=16, person=b"lmforge-nowords").digest()


def document_units(text: str, by_char: bool) -> tuple[bytes, list[bytes]]:
    """(exact digest, UTF-8 shingle units) of one document (the scalar path: tests and references)."""
    words = normalize(text)
    digest = exact_digest(words) if words else wordless_digest(text)
    return digest, [u.encode("utf-8") for u in units(words, by_char)]


def units(tokens: list[str], by_char: bool) -> list[str]:
    """What a shingle is made of: the words, or the characters of the words (spaces dropped)."""
    return list("".join(tokens)) if by_char else tokens


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def token_hash64(token: str | bytes) -> int:
    """A unit's hash: polynomial hash of its UTF-8 bytes (Horner, last byte first), length mixed in, finalised."""
    data = token.encode("utf-8") if isinstance(token, str) else token
    h = 0
    for byte in reversed(data):
        h = (h * _BASE + byte) & _MASK64
    return _fmix64_int((h + len(data) * _LENGTH) & _MASK64)


class _TokenHashes(dict):
    """token → 64-bit hash, computed once per distinct token (corpora repeat their vocabulary)."""

    def __missing__(self, token: str | bytes) -> int:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        value = self[token] = token_hash64(token)
        return value


_token_hashes = _TokenHashes()


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection that spreads every input bit)."""
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _combine(h: np.ndarray, n: int) -> np.ndarray:
    """Unmixed polynomial combination of every n consecutive unit hashes (len(h) - n + 1 values)."""
    m = len(h) - n + 1
    acc = h[:m].copy()
    mult = np.uint64(_COMBINE)
    for k in range(1, n):
        acc *= mult
        acc += h[k : k + m]
    return acc


def shingle_hashes64(seq: list[str] | list[bytes], n: int) -> np.ndarray:
    """64-bit hashes of every n-gram of `seq` (empty when `seq` has fewer than n units); duplicates kept."""
    if len(seq) - n + 1 <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.fromiter(map(_token_hashes.__getitem__, seq), dtype=np.uint64, count=len(seq))
    return _fmix64(_combine(h, n))


def to32(h64: np.ndarray) -> np.ndarray:
    """The 32-bit value MinHash permutes: the top half of the mixed 64-bit hash."""
    return (h64 >> np.uint64(32)).astype(np.uint32)


def shingle_hash32(shingle: tuple[str, ...]) -> int:
    """Scalar reference of `to32(shingle_hashes64(...))` for one shingle; usable as datasketch's `hashfunc`."""
    acc = 0
    for token in shingle:
        acc = (acc * _COMBINE + token_hash64(token)) & _MASK64
    return _fmix64_int(acc) >> 32


def shingles(seq: list[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams themselves (for tests and the reference path; the pipeline only needs their hashes)."""
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


# --- the batch path: many documents per numpy call ------------------------------------------------------------------


@dataclass(frozen=True)
class BatchShingles:
    """Exact digests and 64-bit shingle hashes (duplicates kept) of a batch of documents."""

    digests: list[bytes]
    hashes: np.ndarray
    """uint64, every document's shingle hashes, concatenated in document order."""
    offsets: np.ndarray
    """int64, len(documents) + 1: document i owns hashes[offsets[i]:offsets[i + 1]]."""

    def of(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]


def _unit_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`token_hash64` of every unit data[starts[k]:ends[k]], from prefix sums of b[i] * P**i."""
    n = len(data)
    if len(starts) == 0:
        return np.empty(0, dtype=np.uint64)
    powers = np.full(n, _BASE, dtype=np.uint64)
    powers[0] = 1
    np.cumprod(powers, out=powers)  # P**i, wrapping mod 2**64
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(data.astype(np.uint64) * powers, out=prefix[1:])
    del powers
    inv = np.full(n, _BASE_INV, dtype=np.uint64)
    inv[0] = 1
    np.cumprod(inv, out=inv)
    h = (prefix[ends] - prefix[starts]) * inv[starts]
    h += (ends - starts).astype(np.uint64) * np.uint64(_LENGTH)
    return _fmix64(h)


def _owners(unit_starts: np.ndarray, doc_starts: np.ndarray, ndocs: int) -> np.ndarray:
    """Units per document (documents are contiguous byte ranges starting at doc_starts)."""
    owner = np.searchsorted(doc_starts, unit_starts, side="right") - 1
    return np.bincount(owner, minlength=ndocs)


def _ngrams(h: np.ndarray, counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mixed n-gram hashes that stay inside one document, and their per-document offsets."""
    per_doc = np.maximum(counts - n + 1, 0)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    if offsets[-1] == 0:
        return np.empty(0, dtype=np.uint64), offsets
    unit_end = np.cumsum(counts)  # one past each document's last unit
    owner = np.repeat(np.arange(len(counts)), counts)
    m = len(h) - n + 1
    valid = np.arange(m) + n <= unit_end[owner[:m]]
    return _fmix64(_combine(h, n)[valid]), offsets


def _join(chunks: list[bytes], sep: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(bytes of the joined chunks, start of each chunk in them)."""
    lengths = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
    starts = np.zeros(len(chunks), dtype=np.int64)
    np.cumsum(lengths[:-1] + len(sep), out=starts[1:])
    return np.frombuffer(sep.join(chunks), dtype=np.uint8), starts


def batch_shingles(texts: Sequence[str], by_char: Sequence[bool], word_n: int, char_n: int) -> BatchShingles:
    """Digests and shingle hashes of many documents at once; equal to `document_units` + `shingle_hashes64`
    per document (tested). Memory is a few uint64 per byte of the batch: callers bound the batch's bytes."""
    ndocs = len(texts)
    if ndocs == 0:
        return BatchShingles([], np.empty(0, dtype=np.uint64), np.zeros(1, dtype=np.int64))
    words: list[bytes] = []
    chars: list[bytes] = []
    for text, bc in zip(texts, by_char, strict=True):
        if text.isascii() and not bc:
            words.append(text.encode())  # folded and split by the byte tables below
            continue
        tokens = normalize(text)
        words.append(" ".join(tokens).encode())
        if bc:
            chars.append("".join(tokens).encode())
    raw, doc_starts = _join(words, b" ")
    isword = np.zeros(len(raw) + 2, dtype=np.int8)
    isword[1:-1] = _WORD[raw]
    edges = np.diff(isword)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    word_h = _unit_hashes(_FOLD[raw], starts, ends)
    word_counts = _owners(starts, doc_starts, ndocs)
    word_off = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(word_counts, out=word_off[1:])
    le = word_h.astype("<u8", copy=False)
    digests = [
        hashlib.blake2b(le[word_off[i] : word_off[i + 1]].tobytes(), digest_size=16).digest()
        if word_counts[i]
        else wordless_digest(texts[i])
        for i in range(ndocs)
    ]
    hashes, offsets = _ngrams(word_h, word_counts, word_n)
    if chars:
        hashes, offsets = _with_char_shingles(hashes, offsets, chars, np.asarray(by_char, dtype=bool), char_n)
    return BatchShingles(digests, hashes, offsets)


def _with_char_shingles(
    hashes: np.ndarray, offsets: np.ndarray, chars: list[bytes], by_char: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Replace the word shingles of the `by_char` documents by character n-grams of their normalised words."""
    data, doc_starts = _join(chars, b"")
    starts = np.flatnonzero((data & 0xC0) != 0x80)  # UTF-8 lead bytes: one per character
    ends = np.append(starts[1:], len(data))
    char_h = _unit_hashes(data, starts, ends)
    char_hashes, char_off = _ngrams(char_h, _owners(starts, doc_starts, len(chars)), n)
    pieces, counts, k = [], [], 0
    for i, bc in enumerate(by_char):
        piece = char_hashes[char_off[k] : char_off[k + 1]] if bc else hashes[offsets[i] : offsets[i + 1]]
        k += int(bc)
        pieces.append(piece)
        counts.append(len(piece))
    out = np.zeros(len(by_char) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return (np.concatenate(pieces) if pieces else np.empty(0, np.uint64)), out
