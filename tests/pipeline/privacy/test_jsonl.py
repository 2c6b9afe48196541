"""`lmforge pii scan|redact` on JSONL: spans per record, redacted records, bad lines reported by line, counts only."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from lmforge.flows.cli import main
from lmforge.pipeline.errors import InputError
from lmforge.pipeline.privacy import PrivacyConfig
from lmforge.pipeline.privacy.jsonl import redact_jsonl, scan_jsonl

LINES = [
    json.dumps(
        {"id": "a", "text": "写信给 li.na@example.cn 或致电 13912345678。", "source": "forum"}, ensure_ascii=False
    ),
    "{not json",
    json.dumps({"id": "c", "text": 42}),
    json.dumps({"id": "d", "text": ""}),
    '{"id": "e", "text": "lone \\ud800 then 8.8.8.8", "source": "web"}',
    json.dumps({"id": "f", "text": "Card 4111 1111 1111 1111 please.", "source": "forum"}),
    "",
    json.dumps(["not", "an", "object"]),
]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_scan_cli_writes_one_line_per_record_with_code_point_offsets(src: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "spans.jsonl"
    assert main(["pii", "scan", str(src), "--out", str(out)]) == 1  # bad lines → exit 1, the run went on
    rows = _read(out)
    assert [r.get("id") for r in rows] == ["a", None, None, "d", "e", "f", None]
    text = json.loads(LINES[0])["text"]
    assert [(text[s["start"] : s["end"]], s["type"]) for s in rows[0]["spans"]] == [
        ("li.na@example.cn", "EMAIL"),
        ("13912345678", "PHONE"),
    ]
    assert rows[1] == {"id": None, "line": 2, "error": rows[1]["error"]} and "not valid JSON" in rows[1]["error"]
    assert rows[2]["line"] == 3 and "'text' must be a string" in rows[2]["error"]
    assert rows[3]["spans"] == []
    assert rows[4]["spans"] == [{"start": 12, "end": 19, "type": "IPV4"}]
    assert rows[6]["line"] == 8 and "JSON object" in rows[6]["error"]
    err = capsys.readouterr().err
    assert f"{src}:2: not valid JSON" in err and f"{src}:3:" in err
    assert "li.na" not in err and "4111" not in err


def test_redact_cli_writes_redacted_records_and_a_counts_report(src: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    assert main(["pii", "redact", str(src), "--out", str(out), "--report", str(report)]) == 1
    rows = _read(out)
    assert [r["id"] for r in rows] == ["a", "d", "e", "f"]
    assert rows[0] == {"id": "a", "text": "写信给 <EMAIL> 或致电 <PHONE>。", "source": "forum"}
    assert rows[2]["text"] == "lone \ud800 then <IP>"
    counts = json.loads(report.read_text())
    assert counts["by_source"] == {"forum": {"CREDIT_CARD": 1, "EMAIL": 1, "PHONE": 1}, "web": {"IPV4": 1}}
    assert counts["errors"] == 3 and counts["records"] == 4
    rejects = _read(tmp_path / "out.rejects.jsonl")
    assert [r["line"] for r in rejects] == [2, 3, 8] and all("text" not in r for r in rejects)


def test_strict_mode_stops_with_file_and_line(src: Path, tmp_path: Path, capsys) -> None:
    assert main(["pii", "scan", str(src), "--out", str(tmp_path / "o.jsonl"), "--strict"]) == 2
    assert f"lmforge: error: {src}:2: not valid JSON" in capsys.readouterr().err


def test_drop_action_sends_records_to_rejects_redacted(src: Path, tmp_path: Path) -> None:
    out, rejects = tmp_path / "out.jsonl", tmp_path / "dropped.jsonl"
    report = redact_jsonl(src, out, PrivacyConfig(actions={"CREDIT_CARD": "drop"}), rejects=rejects)
    assert report.dropped == 1
    dropped = [r for r in _read(rejects) if r.get("reason") == "pii_CREDIT_CARD"]
    assert dropped == [
        {"id": "f", "text": "Card <CREDIT_CARD> please.", "source": "forum", "line": 6, "reason": "pii_CREDIT_CARD"}
    ]
    assert "f" not in [r["id"] for r in _read(out)]


def test_gzip_input_and_invalid_utf8(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl.gz"
    with gzip.open(src, "wb") as f:
        f.write(b'{"id": 1, "text": "ip 8.8.8.8"}\n{"id": 2, "text": "caf\xe9"}\n')
    errors: list[InputError] = []
    report = scan_jsonl(src, tmp_path / "o.jsonl", on_error=errors.append)
    assert report.records == 1 and report.counts == {"IPV4": 1}
    assert [(e.line, "UTF-8" in e.reason) for e in errors] == [(2, True)]


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["pii", "scan", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "input file not found" in capsys.readouterr().err


def test_text_as_given_is_redacted_like_cleaned_text(tmp_path: Path) -> None:
    """`lmforge pii` does not clean: a phone with no-break spaces and an address in decomposed (NFD) form are found
    as curation finds them after cleaning, and the rest of the text keeps its own characters."""
    import unicodedata

    text = "Tél. +33\u00a01\u00a023\u00a045\u00a067\u00a089\u00a0; " + unicodedata.normalize(
        "NFD", "écrire à jürgen@exämple.de"
    )
    src = tmp_path / "raw.jsonl"
    src.write_text(json.dumps({"id": "x", "text": text}) + "\n", encoding="utf-8")
    report = redact_jsonl(src, tmp_path / "out.jsonl", PrivacyConfig())
    assert report.counts == {"EMAIL": 1, "PHONE": 1}
    out = _read(tmp_path / "out.jsonl")[0]["text"]
    assert out == "Tél. <PHONE>\u00a0; " + unicodedata.normalize("NFD", "écrire à ") + "<EMAIL>"
    scan_jsonl(src, tmp_path / "spans.jsonl", PrivacyConfig())
    spans = _read(tmp_path / "spans.jsonl")[0]["spans"]
    found = [text[s["start"] : s["end"]] for s in spans]
    assert found == ["+33\u00a01\u00a023\u00a045\u00a067\u00a089", unicodedata.normalize("NFD", "jürgen@exämple.de")]


def test_a_byte_order_mark_before_the_first_record_is_not_an_error(tmp_path: Path) -> None:
    src = tmp_path / "bom.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"id": 1, "text": "ip 8.8.8.8"}\n{"id": 2, "text": "mail a@example.org"}\n')
    errors: list[InputError] = []
    report = scan_jsonl(src, tmp_path / "o.jsonl", on_error=errors.append)
    assert errors == [] and report.records == 2 and report.counts == {"IPV4": 1, "EMAIL": 1}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_input_is_read_as_curation_reads_it(tmp_path: Path, encoding: str) -> None:
    src = tmp_path / "wide.jsonl"
    lines = '{"id": 1, "text": "ip 8.8.8.8"}\n{"id": 2, "text": "mail jürgen@example.org"}\n'
    src.write_bytes(lines.encode(encoding))
    errors: list[InputError] = []
    report = scan_jsonl(src, tmp_path / "o.jsonl", on_error=errors.append)
    assert errors == [] and report.records == 2 and report.counts == {"IPV4": 1, "EMAIL": 1}


def test_a_truncated_zst_input_names_the_line_it_stopped_after(tmp_path: Path) -> None:
    import zstandard

    src = tmp_path / "cut.jsonl.zst"
    src.write_bytes(zstandard.compress(b'{"id": 1, "text": "ip 8.8.8.8"}\n' * 200)[:-20])
    with pytest.raises(InputError, match=r"cannot read past line \d+ .*truncated"):
        scan_jsonl(src, tmp_path / "o.jsonl")


def test_json_nested_too_deep_is_an_error_for_its_line_only(tmp_path: Path) -> None:
    src = tmp_path / "deep.jsonl"
    deep = '{"id": 2, "text": "x", "meta": ' + "[" * 200_000 + "]" * 200_000 + "}"
    src.write_text('{"id": 1, "text": "ip 8.8.8.8"}\n' + deep + '\n{"id": 3, "text": "mail a@example.org"}\n')
    errors: list[InputError] = []
    report = scan_jsonl(src, tmp_path / "o.jsonl", on_error=errors.append)
    assert report.records == 2 and [(e.line, "nested" in e.reason) for e in errors] == [(2, True)]


def test_a_number_too_long_for_python_is_an_error_for_its_line_only(tmp_path: Path) -> None:
    """json.loads refuses a 5000-digit integer with a plain ValueError: it was taken for a truncated file, and the
    lines after it were never read."""
    src = tmp_path / "long.jsonl"
    src.write_text(
        '{"id": 1, "text": "ip 8.8.8.8"}\n{"id": '
        + "9" * 5000
        + ', "text": "x"}\n{"id": 3, "text": "mail a@example.org"}\n'
    )
    errors: list[InputError] = []
    report = scan_jsonl(src, tmp_path / "o.jsonl", on_error=errors.append)
    assert report.records == 2 and [(e.line, "number too long" in e.reason) for e in errors] == [(2, True)]


def test_a_byte_order_mark_inside_the_file_is_read_as_curation_reads_it(tmp_path: Path) -> None:
    """`cat a.jsonl b.jsonl` with b from a Windows tool puts b's mark at the start of a line inside the file."""
    src = tmp_path / "cat.jsonl"
    src.write_bytes(b'{"id": 1, "text": "ip 8.8.8.8"}\n\xef\xbb\xbf{"id": 2, "text": "mail a@example.org"}\n')
    report = redact_jsonl(src, tmp_path / "o.jsonl")
    assert report.errors == 0 and report.records == 2 and report.counts == {"IPV4": 1, "EMAIL": 1}
