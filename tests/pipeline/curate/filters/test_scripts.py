"""The filters on scripts and languages beyond en/de/zh/ja: Chinese varieties the language model names on their own,
a mostly Chinese text whose head is English, the full stops of Urdu, Khmer, Burmese, Tibetan and Japanese technical
writing, and the n-grams of scripts whose characters carry vowel signs and tone marks."""

from __future__ import annotations

import pytest

from lmforge.pipeline.curate.filters import build_filters
from lmforge.pipeline.curate.filters.c4 import C4Filter
from lmforge.pipeline.curate.filters.config import C4Config, FiltersConfig, FineWebConfig, GopherQualityConfig
from lmforge.pipeline.curate.filters.fineweb import FineWebFilter
from lmforge.pipeline.curate.filters.gopher_quality import GopherQualityFilter
from lmforge.pipeline.curate.text_stats import TextStats, count_sentences, stats_for

pytestmark = pytest.mark.usefixtures("each_implementation")

CANTONESE = (
    "我哋今日去咗茶樓飲茶，啲點心好好食，蝦餃同燒賣都係即叫即蒸嘅。\n"
    "阿媽話聽日唔得閒，所以我哋約咗下個禮拜再去。\n"
    "佢哋間舖頭開咗三十幾年，老闆仲記得我細個嗰陣成日同阿爺嚟。\n"
    "食完之後我哋行咗去海旁影相，天氣好好，風都唔係好大。"
)
URDU = (
    "پاکستان جنوبی ایشیا کا ایک بڑا ملک ہے جس کی آبادی بہت زیادہ ہے۔ اس کا دارالحکومت اسلام آباد ہے اور یہ ایک"
    " خوبصورت شہر ہے۔ کراچی ملک کا سب سے بڑا شہر ہے اور یہاں بندرگاہ بھی ہے۔\n\n"
    "لاہور ایک تاریخی شہر ہے جہاں بہت سی پرانی عمارتیں موجود ہیں۔ یہاں کے لوگ کھانے کے بہت شوقین ہیں اور ہر گلی"
    " میں اچھے ریستوران ملتے ہیں۔ بادشاہی مسجد اور شاہی قلعہ یہاں کی مشہور جگہیں ہیں۔"
)
KHMER = (
    "ភាសាខ្មែរគឺជាភាសាផ្លូវការរបស់ប្រទេសកម្ពុជា។ ប្រជាជនជាងដប់ប្រាំលាននាក់និយាយភាសានេះ។ "
    "អក្សរខ្មែរមានប្រវត្តិយូរលង់ណាស់មកហើយ។\n\n"
    "រាជធានីភ្នំពេញស្ថិតនៅលើមាត់ទន្លេមេគង្គ។ ទីក្រុងនេះមានផ្សារធំៗ និងវិមានជាច្រើន។ "
    "ភ្ញៀវទេសចរតែងតែមកទស្សនាព្រះបរមរាជវាំង។"
)
BURMESE = (
    "မြန်မာနိုင်ငံသည် အရှေ့တောင်အာရှတွင် တည်ရှိသော နိုင်ငံတစ်ခု ဖြစ်သည်။ ရန်ကုန်မြို့သည် နိုင်ငံ၏ "
    "အကြီးဆုံးမြို့ ဖြစ်သည်။\n\n"
    "ဧရာဝတီမြစ်သည် နိုင်ငံ၏ အရှည်ဆုံးမြစ် ဖြစ်သည်။ မြစ်ကမ်းတစ်လျှောက်တွင် ရွာများနှင့် လယ်ကွင်းများ ရှိကြသည်။"
)
TIBETAN = (
    "ལྷ་ས་ནི་བོད་ཀྱི་རྒྱལ་ས་ཡིན། གྲོང་ཁྱེར་འདི་ས་མཐོ་པོ་ཞིག་ལ་ཡོད། པོ་ཏ་ལ་ཕོ་བྲང་ནི་གྲོང་ཁྱེར་གྱི་དབུས་སུ་ཡོད།\n\n"
    "བོད་ཀྱི་མི་མང་ཚོས་ཐུག་པ་དང་རྩམ་པ་ཟ་བ་ཡིན། ལོ་གསར་སྐབས་སུ་ཁོང་ཚོས་དགའ་སྟོན་ཆེན་པོ་བྱེད། ཡུལ་འདིའི་རི་བོ་རྣམས་ནི་ཧ་ཅང་མཐོ།"
)


def _verdict(filters, d):
    for flt in filters:
        keep, reason = flt.filter(d)
        if not keep:
            return flt.name, reason
    return None


def test_cantonese_and_wu_chinese_count_characters_as_words(doc) -> None:
    # py3langid names written Cantonese `yue` and Wu `wuu`: Han text like `zh`, so its rules must be zh's (a word
    # is a character, stop words are found inside runs of characters), not those of a spaced language.
    for lang in ("yue", "wuu"):
        assert stats_for(doc(CANTONESE, lang)).cjk
    config = GopherQualityConfig(min_words=20, stop_words={"yue": ["嘅", "咗", "係"]})
    assert GopherQualityFilter(config).filter(doc(CANTONESE, "yue")) == (True, None)


def test_a_mostly_chinese_text_whose_head_is_english_is_judged_by_characters(sample, doc) -> None:
    # Language ID reads the head of a text: an English abstract before a Chinese article makes it `en`. Its rules
    # must still be those of the script most of it is written in (as dedup's shingles are).
    text = sample("en_prose").split("\n\n")[0] + "\n\n" + sample("zh_prose")
    assert TextStats(text, "en").cjk
    assert stats_for(doc(text, "en")).cjk
    assert GopherQualityFilter(GopherQualityConfig()).filter(doc(text, "en")) == (True, None)
    # and an English text with a few Chinese words stays English
    assert not stats_for(doc(sample("en_prose") + " 你好世界。", "en")).cjk


@pytest.mark.parametrize(
    ("text", "lang"), [(URDU, "ur"), (KHMER, "km"), (BURMESE, "my"), (TIBETAN, "dz"), (TIBETAN, "bo")]
)
def test_the_full_stops_of_urdu_khmer_burmese_and_tibetan_end_lines_and_sentences(doc, text: str, lang: str) -> None:
    # ۔ (Arabic full stop), ។ (khan), ။ (section mark) and ། (shad) end their sentences as "." does English ones.
    d = doc(text, lang)
    assert FineWebFilter(FineWebConfig()).filter(d) == (True, None)
    assert C4Filter(C4Config()).filter(d) == (True, None)
    assert d.text == text
    assert count_sentences(text) == sum(text.count(stop) for stop in "۔។။།")


@pytest.mark.parametrize(("text", "lang"), [(URDU, "ur"), (KHMER, "km"), (BURMESE, "my"), (TIBETAN, "dz")])
def test_urdu_khmer_burmese_and_tibetan_prose_passes_every_filter(doc, text: str, lang: str) -> None:
    # Burmese failed gopher_dup_5gram: a 5-gram of code points is one or two syllables (half of the characters are
    # vowel signs, medials and tones), so the few repeated words of any short text covered 28 % of it; a token is
    # now a character with its marks. Tibetan (py3langid's `dz`) was a spaced language with phrase-long "words".
    assert _verdict(build_filters(FiltersConfig()), doc(text, lang)) is None
    assert stats_for(doc(text, lang)).cjk == (lang != "ur")


def test_japanese_written_with_fullwidth_full_stops_counts_its_sentences(sample, doc) -> None:
    # Technical Japanese (and some Chinese) writes ． and ， for 。 and 、: the same sentences.
    text = sample("ja_prose")
    academic = text.replace("。", "．").replace("、", "，")
    assert count_sentences(academic) == count_sentences(text) == 4
    assert count_sentences("ﾃｽﾄﾃﾞｽ｡ﾓｳｲﾁﾄﾞ｡") == 2  # halfwidth ideographic full stops
    d = doc(academic, "ja")
    assert C4Filter(C4Config()).filter(d) == (True, None)
    assert d.text == academic
