"""Configuration of the quality filters (one section per filter, `[curate.filters.<name>]`).

Defaults come from the papers and reference implementations cited on each field. Where our corpus (documentation
plus multilingual prose) needs something else the docstring says why; `lmforge.pipeline.curate.text_stats` says
what a "word" is for languages written without spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lmforge.pipeline.configuring import check


def _fraction(value: float, where: str) -> None:
    check(0.0 <= value <= 1.0, where, f"must be a fraction between 0 and 1, got {value}")


@dataclass(kw_only=True, slots=True, frozen=True)
class LengthConfig:
    enabled: bool = True
    """Reject documents outside [min_chars, max_chars]."""
    min_chars: int = 50
    """Shorter documents carry too little text to learn from."""
    max_chars: int = 1_000_000
    """Longer documents are almost always dumps (logs, data tables)."""

    def __post_init__(self) -> None:
        check(self.min_chars >= 0, "filters.length.min_chars", "must be >= 0")
        check(self.max_chars >= self.min_chars, "filters.length.max_chars", "must be >= min_chars")


def _default_stop_words() -> dict[str, list[str]]:
    return {
        # Gopher, Rae et al. 2021, appendix A.1.1.
        "en": ["the", "be", "to", "of", "and", "that", "have", "with"],
        # The most frequent function words of each language (our lists, same spirit as Gopher's).
        "de": ["der", "die", "das", "und", "ist", "nicht", "mit", "zu", "den", "von", "ein", "sich"],
        "fr": ["le", "la", "les", "de", "et", "est", "un", "une", "des", "que", "pour", "dans"],
        "es": ["el", "la", "de", "que", "y", "en", "los", "las", "un", "es", "por", "con"],
        # Characters count as words in Chinese and Japanese, so these are single characters / particles.
        "zh": ["的", "了", "是", "在", "和", "有", "我", "这", "不", "也", "就", "都", "一", "中"],
        "ja": ["の", "に", "は", "を", "た", "が", "で", "て", "と", "し", "も", "な"],
    }


@dataclass(kw_only=True, slots=True, frozen=True)
class GopherQualityConfig:
    """Gopher quality rules: Rae et al. 2021, "Scaling Language Models…Gopher", appendix A.1.1."""

    enabled: bool = True
    """Apply the Gopher quality rules."""
    min_words: int = 50
    """Fewer words: too short to be prose (Gopher A.1.1; CJK: characters count as words)."""
    max_words: int = 100_000
    """More words: a dump rather than a document (Gopher A.1.1)."""
    min_mean_word_length: float = 3.0
    """Shorter mean word length (characters): word salad, tables of numbers (Gopher A.1.1; skipped for CJK)."""
    max_mean_word_length: float = 10.0
    """Longer mean word length: URLs, hashes, minified code (Gopher A.1.1; skipped for CJK, where a word is one
    character by construction)."""
    max_hash_ratio: float = 0.1
    """Most '#' per word (Gopher A.1.1 symbol-to-word ratio)."""
    max_ellipsis_ratio: float = 0.1
    """Most '...'/'…' per word (Gopher A.1.1 symbol-to-word ratio)."""
    max_bullet_lines: float = 0.9
    """Largest share of lines starting with a bullet (Gopher A.1.1)."""
    max_ellipsis_lines: float = 0.3
    """Largest share of lines ending with an ellipsis (Gopher A.1.1)."""
    min_alpha_words: float = 0.8
    """Smallest share of tokens with at least one letter (Gopher A.1.1)."""
    min_stop_words: int = 2
    """Fewest distinct stop words of the document's language present (Gopher A.1.1: 2 of the English list)."""
    stop_words: dict[str, list[str]] = field(default_factory=_default_stop_words)
    """Stop words per ISO 639-1 code; languages without a list skip the stop-word check."""

    def __post_init__(self) -> None:
        w = "filters.gopher_quality"
        check(self.min_words >= 0, f"{w}.min_words", "must be >= 0")
        check(self.max_words >= self.min_words, f"{w}.max_words", "must be >= min_words")
        check(self.min_mean_word_length >= 0, f"{w}.min_mean_word_length", "must be >= 0")
        check(
            self.max_mean_word_length >= self.min_mean_word_length,
            f"{w}.max_mean_word_length",
            "must be >= min_mean_word_length",
        )
        check(self.max_hash_ratio >= 0, f"{w}.max_hash_ratio", "must be >= 0")
        check(self.max_ellipsis_ratio >= 0, f"{w}.max_ellipsis_ratio", "must be >= 0")
        for name in ("max_bullet_lines", "max_ellipsis_lines", "min_alpha_words"):
            _fraction(getattr(self, name), f"{w}.{name}")
        check(self.min_stop_words >= 0, f"{w}.min_stop_words", "must be >= 0")
        for lang, stops in self.stop_words.items():
            # Looked up by the detected language, a lower-case code: an "EN" list would silently never be used.
            check(lang.islower() and lang.isalpha(), f"{w}.stop_words.{lang}", "keys are lower-case codes such as 'en'")
            check(all(s and not s.isspace() for s in stops), f"{w}.stop_words.{lang}", "holds an empty word")


def _top_ngrams() -> dict[str, float]:
    return {"2": 0.20, "3": 0.18, "4": 0.16}


def _dup_ngrams() -> dict[str, float]:
    return {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10}


def _check_ngrams(table: dict[str, float], where: str) -> None:
    for key, frac in table.items():
        check(key.isdigit() and int(key) >= 1, f"{where}.{key}", "keys are n-gram sizes (positive integers)")
        _fraction(frac, f"{where}.{key}")


@dataclass(kw_only=True, slots=True, frozen=True)
class GopherRepetitionConfig:
    """Gopher repetition rules: Rae et al. 2021, table A1 (same thresholds as datatrove's GopherRepetitionFilter)."""

    enabled: bool = True
    """Apply the Gopher repetition rules."""
    max_dup_line_frac: float = 0.30
    """Largest share of lines that repeat an earlier line (Gopher table A1)."""
    max_dup_line_char_frac: float = 0.20
    """Largest share of characters in repeated lines (Gopher table A1)."""
    max_dup_para_frac: float = 0.30
    """Largest share of paragraphs that repeat an earlier paragraph (Gopher table A1)."""
    max_dup_para_char_frac: float = 0.20
    """Largest share of characters in repeated paragraphs (Gopher table A1)."""
    top_ngrams: dict[str, float] = field(default_factory=_top_ngrams)
    """n → largest share of word characters in the most frequent n-gram (Gopher table A1: 2: 0.20, 3: 0.18,
    4: 0.16). For CJK an n-gram is n characters, each with its combining marks (a Thai or Burmese vowel sign is no
    character of its own)."""
    dup_ngrams: dict[str, float] = field(default_factory=_dup_ngrams)
    """n → largest share of word characters in repeated n-grams (Gopher table A1: 5: 0.15 … 10: 0.10)."""

    def __post_init__(self) -> None:
        w = "filters.gopher_repetition"
        for name in ("max_dup_line_frac", "max_dup_line_char_frac", "max_dup_para_frac", "max_dup_para_char_frac"):
            _fraction(getattr(self, name), f"{w}.{name}")
        _check_ngrams(self.top_ngrams, f"{w}.top_ngrams")
        _check_ngrams(self.dup_ngrams, f"{w}.dup_ngrams")


def _policy_phrases() -> list[str]:
    # C4's list (tensorflow_datasets c4_utils._POLICY_SUBSTRINGS).
    return ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]


@dataclass(kw_only=True, slots=True, frozen=True)
class C4Config:
    """C4 cleaning: Raffel et al. 2020 (T5) §2.2 and tensorflow_datasets' c4_utils.clean_page."""

    enabled: bool = True
    """Apply the C4 rules. Line rules remove lines (the document keeps the rest); page rules reject it."""
    unit: Literal["line", "paragraph"] = "paragraph"
    """What the line rules judge. C4 judged WET lines, which are whole paragraphs; our documentation is
    hard-wrapped (docstrings, .rst at ~79 columns), so a "line" of C4 is a paragraph (lines up to a blank line)
    here. "line" reproduces C4 on unwrapped text."""
    min_words_per_line: int = 5
    """Units with fewer words are removed (c4_utils._MIN_WORDS_PER_LINE; CJK: characters)."""
    max_word_chars: int = 1000
    """Units holding a longer word are removed (c4_utils._MAX_WORD_LENGTH)."""
    min_sentences: int = 3
    """Documents with fewer sentences left are rejected (c4_utils._MIN_NUM_SENTENCES; CJK ends on 。！？．｡ too)."""
    drop_no_terminal_punct: bool = True
    """Remove units not ending in terminal punctuation, or ending in an ellipsis (T5 §2.2)."""
    drop_javascript: bool = True
    """Remove units mentioning "javascript" ("enable JavaScript" notices, T5 §2.2)."""
    drop_policy: bool = True
    """Remove units with cookie/terms boilerplate (`policy_phrases`, c4_utils)."""
    policy_phrases: list[str] = field(default_factory=_policy_phrases)
    """Case-insensitive phrases that mark policy boilerplate (c4_utils._POLICY_SUBSTRINGS)."""
    reject_lorem_ipsum: bool = True
    """Reject documents containing "lorem ipsum" (placeholder text, T5 §2.2)."""
    reject_curly_bracket: bool = False
    """Reject documents containing "{" (T5 §2.2 uses it to drop code). Off: our corpus is code documentation,
    where braces are normal (format strings, dict literals, JSON examples)."""

    def __post_init__(self) -> None:
        w = "filters.c4"
        check(self.min_words_per_line >= 0, f"{w}.min_words_per_line", "must be >= 0")
        check(self.max_word_chars >= 1, f"{w}.max_word_chars", "must be >= 1")
        check(self.min_sentences >= 0, f"{w}.min_sentences", "must be >= 0")
        check(all(p.strip() for p in self.policy_phrases), f"{w}.policy_phrases", "holds an empty phrase")


@dataclass(kw_only=True, slots=True, frozen=True)
class FineWebConfig:
    """FineWeb quality rules: Penedo et al. 2024, "The FineWeb Datasets", §3.3 (datatrove FineWebQualityFilter)."""

    enabled: bool = True
    """Apply the FineWeb rules."""
    min_line_punct_ratio: float = 0.12
    """Smallest share of lines ending in terminal punctuation (FineWeb §3.3)."""
    max_short_line_ratio: float = 0.67
    """Largest share of lines of at most `short_line_chars` characters (FineWeb §3.3)."""
    short_line_chars: int = 30
    """A line this short or shorter is "short" (FineWeb §3.3)."""
    short_line_chars_cjk: int = 15
    """The same for CJK text: a wide (East Asian Width "W") character carries about two Latin ones."""
    max_dup_line_char_ratio: float = 0.10
    """Largest share of characters in lines that repeat an earlier line (FineWeb §3.3; datatrove's default is
    0.01, the paper's value is 0.1)."""
    max_newline_word_ratio: float = 0.30
    """Most newlines per word: lists of single words or numbers (datatrove FineWebQualityFilter `new_line_ratio`)."""

    def __post_init__(self) -> None:
        w = "filters.fineweb"
        for name in ("min_line_punct_ratio", "max_short_line_ratio", "max_dup_line_char_ratio"):
            _fraction(getattr(self, name), f"{w}.{name}")
        check(self.short_line_chars >= 0, f"{w}.short_line_chars", "must be >= 0")
        check(self.short_line_chars_cjk >= 0, f"{w}.short_line_chars_cjk", "must be >= 0")
        check(self.max_newline_word_ratio >= 0, f"{w}.max_newline_word_ratio", "must be >= 0")


@dataclass(kw_only=True, slots=True, frozen=True)
class FiltersConfig:
    enabled: bool = True
    """Master switch (off for `lmforge dedup`, which only cleans, redacts and deduplicates)."""
    length: LengthConfig = field(default_factory=LengthConfig)
    """Document length bounds."""
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    """Gopher quality heuristics."""
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    """Gopher repetition heuristics."""
    c4: C4Config = field(default_factory=C4Config)
    """C4 line and page rules."""
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)
    """FineWeb line statistics."""
