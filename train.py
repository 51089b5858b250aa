"""Train a facevae model: `python train.py model=ssvae data=synth [debug=smoke] [key=value ...]`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from facevae.cli import run_or_exit
    from facevae.config import validate

    run_or_exit(validate, cfg)  # a bad config fails here, before torch and Lightning are imported
    from facevae.run import train

    metrics = run_or_exit(train, cfg)
    return metrics.get(f"val/{cfg.model.monitor.split('/', 1)[-1]}") if metrics else None


if __name__ == "__main__":
    main()
