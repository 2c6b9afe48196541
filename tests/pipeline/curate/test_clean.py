from hypothesis import given
from hypothesis import strategies as st

from lmforge.pipeline.curate.clean import clean_text, fix_surrogates
from lmforge.pipeline.curate.config import CleanConfig

CFG = CleanConfig()


def test_normalises_newlines_spaces_controls_and_keeps_indentation():
    raw = "Title\r\n\r\n\r\n\r\n    indented code\x00 line\u00a0with nbsp   \r\nlast\x07"
    assert clean_text(raw, CFG) == "Title\n\n    indented code line with nbsp\nlast"


def test_nfc_composes_accents():
    assert clean_text("Cafe\u0301 au lait", CFG) == "Caf\u00e9 au lait"


def test_placeholders_survive_cleaning():
    text = "Mail <EMAIL> or call <PHONE>; key <SECRET>."
    assert clean_text(text, CFG) == text


def test_lone_surrogates_become_replacement_characters():
    assert fix_surrogates("a\ud800b") == "a\ufffdb"
    assert clean_text("x\udfffy", CFG).encode("utf-8") == "x\ufffdy".encode()


def test_cjk_text_is_kept_as_is():
    zh = "中国人喝茶的历史已经有几千年了。\n\n茶被当作一种药物。"
    assert clean_text(zh, CFG) == zh


@given(st.text())
def test_cleaning_is_idempotent_and_encodable(text):
    once = clean_text(text, CFG)
    assert clean_text(once, CFG) == once
    once.encode("utf-8")
