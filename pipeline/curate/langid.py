"""Offline language identification with py3langid (its model ships inside the package; no download).

`LanguageId.detect` runs in C (`_langid.c`) over py3langid's own arrays when the module is built and reproduces
numpy's float32 arithmetic on this machine (checked once per process, at first use); otherwise, and as the
reference, it runs py3langid in Python. Both give the same language and the same probability, to the bit.

py3langid's model is an LZMA-compressed `.npz`; the first process on a machine decompresses it into `cache_dir()`
and every later one maps the arrays from there (`decoded_model`), which takes ~0.5 s off each worker's start.
"""

from __future__ import annotations

import hashlib
import io
import logging
import lzma
import os
import shutil
import tempfile
from array import array
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lmforge.pipeline.curate.config import LangIdConfig
from lmforge.pipeline.curate.unicode_tables import nfc_stable_bitmap
from lmforge.pipeline.errors import ConfigError

try:  # the C twin (`_langid.c`), built at install time; the Python path below is the fallback and reference
    from lmforge.pipeline.curate import _langid
except ImportError:  # pragma: no cover - a machine without a C compiler
    _langid = None

log = logging.getLogger(__name__)

ALPHA_SCAN = 2000
"""A sample with no alphabetic character among its first this many is "und" (no language)."""
LOG1P_TABLE = 1 << 16
"""Feature counts the C path looks up in numpy's own float32 log1p; a larger count (never from an 800-character
sample, which has at most 3,200 bytes) sends that document to the Python path."""
CALIBRATION_TEXTS = (
    "Die öffentliche Bibliothek ist einer der letzten Orte, die allen offenstehen.",
    "The quick brown fox jumps over the lazy dog, and then it naps in the afternoon sun.",
    "语言识别把一段文字归入一种语言。图书馆是城市的第三空间，人们在这里阅读和学习。",
    "ＴＨＩＳ ＩＳ ＵＰＰＥＲ ＣＡＳＥ AND NOT NFC: CAFE\u0301 À L'ÉCOLE",
    "Ελληνικά και русский язык, 日本語のテキスト, 한국어 문장 🙂 e\u0301 x",
    "a",
)
"""End-to-end check of the C path against py3langid: scripts, upper case, text NFC changes, astral characters."""


MODEL_KEYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
"""The arrays of py3langid's model file (an `.npz` inside LZMA), as its own loader reads them."""
CACHE_FORMAT = 1
"""Bumped when the layout under `cache_dir()/langid/` changes, so older entries are left alone."""


def cache_dir() -> Path:
    """Where lmforge keeps what it can rebuild at any time: `$LMFORGE_CACHE_DIR`, else `$XDG_CACHE_HOME/lmforge`,
    else `~/.cache/lmforge`. Nothing in it is an input or an output of a run; deleting it costs only time."""
    if explicit := os.environ.get("LMFORGE_CACHE_DIR"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lmforge"


def decoded_model() -> dict[str, np.ndarray] | None:
    """py3langid's model arrays, decompressed once per machine into `cache_dir()` and memory-mapped from there.

    Decompressing the 4.5 MB LZMA file and reading its 65 MB `.npz` took ~0.5 s of every process's start; the
    cached `.npy` files map in ~1 ms. The entry is named by the digest of the model file, so another py3langid
    release (another model) gets its own, and it is written under a temporary name and renamed into place, so a
    reader never sees half of one. None when the model file is not the layout this reads (py3langid's loader runs).
    A cache that cannot be written (read-only home) costs nothing but the time: the arrays come from memory then.
    """
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    source = Path(MODEL_DIR) / MODEL_FILE
    if source.name != "model.npz.xz":
        return None
    data = source.read_bytes()
    key = hashlib.blake2b(data, digest_size=12).hexdigest()
    try:
        entry = cache_dir() / "langid" / f"v{CACHE_FORMAT}-{key}"
    except RuntimeError:  # no home directory to be found: no cache
        entry = None
    if entry is not None:
        try:
            return {k: np.load(entry / f"{k}.npy", mmap_mode="r", allow_pickle=False) for k in MODEL_KEYS}
        except (OSError, ValueError):  # not there yet, or damaged: decode again
            pass
    with np.load(io.BytesIO(lzma.decompress(data)), allow_pickle=False) as npz:
        if not set(MODEL_KEYS) <= set(npz.files):
            return None
        arrays = {k: npz[k] for k in MODEL_KEYS}
    if entry is not None:
        _store(entry, arrays)
    return arrays


def _store(entry: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as `entry/<key>.npy`, all or nothing: a folder with a temporary name, renamed into place."""
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
        for k, v in arrays.items():
            np.save(tmp / f"{k}.npy", v, allow_pickle=False)
        if entry.exists():  # damaged (it did not load): make way
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except OSError as exc:
        if not entry.is_dir():  # else another process put its copy there first, which is as good
            log.info("langid model not cached (%s): every process decompresses it", exc)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _uint_array(values: np.ndarray) -> array:
    """A numpy unsigned array as the stdlib `array` py3langid's own loader makes of it."""
    out = array({2: "H", 4: "I", 8: "L"}[values.dtype.itemsize])
    out.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
    return out


@lru_cache(maxsize=1)
def _identifier():
    """py3langid's identifier (probabilities normalised), built from the cached arrays when there are some."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    arrays = decoded_model()
    if arrays is None:
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return LanguageIdentifier(
        arrays["ptc"],
        arrays["pc"],
        arrays["classes"].tolist(),
        _uint_array(arrays["nextmove"]),
        arrays["out_feat"].tolist(),
        norm_probs=True,
        tk_row=_uint_array(arrays["nextmove_row"]),
    )


def _model_arrays(ident: Any) -> dict[str, Any]:
    return {
        "nextmove": np.asarray(ident.tk_nextmove, dtype=np.uint32),
        "rows": np.asarray(ident.tk_row, dtype=np.uint32),
        "outputs": np.asarray(ident.tk_output, dtype=np.int32),
        "ptc": np.ascontiguousarray(ident.nb_ptc),
        "pc": np.ascontiguousarray(ident.nb_pc),
        "log1p": np.log1p(np.arange(LOG1P_TABLE, dtype=np.float32)),
        "nfc_stable": nfc_stable_bitmap(),
        "classes": tuple(ident.nb_classes),
        "aliases": tuple(ident._alias_pairs),
    }


def _same_exp() -> bool:
    """numpy's float32 exp and the C transcription agree over [-87, 0], the range where outputs are normal floats
    (smaller outputs vanish next to the winning class's exp(0) = 1 and cannot move a result)."""
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [-np.geomspace(1e-9, 87.0, 20_000), rng.uniform(-87.0, 0.0, 20_000), [0.0, -0.0, -1.0, -0.5, -87.0]]
    ).astype(np.float32)
    ours = np.frombuffer(_langid.expf(x.tobytes()), dtype=np.float32)
    return bool(np.array_equal(ours.view(np.uint32), np.exp(x).view(np.uint32)))


def _same_products(model: Any, ident: Any) -> bool:
    """`log1p(counts) @ nb_ptc[features]` in C equals numpy's for every branch of OpenBLAS's sgemv_n."""
    rng = np.random.default_rng(0)
    n_features = ident.nb_ptc.shape[0]
    sizes = [*range(1, 72), *range(96, 106), 211, 275, 402, 603]
    for k in sizes:
        for _ in range(2):
            features = rng.choice(n_features, size=k, replace=False).astype(np.uint32)
            counts = rng.integers(1, 30, size=k).astype(np.uint32)
            want = np.log1p(counts.astype(np.float32)) @ ident.nb_ptc[features]
            got = np.frombuffer(model.raw_scores(features.tobytes(), counts.tobytes()), dtype=np.float32)
            if not np.array_equal(got.view(np.uint32), want.astype(np.float32).view(np.uint32)):
                return False
    return True


@lru_cache(maxsize=1)
def _native_model() -> Any:
    """The C model in the sgemv variant numpy uses on this machine, or None (not built, or nothing reproduces it)."""
    if _langid is None:
        return None
    ident = _identifier()
    if ident.nb_ptc.dtype != np.float16 or ident.nb_pc.dtype != np.float32:
        log.warning(
            "py3langid model arrays are %s/%s, not float16/float32: langid runs in Python",
            ident.nb_ptc.dtype,
            ident.nb_pc.dtype,
        )
        return None
    if not _same_exp():
        log.warning("numpy's float32 exp is not the SIMD kernel _langid.c mirrors: langid runs in Python")
        return None
    model = _langid.Model(**_model_arrays(ident), variant=0)
    for variant in range(_langid.N_VARIANTS):
        model.variant = variant  # one automaton for every variant tried (building it takes 15-200 ms)
        if _same_products(model, ident) and all(
            model.detect(text, 800) == _detect_python(ident, text, 800) for text in CALIBRATION_TEXTS
        ):
            log.info("langid runs in C (sgemv variant %d)", variant)
            return model
    log.warning("no _langid variant reproduces numpy's BLAS on this machine: langid runs in Python")
    return None


def _detect_python(ident: Any, text: str, max_chars: int) -> tuple[str, float]:
    sample = text[:max_chars]
    if not any(ch.isalpha() for ch in sample[:ALPHA_SCAN]):
        return "und", 0.0
    lang, prob = ident.classify(sample)
    return lang, float(np.clip(prob, 0.0, 1.0))


class LanguageId:
    """`detect(text) -> (lang, probability)`; reads only the first `max_chars` characters.

    `native=False` forces the Python path (the reference the tests compare the C path with).
    """

    def __init__(self, config: LangIdConfig, *, native: bool = True) -> None:
        self.config = config
        self._ident = _identifier()
        # A code the model cannot answer ("xx", "eng") would reject every document as `lang_not_allowed`.
        unknown = sorted(set(config.languages) - set(self._ident.nb_classes) - {"und"})
        if unknown:
            raise ConfigError(
                f"curate.langid.languages: {unknown} not among the languages py3langid detects "
                f"({', '.join(sorted(self._ident.nb_classes))})"
            )
        self._native = _native_model() if native else None

    @property
    def native(self) -> bool:
        """True when `detect` runs in C."""
        return self._native is not None

    def detect(self, text: str) -> tuple[str, float]:
        if self._native is not None:
            result = self._native.detect(text, self.config.max_chars)
            if result is not None:
                return result
        return _detect_python(self._ident, text, self.config.max_chars)
