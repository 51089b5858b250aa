"""One page comparing the runs of a sweep: their metrics side by side, key figures side by side, and the
claims that need several runs (Fig. 8: control grows from l2 to mc to adv)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import yaml

from ..metrics import control_ordering
from .crossval import crossval_lines, crossval_summary, is_crossval
from .run_report import fmt

# Figures worth seeing side by side, in this order, when the runs have them.
KEY_FIGURES = ("fig8_latent_sampling", "fig7_latent_distributions", "swap_grid", "fig9_reconstructions",
               "fig10_latent_distributions", "fig11_traversal_sadness", "fig6_tsne", "confusion_matrix",
               "judge_per_class")
KEY_METRICS = ("test/acc", "test/f1_macro", "test/recon_mse", "test/recon_ssim", "test/tsne_knn_acc",
               "test/mig", "test/dci_disentanglement", "test/sap", "judge/acc_real", "judge/acc_edit",
               "judge/edit_ratio", "claims/fig8_control_judge", "claims/fig8_control_probe", "paired/ssim_edit",
               "claims/passed")


class SweepError(ValueError):
    """The folder holds no finished runs; the message says what was expected."""


def find_runs(sweep_dir: Path) -> list[Path]:
    """Run folders under `sweep_dir` (any depth) that finished: they hold metrics.json."""
    runs = sorted({p.parent for p in Path(sweep_dir).rglob("metrics.json")}, key=_natural)
    if not runs:
        raise SweepError(f"{sweep_dir}: no run folder with metrics.json below it; pass the folder of a "
                         "finished multirun (e.g. multirun/train/<date>/<time>)")
    return runs


def _natural(p: Path):
    return [int(t) if t.isdigit() else t for t in p.as_posix().replace("/", " / ").split()]


def run_overrides(run: Path) -> list[str]:
    """The job's own overrides, as Hydra wrote them to .hydra/overrides.yaml ([] when absent)."""
    overrides = run / ".hydra" / "overrides.yaml"
    return [str(o) for o in (yaml.safe_load(overrides.read_text()) or [])] if overrides.is_file() else []


def label_runs(runs: list[dict]) -> None:
    """Label each run by the overrides that tell it apart from the others (else its folder name)."""
    common = set.intersection(*(set(r["overrides"]) for r in runs)) if runs else set()
    for r in runs:
        own = [o for o in r["overrides"] if o not in common]
        r["label"] = " ".join(own) if own and len(runs) > 1 else (" ".join(r["overrides"]) or r["dir"].name)


def load_run(run: Path) -> dict:
    config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    return {"dir": run, "overrides": run_overrides(run), "metrics": json.loads((run / "metrics.json").read_text()),
            "config": config or {}}


def cross_run_claims(runs: list[dict]) -> list[dict]:
    """Fig. 8's order l2 < mc < adv when the sweep holds those three Fader loss conditions."""
    by_loss = {r["config"].get("loss", {}).get("name"): r for r in runs
               if r["config"].get("model", {}).get("name") == "fader"}
    rows = []
    if {"l2", "mc", "adv"} <= set(by_loss):
        for observer in ("judge", "probe"):
            key = f"claims/fig8_control_{observer}"
            scores = {k: by_loss[k]["metrics"].get(key) for k in ("l2", "mc", "adv")}
            if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in scores.values()):
                continue
            verdict = control_ordering(scores)
            rows.append({"figure": "Fig. 8", "claim": f"control improves from l2 to mc to adv ({observer})",
                         "value": ", ".join(f"{k} {v:+.3f}" for k, v in scores.items()),
                         "passed": verdict["passed"]})
    return rows


def write_sweep_report(sweep_dir: Path, out: Path | None = None) -> Path:
    """report.md (and summary.json) in `sweep_dir` comparing every finished run below it."""
    sweep_dir = Path(sweep_dir)
    runs = [load_run(r) for r in find_runs(sweep_dir)]
    label_runs(runs)
    out = out or sweep_dir / "report.md"
    metric_keys = [k for k in KEY_METRICS if any(k in r["metrics"] for r in runs)]
    lines = [f"# facevae sweep report: {sweep_dir}", "", f"{len(runs)} runs.", "", "## Metrics", "",
             "| run | " + " | ".join(f"`{k}`" for k in metric_keys) + " |", "|---|" + "---:|" * len(metric_keys)]
    for r in runs:
        lines.append(f"| {r['label']} | " + " | ".join(fmt(r["metrics"].get(k)) for k in metric_keys) + " |")
    claims = cross_run_claims(runs)
    cv = crossval_summary(runs) if is_crossval(runs) else None
    if cv is not None:
        lines += [""] + crossval_lines(cv)
    lines += ["", "## Claims across runs", ""]
    if claims:
        lines += ["| figure | the paper says | measured | verdict |", "|---|---|---|---|"]
        lines += [f"| {c['figure']} | {c['claim']} | {c['value']} | **{'pass' if c['passed'] else 'fail'}** |"
                  for c in claims]
    else:
        lines.append("None: the sweep does not hold the Fader's l2, mc and adv runs together.")
    lines += ["", "## Figures side by side", ""]
    for name in KEY_FIGURES:
        have = [r for r in runs if (r["dir"] / "figures" / f"{name}.png").is_file()]
        if len(have) < 2:
            continue
        lines += [f"### {name}", "", "| " + " | ".join(r["label"] for r in have) + " |", "|" + "---|" * len(have),
                  "| " + " | ".join(f"![{name}]({os.path.relpath(r['dir'] / 'figures' / f'{name}.png', out.parent)})"
                                    for r in have) + " |", ""]
    lines += ["## Runs", ""] + [f"- {r['label']}: [{r['dir'].name}/report.md]"
                                f"({os.path.relpath(r['dir'] / 'report.md', out.parent)})" for r in runs]
    out.write_text("\n".join(lines) + "\n")
    summary = {"runs": [{"dir": str(r["dir"]), "label": r["label"], "metrics": r["metrics"]} for r in runs],
               "claims": claims, "crossval": cv}
    (out.parent / "summary.json").write_text(json.dumps(summary, indent=2))
    return out
