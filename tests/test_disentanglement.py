"""MIG, DCI and SAP on constructed codes whose answer is known: copies, shuffles, entangled codes."""

import json

import numpy as np
import pytest

from facevae.metrics.disentanglement import (
    dci_single,
    discretize_factors,
    disentanglement_scores,
    histogram_discretize,
    is_discrete,
    mig,
    sap_single,
)

N = 600
NAMES = ["emotion", "subject", "pose"]
N_EST = 30  # fewer trees than the default 100 keeps each DCI well under a second; same answers here


@pytest.fixture(scope="module")
def factors():
    """Three discrete factors with 4, 5 and 6 values."""
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, n, N) for n in (4, 5, 6)], axis=1)


@pytest.fixture(scope="module")
def codes(factors):
    """Codes D=5: 'copy' = the factors + tiny noise and two noise dims; 'shuffled' = copy's rows
    permuted (independent of the factors); 'mixed' = dim 0 encodes emotion and subject together."""
    rng = np.random.default_rng(1)
    copy = np.concatenate([factors + 0.01 * rng.standard_normal(factors.shape),
                           0.01 * rng.standard_normal((N, 2))], axis=1)
    mixed = copy.copy()
    mixed[:, 0] = 6 * factors[:, 0] + factors[:, 1]
    mixed[:, 1] = 0.01 * rng.standard_normal(N)
    return {"copy": copy, "shuffled": copy[rng.permutation(N)], "mixed": mixed}


@pytest.fixture(scope="module")
def scores(codes, factors):
    """disentanglement_scores of each code set, computed once for the module."""
    return {k: disentanglement_scores(c, factors, NAMES, seed=0, n_estimators=N_EST) for k, c in codes.items()}


def test_histogram_discretize_is_disentanglement_lib_formula():
    x = np.random.default_rng(2).standard_normal((300, 3))
    got = histogram_discretize(x, 20)
    for i in range(3):
        assert np.array_equal(got[:, i], np.digitize(x[:, i], np.histogram(x[:, i], 20)[1][:-1]))
    assert got.min() >= 1 and got.max() <= 20


def test_factor_discretisation_detects_continuous_columns():
    rng = np.random.default_rng(3)
    f = np.stack([rng.integers(0, 7, 200).astype(float) * 10, rng.uniform(0, 5, 200)], axis=1)
    assert is_discrete(f[:, 0]) and not is_discrete(f[:, 1]) and is_discrete(np.arange(100))
    d = discretize_factors(f)
    assert d.dtype.kind == "i"
    assert set(np.unique(d[:, 0])) == set(range(7))  # relabelled 0..6, nothing merged
    assert len(np.unique(d[:, 1])) <= 20
    forced = discretize_factors(f, discrete=[False, False])
    assert len(np.unique(forced[:, 0])) == 7  # 7 values in 20 bins stay 7 distinct bins


def test_copied_factors_score_high(scores):
    s = scores["copy"]
    assert s["mig"] > 0.9
    assert s["dci_disentanglement"] > 0.9 and s["dci_completeness"] > 0.9
    assert s["dci_informativeness"] > 0.97
    # SAP's gap is bounded by 1 minus the second-best code's accuracy (≈ chance or more) and a 1-D
    # one-vs-rest LinearSVC cannot carve out middle classes, so a perfect code scores ~0.4 here.
    assert s["sap"] > 0.3
    for name in NAMES:
        assert s[f"mig/{name}"] > 0.9 and s[f"dci_disentanglement/{name}"] > 0.9


def test_shuffled_codes_score_low(scores):
    s = scores["shuffled"]
    chance = np.mean([1 / 4, 1 / 5, 1 / 6])
    assert s["mig"] < 0.1
    assert s["dci_informativeness"] < chance + 0.1
    assert s["sap"] < 0.1
    assert s["dci_disentanglement"] < 0.3 and s["dci_completeness"] < 0.3


def test_one_code_for_two_factors_lowers_disentanglement(scores):
    mixed, copy = scores["mixed"], scores["copy"]
    assert mixed["dci_disentanglement"] < copy["dci_disentanglement"] - 0.2
    # dim 0 serves emotion and subject; pose keeps its own clean code
    for name in ("emotion", "subject"):
        assert mixed[f"dci_disentanglement/{name}"] < 0.7 < mixed["dci_disentanglement/pose"]
    assert mixed["dci_informativeness"] > 0.97  # still everything is predictable


def test_per_factor_keys_and_json(scores):
    s = scores["copy"]
    for metric in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap"):
        assert isinstance(s[metric], float)
        for name in NAMES:
            assert isinstance(s[f"{metric}/{name}"], float)
    assert s["skipped_factors"] == "" and isinstance(s["sklearn_version"], str)
    assert all(isinstance(v, (float, str)) for v in s.values())
    json.dumps(s)


def test_single_valued_factor_is_skipped(codes, factors):
    f = np.concatenate([factors, np.full((N, 1), 3)], axis=1)
    with_const = disentanglement_scores(codes["copy"], f, [*NAMES, "const"], n_estimators=N_EST)
    base = disentanglement_scores(codes["copy"], factors, NAMES, n_estimators=N_EST)
    assert with_const["skipped_factors"] == "const"
    assert not any(k.endswith("/const") for k in with_const)
    for k in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap"):
        assert with_const[k] == pytest.approx(base[k])


def test_mig_reports_nan_for_zero_entropy_factor(codes, factors):
    f = np.concatenate([factors, np.zeros((N, 1), dtype=int)], axis=1)
    m = mig(codes["copy"], f)
    assert np.isnan(m["per_factor"][3])
    assert m["mig"] == pytest.approx(np.mean(m["per_factor"][:3]))
    assert m["entropy"][0] == pytest.approx(np.log(4), abs=0.05)  # ~uniform over 4 values, in nats


def test_continuous_factor_is_discretised():
    rng = np.random.default_rng(4)
    intensity = rng.uniform(0, 1, 400)
    codes = np.stack([2 * intensity + 1, rng.standard_normal(400)], axis=1)
    m = mig(codes, intensity[:, None])
    assert m["mig"] > 0.8  # 20 bins of a monotone copy: the same histogram cells


def test_dci_per_factor_disentanglement_is_importance_weighted(codes, factors):
    d = dci_single(codes["mixed"], factors, n_estimators=N_EST)
    r = d["importance"]
    expected = (r * d["per_code_disentanglement"][:, None]).sum(0) / r.sum(0)
    assert np.allclose(d["per_factor_disentanglement"], expected)
    assert np.allclose(r.sum(axis=0), 1.0)  # GBT importances are normalised per factor


def test_sap_continuous_branch(codes, factors):
    s = sap_single(codes["copy"], factors.astype(float), continuous_factors=True)
    assert s["sap"] > 0.95  # R² = 1 for the copying code, ≈ 0 for the others


def test_bad_inputs_raise(codes, factors):
    with pytest.raises(ValueError, match="factor names"):
        disentanglement_scores(codes["copy"], factors, NAMES[:2])
    with pytest.raises(ValueError, match="NaN"):
        disentanglement_scores(np.full((N, 2), np.nan), factors, NAMES)
