"""Figures of the paper, each also summarised as numbers in metrics.json, drawn from the collected test split."""

from __future__ import annotations

from pathlib import Path


def model_figures(model, ev, out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """The figures of the model's section of the paper (Figs. 7-11, §2.2's pairs and reconstructions), drawn
    from `ev` (facevae.evaluation.collect.EvalSet: the test split and the model's eval_batch outputs, collected
    once); their numbers and paths. The §2.1 classifier's Fig. 6 is the evaluation's t-SNE of any model."""
    from . import fader, siamese, ssvae

    draw = {"SSVAE": ssvae.make_figures, "Fader": fader.make_figures, "SiameseComparator": siamese.comparator_figures,
            "SiameseVAE": siamese.vae_figures}
    for cls in type(model).__mro__:  # a subclass of a facevae model draws its parent's figures
        if cls.__name__ in draw:
            return draw[cls.__name__](model, ev, out_dir)
    return {}, []
