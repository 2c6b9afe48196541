"""Text normalisation and shingle hashing, vectorised with numpy.

Normalisation (the same for the exact digest and for shingles): Unicode NFKC, case folding, every digit folded to
`0`, and only runs of word characters (`\\w+`) kept, so punctuation and whitespace differences vanish. Shingles are
word n-grams for space-delimited languages and character n-grams (spaces dropped) for languages written without
spaces (`DedupConfig.char_langs`), picked per document by its `lang`.

A shingle's hash is built from per-token 64-bit hashes (blake2b, cached) combined polynomially and finalised with
the MurmurHash3 64-bit mixer, keeping the top 32 bits. `shingle_hash32` computes the same value for one shingle in
plain Python, so `datasketch.MinHash(hashfunc=shingle_hash32)` reproduces our signatures exactly (tested).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

_TOKEN = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_ASCII_DIGITS = str.maketrans("123456789", "000000000")
_TOKEN_BYTES = re.compile(rb"\w+")
_ASCII_DIGITS_BYTES = bytes.maketrans(b"123456789", b"000000000")
_MASK64 = (1 << 64) - 1
#: Multiplier that combines consecutive token hashes into an n-gram hash (an odd 64-bit constant).
_COMBINE = 0x9E3779B97F4A7C15
_CACHE_LIMIT = 2_000_000


def normalize(text: str) -> list[str]:
    """The normalised word tokens of `text` (see the module docstring)."""
    if not text.isascii():  # NFKC is the identity on ASCII: skip the costly call for most English text
        text = unicodedata.normalize("NFKC", text)
        text = _DIGIT.sub("0", text)
    return _TOKEN.findall(text.casefold().translate(_ASCII_DIGITS))


def exact_digest(tokens: list[str]) -> bytes:
    """16-byte digest of the normalised text: equal for texts that differ only in case, punctuation, spacing, digits."""
    return hashlib.blake2b(" ".join(tokens).encode("utf-8"), digest_size=16).digest()


def document_units(text: str, by_char: bool) -> tuple[bytes, list[bytes]]:
    """(exact digest, UTF-8 shingle units) of one document: `normalize` + `units`, with a bytes fast path for
    ASCII text (lower + translate + a bytes regex give the same tokens at a fraction of the cost)."""
    if text.isascii() and not by_char:
        tokens = _TOKEN_BYTES.findall(text.encode().lower().translate(_ASCII_DIGITS_BYTES))
        return hashlib.blake2b(b" ".join(tokens), digest_size=16).digest(), tokens
    words = normalize(text)
    return exact_digest(words), [u.encode("utf-8") for u in units(words, by_char)]


def units(tokens: list[str], by_char: bool) -> list[str]:
    """What a shingle is made of: the words, or the characters of the words (spaces dropped)."""
    return list("".join(tokens)) if by_char else tokens


def token_hash64(token: str | bytes) -> int:
    data = token.encode("utf-8") if isinstance(token, str) else token
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


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
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hashes64(seq: list[str] | list[bytes], n: int) -> np.ndarray:
    """64-bit hashes of every n-gram of `seq` (empty when `seq` has fewer than n units); duplicates kept."""
    m = len(seq) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.fromiter(map(_token_hashes.__getitem__, seq), dtype=np.uint64, count=len(seq))
    acc = h[:m].copy()
    mult = np.uint64(_COMBINE)
    for k in range(1, n):
        acc *= mult
        acc += h[k : k + m]
    return _fmix64(acc)


def to32(h64: np.ndarray) -> np.ndarray:
    """The 32-bit value MinHash permutes: the top half of the mixed 64-bit hash."""
    return (h64 >> np.uint64(32)).astype(np.uint32)


def shingle_hash32(shingle: tuple[str, ...]) -> int:
    """Scalar reference of `to32(shingle_hashes64(...))` for one shingle; usable as datasketch's `hashfunc`."""
    acc = 0
    for token in shingle:
        acc = (acc * _COMBINE + token_hash64(token)) & _MASK64
    acc ^= acc >> 33
    acc = (acc * 0xFF51AFD7ED558CCD) & _MASK64
    acc ^= acc >> 33
    acc = (acc * 0xC4CEB9FE1A85EC53) & _MASK64
    acc ^= acc >> 33
    return acc >> 32


def shingles(seq: list[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams themselves (for tests and the reference path; the pipeline only needs their hashes)."""
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
