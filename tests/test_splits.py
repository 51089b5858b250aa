"""Subject-independent splits: disjoint, covering, balanced folds, clear errors."""

import numpy as np
import pytest

from facevae.data.splits import split_indices, subject_folds


@pytest.mark.parametrize("n_subjects,num_folds", [(40, 10), (8, 4), (13, 5)])
def test_splits_disjoint_and_covering(n_subjects, num_folds):
    rng = np.random.default_rng(1)
    subjects = rng.integers(0, n_subjects, 500)
    subjects[:n_subjects] = np.arange(n_subjects)  # every subject present
    for fold in range(num_folds):
        s = split_indices(subjects, num_folds, fold, val_folds=1, seed=3)
        sets = {k: set(subjects[v]) for k, v in s.items()}
        assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
        assert np.array_equal(np.sort(np.concatenate(list(s.values()))), np.arange(len(subjects)))
        assert all(len(v) for v in s.values())


def test_every_subject_is_tested_exactly_once_across_folds():
    folds = subject_folds(23, 5, seed=0)
    counts = np.bincount(folds, minlength=5)
    assert counts.max() - counts.min() <= 1
    subjects = np.arange(23)
    tested = np.concatenate([split_indices(subjects, 5, f, seed=0)["test"] for f in range(5)])
    assert np.array_equal(np.sort(tested), subjects)


def test_split_seed_changes_assignment():
    assert not np.array_equal(subject_folds(40, 10, 0), subject_folds(40, 10, 1))


def test_too_few_subjects_is_explained():
    with pytest.raises(ValueError, match="lower data.num_folds"):
        subject_folds(3, 10, 0)
    with pytest.raises(ValueError, match="data.fold"):
        split_indices(np.arange(10), 5, 7)
