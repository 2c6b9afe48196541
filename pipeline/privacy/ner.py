"""Optional PERSON/ADDRESS detector: Presidio's analyzer on a spaCy model the user installed (extra `lmforge[ner]`).

Off by default; the structured detectors need no model. Imports happen here, lazily, so the core never pays for
spaCy, and a missing piece fails with one message that names what to install.
"""

from __future__ import annotations

from typing import Any

from lmforge.pipeline.errors import ConfigError

#: Presidio entity → lmforge type.
ENTITY_TYPES: dict[str, str] = {"PERSON": "PERSON", "LOCATION": "ADDRESS"}

_HOW_TO = (
    "install the extra (pip install 'lmforge[ner]') and a spaCy model of your choice "
    "(e.g. python -m spacy download {model}), or set privacy.ner = false"
)


class NerDetector:
    """Wraps a Presidio `AnalyzerEngine`; `find(text)` yields (start, end, type) like the pattern detectors."""

    def __init__(self, model: str = "en_core_web_sm", min_score: float = 0.6, language: str = "en") -> None:
        self.min_score = min_score
        self.language = language
        self._engine = _load_engine(model, language)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        results = self._engine.analyze(text=text, language=self.language, entities=list(ENTITY_TYPES))
        return [
            (r.start, r.end, ENTITY_TYPES[r.entity_type])
            for r in results
            if r.entity_type in ENTITY_TYPES and r.score >= self.min_score
        ]


def _load_engine(model: str, language: str) -> Any:
    import importlib.util

    # Look before importing: spaCy and Presidio take seconds to import, a missing model should fail at once.
    missing = [name for name in ("presidio_analyzer", "spacy") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"privacy.ner: {', '.join(missing)} not installed; " + _HOW_TO.format(model=model))
    if importlib.util.find_spec(model) is None:
        raise ConfigError(f"privacy.ner: spaCy model {model!r} is not installed; " + _HOW_TO.format(model=model))
    try:
        import spacy.util
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError as exc:
        raise ConfigError(
            f"privacy.ner: presidio-analyzer/spaCy not importable ({exc}); " + _HOW_TO.format(model=model)
        ) from exc
    if not spacy.util.is_package(model):
        raise ConfigError(f"privacy.ner: spaCy model {model!r} is not installed; " + _HOW_TO.format(model=model))
    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": language, "model_name": model}]}
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=[language])
