"""The default corpus built from this very environment (2 MB cap) and from the small fake trees in tests/data."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from lmforge.pipeline.corpus import build_default_corpus, corpus_stats
from lmforge.pipeline.errors import ConfigError, InputError

DATA = Path(__file__).parents[2] / "data" / "corpus"
FIELDS = {"id", "text", "source", "url", "created_at"}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
CAP_MB = 2.0


def _records(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> list[Path]:
    return build_default_corpus(tmp_path_factory.mktemp("corpus"), max_mb=CAP_MB)


def test_files_and_fields(built):
    assert [p.name for p in built] == ["stdlib.jsonl", "packages.jsonl", "multilingual.jsonl"]
    recs = _records(built)
    assert all(set(r) == FIELDS and isinstance(r["text"], str) and r["text"] for r in recs)
    assert len({r["id"] for r in recs}) == len(recs)
    assert not any("/work/" in r["url"] or "/root/" in r["url"] or r["url"].startswith("file:") for r in recs)


def test_every_source_present_including_chinese_and_german(built):
    recs = _records(built)
    assert {r["source"] for r in recs} == {"python-stdlib", "pkg-docs", "pkg-metadata", "pkg-license", "multilingual"}
    multi = [r["text"] for r in recs if r["source"] == "multilingual"]
    assert any(len(re.findall(r"[\u4e00-\u9fff]", t)) >= 300 for t in multi)
    assert any(re.search(r"\b(?:und|der|die|das)\b.*[äöüß]", t) for t in multi)
    prefixes = {"python-stdlib": "stdlib/", "pkg-docs": "pkg-docs/", "multilingual": "multilingual/"}
    assert all(r["id"].startswith(prefixes.get(r["source"], r["source"] + "/")) for r in recs)


def test_size_cap_respected(built):
    assert sum(p.stat().st_size for p in built) <= CAP_MB * 1_000_000
    assert sum(s.bytes for s in corpus_stats(built)) == sum(p.stat().st_size for p in built)


def test_metadata_carries_author_emails(built):
    metadata = [r for r in _records(built) if r["source"] == "pkg-metadata"]
    with_email = [r for r in metadata if EMAIL.search(r["text"])]
    assert len(with_email) >= 1  # the PII the privacy stage must redact


def test_has_natural_exact_duplicates(built):
    counts = Counter(r["text"] for r in _records(built))
    extra_copies = sum(n - 1 for n in counts.values() if n > 1)
    assert extra_copies >= 1


def test_same_environment_gives_byte_identical_files(built, tmp_path):
    again = build_default_corpus(tmp_path, max_mb=CAP_MB)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in built]


def test_fake_trees_end_to_end(tmp_path):
    paths = build_default_corpus(tmp_path, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages")
    recs = {r["id"]: r for r in _records(paths)}
    assert "stdlib/textkit/__init__.py" in recs
    assert recs["stdlib/textkit/__init__.py"]["url"] == "stdlib:textkit/__init__.py"
    assert {"pkg-docs/demo_pkg/__init__.py", "pkg-docs/demo_pkg/README.md"} <= set(recs)
    lic = [r["text"] for r in recs.values() if r["source"] == "pkg-license"]
    assert len(lic) == 2 and lic[0] == lic[1]
    stats = {s.source: s.records for s in corpus_stats(paths)}
    assert stats["pkg-metadata"] == 2 and stats["python-stdlib"] == 1


def test_tiny_cap_limits_the_sample_share(tmp_path):
    paths = build_default_corpus(tmp_path, max_mb=0.04, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages")
    multi = (tmp_path / "multilingual.jsonl").stat().st_size
    assert 0 < multi <= 0.25 * 40_000
    assert sum(p.stat().st_size for p in paths) <= 40_000


def test_out_is_a_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        build_default_corpus(target, max_mb=0.1)


@pytest.mark.parametrize("cap", [0, -1.0, float("nan"), float("inf")])
def test_bad_cap(tmp_path, cap):
    with pytest.raises(ConfigError, match="corpus.max_mb"):
        build_default_corpus(tmp_path, max_mb=cap)


def test_a_cap_too_small_for_any_record_is_refused(tmp_path):
    """0.001 MB used to write three empty files and exit 0, leaving curate an empty corpus."""
    with pytest.raises(ConfigError, match=r"corpus.max_mb: 0.001 MB holds no record; use at least 0.01 MB"):
        build_default_corpus(tmp_path, max_mb=0.001, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages")
    paths = build_default_corpus(tmp_path, max_mb=0.01, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages")
    assert sum(1 for p in paths for _ in p.open("rb")) >= 1


def test_an_output_file_that_cannot_be_written_is_named(tmp_path):
    """`stdlib.jsonl` being a folder (or a read-only --out) was an IsADirectoryError/OSError traceback."""
    (tmp_path / "stdlib.jsonl").mkdir()
    with pytest.raises(InputError, match=r"stdlib\.jsonl: cannot write \(Is a directory\); pass --out a writable"):
        build_default_corpus(tmp_path, max_mb=0.04, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages")
    assert not (tmp_path / "stdlib.jsonl.tmp").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_out_folder_is_named(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(InputError, match=r"cannot write \(Permission denied\); pass --out a writable folder"):
            build_default_corpus(out, max_mb=0.04, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages")
    finally:
        out.chmod(0o755)


def test_a_cap_beyond_all_text_takes_everything(tmp_path):
    """`--max-mb 1e308` passed the option's range and then overflowed (`int(inf)`) into a traceback."""
    small = build_default_corpus(
        tmp_path / "a", max_mb=1000, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages"
    )
    huge = build_default_corpus(
        tmp_path / "b", max_mb=1e308, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages"
    )
    assert [p.read_bytes() for p in huge] == [p.read_bytes() for p in small]
    stats = {s.source: s.records for s in corpus_stats(huge)}
    assert stats["python-stdlib"] == 1 and stats["pkg-metadata"] == 2 and stats["pkg-license"] == 2


def test_an_out_folder_holding_other_files_is_refused(tmp_path):
    """The corpus folder is curated as a whole: a stray file in --out used to join the default corpus silently."""
    (tmp_path / "notes.txt").write_text("my notes\n")
    with pytest.raises(InputError, match=r"not the default corpus \(notes\.txt\).*empty or new folder"):
        build_default_corpus(tmp_path, max_mb=0.04, stdlib=DATA / "stdlib", site_packages=DATA / "site-packages")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_earlier_build_is_rebuilt_in_place_byte_identical(tmp_path):
    """A folder holding only a previous build (an interrupted one's `.tmp`, the run flow's hidden marker) is reused."""
    kwargs = {"max_mb": 0.04, "stdlib": DATA / "stdlib", "site_packages": DATA / "site-packages"}
    first = [p.read_bytes() for p in build_default_corpus(tmp_path, **kwargs)]
    (tmp_path / "packages.jsonl.tmp").write_bytes(b"half a line")
    (tmp_path / ".complete").write_text("max_mb 0.04\n")
    assert [p.read_bytes() for p in build_default_corpus(tmp_path, **kwargs)] == first


def test_metadata_that_is_not_utf8_or_missing_costs_only_that_package(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(DATA / "site-packages", site)
    latin1 = (
        "Metadata-Version: 2.1\nName: alt\nAuthor: Jürgen Müller\n\n" + "Eine Beschreibung mit Umlauten: äöü. " * 20
    )
    (site / "demo_pkg-1.0.dist-info" / "METADATA").write_bytes(latin1.encode("latin-1"))
    (site / "other_pkg-2.0.dist-info" / "METADATA").unlink()
    paths = build_default_corpus(tmp_path / "out", max_mb=1, stdlib=DATA / "stdlib", site_packages=site)
    stats = {s.source: s.records for s in corpus_stats(paths)}
    assert "pkg-metadata" not in stats and stats["pkg-docs"] >= 2 and stats["pkg-license"] == 2
