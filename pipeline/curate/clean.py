"""Text cleaning: NFC, control characters, whitespace. Newlines and indentation are kept (code docs need them)."""

from __future__ import annotations

import re
import unicodedata

from lmforge.pipeline.curate.config import CleanConfig

try:  # the C twin (`_clean.c`), built at install time; this module's Python code is the fallback and reference
    from lmforge.pipeline.curate import _clean
except ImportError:  # pragma: no cover - a machine without a C compiler
    _clean = None

# C0/C1 controls except \t and \n (\r is handled by newline normalisation), plus BOM / zero-width no-break space.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff]")
# Unicode space separators other than the ASCII space (NBSP, thin/em/ideographic space …) become one ASCII space.
UNICODE_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LINE_SEPARATORS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def fix_surrogates(text: str) -> str:
    """Lone surrogates (possible from JSON escapes) cannot be written as UTF-8: replace them with U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)


def clean_text(text: str, config: CleanConfig) -> str:
    """Cleaned text (possibly empty). Idempotent: cleaning twice gives the same string."""
    if _clean is not None:
        if not _native_ready:
            _prepare_native()
        return _clean.clean(text, config.normalize_whitespace, config.strip_control, config.nfc)
    return clean_text_python(text, config)


_native_ready = False


def _prepare_native() -> None:
    """Hand the C module the code points NFC cannot change, so it skips `unicodedata.normalize` on text made of
    them (most text that is not ASCII: Latin letters with accents, CJK). Built on first use, not at import."""
    global _native_ready
    from lmforge.pipeline.curate.unicode_tables import nfc_stable_bitmap

    _clean.set_nfc_stable(nfc_stable_bitmap())
    _native_ready = True


def clean_text_python(text: str, config: CleanConfig) -> str:
    """`clean_text` in Python: the fallback where the C module is not built, and the reference the tests use."""
    text = fix_surrogates(text)
    if config.normalize_whitespace:
        text = _LINE_SEPARATORS.sub("\n", text)
    if config.nfc and not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if config.strip_control:
        stripped = _CONTROL.sub("", text)
        if config.nfc and len(stripped) != len(text) and not stripped.isascii():
            # A removed control character may have stood between a letter and its combining mark ("e\x00\u0301"):
            # they meet only now, and the result must be NFC too, or cleaning it again would change it.
            stripped = unicodedata.normalize("NFC", stripped)
        text = stripped
    if config.normalize_whitespace:
        if not text.isascii():
            text = UNICODE_SPACES.sub(" ", text)
        text = _TRAILING.sub("", text)
        text = _BLANK_RUNS.sub("\n\n", text)
        text = text.strip("\n ")
    return text
