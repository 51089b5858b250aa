"""Prepare (or reuse) a dataset's cache without training: `python prepare.py data=synth`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="prepare")
def main(cfg: DictConfig) -> None:
    from facevae.cli import run_or_exit
    from facevae.config import validate

    run_or_exit(validate, cfg)
    from facevae.run import prepare_only

    run_or_exit(prepare_only, cfg)


if __name__ == "__main__":
    main()
