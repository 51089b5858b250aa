"""The preparation summary a user reads: per class found / used / skipped by reason, and subjects."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_manifest_summary(manifest: dict, console: Console | None = None) -> None:
    """A table per class (found, used, skipped and why) and the skips by reason over the whole source."""
    console = console or Console()
    table = Table(title=f"{manifest['name']}: {manifest['n_images']} images of {manifest['n_subjects']} subjects")
    for col in ("class", "found", "used", "skipped (reason: count)"):
        table.add_column(col, justify="left" if col in ("class", "skipped (reason: count)") else "right")
    found = manifest.get("found_per_class", {})
    for c in manifest["classes"]:
        reasons = manifest.get("skipped_per_class", {}).get(c, {})
        table.add_row(c, str(found.get(c, 0)), str(manifest["per_class"].get(c, 0)),
                      "; ".join(f"{r}: {n}" for r, n in reasons.items()) or "-")
    console.print(table)
    if manifest.get("skips_by_reason"):
        skips = Table(title=f"{manifest['n_skipped']} inputs skipped (all listed in manifest.json)")
        skips.add_column("reason")
        skips.add_column("count", justify="right")
        for reason, n in sorted(manifest["skips_by_reason"].items(), key=lambda kv: -kv[1]):
            skips.add_row(reason, str(n))
        console.print(skips)
