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


class _PairsStub:
    def __init__(self, anchors):
        self.anchors = torch.as_tensor(anchors)


class _DataStub:
    def __init__(self, pairs=None):
        self.pair_datasets = {"test": pairs} if pairs is not None else {}


@pytest.mark.parametrize("overrides", [["model=ssvae"], ["model=fader", "loss=l2"], ["model=classifier"],
                                       ["model=siamese_comparator", "loss=siamese_comparator"]])
def test_the_test_loop_collects_what_eval_batch_gives(overrides, tmp_path):
    """test_step's own forward fills the collection: the same numbers a separate eval_batch pass gives, in split order."""
    from facevae.evaluation.collect import from_test_loop

    torch.manual_seed(0)
    model = build_model(compose_config(overrides, tmp_path, tmp_path), CLASSES).eval()
    ev = collection(model)  # the separate pass
    images = torch.from_numpy(ev.images).unsqueeze(1)
    labels, n = torch.from_numpy(ev.labels), len(ev.labels)
    model.on_test_epoch_start()
    with torch.no_grad(), pytest.warns(UserWarning):  # self.log without a Trainer
        if getattr(model, "trains_on_pairs", False):
            anchors = np.tile(np.arange(n), 2)  # eval_pairs_per_image=2
            for s in range(0, len(anchors), 5):
                a = anchors[s : s + 5]
                b = (a + 3) % n
                model.test_step((images[a], images[b], (labels[a] == labels[b]).float(), labels[a], labels[b]), s)
            stub = _DataStub(_PairsStub(anchors))
        else:
            for s in range(0, n, 5):
                model.test_step((images[s : s + 5], labels[s : s + 5], torch.zeros(5), torch.arange(s, s + 5)), s)
            stub = _DataStub()
    collected = from_test_loop(model, stub, n)
    assert collected is not None and set(collected) == set(ev.outputs)
    for key, value in ev.outputs.items():
        np.testing.assert_allclose(collected[key].reshape(value.shape), value, rtol=1e-4, atol=1e-5, err_msg=key)
    model.test_collection = model.test_collection[:1]  # a shard (a DDP rank): not the split, so not used
    assert from_test_loop(model, stub, n) is None


@pytest.mark.parametrize("overrides", [["model=ssvae"], ["model=ssvae", "model.edit_mode=residual"],
                                       ["model=fader", "loss=l2"]])
def test_edits_start_from_the_collected_codes_and_are_made_once(overrides, tmp_path):
    """The observers' edits and traversals are the model's own edits of the faces, made from the collection's
    codes without running the encoder again, and each is computed once however many observers read it."""
    from facevae.evaluation.collect import edit_images, traverse_images

    torch.manual_seed(0)
    model = build_model(compose_config(overrides, tmp_path, tmp_path), CLASSES).eval()
    ev = collection(model)
    idx = np.array([0, 3, 5])
    x = torch.from_numpy(ev.images[idx]).unsqueeze(1)
    with torch.no_grad():
        direct = model.edit(x, 5, 0.7)[:, 0].numpy()
        along = model.traverse(x, 2, torch.tensor([-1.0, 2.0])).numpy() if hasattr(model, "traverse") else None
    encode = model.encode
    model.encode = refuse
    try:
        edited = edit_images(model, ev, idx, 5, 0.7)
        np.testing.assert_allclose(edited, direct, rtol=1e-4, atol=1e-5)
        assert edit_images(model, ev, idx, 5, 0.7) is edited  # read again, not made again
        assert not np.allclose(edit_images(model, ev, idx, 1, 0.7), edited)  # another target is another edit
        if along is not None:
            np.testing.assert_allclose(traverse_images(model, ev, idx, 2, [-1.0, 2.0]), along, rtol=1e-4, atol=1e-5)
    finally:
        model.encode = encode
