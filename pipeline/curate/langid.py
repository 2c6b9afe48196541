"""Offline language identification with py3langid (its model ships inside the package; no download)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmforge.pipeline.curate.config import LangIdConfig


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class LanguageId:
    """`detect(text) -> (lang, probability)`; reads only the first `max_chars` characters."""

    def __init__(self, config: LangIdConfig) -> None:
        self.config = config
        self._ident = _identifier()

    def detect(self, text: str) -> tuple[str, float]:
        sample = text[: self.config.max_chars]
        if not any(ch.isalpha() for ch in sample[:2000]):
            return "und", 0.0
        lang, prob = self._ident.classify(sample)
        prob = float(np.clip(prob, 0.0, 1.0))
        return lang, prob
