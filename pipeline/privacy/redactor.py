"""Replace detected spans by typed placeholders, apply per-type actions, and count — never record — what was found."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from lmforge.pipeline.privacy.config import PrivacyConfig
from lmforge.pipeline.privacy.placeholders import PLACEHOLDER_FOR_TYPE
from lmforge.pipeline.privacy.scanner import Hit, find_spans


@dataclass(slots=True)
class Redaction:
    """Redacted text, redactions per type, and `drop` = "pii_<TYPE>" when a type whose action is "drop" was found."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)
    drop: str | None = None


_MAX_PASSES = 4


class Redactor:
    """Callable per document; holds the config (and, with NER on, the loaded model) across documents."""

    def __init__(self, config: PrivacyConfig | None = None) -> None:
        self.config = config or PrivacyConfig()
        if self.config.ner:  # fail at construction, not on the first document, when the extra is missing
            from lmforge.pipeline.privacy.scanner import _ner

            _ner(self.config.ner_model, self.config.ner_min_score)

    def redact(self, text: str, *, uncleaned: bool = False) -> Redaction:
        """Placeholders for every span whose action is "redact" or "drop"; "keep" spans stay as they were.
        `uncleaned`: the text did not go through curation's cleaning (see `scan`)."""
        config = self.config
        if not config.enabled:
            return Redaction(text, {})
        spans = find_spans(text, config, uncleaned=uncleaned)
        if not spans:  # most documents, ids and URLs (positional arguments: the fastest way to build one)
            return Redaction(text, {})
        result = apply(text, spans, config.actions)
        # A placeholder can change what its neighbours look like (`x.AA+0000…` → `<EMAIL>+0000…`); redact to a
        # fixed point so that redacting redacted text is a no-op. Only documents that had PII pay for the re-scan.
        for _ in range(_MAX_PASSES):
            if not result.counts:
                break
            again = apply(result.text, find_spans(result.text, config, uncleaned=uncleaned), config.actions)
            if not again.counts:
                break
            counts = Counter(result.counts) + Counter(again.counts)
            result = Redaction(text=again.text, counts=dict(sorted(counts.items())), drop=result.drop or again.drop)
        return result


def apply(text: str, spans: list[Hit], actions: dict[str, str]) -> Redaction:
    """Rebuild `text` with placeholders for `spans` ((start, end, type), sorted and non-overlapping, as `find_spans`
    gives them); the document's drop reason is the first dropped type in text order."""
    if not spans:
        return Redaction(text, {})
    parts: list[str] = []
    counts: Counter[str] = Counter()
    drop: str | None = None
    pos = 0
    for start, end, kind in spans:
        action = actions.get(kind, "redact")
        if action == "keep":
            continue
        if action == "drop" and drop is None:
            drop = f"pii_{kind}"
        parts.append(text[pos:start])
        parts.append(PLACEHOLDER_FOR_TYPE[kind])
        counts[kind] += 1
        pos = end
    if not counts:
        return Redaction(text=text, drop=drop)
    parts.append(text[pos:])
    return Redaction(text="".join(parts), counts=dict(sorted(counts.items())), drop=drop)
