"""Issue 17: the test split is collected once; every model's figures read that collection and encode nothing."""

import numpy as np
import pytest
import torch

from facevae.evaluation.collect import EvalSet, run_model
from facevae.figures import model_figures
from facevae.run import build_model

from .conftest import compose_config

CLASSES = ["neutral", "anger", "contempt", "disgust", "surprise", "happiness", "sadness"]


def collection(model, n_per_class: int = 2, size: int = 128) -> EvalSet:
    """A small test split (every class, several subjects) with the model's eval_batch outputs, as collect() makes it."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    images = rng.integers(0, 256, (len(labels), size, size), dtype=np.uint8)
    n = len(labels)
    return EvalSet(images=images.astype(np.float32) / 255.0, labels=labels, subjects=np.arange(n) % 4,
                   sequences=np.array([""] * n), frames=np.zeros(n, np.int64), factors=np.zeros((n, 0), np.float32),
                   factor_names=[], classes=CLASSES, outputs=run_model(model, images, labels),
                   pairs={"a": np.arange(n), "b": (np.arange(n) + n_per_class) % n, "same": np.zeros(n, np.float32)})


def refuse(*args, **kwargs):
    raise AssertionError("a figure encoded a test image again instead of reading the collection")


@pytest.mark.parametrize("overrides, encoders, expected", [
    (["model=ssvae"], ("encode",), {"fig9_reconstructions.png", "fig10_latent_distributions.png",
                                    "fig11_traversal_sadness.png"}),
    (["model=fader", "loss=l2"], ("encode",), {"fig7_latent_distributions.png", "fig8_latent_sampling.png",
                                               "swap_grid.png"}),
    (["model=siamese_comparator", "loss=siamese_comparator"], ("embed", "forward", "p_same"),
     {"siamese_pairs.png", "siamese_score_hist.png"}),
])
def test_figures_read_the_collection_and_encode_nothing(overrides, encoders, expected, tmp_path):
    torch.manual_seed(0)
    model = build_model(compose_config(overrides, tmp_path, tmp_path), CLASSES).eval()
    ev = collection(model)
    reference = {k: v.copy() for k, v in ev.outputs.items()}
    for name in encoders:
        setattr(model, name, refuse)
    numbers, paths = model_figures(model, ev, tmp_path / "figures")
    assert expected <= {p.name for p in paths} and all(p.is_file() for p in paths)
    assert all(np.array_equal(reference[k], ev.outputs[k]) for k in reference)  # read, never rewritten
    assert all(np.isfinite(v) for v in numbers.values())


def test_comparator_pair_scores_equal_scoring_the_images(tmp_path):
    """P(same) from the collected tower outputs is what the comparator says of the two images themselves."""
    from facevae.figures.siamese import score_pairs

    torch.manual_seed(0)
    model = build_model(compose_config(["model=siamese_comparator", "loss=siamese_comparator"], tmp_path, tmp_path),
                        CLASSES).eval()
    ev = collection(model)
    s = score_pairs(model, ev)
    a = torch.from_numpy(ev.images[ev.pairs["a"]]).unsqueeze(1)
    b = torch.from_numpy(ev.images[ev.pairs["b"]]).unsqueeze(1)
    with torch.no_grad():
        direct = model.p_same(a, b).numpy()
    np.testing.assert_allclose(s["p"], direct, rtol=1e-4, atol=1e-5)
    assert np.array_equal(s["label_b"], ev.labels[ev.pairs["b"]])
