"""Privacy filter configuration: what to do with each PII type, and the few thresholds the detectors need."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmforge.pipeline.configuring import check

#: Every type the detectors emit (`lmforge pii scan` output); PERSON and ADDRESS only with the NER detector on.
PII_TYPES: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "IPV4",
    "IPV6",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "CN_ID",
    "SECRET",
    "PERSON",
    "ADDRESS",
)

#: What the filter may do with a detected span: replace it by its placeholder, leave it, or drop the whole document.
ACTIONS: tuple[str, ...] = ("redact", "keep", "drop")


def _default_actions() -> dict[str, str]:
    return {t: "redact" for t in PII_TYPES}


@dataclass(kw_only=True, slots=True, frozen=True)
class PrivacyConfig:
    """How each PII type is handled in curation."""

    enabled: bool = True
    """Run the privacy filter during curation (turning it off is for debugging only)."""

    actions: dict[str, str] = field(default_factory=_default_actions)
    """Per type: "redact" (placeholder), "keep" (leave the text) or "drop" (reject the document); unnamed types redact."""

    ner: bool = False
    """Also detect PERSON/ADDRESS with Presidio + a spaCy model (extra `lmforge[ner]`; the model is the user's)."""

    ner_model: str = "en_core_web_sm"
    """spaCy model package the NER detector loads (must be installed by the user; nothing is downloaded)."""

    ner_min_score: float = 0.6
    """Presidio score below which a PERSON/ADDRESS guess is ignored (Presidio's own examples use 0.5–0.6)."""

    secret_min_entropy: float = 3.0
    """Shannon bits/char a `password=`/`api_key:` value needs to count as a secret (detect-secrets uses 3.0 for hex)."""

    secret_min_length: int = 8
    """Shortest `password=`/`api_key:` value treated as a secret (shorter values are usually names, not keys)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.actions) - set(PII_TYPES))
        check(not unknown, "privacy.actions", f"unknown type(s) {unknown}; known: {list(PII_TYPES)}")
        bad = {k: v for k, v in self.actions.items() if v not in ACTIONS}
        check(not bad, "privacy.actions", f"invalid action(s) {bad}; use one of {list(ACTIONS)}")
        # A TOML table naming only some types means "the rest redact": fill them in so lookups never miss.
        object.__setattr__(self, "actions", {**_default_actions(), **self.actions})
        check(0.0 <= self.ner_min_score <= 1.0, "privacy.ner_min_score", "must be between 0 and 1")
        check(0.0 <= self.secret_min_entropy <= 8.0, "privacy.secret_min_entropy", "must be between 0 and 8 bits")
        check(self.secret_min_length >= 1, "privacy.secret_min_length", "must be at least 1")
        check(bool(self.ner_model), "privacy.ner_model", "must name a spaCy model package")
