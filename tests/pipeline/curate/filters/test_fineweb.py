"""FineWeb line statistics: prose kept, lists/menus/duplicated lines rejected, CJK short-line width."""

from __future__ import annotations

import pytest

from lmforge.pipeline.curate.filters.config import FineWebConfig
from lmforge.pipeline.curate.filters.fineweb import FineWebFilter

pytestmark = pytest.mark.usefixtures("each_implementation")

DEFAULT = FineWebFilter(FineWebConfig())


@pytest.mark.parametrize(
    ("name", "lang"),
    [("en_prose", "en"), ("en_docs", "en"), ("de_prose", "de"), ("zh_prose", "zh"), ("ja_prose", "ja")],
)
def test_real_prose_is_kept(sample, doc, name: str, lang: str) -> None:
    assert DEFAULT.filter(doc(sample(name), lang)) == (True, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "fineweb_empty"),
        ("\n\n  \n", "fineweb_empty"),
        (
            "\n".join(f"product number {i} in stock now with fast shipping" for i in range(10)),
            "fineweb_line_punct_ratio",
        ),
        (
            "The menu follows below, as usual.\n" + "\n".join(["Home.", "About.", "Shop.", "Contact."] * 3),
            "fineweb_short_line_ratio",
        ),
        (
            "\n".join(["A complete sentence that is long enough to count as prose here."] * 2 + ["Another one."]),
            "fineweb_dup_line_chars",
        ),
    ],
)
def test_junk_is_rejected(doc, text: str, reason: str) -> None:
    assert DEFAULT.filter(doc(text)) == (False, reason)


def test_one_word_per_line_is_a_list(doc) -> None:
    words = ["Apples.", "Pears.", "Plums.", "Cherries.", "Grapes.", "Lemons.", "Melons.", "Oranges."]
    text = "We sell the following fruit in our shop every day of the week, all year long.\n" + "\n".join(words)
    lenient = FineWebFilter(FineWebConfig(max_short_line_ratio=1.0))
    assert lenient.filter(doc(text)) == (False, "fineweb_newline_word_ratio")


def test_chinese_lines_are_short_at_half_the_latin_width(doc) -> None:
    # 20-character lines: short by the Latin rule (≤ 30), not by the CJK rule (≤ 15).
    lines = [
        "我们今天去公园散步，天气非常好，大家都很开心。",
        "下午我们在湖边喝茶，聊了很多有意思的事情。",
        "晚上回家以后，每个人都觉得今天过得很充实。",
    ]
    text = "\n".join(lines)
    assert DEFAULT.filter(doc(text, "zh")) == (True, None)
    latin_width = FineWebFilter(FineWebConfig(short_line_chars_cjk=30))
    assert latin_width.filter(doc(text, "zh")) == (False, "fineweb_short_line_ratio")


def test_chinese_junk_is_rejected(sample, doc) -> None:
    assert DEFAULT.filter(doc(sample("zh_junk"), "zh"))[0] is False


def test_thresholds_are_configurable(sample, doc) -> None:
    text = sample("en_prose")
    assert FineWebFilter(FineWebConfig(min_line_punct_ratio=0.9)).filter(doc(text)) == (
        False,
        "fineweb_line_punct_ratio",
    )
    assert FineWebFilter(FineWebConfig(short_line_chars=200)).filter(doc(text)) == (False, "fineweb_short_line_ratio")
    dup = "\n".join(["A complete sentence that is long enough to count as prose here."] * 2 + ["Another one."])
    assert FineWebFilter(FineWebConfig(max_dup_line_char_ratio=0.5)).filter(doc(dup)) == (True, None)
