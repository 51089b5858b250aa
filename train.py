"""Train a facevae model: `python train.py model=ssvae data=synth [debug=smoke] [key=value ...]`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from facevae.cli import run_or_exit
    from facevae.config import validate

    run_or_exit(validate, cfg)  # a bad config fails here, before torch and Lightning are imported
    from facevae.ddp import patch_hydra_ddp, teardown
    from facevae.gpu_pool import lease
    from facevae.run import train

    patch_hydra_ddp(__file__)  # extra DDP ranks run this job's settings, also inside sweeps (facevae/ddp.py)
    try:
        with lease(cfg):  # hydra/launcher=gpus: this job's own device(s) for as long as it runs
            metrics = run_or_exit(train, cfg)
    finally:
        teardown()
    # What a sweeper (Optuna) optimises: by default the best validation score of the model's monitor.
    return metrics.get(cfg.optimized_metric) if metrics else None


if __name__ == "__main__":
    main()
