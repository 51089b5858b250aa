"""FER2013 csv and class-folder sources through preparation, splits and a smoke training run."""

import json

import cv2
import numpy as np

from facevae.run import build_datamodule, train

from .conftest import compose_config

FER_NAMES = {0: "anger", 3: "happiness", 4: "sadness", 6: "neutral"}


def write_fer_csv(path, n_per_usage=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = ["emotion,pixels,Usage"]
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for i in range(n_per_usage):
            label = list(FER_NAMES)[i % 4]
            rows.append(f"{label},{' '.join(map(str, rng.integers(0, 256, 2304)))},{usage}")
    rows.append("3,1 2 3,Training")  # a pixel string of the wrong length: skipped and listed
    path.write_text("\n".join(rows) + "\n")


def test_fer2013_uses_its_own_split(tmp_path):
    csv = tmp_path / "fer2013.csv"
    write_fer_csv(csv)
    cfg = compose_config(["data=fer2013", f"data.csv={csv}", "data.progress=false"], tmp_path / "o", tmp_path / "d")
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 12, "val": 12, "test": 12}
    assert dm.data.images.shape == (36, 128, 128) and dm.data.images.dtype == np.uint8
    manifest = dm.manifest
    assert manifest["n_skipped"] == 1 and manifest["per_split"] == {"train": 12, "val": 12, "test": 12}
    assert manifest["per_class"]["happiness"] == 9 and manifest["per_class"]["fear"] == 0


def write_ck48_folder(root, smoke_tree_cache):
    """48x48 crops in class folders, named like CK+ files (the "CK+48" export) from a prepared cache."""
    from facevae.data.cache import load_cache

    data = load_cache(smoke_tree_cache)
    for i, (img, label, subject) in enumerate(zip(data.images, data.labels, data.subjects)):
        folder = root / data.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{data.subject_names[subject]}_{i:03d}_{i:08d}.png"
        cv2.imwrite(str(folder / name), cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA))
    return data


def test_folder_of_ck48_crops_trains_with_subject_folds(tmp_path, data_dir):
    # the session's smoke cache (8 subjects) provides the faces
    smoke = compose_config(["debug=smoke", "data.progress=false"], tmp_path / "s", data_dir)
    dm = build_datamodule(smoke)
    dm.prepare_data()
    root = tmp_path / "ck48"
    source = write_ck48_folder(root, data_dir / "cache" / smoke.data.name)
    out = tmp_path / "run"
    cfg = compose_config(["debug=smoke", "data=folder", f"data.root={root}", "data.crop=none", "model=ssvae",
                          "data.subject_regex=ckplus", "data.num_folds=4", "data.progress=false",
                          "trainer.max_epochs=1", "callbacks.progress_bar=null"], out, tmp_path / "d")
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    manifest = json.loads((out / "data_manifest.json").read_text())
    assert manifest["n_images"] == len(source.labels) and manifest["n_subjects"] == 8
    folder_dm = build_datamodule(cfg)
    folder_dm.setup("fit")
    subjects = {k: set(folder_dm.data.subjects[v]) for k, v in folder_dm.splits.items()}
    assert not subjects["train"] & subjects["test"] and not subjects["val"] & subjects["test"]
