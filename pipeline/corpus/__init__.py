"""The built-in default corpus: stdlib and installed-package documentation plus a shipped zh/en/de sample."""

from lmforge.pipeline.corpus.default import DEFAULT_MAX_MB, SourceStats, build_default_corpus, corpus_stats

__all__ = ["DEFAULT_MAX_MB", "SourceStats", "build_default_corpus", "corpus_stats"]
