"""The §2.1 classifier: loss against hand computation, layer counts, features, Fig. 6 numbers, training."""

import json
import logging
import math

import numpy as np
import pytest
import torch

from facevae.figures.classifier import confusion, embedding_numbers, row_normalised
from facevae.models.classifier import Classifier, fit_output_width
from facevae.models.losses import cross_entropy_loss
from facevae.run import build_model, train

from .conftest import compose_config

CLASSES = ["neutral", "anger", "contempt", "disgust", "surprise", "happiness", "sadness"]
ARCH_FAST = {"pool_stride": 2, "classifier": "C8-C32-F256-F100-D0.5-D7"}
LOSS = {"name": "classifier", "label_smoothing": 0.0}


def conv(cin, cout):
    return cin * cout * 9 + cout


def dense(n_in, n_out):
    return n_in * n_out + n_out


def expected_params(flat: int, n_classes: int = 7) -> int:
    """C8-C32-F256-F100-D<n> on 1-channel images, with `flat` inputs to F256."""
    return conv(1, 8) + conv(8, 32) + dense(flat, 256) + dense(256, 100) + dense(100, n_classes)


def test_cross_entropy_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    log_z = math.log(math.exp(2) + 1 + math.exp(-1))
    expected = torch.tensor([-(2.0 - log_z), math.log(3)])
    assert torch.allclose(cross_entropy_loss(logits, y), expected, atol=1e-6)
    # smoothing ε spreads ε/K over every class: loss = (1-ε)·CE(y) + ε·mean_k CE(k)
    eps = 0.3
    ce_all = -(logits[0] - log_z)
    smoothed = (1 - eps) * ce_all[0] + eps * ce_all.mean()
    assert cross_entropy_loss(logits, y, eps)[0].item() == pytest.approx(smoothed.item(), abs=1e-6)


def test_fast_parameter_count_from_arch_string():
    model = Classifier(CLASSES, ARCH_FAST, LOSS)
    assert sum(p.numel() for p in model.parameters()) == expected_params(32 * 32 * 32)


def test_output_width_follows_the_class_list(caplog):
    assert fit_output_width("C8-F100-D0.5-D7", 7) == "C8-F100-D0.5-D7"
    with caplog.at_level(logging.WARNING, logger="facevae"):
        model = Classifier(CLASSES[:5], ARCH_FAST, LOSS)
    assert "5 classes" in caplog.text
    assert model(torch.rand(2, 1, 128, 128)).shape == (2, 5)
    assert sum(p.numel() for p in model.parameters()) == expected_params(32 * 32 * 32, n_classes=5)
    with pytest.raises(ValueError, match="dense output layer"):
        fit_output_width("C8-F100", 7)


def test_features_are_the_f100_relu_and_the_head_completes_forward():
    torch.manual_seed(0)
    model = Classifier(CLASSES, ARCH_FAST, LOSS).eval()
    x = torch.rand(3, 1, 128, 128)
    h = model.features(x)
    assert h.shape == (3, 100) and (h >= 0).all()
    assert isinstance(model.net[model.feature_end - 1], torch.nn.ReLU)
    assert torch.allclose(model.head(h), model(x), atol=1e-6)
    emb, logits = model.embed(x)
    assert torch.equal(emb, h) and logits.shape == (3, 7)


def test_confusion_rows_are_shares_of_the_true_class():
    pred = np.array([0, 0, 1, 1, 1, 2])
    true = np.array([0, 1, 1, 1, 2, 2])
    counts = confusion(pred, true, 4)
    assert counts.tolist() == [[1, 0, 0, 0], [1, 2, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    shares = row_normalised(counts)
    assert shares[1].tolist() == pytest.approx([1 / 3, 2 / 3, 0, 0]) and shares[3].sum() == 0


def test_embedding_numbers_see_separated_and_mixed_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    separated = embedding_numbers(centres[labels] + rng.normal(0, 0.5, (60, 2)), labels)
    assert separated["test/tsne_knn_acc"] == 1.0 and separated["test/tsne_silhouette"] > 0.8
    mixed = embedding_numbers(rng.normal(0, 1, (60, 2)), labels)
    assert mixed["test/tsne_knn_acc"] < 0.6 and abs(mixed["test/tsne_silhouette"]) < 0.2


@pytest.mark.slow
def test_paper_arch_trains_one_step(tmp_path):
    """§2.1 exactly: stride-1 pooling keeps 128x128x32 = 524,288 inputs to F256 (~134 M weights)."""
    cfg = compose_config(["model=classifier", "arch=paper"], tmp_path, tmp_path)
    model = build_model(cfg, CLASSES)
    assert sum(p.numel() for p in model.parameters()) == expected_params(128 * 128 * 32)
    opt = model.configure_optimizers()
    x, y = torch.rand(2, 1, 128, 128), torch.tensor([1, 4])
    before = model.net[-1].weight.detach().clone()
    loss = cross_entropy_loss(model(x), y).mean()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.net[-1].weight)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("classifier-smoke")
    cfg = compose_config(["model=classifier", "debug=smoke", "data.progress=false"], out, data_dir)
    return out, train(cfg)


@pytest.mark.slow
def test_smoke_run_writes_metrics_and_figures(smoke_run):
    out, metrics = smoke_run
    written = json.loads((out / "metrics.json").read_text())
    keys = {"test/acc", "test/loss", "test/f1_macro", "test/tsne_silhouette", "test/tsne_knn_acc", "model/params"}
    assert keys <= written.keys()
    assert 0 <= written["test/acc"] <= 1 and 0 <= written["test/tsne_knn_acc"] <= 1
    assert -1 <= written["test/tsne_silhouette"] <= 1
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"confusion_matrix.png", "fig6_tsne.png"} <= figures


@pytest.mark.slow
def test_checkpoint_loads_frozen_and_reproduces_logits(smoke_run):
    out, metrics = smoke_run
    path = out / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["facevae_config"]["model"]["name"] == "classifier"
    judge = Classifier.load_frozen(path)
    assert not judge.training and not any(p.requires_grad for p in judge.parameters())
    assert metrics["model/params"] == sum(v.numel() for v in ckpt["state_dict"].values())
    x = torch.rand(2, 1, 128, 128)
    state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    reference = Classifier(**ckpt["hyper_parameters"]).eval()
    reference.net.load_state_dict(state)
    assert torch.allclose(judge(x), reference(x), atol=1e-6)


def test_the_recognition_recipe_composes_and_trains_one_step(tmp_path):
    """experiment=recognition: BN + GAP network on 64x64 faces, lr 3e-3, batch 16, label smoothing, cosine schedule
    over the run's epochs, flips only (no geometric augmentation, no early stopping), test-time flip, best checkpoint
    by validation loss."""
    from types import SimpleNamespace

    from facevae.config import validate

    cfg = compose_config(["experiment=recognition"], tmp_path, tmp_path)
    validate(cfg)
    assert cfg.model.name == "classifier" and "early_stopping" not in cfg.callbacks
    assert (cfg.data.batch_size, cfg.data.shift, cfg.data.rotate, cfg.data.zoom) == (16, 0, 0, 0) and cfg.data.hflip > 0
    # the tested checkpoint is chosen by validation loss (accuracy saturates early), and the callback follows it
    assert (cfg.model.monitor, cfg.model.monitor_mode) == ("val/loss", "min")
    assert cfg.callbacks.model_checkpoint.monitor == "val/loss" and cfg.callbacks.model_checkpoint.mode == "min"
    model = build_model(cfg, CLASSES)
    assert model.label_smoothing == 0.1 and cfg.data.image_size == 64
    assert model.feature_name == "GAP activations"  # Fig. 6's title names what it maps (no F100 here)
    model.trainer = SimpleNamespace(max_epochs=cfg.trainer.max_epochs)
    setup = model.configure_optimizers()
    opt, sched = setup["optimizer"], setup["lr_scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR) and sched.T_max == 60
    assert opt.param_groups[0]["initial_lr"] == 3e-3
    x, y = torch.rand(4, 1, 64, 64), torch.tensor([1, 4, 0, 6])
    loss = cross_entropy_loss(model(x), y, model.label_smoothing).mean()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    # test-time flip: evaluation logits are the same for a face and its mirror image; training ones are not
    model.eval()
    x = torch.zeros(2, 1, 64, 64)
    x[..., 15:45, 5:25] = 1.0  # a bright block on the left: not mirror-symmetric
    mirrored = torch.flip(x, dims=[-1])
    tta_gap = (model.predict_logits(x) - model.predict_logits(mirrored)).abs().max()
    plain_gap = (model(x) - model(mirrored)).abs().max()
    assert tta_gap < 1e-6 < plain_gap


def test_fig6_names_the_layer_it_maps(tmp_path):
    """§2.1's network embeds its F100 layer (dropout and D7 after it); tsne_features=logits embeds the logits."""
    for overrides, name in ((["model=classifier"], "F100 activations"),
                            (["model=classifier", "arch.classifier=C8-C32-F64-D7"], "F64 activations"),
                            (["model=classifier", "model.tsne_features=logits"], "logits")):
        assert build_model(compose_config(overrides, tmp_path, tmp_path), CLASSES).feature_name == name


def test_an_unknown_schedule_is_named(tmp_path):
    cfg = compose_config(["model=classifier", "model.schedule=step"], tmp_path, tmp_path)
    with pytest.raises(ValueError, match="model.schedule='step'"):
        build_model(cfg, CLASSES)
