"""`lineage.verify` and a raw input whose path the snapshot manifest records redacted (it held personal data)."""

from __future__ import annotations

from pathlib import Path

from lmforge.pipeline.curate.inputs import InputUnit, safe_name, unit_digest
from lmforge.pipeline.registry import lineage
from lmforge.pipeline.stage import write_manifest


def _snapshot(tmp_path: Path, units: list[InputUnit]) -> dict[str, str]:
    """A snapshot folder whose manifest records `units` as curation does (source and path by `safe_name`), and the
    tags of a version registered on it (the rest of the chain is absent: its problems are not this test's)."""
    sid = "0123456789abcdef"
    snap = tmp_path / "ws" / "snapshots" / sid
    snap.mkdir(parents=True)
    records = [
        {"source": safe_name(u.source), "kind": u.kind, "path": safe_name(u.path), "sha256": unit_digest(u)}
        for u in units
    ]
    write_manifest(
        snap,
        format="lmforge.snapshot",
        id_=sid,
        inputs={"units": records, "cwd": str(tmp_path)},
        params={"curate": {"text_extensions": [".txt"]}},
        stats={},
    )
    return {"lmforge.snapshot": sid, "lmforge.snapshot_dir": str(snap)}


def test_a_redacted_raw_path_is_a_note_not_a_missing_input(tmp_path: Path) -> None:
    """A folder named after a person's address is recorded `…/<EMAIL>~1f0c6a2e`: `--verify` called it "raw input
    missing", a tampering problem, though no file can be found from a redacted path by design."""
    private = tmp_path / "raw" / "jane.hunt15@example.org"
    private.mkdir(parents=True)
    (private / "a.txt").write_text("some text of jane's", encoding="utf-8")
    plain = tmp_path / "raw" / "plain"
    plain.mkdir()
    (plain / "b.txt").write_text("some other text", encoding="utf-8")
    units = [
        InputUnit("textdir", str(private), private.name, (str(private / "a.txt"),)),
        InputUnit("textdir", str(plain), "plain", (str(plain / "b.txt"),)),
    ]
    tags = _snapshot(tmp_path, units)
    notes: list[str] = []
    checked, problems = lineage.verify(tags, notes=notes)
    raw = [p for p in problems if "raw" in p]
    assert raw == [] and not any("jane.hunt15" in p for p in problems)
    (note,) = [n for n in notes if not n.startswith("model package")]  # these tags pin no package
    assert "redacted" in note and "personal data" in note and "<EMAIL>~" in note and "jane.hunt15" not in note
    # the plain input is still re-hashed: a change there is a problem, and it counts as a file checked
    (plain / "b.txt").write_text("changed", encoding="utf-8")
    again, problems = lineage.verify(tags)
    assert again == checked and any(f"{plain}: raw input digest differs" in p for p in problems)


def test_a_path_that_only_looks_redacted_and_is_there_is_re_hashed(tmp_path: Path) -> None:
    """A folder whose real name has a placeholder and a digest-like suffix is no redacted record: it is checked."""
    odd = tmp_path / "raw" / "<EMAIL>~0badf00d"
    odd.mkdir(parents=True)
    (odd / "a.txt").write_text("text", encoding="utf-8")
    tags = _snapshot(tmp_path, [InputUnit("textdir", str(odd), "odd", (str(odd / "a.txt"),))])
    notes: list[str] = []
    lineage.verify(tags, notes=notes)
    assert [n for n in notes if not n.startswith("model package")] == []  # these tags pin no package
    (odd / "a.txt").write_text("changed", encoding="utf-8")
    assert any(f"{odd}: raw input digest differs" in p for p in lineage.verify(tags)[1])
