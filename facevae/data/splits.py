"""Subject-independent splits: no subject's images appear in two of train / val / test."""

from __future__ import annotations

import numpy as np


def subject_folds(n_subjects: int, num_folds: int, seed: int) -> np.ndarray:
    """Fold index per subject: a seeded permutation dealt round-robin, so folds differ by at most one."""
    if num_folds < 2:
        raise ValueError(f"data.num_folds must be at least 2, got {num_folds}")
    if n_subjects < num_folds:
        raise ValueError(
            f"{n_subjects} subjects cannot fill data.num_folds={num_folds} subject-disjoint folds; "
            f"lower data.num_folds to at most {n_subjects}"
        )
    order = np.random.default_rng(seed).permutation(n_subjects)
    folds = np.empty(n_subjects, np.int64)
    folds[order] = np.arange(n_subjects) % num_folds
    return folds


def split_indices(
    subjects: np.ndarray, num_folds: int, fold: int, val_folds: int = 1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Sample indices of train/val/test: test = fold `fold`, val = the next `val_folds` folds."""
    if not 0 <= fold < num_folds:
        raise ValueError(f"data.fold={fold} is outside 0..{num_folds - 1} (data.num_folds={num_folds})")
    if not 0 <= val_folds <= num_folds - 2:
        raise ValueError(f"data.val_folds={val_folds} must leave at least one training fold (0..{num_folds - 2})")
    folds = subject_folds(int(subjects.max()) + 1, num_folds, seed)[subjects]
    val = [(fold + 1 + k) % num_folds for k in range(val_folds)]
    return {
        "train": np.flatnonzero(~np.isin(folds, [fold, *val])),
        "val": np.flatnonzero(np.isin(folds, val)),
        "test": np.flatnonzero(folds == fold),
    }


def stratified_indices(
    labels: np.ndarray, num_folds: int, fold: int, val_folds: int = 1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Folds of images, dealt per class: for sources without subject ids. The same person may then be
    in train and test, so the scores overstate generalisation to new people."""
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        folds[rng.permutation(idx)] = np.arange(len(idx)) % num_folds
    val = [(fold + 1 + k) % num_folds for k in range(val_folds)]
    return {
        "train": np.flatnonzero(~np.isin(folds, [fold, *val])),
        "val": np.flatnonzero(np.isin(folds, val)),
        "test": np.flatnonzero(folds == fold),
    }


def usage_indices(usage: np.ndarray) -> dict[str, np.ndarray]:
    """The split the source itself defines (FER2013's Usage column)."""
    return {k: np.flatnonzero(usage == k) for k in ("train", "val", "test")}
