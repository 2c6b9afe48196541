"""Prefect report artifacts built from manifest stats (counts only; never text)."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

TOP_SOURCES = 50
"""Sources listed one per row in the table artifact; a corpus of thousands of files stays one screen long."""


def _md_table(title: str, header: tuple[str, str], rows: dict[str, Any]) -> str:
    lines = [f"### {title}", "", f"| {header[0]} | {header[1]} |", "| --- | ---: |"]
    lines += [f"| {k} | {v} |" for k, v in rows.items()] or ["| (none) | 0 |"]
    return "\n".join(lines) + "\n"


def curate_report_markdown(snapshot_id: str, stats: dict[str, Any]) -> str:
    parts = [
        f"## Curated snapshot `{snapshot_id}`",
        "",
        f"Documents in **{stats['docs_in']}**, kept **{stats['kept']}**, rejected **{stats['rejected']}** "
        f"({stats.get('bytes_in', 0) / 1e6:.1f} MB read, {stats.get('chars_kept', 0) / 1e6:.1f} M chars kept).",
        "",
        _md_table("Removal reasons", ("reason", "documents"), stats.get("by_reason", {})),
        _md_table("Languages (kept)", ("lang", "documents"), stats.get("by_lang", {})),
        _md_table("PII redactions", ("type", "count"), stats.get("pii", {})),
        _md_table("Deduplication", ("stat", "value"), stats.get("dedup", {})),
        _md_table("File problems", ("reason", "files"), stats.get("file_problems", {})),
    ]
    return "\n".join(parts)


def source_rows(stats: dict[str, Any], top: int = TOP_SOURCES) -> list[dict[str, Any]]:
    """One row per source, largest first; past `top`, the rest are summed into one `(N other sources)` row. Sources
    as the snapshot holds them (`safe_name`): a manifest an older lmforge wrote, which a skipped run reports, may name
    a source after a person's address."""
    from lmforge.pipeline.curate.inputs import safe_name

    rows = []
    for src, e in stats.get("by_source", {}).items():
        rows.append(
            {
                "source": safe_name(src),
                "docs_in": e["docs_in"],
                "kept": e["kept"],
                "rejected": sum(e["rejected"].values()),
                "pii": sum(stats.get("pii_by_source", {}).get(src, {}).values()),
                "top_reason": max(e["rejected"], key=e["rejected"].get) if e["rejected"] else "",
            }
        )
    rows.sort(key=lambda r: (-r["docs_in"], r["source"]))
    if len(rows) <= top:
        return rows
    rest = rows[top:]
    others = {"source": f"({len(rest)} other sources)"}
    others |= {k: sum(r[k] for r in rest) for k in ("docs_in", "kept", "rejected", "pii")}
    return rows[:top] + [others | {"top_reason": ""}]


def publish_curate_report(snapshot_id: str, stats: dict[str, Any]) -> None:
    create_table_artifact(
        key="curate-sources", table=source_rows(stats), description=f"Counts per source for snapshot {snapshot_id}"
    )
    create_markdown_artifact(
        key="curate-report",
        markdown=curate_report_markdown(snapshot_id, stats),
        description=f"Curation report for snapshot {snapshot_id}",
    )
