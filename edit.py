"""Edit the faces of photos with a trained model: `python edit.py ckpt_path=<ckpt> image=<photo or folder>`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="edit")
def main(cfg: DictConfig) -> None:
    from facevae.cli import run_or_exit
    from facevae.edit.cli import edit_photos

    run_or_exit(edit_photos, cfg)


if __name__ == "__main__":
    main()
