"""Siamese comparator and siamese VAE (§2.2, §3.1): pair sampling, loss terms, smoke training, errors."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import facevae.run as run
from omegaconf import OmegaConf
from facevae.config import ConfigError
from facevae.data.pairs import PairDataModule, sample_pairs
from facevae.models.losses import auxiliary_loss, comparator_loss, siamese_loss
from facevae.models.siamese import SiameseComparator, standardize
from facevae.models.siamese_vae import SiameseVAE

from .conftest import compose_config

FAST = {"pool_stride": 2, "encoder": "C8-C32-F256-F100", "decoder": "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1",
        "comparator": "C8-C32-F256-F100"}
CLASSES = ["neutral", "anger", "contempt", "disgust", "surprise", "happiness", "sadness"]


def _toy(n_subjects=6, per=14, seed=0):
    rng = np.random.default_rng(seed)
    subjects = np.repeat(np.arange(n_subjects), per)
    labels = rng.integers(0, 4, len(subjects))
    return labels, subjects


# -- pair sampling ---------------------------------------------------------------------------------
def test_pairs_are_balanced_and_labelled_truthfully():
    labels, subjects = _toy()
    partners, same = sample_pairs(labels, subjects, np.random.default_rng(1), p_avg=0.3, avg_size=4)
    assert abs(same.mean() - 0.5) < 0.1
    for i, p in enumerate(partners):
        assert len(set(labels[p])) == 1  # an averaged partner shares one emotion
        assert same[i] == float(labels[p[0]] == labels[i])
    assert any(len(p) > 1 for p in partners) and any(len(p) == 1 for p in partners)


def test_cross_subject_pairs_never_share_a_subject_and_any_does():
    labels, subjects = _toy()
    partners, _ = sample_pairs(labels, subjects, np.random.default_rng(2), pair_subjects="cross", p_avg=0.5)
    assert all((subjects[p] != subjects[i]).all() for i, p in enumerate(partners))
    partners, same = sample_pairs(labels, subjects, np.random.default_rng(2), pair_subjects="any")
    own = [subjects[p[0]] == subjects[i] for i, p in enumerate(partners)]
    assert any(own) and all(p[0] != i for i, p in enumerate(partners))
    with pytest.raises(ValueError, match="pair_subjects"):
        sample_pairs(labels, subjects, np.random.default_rng(0), pair_subjects="same")


@pytest.fixture(scope="module")
def pair_dm(tmp_path_factory, data_dir):
    cfg = compose_config(["model=siamese_comparator", "debug=smoke", "data.progress=false",
                          "data.pairs.pair_subjects=any"], tmp_path_factory.mktemp("pdm"), data_dir)
    dm = run.build_datamodule(cfg)
    assert isinstance(dm, PairDataModule)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_pair_splits_are_subject_disjoint_and_train_pairs_redrawn_per_epoch(pair_dm):
    """Evaluation pairs are cross-subject even when training pairs may share a subject (pair_subjects=any)."""
    subj = {k: set(pair_dm.data.subjects[v]) for k, v in pair_dm.splits.items()}
    assert not (subj["train"] & subj["val"]) and not (subj["train"] & subj["test"]) and not (subj["val"] & subj["test"])
    for split, ds in pair_dm.pair_datasets.items():
        assert set(ds.subjects.numpy()) == subj[split]  # pairs stay inside their split
        assert set(ds.partner_subjects.numpy()) <= subj[split]
        if split != "train":
            assert (ds.partner_subjects != ds.anchor_subjects).all()
    assert len(pair_dm.pair_datasets["test"]) == 4 * len(pair_dm.splits["test"])  # eval_pairs_per_image=4
    train = pair_dm.pair_datasets["train"]
    loader = pair_dm.train_dataloader()
    loader.sampler.set_epoch(0)
    first = [p.copy() for p in train.partners]
    loader.sampler.set_epoch(1)
    assert any(not np.array_equal(a, b) for a, b in zip(first, train.partners))
    loader.sampler.set_epoch(0)
    assert all(np.array_equal(a, b) for a, b in zip(first, train.partners))  # seeded
    a, b, same, la, lb = next(iter(pair_dm.test_dataloader()))
    assert a.dtype == torch.uint8 and b.shape == a.shape and torch.equal(same, (la == lb).float())
    out = pair_dm.on_after_batch_transfer((a, b, same, la, lb), 0)
    assert out[0].max() <= 1.0 and out[0].dtype == torch.float32 and torch.equal(out[2], same)


# -- loss terms against hand computations ----------------------------------------------------------
def test_comparator_loss_by_hand():
    logits, same = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([1.0, 0.0, 0.0])
    p = 1 / (1 + np.exp(-np.array([0.0, 2.0, -1.0])))
    expected = [-np.log(p[0]), -np.log(1 - p[1]), -np.log(1 - p[2])]
    assert comparator_loss(logits, same).numpy() == pytest.approx(expected, rel=1e-5)
    smooth = comparator_loss(torch.tensor([0.0]), torch.tensor([1.0]), label_smoothing=0.2)
    assert float(smooth) == pytest.approx(np.log(2), rel=1e-5)  # the target 0.9 at p=0.5 still costs log 2


def test_auxiliary_loss_by_hand():
    la, lb = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    expected = 0.5 * (np.log(1 + np.exp(-2.0)) + np.log(2))  # CE of class 0 for a, of class 1 for b
    assert float(auxiliary_loss(la, torch.tensor([0]), lb, torch.tensor([1]))) == pytest.approx(expected, rel=1e-5)


def test_siamese_loss_and_standardize_by_hand():
    assert siamese_loss(torch.tensor([1.0, 0.5, 0.0])).numpy() == pytest.approx([0.0, np.log(2), -np.log(1e-6)],
                                                                                rel=1e-5)
    x = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    assert torch.allclose(standardize(x), (x - 0.5) / (np.sqrt(1 / 3) + 1e-3))
    assert torch.allclose(standardize(0.5 * x + 0.2), standardize(x), atol=1e-2)  # lighting-invariant


def test_comparator_is_symmetric_and_counts_parameters():
    model = SiameseComparator(CLASSES, FAST, {"name": "siamese_comparator", "aux_weight": 0.0}, image_size=128)
    tower = (8 * 9 + 8) + (32 * 8 * 9 + 32) + (32 * 32 * 32 * 256 + 256) + (256 * 100 + 100)
    assert sum(p.numel() for p in model.parameters()) == tower + 200 + 1
    with_aux = SiameseComparator(CLASSES, FAST, {"name": "siamese_comparator", "aux_weight": 1.0}, image_size=128)
    assert sum(p.numel() for p in with_aux.parameters()) == tower + 200 + 1 + 100 * 7 + 7
    a, b = torch.rand(3, 1, 128, 128), torch.rand(3, 1, 128, 128)
    assert torch.allclose(model(a, b), model(b, a), atol=1e-5)


# -- training ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def comparator_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("siam-comp")
    cfg = compose_config(["model=siamese_comparator", "debug=smoke", "data.progress=false", "trainer.max_epochs=1",
                          "callbacks.progress_bar=null"], out, data_dir)
    metrics = run.train(cfg)
    return out, metrics


@pytest.mark.slow
def test_comparator_smoke_training(comparator_run):
    out, metrics = comparator_run
    written = json.loads((out / "metrics.json").read_text())
    assert {"test/acc", "test/auroc", "test/loss", "model/params"} <= written.keys()
    assert 0.0 <= written["test/acc"] <= 1.0
    assert {"siamese_pairs.png", "siamese_score_hist.png"} <= {p.name for p in (out / "figures").glob("*.png")}
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert metrics["model/params"] == sum(v.numel() for v in ckpt["state_dict"].values())
    frozen = SiameseComparator.load_frozen(out / "checkpoints" / "last.ckpt")
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())


@pytest.mark.slow
def test_siamese_vae_smoke_training(comparator_run, tmp_path, data_dir):
    comp = comparator_run[0] / "checkpoints" / "last.ckpt"
    cfg = compose_config(["model=siamese_vae", "debug=smoke", "data.progress=false", "trainer.max_epochs=1",
                          "callbacks.progress_bar=null", f"model.comparator_ckpt={comp}"], tmp_path, data_dir)
    metrics = run.train(cfg)
    assert {"test/loss", "test/rl", "test/ll", "test/siam", "test/comparator_acc_on_recon", "model/params"} <= metrics.keys()
    assert (tmp_path / "figures" / "siamese_vae_reconstructions.png").is_file()
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert not any(k.startswith("_frozen") or "tower" in k for k in ckpt["state_dict"])  # comparator not stored
    assert metrics["model/params"] == sum(v.numel() for v in ckpt["state_dict"].values())


def test_siamese_vae_loss_terms_by_hand(comparator_run):
    comp = str(comparator_run[0] / "checkpoints" / "last.ckpt")
    loss = {"name": "siamese_vae", "lam": 0.5, "beta": 2.0, "rl_reduction": "mean"}
    model = SiameseVAE(CLASSES, FAST, loss, image_size=128, latent_dims=4, comparator_ckpt=comp).eval()
    x, img_b = torch.rand(2, 1, 128, 128), torch.rand(2, 1, 128, 128)
    out = model.losses(x, img_b, sample=False)
    mu, logvar = model.encode(x)
    logits = model.decode_logits(mu)
    rl = F.binary_cross_entropy_with_logits(logits, x)
    ll = (-0.5 * (1 + logvar - logvar.exp() - mu**2).sum(1)).mean()
    siam = -torch.log(model.comparator().p_same(torch.sigmoid(logits), img_b)).mean()
    assert float(out["loss"]) == pytest.approx(float(rl + 2.0 * ll + 0.5 * siam), rel=1e-5)
    # The siamese term's gradient reaches the decoder through the frozen comparator, never the comparator.
    model.train()
    model.losses(x, img_b, sample=True)["loss"].backward()
    assert model.decoder[-1].weight.grad is not None
    assert all(p.grad is None for p in model.comparator().parameters())


def test_missing_comparator_ckpt_is_one_clear_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        SiameseVAE(CLASSES, FAST, {"name": "siamese_vae", "lam": 0.1, "beta": 1.0}, comparator_ckpt=None)
    msg = str(err.value)
    assert "\n" not in msg and "model.comparator_ckpt" in msg and "model=siamese_comparator" in msg
    with pytest.raises(ConfigError, match="nope.ckpt: checkpoint not found"):
        SiameseVAE(CLASSES, FAST, {"name": "siamese_vae", "lam": 0.1, "beta": 1.0},
                   comparator_ckpt=str(tmp_path / "nope.ckpt"))
    cfg = compose_config(["model=siamese_vae"], tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="model.comparator_ckpt"):
        run.train(cfg)


@pytest.mark.slow
def test_paper_arch_one_step_for_both(tmp_path, comparator_run):
    comp = str(comparator_run[0] / "checkpoints" / "last.ckpt")
    vae = [f"model.comparator_ckpt={comp}", "model.style_map=0"]  # arch=paper: the paper's vector latent
    for model_name, extra in (("siamese_comparator", []), ("siamese_vae", vae)):
        cfg = compose_config([f"model={model_name}", "arch=paper", *extra], tmp_path, tmp_path)
        model = run.build_model(cfg, CLASSES)
        opt = model.configure_optimizers()
        a, b = torch.rand(2, 1, 128, 128), torch.rand(2, 1, 128, 128)
        batch = (a, b, torch.tensor([1.0, 0.0]), torch.tensor([0, 1]), torch.tensor([0, 2]))
        first = next(model.parameters()).detach().clone()
        loss = model.training_step(batch, 0)
        loss.backward()
        opt.step()
        assert torch.isfinite(loss) and not torch.equal(first, next(model.parameters()))
        if model_name == "siamese_comparator":
            assert sum(p.numel() for p in model.tower.parameters()) > 134_000_000  # F256 on 128·128·32
        del model, opt


# -- §2.2's pairs are a data option (issue 17) ---------------------------------------------------------
def test_pairs_are_data_the_siamese_models_select(tmp_path):
    from facevae.config import validate

    comp = compose_config(["model=siamese_comparator"], tmp_path, tmp_path)
    vae = compose_config(["model=siamese_vae", "model.comparator_ckpt=x"], tmp_path, tmp_path)
    assert comp.data.pairs.p_same == 0.5 and comp.data.pairs.eval_pairs_per_image == 4
    assert vae.data.pairs.p_same == 1.0 and vae.data.pairs.p_avg == 0.0  # ImgB: same emotion, another subject
    assert compose_config([], tmp_path, tmp_path).data.pairs is None
    assert compose_config(["model=siamese_comparator", "pairs=imgb"], tmp_path, tmp_path).data.pairs.p_same == 1.0
    assert "p_same" not in comp.model  # the model config holds the model, the data config the data
    for overrides, words in ((["model=siamese_comparator", "~pairs"], "pairs=emotion"),
                             (["pairs=emotion"], "single faces"),
                             (["model=siamese_comparator", "data.pairs.p_same=often"], "data.pairs"),
                             (["model=siamese_comparator", "data.pairs.pair_subjects=same"], "cross or any"),
                             (["model=siamese_comparator", "+data.pairs.partner=1"], "data.pairs")):
        with pytest.raises(ConfigError, match=words) as err:
            validate(compose_config(overrides, tmp_path, tmp_path))
        assert "\n" not in str(err.value)


@pytest.mark.slow
def test_a_checkpoint_from_before_data_pairs_still_loads(comparator_run, tmp_path):
    """Checkpoints written when the pair options were model.* keys open with those options as data.pairs."""
    from facevae.checkpoint import load_checkpoint, run_config

    ckpt = load_checkpoint(comparator_run[0] / "checkpoints" / "last.ckpt")
    legacy = {"p_same": 0.4, "pair_subjects": "any", "p_avg": 0.1, "avg_size": 4, "eval_pairs_per_image": 2}
    ckpt["facevae_config"]["model"].update(legacy)
    ckpt["facevae_config"]["data"].pop("pairs")
    ckpt["hyper_parameters"].update(legacy)
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    cfg = run_config(load_checkpoint(old), old)
    assert dict(cfg.data.pairs) == legacy and "p_same" not in cfg.model
    assert isinstance(run.build_datamodule(OmegaConf.merge(cfg, {"seed": 0})), PairDataModule)
    assert not SiameseComparator.load_frozen(old).training


def test_siamese_vae_shares_the_vae_backbone_and_reads_its_old_checkpoints(comparator_run):
    """The §2.2 VAE is the β-VAE's backbone (GaussianVAE); weights saved with the old one-Sequential encoder load."""
    from facevae.models.backbone import GaussianVAE

    comp = str(comparator_run[0] / "checkpoints" / "last.ckpt")
    loss = {"name": "siamese_vae", "lam": 0.5, "beta": 1e-3}
    torch.manual_seed(0)
    model = SiameseVAE(CLASSES, FAST, loss, image_size=128, latent_dims=4, comparator_ckpt=comp).eval()
    assert isinstance(model, GaussianVAE) and model.style_head is None and model.latent_dims == 4
    n_trunk = len(model.encoder[0])
    flat = {}
    for k, v in model.state_dict().items():  # encoder.0.<i> / encoder.1.<j> -> encoder.<i> / encoder.<n_trunk + j>
        part = k.split(".")
        if part[0] == "encoder":
            k = f"encoder.{int(part[2]) + (n_trunk if part[1] == '1' else 0)}.{part[3]}"
        flat[k] = v
    torch.manual_seed(1)
    fresh = SiameseVAE(CLASSES, FAST, loss, image_size=128, latent_dims=4, comparator_ckpt=comp).eval()
    fresh.load_state_dict(flat)
    x = torch.rand(2, 1, 128, 128)
    assert torch.equal(fresh(x), model(x))
