"""`lmforge corpus default` through the real console entry point."""

from __future__ import annotations

import json

from lmforge.flows.cli import main


def test_corpus_default_writes_and_reports(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert main(["corpus", "default", "--out", str(out), "--max-mb", "0.4"]) == 0
    printed = capsys.readouterr().out
    for name in ("stdlib.jsonl", "packages.jsonl", "multilingual.jsonl"):
        assert name in printed
        assert (out / name).is_file()
    assert "pkg-metadata:" in printed and "multilingual:" in printed
    first = json.loads((out / "multilingual.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["source"] == "multilingual"


def test_corpus_default_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "f"
    target.write_text("x")
    assert main(["corpus", "default", "--out", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_corpus_default_cap_below_the_minimum_names_the_option(tmp_path, capsys):
    assert main(["corpus", "default", "--out", str(tmp_path / "c"), "--max-mb", "0.001"]) == 2
    assert "--max-mb" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
