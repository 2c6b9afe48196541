"""Privacy filter: detect personal data and secrets, replace them by typed placeholders, count per type.

Plain Python (no Prefect); curation calls `Redactor(config).redact(text)` per document.
"""

from lmforge.pipeline.privacy.config import PII_TYPES, PrivacyConfig
from lmforge.pipeline.privacy.placeholders import PLACEHOLDER_FOR_TYPE, PLACEHOLDERS
from lmforge.pipeline.privacy.redactor import Redaction, Redactor
from lmforge.pipeline.privacy.scanner import Span, scan

__all__ = [
    "PII_TYPES",
    "PLACEHOLDERS",
    "PLACEHOLDER_FOR_TYPE",
    "PrivacyConfig",
    "Redaction",
    "Redactor",
    "Span",
    "scan",
]
