"""C4 rules: junk units removed from the text, page rules reject, CJK sentences counted on 。！？."""

from __future__ import annotations

import pytest

from lmforge.pipeline.curate.filters.c4 import C4Filter
from lmforge.pipeline.curate.filters.config import C4Config

pytestmark = pytest.mark.usefixtures("each_implementation")

DEFAULT = C4Filter(C4Config())
PROSE = (
    "The library reads each file once and keeps only the columns it needs.\n"
    "Large inputs are processed in row groups, so memory stays bounded.\n\n"
    "Errors name the file and the row, and say what to change. Nothing is dropped silently."
)


@pytest.mark.parametrize(
    ("name", "lang"),
    [("en_prose", "en"), ("de_prose", "de"), ("zh_prose", "zh"), ("ja_prose", "ja")],
)
def test_real_prose_is_kept_unchanged(sample, doc, name: str, lang: str) -> None:
    d = doc(sample(name), lang)
    assert DEFAULT.filter(d) == (True, None)
    assert d.text == sample(name)


def test_docstring_keeps_its_prose_and_loses_lines_without_end_punctuation(sample, doc) -> None:
    d = doc(sample("en_docs"))
    assert DEFAULT.filter(d) == (True, None)
    assert "Object for wrapping/filling text." in d.text
    assert len(d.text) < len(sample("en_docs"))


def test_junk_paragraphs_are_removed_and_the_document_continues(doc) -> None:
    text = "\n\n".join(
        [
            PROSE,
            "Please enable JavaScript in your browser to view this page properly.",
            "This site uses cookies to improve your experience, see our privacy policy.",
            "Home | About | Contact",
            "Too short.",
        ]
    )
    d = doc(text)
    assert DEFAULT.filter(d) == (True, None)
    assert d.text == PROSE


def test_line_unit_judges_every_line(doc) -> None:
    text = PROSE + "\nMenu\nPlease enable JavaScript to continue reading this article."
    d = doc(text)
    assert C4Filter(C4Config(unit="line")).filter(d) == (True, None)
    assert d.text == PROSE.replace("\n\n", "\n")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (PROSE + "\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "c4_lorem_ipsum"),
        ("Home | About | Contact\n\nLogin\n\nSearch", "c4_no_lines_left"),
        ("This is the only complete sentence in the whole document.", "c4_too_few_sentences"),
        ("wait for it and then some more...\n\nand the story goes on and on…", "c4_no_lines_left"),
        ("aGVsbG8" * 200 + " is a long token that ends here.\n\n" + "Menu", "c4_no_lines_left"),
    ],
)
def test_junk_is_rejected(doc, text: str, reason: str) -> None:
    assert DEFAULT.filter(doc(text)) == (False, reason)


def test_curly_brackets_are_allowed_by_default_and_rejected_when_asked(doc) -> None:
    text = PROSE + "\n\nCall it as format('{name}') to fill in the name. It returns a new string."
    assert DEFAULT.filter(doc(text)) == (True, None)
    assert C4Filter(C4Config(reject_curly_bracket=True)).filter(doc(text)) == (False, "c4_curly_bracket")


def test_chinese_sentences_end_on_cjk_punctuation(doc) -> None:
    good = "我们今天去公园散步。天气非常好！你想一起去吗？"
    assert DEFAULT.filter(doc(good, "zh")) == (True, None)
    junk = "首页 | 关于我们 | 联系方式\n\n登录\n\n最新优惠活动点击进入官网领取红包"
    assert DEFAULT.filter(doc(junk, "zh")) == (False, "c4_no_lines_left")


def test_thresholds_are_configurable(doc) -> None:
    assert C4Filter(C4Config(min_sentences=10)).filter(doc(PROSE)) == (False, "c4_too_few_sentences")
    d = doc(PROSE + "\n\nMenu")
    assert C4Filter(C4Config(min_words_per_line=0, drop_no_terminal_punct=False)).filter(d) == (True, None)
    assert d.text.endswith("Menu")
    js = PROSE + "\n\nThe JavaScript bindings are documented separately in the API guide."
    d = doc(js)
    assert C4Filter(C4Config(drop_javascript=False)).filter(d) == (True, None)
    assert d.text == js
    assert C4Filter(C4Config(reject_lorem_ipsum=False)).filter(doc(PROSE + "\n\nLorem ipsum is fine here.")) == (
        True,
        None,
    )
