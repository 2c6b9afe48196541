"""LanguageId: the C path (`_langid.c`) and the Python fallback both give what py3langid gives, to the bit."""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from itertools import compress

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.corpus import build_default_corpus
from lmforge.pipeline.curate import langid, unicode_tables
from lmforge.pipeline.curate.config import LangIdConfig
from lmforge.pipeline.curate.langid import LanguageId

CFG = LangIdConfig()
IMPLEMENTATIONS = ["native", "python"]
SAMPLES = {
    "de": "Die öffentliche Bibliothek ist einer der letzten Orte, die allen offenstehen, ohne dass man etwas kaufen muss.",
    "en": "Baking bread at home is easier than most people think: you need flour, water, salt and a little yeast.",
    "zh": "中国人喝茶的历史已经有几千年了。茶最早被当作一种药物，后来才成为日常的饮料。",
}
# Characters each step looks at (case, NFC, surrogates, astral, Hangul jamo, titlecase, digits, spaces), mixed into
# generated text far more often than chance would.
_SPECIAL = (
    "aAeÉé\u0301\u0308\u0327ǅßİ\u212b\u2126\uac00\u1100\u1161\u11a8\uf900\u0f73\u0cca\u0cc6\u0cc2"
    "\ud800\udfff\U0001f642\U00020000中文ΣΑΒ 0123456789\n\t\u00a0\u3000ＡＢｃ"
)
_TEXTS = st.one_of(
    st.text(alphabet=st.one_of(st.sampled_from(_SPECIAL), st.characters()), max_size=80),
    st.text(alphabet="ABCDÉ XYZ 12", max_size=40),  # all upper case: py3langid lowers it
    st.text(alphabet=" \t\n0123456789.,", max_size=30),  # no letter: "und"
)


@lru_cache(maxsize=1)
def py3langid_identifier():
    """py3langid's identifier as its own loader makes it (lmforge's comes from the decoded-model cache)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def reference(text: str, max_chars: int = CFG.max_chars) -> tuple[str, float]:
    """The original `LanguageId.detect`, straight on py3langid."""
    sample = text[:max_chars]
    if not any(ch.isalpha() for ch in sample[:2000]):
        return "und", 0.0
    lang, prob = py3langid_identifier().classify(sample)
    return lang, float(np.clip(prob, 0.0, 1.0))


def make(impl: str, max_chars: int = CFG.max_chars) -> LanguageId:
    if impl == "native":
        if langid._langid is None:
            pytest.skip("the C module _langid is not built (no compiler)")
        if langid._native_model() is None:
            pytest.skip("no _langid variant reproduces numpy's float32 arithmetic on this machine")
    return LanguageId(LangIdConfig(max_chars=max_chars), native=impl == "native")


@pytest.fixture(scope="module")
def corpus_texts(tmp_path_factory) -> list[str]:
    paths = build_default_corpus(tmp_path_factory.mktemp("corpus"), max_mb=2)
    return [json.loads(line)["text"] for path in paths for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def corpus_reference(corpus_texts) -> list[tuple[str, float]]:
    return [reference(text) for text in corpus_texts]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_samples_get_their_language(impl):
    lid = make(impl)
    assert lid.native == (impl == "native")
    for lang, text in SAMPLES.items():
        got = lid.detect(text)
        assert got == reference(text)
        assert got[0] == lang and 0.5 < got[1] <= 1.0


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_equals_py3langid_on_the_default_corpus(impl, corpus_texts, corpus_reference):
    assert len(corpus_texts) > 100
    lid = make(impl)
    assert [lid.detect(text) for text in corpus_texts] == corpus_reference


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\t ", "12345 678", "a", "Ab", "ABC DEF", "ǅ", "e\u0301t\u00e9", "\ud800abc\udfff", "🙂 emoji 🙂"],
)
def test_edge_cases_equal_py3langid(impl, text):
    assert make(impl).detect(text) == reference(text)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, max_chars=st.sampled_from([1, 7, 800, 5000]))
def test_equals_py3langid_on_any_text(impl, text, max_chars):
    assert make(impl, max_chars).detect(text) == reference(text, max_chars)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet=st.one_of(st.sampled_from(_SPECIAL), st.characters()), min_size=300, max_size=1500))
def test_equals_py3langid_on_long_text(impl, text):
    """Long enough for the C walk to cut the bytes into chunks walked side by side."""
    assert make(impl, 5000).detect(text) == reference(text, 5000)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_long_texts_read_past_one_segment(impl, corpus_texts):
    mixed = "".join(corpus_texts[:40]) + "".join(SAMPLES.values()) * 200  # > 16 KiB, multi-byte across boundaries
    for text in (mixed, mixed.upper(), "é" * 9000 + mixed):
        assert make(impl, 10**9).detect(text) == reference(text, 10**9)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_counts_past_the_log1p_table_and_huge_texts(impl):
    lid = make(impl, 10**9)
    repeated = "ab" * 100_000  # features counted more often than the C path's log1p table covers: Python answers
    if impl == "native":
        assert lid._native.detect(repeated, 10**9) is None
    assert lid.detect(repeated) == reference(repeated, 10**9)
    huge = SAMPLES["de"] + "x" * 50_000_000
    assert make(impl).detect(huge) == reference(huge)


def test_threads_share_one_native_model(corpus_texts, corpus_reference):
    lid = make("native")
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lid.detect, corpus_texts)) == corpus_reference


def test_c_path_runs_where_it_mirrors_the_blas_kernel():
    """Where OpenBLAS uses a kernel _langid.c mirrors, a mismatch is a bug, not a reason to fall back quietly."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if langid._langid is None:
        pytest.skip("the C module _langid is not built (no compiler)")
    kernels = [i.get("architecture") for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
    if not kernels or kernels[0] not in {"SkylakeX", "Haswell", "Zen"}:
        pytest.skip(f"numpy's BLAS kernel {kernels[:1]} is not one _langid.c mirrors")
    assert langid._native_model() is not None


def test_native_scan_limit_matches():
    make("native")
    assert langid._langid.ALPHA_SCAN == langid.ALPHA_SCAN


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from(_SPECIAL), st.characters(exclude_categories=()))))
def test_text_of_nfc_stable_code_points_is_its_own_nfc(text):
    bits = np.unpackbits(unicode_tables.nfc_stable_bitmap(), bitorder="little")
    stable = "".join(ch for ch in text if bits[ord(ch)])
    assert unicodedata.normalize("NFC", stable) == stable


def test_special_code_points_are_what_unicodedata_says_of_each_code_point():
    chars = list(map(chr, range(0x110000)))
    want = sorted(
        set(compress(range(len(chars)), map(unicodedata.combining, chars))).union(
            compress(range(len(chars)), map(unicodedata.decomposition, chars))
        )
    )
    assert unicode_tables.special_code_points() == want
    assert unicode_tables.special_code_points(block=4096) == want
    assert 0x0301 in want and 0x0345 in want and 0xAC00 not in want and ord("a") not in want  # 가: no property


def test_nfc_unstable_code_points_are_the_composing_ones():
    bits = np.unpackbits(unicode_tables.nfc_stable_bitmap(), bitorder="little")
    for ch in "\u0301\u1161\u11a8\u0cc2\uf900\u212b\u0f73":  # combining, jamo V/T, second half, singletons
        assert not bits[ord(ch)], hex(ord(ch))
    for ch in "aé中\uac00\u00a0\u3000Ａ\U0001f642\ud800":
        assert bits[ord(ch)], hex(ord(ch))


def _parity_model(variant: int):
    """A 142-class model whose automaton is not local: its state is the parity of the "x" seen so far."""
    from py3langid.langid import LanguageIdentifier

    rng = np.random.default_rng(1)
    ncls = 142
    ptc = (-rng.uniform(1, 12, size=(4, ncls))).astype(np.float16)
    pc = (-rng.uniform(1, 6, size=ncls)).astype(np.float32)
    nextmove = np.zeros((2, 256), dtype=np.uint32)
    nextmove[0, :] = 0
    nextmove[0, ord("x")] = 1
    nextmove[1, :] = 1
    nextmove[1, ord("x")] = 0
    rows = np.array([0, 1], dtype=np.uint32)
    outputs = np.array([0, 1], dtype=np.int32)
    classes = [f"l{i}" for i in range(ncls)]
    ident = LanguageIdentifier(
        ptc, pc, classes, nextmove.ravel().tolist(), outputs.tolist(), norm_probs=True, tk_row=rows.tolist()
    )
    arrays = {
        "nextmove": nextmove.ravel(),
        "rows": rows,
        "outputs": outputs,
        "ptc": ptc,
        "pc": pc,
        "log1p": np.log1p(np.arange(langid.LOG1P_TABLE, dtype=np.float32)),
        "nfc_stable": unicode_tables.nfc_stable_bitmap(),
        "classes": tuple(classes),
        "aliases": (),
    }
    return langid._langid.Model(**arrays, variant=variant), ident


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="xyz", min_size=260, max_size=3000))
def test_chunked_walk_is_the_sequential_walk_even_when_state_is_not_local(text):
    """The C walk cuts long texts into chunks that start in state 0: here that state is wrong half the time."""
    make("native")
    model, ident = _parity_model(langid._native_model().variant)
    lang, prob = ident.classify(text)
    assert model.detect(text, 10**9) == (lang, float(np.clip(prob, 0.0, 1.0)))


def test_switching_a_models_variant_scores_as_a_model_built_with_it():
    make("native")
    rng = np.random.default_rng(2)
    features = rng.choice(4, size=3, replace=False).astype(np.uint32).tobytes()
    counts = np.array([1, 7, 300], dtype=np.uint32).tobytes()
    switched, _ = _parity_model(0)
    for variant in range(langid._langid.N_VARIANTS):
        switched.variant = variant
        built, _ = _parity_model(variant)
        assert switched.variant == variant
        assert switched.raw_scores(features, counts) == built.raw_scores(features, counts)
    with pytest.raises(ValueError, match="variant must be"):
        switched.variant = langid._langid.N_VARIANTS
    with pytest.raises(RuntimeError, match="not initialised"):
        langid._langid.Model.__new__(langid._langid.Model).variant = 0


def test_model_rejects_inconsistent_arrays():
    make("native")
    bad = {
        "nextmove": np.array([5] * 256, dtype=np.uint32),  # no state 5
        "rows": np.array([0], dtype=np.uint32),
        "outputs": np.array([0], dtype=np.int32),
        "ptc": np.zeros((1, 3), dtype=np.float16),
        "pc": np.zeros(3, dtype=np.float32),
        "log1p": np.log1p(np.arange(16, dtype=np.float32)),
        "nfc_stable": unicode_tables.nfc_stable_bitmap(),
        "classes": ("a", "b", "c"),
        "aliases": (),
    }
    with pytest.raises(ValueError, match="not a state"):
        langid._langid.Model(**bad, variant=0)
    with pytest.raises(ValueError, match="sizes"):
        langid._langid.Model(**{**bad, "classes": ("a", "b")}, variant=0)
    with pytest.raises(RuntimeError, match="not initialised"):
        langid._langid.Model.__new__(langid._langid.Model).detect("text", 10)


def test_without_the_c_module_detect_runs_in_python(monkeypatch):
    monkeypatch.setattr(langid, "_langid", None)
    langid._native_model.cache_clear()
    try:
        lid = LanguageId(CFG)
        assert not lid.native
        assert lid.detect(SAMPLES["de"]) == reference(SAMPLES["de"])
    finally:
        langid._native_model.cache_clear()


def _same_identifier(got, want) -> None:
    for name in ("tk_nextmove", "tk_row", "tk_output", "nb_classes", "_alias_pairs"):
        assert type(getattr(got, name)) is type(getattr(want, name)), name
        assert getattr(got, name) == getattr(want, name), name
    for name in ("nb_ptc", "nb_pc"):
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(want, name))
        assert a.dtype == b.dtype and np.array_equal(a, b), name


def test_identifier_from_the_decoded_model_cache_is_py3langids_own(tmp_path, monkeypatch):
    monkeypatch.setenv("LMFORGE_CACHE_DIR", str(tmp_path))
    langid._identifier.cache_clear()
    try:
        first = langid._identifier()  # decompresses and writes the entry
        (entry,) = (tmp_path / "langid").iterdir()
        assert sorted(p.name for p in entry.iterdir()) == sorted(f"{k}.npy" for k in langid.MODEL_KEYS)
        langid._identifier.cache_clear()
        second = langid._identifier()  # maps the entry
        assert isinstance(second.nb_ptc, np.memmap)
        for ident in (first, second):
            _same_identifier(ident, py3langid_identifier())
            for text in SAMPLES.values():
                assert ident.classify(text) == py3langid_identifier().classify(text)
    finally:
        langid._identifier.cache_clear()


def test_a_damaged_cache_entry_is_decoded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LMFORGE_CACHE_DIR", str(tmp_path))
    langid.decoded_model()
    (entry,) = (tmp_path / "langid").iterdir()
    ptc = entry / "ptc.npy"
    ptc.write_bytes(ptc.read_bytes()[:1000])  # cut short, as a full disk would leave it
    with pytest.raises(ValueError):
        np.load(ptc, mmap_mode="r")
    arrays = langid.decoded_model()
    assert np.array_equal(arrays["ptc"], py3langid_identifier().nb_ptc)
    assert np.array_equal(np.load(ptc, mmap_mode="r"), arrays["ptc"])  # and the entry is whole again
    assert [p.name for p in (tmp_path / "langid").iterdir()] == [entry.name]  # no temporary folder left


def test_an_unwritable_cache_costs_only_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LMFORGE_CACHE_DIR", str(blocker / "cache"))  # mkdir under a file fails
    arrays = langid.decoded_model()
    assert not isinstance(arrays["ptc"], np.memmap)
    assert np.array_equal(arrays["ptc"], py3langid_identifier().nb_ptc)
    assert blocker.read_text() == "not a folder"


def test_without_a_home_directory_the_model_is_decoded_in_memory(monkeypatch):
    def no_home() -> None:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("LMFORGE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(langid.Path, "home", staticmethod(no_home))
    arrays = langid.decoded_model()
    assert np.array_equal(arrays["nextmove"], np.asarray(py3langid_identifier().tk_nextmove))


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("LMFORGE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert langid.cache_dir() == tmp_path / "xdg" / "lmforge"
    monkeypatch.setenv("LMFORGE_CACHE_DIR", str(tmp_path / "mine"))
    assert langid.cache_dir() == tmp_path / "mine"


def test_processes_that_start_together_on_a_cold_cache_agree(tmp_path):
    """Four workers find no entry, all decode, all try to store theirs: each ends with the model, one entry stays."""
    import subprocess
    import sys

    code = (
        "import hashlib; from lmforge.pipeline.curate import langid; a = langid.decoded_model(); "
        "print(hashlib.sha256(b''.join(a[k].tobytes() for k in langid.MODEL_KEYS)).hexdigest())"
    )
    env = {**os.environ, "LMFORGE_CACHE_DIR": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    digests = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    want = hashlib.sha256(b"".join(np.asarray(v).tobytes() for v in _py3langid_arrays())).hexdigest()
    assert digests == {want}
    (entry,) = (tmp_path / "langid").iterdir()  # no temporary folder left behind
    assert not entry.name.startswith(".")


def _py3langid_arrays() -> list[np.ndarray]:
    """py3langid's model arrays in `MODEL_KEYS` order, from its own identifier."""
    ident = py3langid_identifier()
    return [
        np.asarray(ident.nb_ptc),
        np.asarray(ident.nb_pc),
        np.array(ident.nb_classes),
        np.asarray(ident.tk_nextmove),
        np.asarray(ident.tk_row),
        np.asarray(ident.tk_output, dtype=np.int32),
    ]
