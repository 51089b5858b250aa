"""Re-evaluate a checkpoint on its test split: `python eval.py ckpt_path=<run>/checkpoints/best.ckpt`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from facevae.cli import run_or_exit
    from facevae.run import evaluate_checkpoint

    overrides = [o for o in HydraConfig.get().overrides.task if o.lstrip("+~").startswith("data")]
    run_or_exit(evaluate_checkpoint, cfg, overrides)


if __name__ == "__main__":
    main()
