"""Shared fixtures: composed configs and one small synthetic CK+ tree per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "disabled")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores, each with torch's default of one OpenMP thread per core: four
    # threads on two cores, and OpenMP's idle threads spin (the small-set trainings ran 5x slower than alone,
    # 215 s against 40 s). Passive waiting keeps the thread count, so every result stays what it is alone
    # (OMP_NUM_THREADS=1 was 2x faster but changed the trained models); inherited by train.py subprocesses.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent


def compose_config(overrides: list[str], output_dir: Path, data_dir: Path):
    """The config train.py would see for `overrides`, composed with Hydra's compose API."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            "config",
            overrides=[*overrides, f"paths.output_dir={output_dir}", f"paths.data_dir={data_dir}"],
        )


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A data folder shared by the session, so the smoke-size synthetic CK+ is generated once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def smoke_tree(data_dir) -> Path:
    """A small synthetic CK+ tree (8 subjects) in the real CK+ layout."""
    from facevae.data.synth import SynthSpec, generate_synth

    root = data_dir / "tree-n8"
    generate_synth(root, SynthSpec(n_subjects=8, seed=0), workers=2, progress=False)
    return root
