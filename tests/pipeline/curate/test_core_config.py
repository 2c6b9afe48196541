"""Curation settings that matched nothing or meant nothing were taken silently; each is now an error naming it."""

from __future__ import annotations

import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.config import LangIdConfig
from lmforge.pipeline.curate.langid import LanguageId
from lmforge.pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("curate", "field"),
    [
        ({"langid": {"min_score": 1.5}}, "curate.langid.min_score"),  # rejected every document
        ({"langid": {"min_score": -0.1}}, "curate.langid.min_score"),
        ({"langid": {"min_score": float("nan")}}, "curate.langid.min_score"),  # kept every document
        ({"langid": {"max_chars": 0}}, "curate.langid.max_chars"),  # every document "und"
        ({"langid": {"languages": ["EN"]}}, "curate.langid.languages"),  # detected codes are lower case
        ({"langid": {"languages": ["en", "en-US"]}}, "curate.langid.languages"),
        ({"row_group_rows": 0}, "curate.row_group_rows"),
        ({"text_extensions": [".md", "txt"]}, "curate.text_extensions"),  # matched against Path.suffix
        ({"fields": {"text": ""}}, "curate.fields.text"),
        ({"filters": {"gopher_quality": {"stop_words": {"EN": ["the", "of"]}}}}, "stop_words.EN"),
    ],
)
def test_a_setting_that_would_match_nothing_is_an_error_naming_it(curate: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(overrides={"curate": curate})


def test_edges_that_mean_something_are_taken() -> None:
    cfg = load_config(
        overrides={"curate": {"langid": {"min_score": 1.0, "languages": ["en", "zh", "und"], "max_chars": 1}}}
    )
    assert cfg.curate.langid.languages == ["en", "zh", "und"]
    load_config(overrides={"curate": {"langid": {"min_score": 0.0}}})


def test_a_language_the_model_does_not_know_is_an_error_naming_it() -> None:
    LanguageId(LangIdConfig(languages=["en", "de", "und"]))
    with pytest.raises(ConfigError, match=r"curate\.langid\.languages: \['xx'\] not among"):
        LanguageId(LangIdConfig(languages=["en", "xx"]))
