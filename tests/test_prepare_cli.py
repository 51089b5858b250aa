"""`python prepare.py`: prepares (or reuses) the cache, prints the summary, writes manifest.json."""

import json
import subprocess
import sys

from .conftest import ROOT


def test_prepare_cli_writes_manifest_and_summary(tmp_path, data_dir):
    proc = subprocess.run(
        [sys.executable, "prepare.py", "debug=smoke", "data.progress=false", f"paths.data_dir={data_dir}",
         f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["n_images"] == sum(manifest["per_class"].values()) > 0
    assert manifest["n_subjects"] == 8
    assert manifest["found_per_class"] == manifest["per_class"]  # nothing unreadable in a fresh tree
    assert manifest["skips_by_reason"]  # fear and unlabelled sequences are counted, not dropped
    beside_cache = json.loads((data_dir / "cache" / manifest["name"] / "manifest.json").read_text())
    assert beside_cache["cache_key"] == manifest["cache_key"]
    for name in manifest["classes"]:
        assert name in proc.stdout
    assert "inputs skipped" in proc.stdout
