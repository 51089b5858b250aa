"""Issue 16, item 1: cross-validation as one command — per-fold table, mean ± std, 95 % interval, summed
confusion matrix; a rerun trains only the folds that did not finish."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import yaml

from facevae.evaluation.crossval import crossval_summary, is_crossval

from .conftest import ROOT


def _run(tmp_path, fold: int, acc: float, counts, **config) -> dict:
    d = tmp_path / str(fold)
    d.mkdir()
    (d / "confusion.json").write_text(json.dumps({"classes": ["neutral", "happiness"], "counts": counts}))
    cfg = {"data": {"fold": fold, "name": "x"}, "model": {"name": "classifier"}, "paths": {"output_dir": str(d)},
           "callbacks": {"ckpt": {"dirpath": f"{d}/checkpoints"}}, **config}
    return {"dir": d, "config": cfg, "metrics": {"test/acc": acc, "test/f1_macro": acc / 2}, "overrides": []}


def test_the_aggregate_is_the_known_answer(tmp_path):
    runs = [_run(tmp_path, 0, 0.5, [[3, 1], [1, 3]]), _run(tmp_path, 1, 0.7, [[4, 0], [2, 2]]),
            _run(tmp_path, 2, 0.9, [[5, 0], [0, 4]])]
    assert is_crossval(runs)
    cv = crossval_summary(runs)
    acc = cv["metrics"]["test/acc"]
    half = 4.302652729911275 * 0.2 / math.sqrt(3)  # t(0.975, 2 dof) · std / √n
    assert acc["mean"] == pytest.approx(0.7) and acc["std"] == pytest.approx(0.2)
    assert acc["ci95"] == pytest.approx([0.7 - half, 0.7 + half])
    assert cv["confusion"]["counts"] == [[12, 1], [3, 9]]
    assert cv["per_class_acc"] == pytest.approx({"neutral": 12 / 13, "happiness": 9 / 12})
    other = _run(tmp_path, 3, 0.8, [[1, 0], [0, 1]], seed=7)  # another setting: not one cross-validation
    assert not is_crossval(runs + [other]) and not is_crossval(runs[:1])


def test_experiment_cv_trains_every_fold_once_and_resumes(tmp_path, data_dir):
    sweep = tmp_path / "cv"
    cmd = [sys.executable, "train.py", "experiment=cv", "debug=smoke", "model=classifier", "data.num_folds=3",
           "data.fold=range(3)", "trainer.max_epochs=1", "eval.judge=false", "eval.disentanglement=false",
           "data.progress=false", "callbacks.progress_bar=null", f"paths.data_dir={data_dir}",
           f"hydra.sweep.dir={sweep}"]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "cross-validation over 3 folds: test/acc" in first.stdout
    summary = json.loads((sweep / "summary.json").read_text())["crossval"]
    assert [f["fold"] for f in summary["folds"]] == [0, 1, 2]
    per_fold = [json.loads((sweep / str(k) / "confusion.json").read_text())["counts"] for k in range(3)]
    assert sum(map(sum, summary["confusion"]["counts"])) == sum(sum(map(sum, c)) for c in per_fold)
    assert "## Cross-validation" in (sweep / "report.md").read_text()
    # every subject is tested exactly once over the folds
    tested = [yaml.safe_load((sweep / str(k) / "config.yaml").read_text())["data"]["fold"] for k in range(3)]
    assert tested == [0, 1, 2]
    # Rerun: fold 1 lost its results (a crash); only fold 1 trains again.
    (sweep / "1" / "metrics.json").unlink()
    mtimes = {k: (sweep / str(k) / "metrics.json").stat().st_mtime_ns for k in (0, 2)}
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (again.stdout + again.stderr).count("already finished with this config") == 2
    assert {k: (sweep / str(k) / "metrics.json").stat().st_mtime_ns for k in (0, 2)} == mtimes
    assert (sweep / "1" / "metrics.json").is_file()
