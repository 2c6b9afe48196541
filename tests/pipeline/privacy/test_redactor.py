"""Redaction: placeholders, per-type actions, counts only, idempotence, config validation, the NER error path."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.privacy import PLACEHOLDERS, PrivacyConfig, Redactor, scan

TEXT = (
    "Hi, I'm reachable at lea.koch@example.de or +49 30 90182736. "
    "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, server 8.8.8.8, token AKIAQ7CANARY4F3A9XYZ."
)


def test_redact_replaces_every_type_and_counts_it() -> None:
    result = Redactor().redact(TEXT)
    assert result.text == (
        "Hi, I'm reachable at <EMAIL> or <PHONE>. Card <CREDIT_CARD>, IBAN <IBAN>, server <IP>, token <SECRET>."
    )
    assert result.counts == {"CREDIT_CARD": 1, "EMAIL": 1, "IBAN": 1, "IPV4": 1, "PHONE": 1, "SECRET": 1}
    assert result.drop is None


def test_counts_never_hold_text() -> None:
    counts = Redactor().redact(TEXT).counts
    assert all(isinstance(k, str) and k.isupper() and isinstance(v, int) for k, v in counts.items())


def test_keep_leaves_the_span_and_drop_names_the_first_dropped_type() -> None:
    config = PrivacyConfig(actions={"IPV4": "keep", "IBAN": "drop", "EMAIL": "drop"})
    result = Redactor(config).redact(TEXT)
    assert "8.8.8.8" in result.text
    assert "IPV4" not in result.counts
    assert result.drop == "pii_EMAIL"  # first in text order
    assert "<IBAN>" in result.text and "<EMAIL>" in result.text  # rejects are redacted too


def test_text_without_pii_is_returned_as_is() -> None:
    text = "Nothing personal here: version 3.11.4 was released on 2023-06-06."
    result = Redactor().redact(text)
    assert result.text is text and result.counts == {} and result.drop is None


def test_disabled_filter_passes_text_through() -> None:
    assert Redactor(PrivacyConfig(enabled=False)).redact(TEXT).text == TEXT


def test_placeholders_are_not_redacted_again() -> None:
    text = " ".join(PLACEHOLDERS) + " password=<SECRET> mail <EMAIL>@<EMAIL>"
    assert scan(text) == []
    once = Redactor().redact(TEXT).text
    assert Redactor().redact(once).text == once


def test_config_from_toml_dict_fills_missing_actions() -> None:
    config = from_dict(PrivacyConfig, {"actions": {"SECRET": "drop"}}, "privacy")
    assert config.actions["SECRET"] == "drop"
    assert config.actions["EMAIL"] == "redact"


@pytest.mark.parametrize(
    ("data", "field"),
    [({"actions": {"EMAILS": "redact"}}, "privacy.actions"), ({"actions": {"EMAIL": "hide"}}, "privacy.actions"),
     ({"secret_min_entropy": 9.0}, "privacy.secret_min_entropy"), ({"colour": 1}, "unknown field")],
)  # fmt: skip
def test_bad_config_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        from_dict(PrivacyConfig, data, "privacy")


@pytest.mark.skipif(importlib.util.find_spec("en_core_web_sm") is not None, reason="a spaCy model is installed here")
def test_ner_without_a_model_fails_with_a_clear_message() -> None:
    with pytest.raises(ConfigError, match=r"privacy\.ner: .*lmforge\[ner\].*privacy\.ner = false"):
        Redactor(PrivacyConfig(ner=True))


_PII_BITS = st.sampled_from(
    ["a.b@example.com", "+49 30 90182736", "4111 1111 1111 1111", "8.8.8.8", "AKIAQ7CANARY4F3A9XYZ", "536-90-4399",
     "DE89370400440532013000", "11010519491231002X", "password=Xk9#mP2qL7vR", "2606:4700::1111", "<EMAIL>", "@", "::",
     "1", "-", " ", "\n", "中文", "\ud800", "(", ")", "+", ".", "=", ":"]
)  # fmt: skip
_TEXTS = st.one_of(
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=200),
    st.lists(st.one_of(_PII_BITS, st.text(max_size=5)), max_size=30).map("".join),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_TEXTS)
def test_redact_never_raises_and_is_idempotent(text: str) -> None:
    redactor = Redactor()
    once = redactor.redact(text)
    assert isinstance(once.text, str)
    twice = redactor.redact(once.text)
    assert twice.text == once.text
    assert twice.counts == {}
