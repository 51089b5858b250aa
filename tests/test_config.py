"""Config composition and validation: bad keys and types fail before any work, in one line."""

import subprocess
import sys

import pytest

from facevae.config import ConfigError, validate

from .conftest import ROOT, compose_config


def test_default_composition(tmp_path):
    cfg = compose_config([], tmp_path / "out", tmp_path / "data")
    assert cfg.model.name == "ssvae" and cfg.loss.name == "ssvae" and cfg.arch.name == "fast"
    assert (cfg.loss.alpha, cfg.loss.beta, cfg.loss.gamma, cfg.loss.rl_reduction) == (1.0, 0.01, 1000.0, "sum")
    assert list(cfg.data.classes)[0] == "neutral" and len(cfg.data.classes) == 7
    validate(cfg)


def test_paper_beta_vae_preset_is_the_papers_literal_model(tmp_path):
    """Issue 14 changed the β-VAE's defaults; experiment=paper_fig9_11 keeps §2.4/§3.4 exactly."""
    cfg = compose_config(["experiment=paper_fig9_11"], tmp_path / "out", tmp_path / "data")
    assert cfg.loss.name == "ssvae_paper" and cfg.model.style_map == 0 and cfg.arch.name == "paper"
    assert (cfg.loss.alpha, cfg.loss.beta, cfg.loss.gamma, cfg.loss.rl_reduction) == (1.0, 2.0, 10.0, "mean")
    validate(cfg)


def test_smoke_and_paper_arch_compose(tmp_path):
    cfg = compose_config(["debug=smoke", "arch=paper"], tmp_path / "out", tmp_path / "data")
    assert cfg.trainer.max_epochs <= 2 and cfg.data.synth.n_subjects < 40
    assert cfg.arch.pool_stride == 1 and cfg.arch.decoder.endswith("F16384")
    validate(cfg)


@pytest.mark.parametrize(
    "override,match",
    [
        ("model.lr=fast", "model.lr': expected float"),
        ("+model.learning_rate=0.1", "model.learning_rate': unknown key"),
        ("data.num_folds=ten", "data.num_folds': expected int"),
        ("+data.bogus=1", "data.bogus': unknown key"),
        ("arch.pool_stride=big", "arch.pool_stride"),
        ("loss.gamma=lots", "loss.gamma"),
        ("+loss.delta=1", "loss.delta"),
        ("trainer.max_epochs=many", "trainer.max_epochs': expected int"),
        ("data.train_extra_subjects=many", "data.train_extra_subjects': expected int"),
        ("data.train_extra_subjects=-3", "data.train_extra_subjects': -3 more people"),
    ],
)
def test_bad_values_fail_with_the_key(tmp_path, override, match):
    cfg = compose_config([override], tmp_path / "out", tmp_path / "data")
    with pytest.raises(ConfigError, match=match) as info:
        validate(cfg)
    assert "\n" not in str(info.value)


def test_missing_root_for_real_ckplus(tmp_path):
    cfg = compose_config(["data=ckplus"], tmp_path / "out", tmp_path / "data")
    with pytest.raises(ConfigError, match="data.root"):
        validate(cfg)


def test_cli_reports_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "model.lr=fast", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "facevae: error: config error at 'model.lr': expected float, got 'fast'"


def test_invalid_model_loss_pair_names_the_valid_losses(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "model=ssvae", "loss=adv", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "facevae: error: model=ssvae does not take loss=adv; valid: loss=ssvae, loss=ssvae_paper"
    assert not (tmp_path / "checkpoints").exists()  # failed before any work


@pytest.mark.parametrize("model,preset", [("fader", "fader"), ("classifier", "classifier"), ("ssvae", "ssvae")])
def test_leaving_out_loss_takes_the_models_default(tmp_path, model, preset):
    cfg = compose_config([f"model={model}"], tmp_path / "out", tmp_path / "data")
    assert cfg.loss.name == preset
    validate(cfg)


def test_the_readme_configuration_table_lists_every_option():
    """Every file of every config group appears in the README's table (issue 17: the table was 2 of 5 data
    options, 1 of 5 models, 1 of 11 losses)."""
    from .conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| group | options | what |"):]
    table = table[: table.index("\n\n")]
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2] for line in table.splitlines()[2:]}
    groups = {"hydra/launcher": ROOT / "conf/hydra/launcher"}
    groups.update({p.name: p for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "hydra"})
    missing = [f"{g}={f.stem}" for g, folder in groups.items() for f in folder.glob("*.yaml")
               if f"`{f.stem}`" not in rows.get(g, "")]
    assert not missing, f"not in the README's configuration table: {missing}"


def test_each_models_loss_schema_defaults_are_its_default_preset():
    """Issue 17: a loss option has one default. What a model's loss schema falls back to (for a key a preset
    omits) is what its own preset, conf/loss/<model>.yaml, sets (before: SiameseVAELoss.beta 1.0 vs 1e-3)."""
    import dataclasses

    from omegaconf import OmegaConf

    from facevae.config import import_target

    from .conftest import ROOT

    differ = []
    for model_file in sorted((ROOT / "conf" / "model").glob("*.yaml")):
        model = OmegaConf.load(model_file)
        schema = import_target(model._target_).loss_schema
        preset = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "loss" / f"{model.name}.yaml"))
        preset = {k: v for k, v in preset.items() if k != "defaults"}
        for f in dataclasses.fields(schema):
            if f.name in preset and f.name != "name" and preset[f.name] != f.default:
                differ.append(f"{model.name}: loss.{f.name} schema {f.default!r} vs preset {preset[f.name]!r}")
    assert not differ, differ
