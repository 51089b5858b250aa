"""A local web page to edit faces with sliders: `python serve.py ckpt_path=<ckpt> [port=7860]`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    from facevae.cli import run_or_exit
    from facevae.edit.app import serve

    run_or_exit(serve, cfg)


if __name__ == "__main__":
    main()
