"""Cross-validation over subject-independent folds, summarised as CK+ papers report it.

A sweep whose runs differ only in `data.fold` is a cross-validation: per-fold accuracy and macro-F1,
their mean ± standard deviation and a 95 % t-interval of the mean, the confusion matrix summed over
folds (each fold's `confusion.json`) and the per-class accuracy it gives.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

# probe/acc_test: the pixel probe on the same test faces (the baseline to beat, issue 16)
CV_METRICS = ("test/acc", "test/f1_macro", "probe/acc_test")


def fold_of(run: dict) -> int | None:
    """The run's test fold when its only own override is data.fold, else None."""
    fold = (run["config"].get("data") or {}).get("fold")
    return int(fold) if isinstance(fold, int) else None


def is_crossval(runs: list[dict]) -> bool:
    """Two or more runs, distinct folds, identical settings otherwise (the labels name only data.fold)."""
    folds = [fold_of(r) for r in runs]
    if len(runs) < 2 or None in folds or len(set(folds)) != len(folds):
        return False
    rest = [_settings(r) for r in runs]
    return all(x == rest[0] for x in rest[1:])


def crossval_summary(runs: list[dict]) -> dict:
    """Per-fold rows, mean / std / 95 % interval per metric, summed confusion and per-class accuracy."""
    from scipy import stats

    runs = sorted(runs, key=fold_of)
    keys = [k for k in CV_METRICS if all(isinstance(r["metrics"].get(k), (int, float)) for r in runs)]
    folds = [{"fold": fold_of(r), "dir": str(r["dir"]), **{k: float(r["metrics"][k]) for k in keys}} for r in runs]
    n = len(runs)
    aggregate = {}
    for k in keys:
        values = np.array([f[k] for f in folds])
        mean, std = float(values.mean()), float(values.std(ddof=1))
        half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))
        aggregate[k] = {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n_folds": n}
    out = {"n_folds": n, "folds": folds, "metrics": aggregate}
    matrices = [json.loads((Path(r["dir"]) / "confusion.json").read_text()) for r in runs
                if (Path(r["dir"]) / "confusion.json").is_file()]
    if len(matrices) == n and len({tuple(m["classes"]) for m in matrices}) == 1:
        total = np.sum([np.array(m["counts"]) for m in matrices], axis=0)
        classes = matrices[0]["classes"]
        support = total.sum(1)
        out["confusion"] = {"classes": classes, "counts": total.astype(int).tolist()}
        out["per_class_acc"] = {c: (float(total[i, i] / support[i]) if support[i] else None) for i, c in enumerate(classes)}
    return out


def crossval_lines(cv: dict) -> list[str]:
    """The report.md section."""
    keys = list(cv["metrics"])
    lines = ["## Cross-validation", "", f"{cv['n_folds']} subject-independent folds (no subject in two folds).", "",
             "| fold | " + " | ".join(f"`{k}`" for k in keys) + " |", "|---:|" + "---:|" * len(keys)]
    lines += [f"| {f['fold']} | " + " | ".join(f"{f[k]:.4f}" for k in keys) + " |" for f in cv["folds"]]
    lines += ["| **mean ± std** | " + " | ".join(f"**{a['mean']:.4f} ± {a['std']:.4f}**" for a in cv["metrics"].values()) + " |",
              "| 95 % interval | " + " | ".join(f"{a['ci95'][0]:.4f} – {a['ci95'][1]:.4f}" for a in cv["metrics"].values()) + " |"]
    if "confusion" in cv:
        classes = cv["confusion"]["classes"]
        lines += ["", "Confusion matrix summed over folds (rows: true class, columns: predicted):", "",
                  "| true \\ pred | " + " | ".join(classes) + " | per-class acc |", "|---|" + "---:|" * (len(classes) + 1)]
        for c, row in zip(classes, cv["confusion"]["counts"]):
            acc = cv["per_class_acc"][c]
            lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + f" | {'–' if acc is None else f'{acc:.3f}'} |")
    return lines + [""]


def crossval_line(cv: dict) -> str:
    """One line for the end of the sweep."""
    return "cross-validation over %d folds: " % cv["n_folds"] + ", ".join(
        f"{k} {a['mean']:.4f} ± {a['std']:.4f} (95 % {a['ci95'][0]:.4f}–{a['ci95'][1]:.4f})" for k, a in cv["metrics"].items())


def _settings(run: dict) -> dict:
    """The run's flattened config without its fold, its device lease and whatever names its own folder."""
    flat = _flat(run["config"])
    own = str((run["config"].get("paths") or {}).get("output_dir") or "\0")
    return {k: v for k, v in flat.items()
            if k != "data.fold" and not k.startswith("device_lease") and own not in v}


def _flat(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(node, sort_keys=True)}
