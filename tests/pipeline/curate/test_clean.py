import json
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.corpus import build_default_corpus
from lmforge.pipeline.curate import clean, unicode_tables
from lmforge.pipeline.curate.clean import clean_text_python, fix_surrogates
from lmforge.pipeline.curate.config import CleanConfig

CFG = CleanConfig()
NATIVE = pytest.param(
    clean.clean_text,
    id="native",
    marks=pytest.mark.skipif(clean._clean is None, reason="the C module _clean is not built (no compiler)"),
)
IMPLEMENTATIONS = [NATIVE, pytest.param(clean_text_python, id="python")]

# Characters each cleaning rule looks at, to mix into generated text far more often than chance would.
_SPECIAL = (
    " \t\n\r\x00\x07\x0b\x0c\x1c\x1f\x7f\x85\x9f\u00a0\u1680\u2000\u200a\u202f\u205f\u3000\u2028\u2029\ufeff"
    "\u0301\u0308e\u00e9\u212b\uac00\u1100\u1161\ud800\udfffa中"
)
_TEXTS = st.one_of(
    st.text(alphabet=st.one_of(st.sampled_from(_SPECIAL), st.characters()), max_size=60),
    st.text(alphabet=" \t\n\r\x00\x1f\x7fab.", max_size=40),  # ASCII: the C code's early "already clean" exit
)
_CONFIGS = st.builds(CleanConfig, nfc=st.booleans(), strip_control=st.booleans(), normalize_whitespace=st.booleans())


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
def test_normalises_newlines_spaces_controls_and_keeps_indentation(clean_text):
    raw = "Title\r\n\r\n\r\n\r\n    indented code\x00 line\u00a0with nbsp   \r\nlast\x07"
    assert clean_text(raw, CFG) == "Title\n\n    indented code line with nbsp\nlast"


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
def test_nfc_composes_accents(clean_text):
    assert clean_text("Cafe\u0301 au lait", CFG) == "Caf\u00e9 au lait"


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "raw",
    ["e\x00\u0301", "e\ufeff\u0301 x", "\x1fe\x9f\u0308\u0301\r1", "\u1100\x7f\u1161 \u4e2d", "Z\x7f\u0301\n\u3000"],
)
def test_a_control_character_between_letter_and_accent_leaves_nfc_text_that_cleans_to_itself(clean_text, raw):
    # The letter and its mark meet once the control character is gone: the result is still NFC, so it is clean.
    once = clean_text(raw, CFG)
    assert once == unicodedata.normalize("NFC", once)
    assert clean_text(once, CFG) == once
    assert clean_text_python(raw, CFG) == once


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
@settings(max_examples=400)
@given(text=_TEXTS)
def test_cleaning_text_full_of_special_characters_is_idempotent(clean_text, text):
    once = clean_text(text, CFG)
    assert clean_text(once, CFG) == once


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
def test_placeholders_survive_cleaning(clean_text):
    text = "Mail <EMAIL> or call <PHONE>; key <SECRET>."
    assert clean_text(text, CFG) == text


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
def test_lone_surrogates_become_replacement_characters(clean_text):
    assert fix_surrogates("a\ud800b") == "a\ufffdb"
    assert clean_text("x\udfffy", CFG).encode("utf-8") == "x\ufffdy".encode()


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
def test_cjk_text_is_kept_as_is(clean_text):
    zh = "中国人喝茶的历史已经有几千年了。\n\n茶被当作一种药物。"
    assert clean_text(zh, CFG) == zh


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
def test_blank_lines_made_of_spaces_collapse_and_ends_are_stripped(clean_text):
    assert clean_text(" \n\t\n a\t \n \n\n\u3000\nb \t", CFG) == "a\n\nb"
    assert clean_text("\n \tx \n", CFG) == "\tx"  # a leading tab is indentation: only spaces and newlines go


@pytest.mark.parametrize("clean_text", IMPLEMENTATIONS)
@given(text=st.text())
def test_cleaning_is_idempotent_and_encodable(clean_text, text):
    once = clean_text(text, CFG)
    assert clean_text(once, CFG) == once
    once.encode("utf-8")


@pytest.mark.skipif(clean._clean is None, reason="the C module _clean is not built (no compiler)")
@settings(max_examples=600)
@given(text=_TEXTS, config=_CONFIGS)
def test_native_cleaning_equals_python(text, config):
    assert clean.clean_text(text, config) == clean_text_python(text, config)


@pytest.mark.skipif(clean._clean is None, reason="the C module _clean is not built (no compiler)")
def test_native_cleaning_equals_python_on_the_default_corpus(tmp_path):
    texts = [
        json.loads(line)["text"]
        for path in build_default_corpus(tmp_path, max_mb=1)
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert len(texts) > 100
    for text in texts:
        for raw in (text, text.replace("\n", "\r\n").replace("  ", "\u3000 \t")):
            assert clean.clean_text(raw, CFG) == clean_text_python(raw, CFG)


@pytest.mark.skipif(clean._clean is None, reason="the C module _clean is not built (no compiler)")
@pytest.mark.parametrize(
    "text",
    [
        "Grüße aus Köln – „Straße“ …",  # Latin-1 plus punctuation: no NFC call needed
        "中文文本，标点。かな カタカナ 한국어",
        "Cafe\u0301 au lait",  # a combining accent: NFC composes it
        "\u1100\u1161 and \uac00\u11a8",  # conjoining jamo compose, also after a syllable
        "\u2126 ohm",  # a singleton that NFC replaces
        "x\u3099 \u304b\u3099",  # kana sound mark composes with the kana before it
    ],
)
def test_native_nfc_shortcut_gives_what_unicodedata_gives(text):
    assert clean.clean_text(text, CFG) == unicodedata.normalize("NFC", text)
    assert clean.clean_text(text + "\r\n" + text, CFG) == clean_text_python(text + "\r\n" + text, CFG)


def test_latin1_text_is_nfc_as_the_c_module_assumes():
    """`_clean.c` skips NFC for any Latin-1 string without looking at it: every code point below U+0100 must be one
    NFC cannot change (the table the C code uses for the rest)."""
    bits = np.unpackbits(unicode_tables.nfc_stable_bitmap(), bitorder="little")
    assert bits[:0x100].all()
