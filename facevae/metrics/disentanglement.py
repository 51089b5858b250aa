"""MIG, DCI and SAP disentanglement scores, computed as google-research/disentanglement_lib does.

Pure numpy/scipy/scikit-learn. Arrays are row-major here — ``codes`` (N, D) mean latent codes and
``factors`` (N, K) ground-truth factors — whereas disentanglement_lib passes them transposed. The
scores themselves follow disentanglement_lib's ``mig.py``, ``dci.py``, ``sap_score.py`` and
``utils.py`` line by line; the only additions are the handling of single-valued factors (skipped
and reported as NaN instead of crashing) and the per-factor breakdowns.

Factors: classifiers and mutual information need discrete factors. A column is taken as discrete
as is when it has an integer/bool dtype or at most ``num_bins`` distinct values; other columns
(intensities, AU intensities) are discretised with the same 20-bin histogram used for the codes.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats
import sklearn
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mutual_info_score
from sklearn.svm import LinearSVC


def histogram_discretize(x: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Each column binned on its own histogram edges (disentanglement_lib ``_histogram_discretize``)."""
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(len(x), -1)
    out = np.zeros(x2.shape, dtype=np.int64)
    for i in range(x2.shape[1]):
        out[:, i] = np.digitize(x2[:, i], np.histogram(x2[:, i], num_bins)[1][:-1])
    return out.reshape(x.shape)


def is_discrete(column: np.ndarray, max_values: int = 20) -> bool:
    """Integer/bool dtype, or at most ``max_values`` distinct values: usable as class labels as is."""
    column = np.asarray(column)
    return column.dtype.kind in "biu" or len(np.unique(column)) <= max_values


def discretize_factors(factors: np.ndarray, discrete=None, num_bins: int = 20) -> np.ndarray:
    """Factors as int class indices (N, K); continuous columns binned like the codes.

    ``discrete`` is a length-K sequence of bools (None: detect with :func:`is_discrete`).
    Discrete columns are only relabelled 0..n-1 (np.unique), which leaves MI and accuracy unchanged.
    """
    factors = _as_2d(factors, "factors")
    if discrete is None:
        discrete = [is_discrete(factors[:, k], num_bins) for k in range(factors.shape[1])]
    if len(discrete) != factors.shape[1]:
        raise ValueError(f"discrete has {len(discrete)} entries for {factors.shape[1]} factors")
    out = np.zeros(factors.shape, dtype=np.int64)
    for k, disc in enumerate(discrete):
        if disc:
            out[:, k] = np.unique(factors[:, k], return_inverse=True)[1].ravel()
        else:
            out[:, k] = histogram_discretize(factors[:, k].astype(np.float64), num_bins)
    return out


def _as_2d(a, name: str) -> np.ndarray:
    """(N,) → (N, 1); checks that the array is 2-D and finite."""
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (N, D); got shape {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _discretize_pair(f_train, f_test, discrete, num_bins):
    """Train and test factors discretised together so both share one set of bins/labels."""
    f_train, f_test = _as_2d(f_train, "factors_train"), _as_2d(f_test, "factors_test")
    both = discretize_factors(np.concatenate([f_train, f_test]), discrete, num_bins)
    return both[: len(f_train)], both[len(f_train):]


def _top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column, largest minus second-largest entry (a lone row counts the second as 0)."""
    s = np.sort(matrix, axis=0)[::-1]
    second = s[1] if len(s) > 1 else np.zeros(s.shape[1])
    return s[0] - second


def _nanmean(x) -> float:
    """Mean over the non-NaN entries; NaN (without a warning) when there are none."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(x[~np.isnan(x)])) if np.any(~np.isnan(x)) else float("nan")


def mig(codes, factors, num_bins: int = 20, discrete=None) -> dict:
    """Mutual Information Gap (disentanglement_lib ``_compute_mig``): mean_k (I_top1 − I_top2) / H(v_k).

    Factors with zero entropy (a single value) get NaN and are left out of the mean.
    Returns {"mig", "per_factor" (K,), "mutual_info" (D, K), "entropy" (K,)}.
    """
    codes = _as_2d(codes, "codes")
    ys = discretize_factors(factors, discrete, num_bins)
    if len(ys) != len(codes):
        raise ValueError(f"{len(codes)} codes for {len(ys)} factor rows")
    mus = histogram_discretize(codes, num_bins)
    m = np.array([[mutual_info_score(ys[:, k], mus[:, j]) for k in range(ys.shape[1])]
                  for j in range(mus.shape[1])])
    entropy = np.array([mutual_info_score(ys[:, k], ys[:, k]) for k in range(ys.shape[1])])
    gap = _top_two_gap(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_factor = np.where(entropy > 0, gap / np.where(entropy > 0, entropy, 1.0), np.nan)
    return {"mig": _nanmean(per_factor), "per_factor": per_factor, "mutual_info": m, "entropy": entropy}


def dci(codes_train, factors_train, codes_test, factors_test, n_estimators: int = 100,
        random_state=0, discrete=None, num_bins: int = 20) -> dict:
    """Disentanglement, completeness, informativeness (disentanglement_lib ``_compute_dci``).

    One ``GradientBoostingClassifier`` per factor (sklearn default: 100 trees, as disentanglement_lib);
    R[j, k] = |feature_importances_[j]| of the classifier for factor k; informativeness = test accuracy.

    - ``per_code_disentanglement[j]`` = 1 − H_K(R[j, :]) (entropy base K over factors), as the lib;
      ``disentanglement`` = Σ_j ρ_j · that, with ρ_j = Σ_k R[j, k] / Σ R.
    - ``per_factor_completeness[k]`` = 1 − H_D(R[:, k]); ``completeness`` weights it by factor importance.
    - ``per_factor_disentanglement[k]`` (not in the lib; our addition for goals like "disentanglement
      ≥ 0.8 for the emotion factor") = Σ_j (R[j, k] / Σ_j' R[j', k]) · per_code_disentanglement[j]:
      the disentanglement of the codes that predict factor k, each weighted by its importance for k.
      It is 1 when factor k is read only from codes that predict nothing else.

    Factors with one value in the training set get NaN everywhere and are excluded from R.
    """
    x_tr, x_te = _as_2d(codes_train, "codes_train"), _as_2d(codes_test, "codes_test")
    y_tr, y_te = _discretize_pair(factors_train, factors_test, discrete, num_bins)
    if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise ValueError("codes and factors must have the same number of rows")
    n_codes, n_factors = x_tr.shape[1], y_tr.shape[1]
    valid = [k for k in range(n_factors) if len(np.unique(y_tr[:, k])) > 1]
    importance = np.zeros((n_codes, len(valid)))
    acc_test, acc_train = np.full(n_factors, np.nan), np.full(n_factors, np.nan)
    for col, k in enumerate(valid):
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=random_state)
        model.fit(x_tr, y_tr[:, k])
        importance[:, col] = np.abs(model.feature_importances_)
        acc_train[k] = np.mean(model.predict(x_tr) == y_tr[:, k])
        acc_test[k] = np.mean(model.predict(x_te) == y_te[:, k])

    if not valid:
        nan_k = np.full(n_factors, np.nan)
        return {"disentanglement": float("nan"), "completeness": float("nan"),
                "informativeness": float("nan"), "informativeness_train": float("nan"),
                "per_factor_completeness": nan_k, "per_factor_informativeness": nan_k,
                "per_factor_disentanglement": nan_k, "per_code_disentanglement": np.full(n_codes, np.nan),
                "importance": np.full((n_codes, n_factors), np.nan)}
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    per_factor_c = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    weights = importance if importance.sum() > 0 else np.ones_like(importance)  # the lib's fallback
    code_w, factor_w = weights.sum(axis=1) / weights.sum(), weights.sum(axis=0) / weights.sum()
    col_sum = importance.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_factor_d = np.where(col_sum > 0, (importance * per_code[:, None]).sum(axis=0) / col_sum, np.nan)
    imp_full = np.full((n_codes, n_factors), np.nan)
    imp_full[:, valid] = importance
    return {
        "disentanglement": float(np.sum(per_code * code_w)),
        "completeness": float(np.sum(per_factor_c * factor_w)),
        "informativeness": _nanmean(acc_test),
        "informativeness_train": _nanmean(acc_train),
        "per_factor_completeness": _scatter(per_factor_c, valid, n_factors),
        "per_factor_informativeness": acc_test,
        "per_factor_disentanglement": _scatter(per_factor_d, valid, n_factors),
        "per_code_disentanglement": per_code,
        "importance": imp_full,
    }


def _scatter(values, idx, n) -> np.ndarray:
    """A length-n NaN array holding ``values`` at positions ``idx``."""
    out = np.full(n, np.nan)
    out[idx] = values
    return out


def sap(codes_train, factors_train, codes_test, factors_test, continuous_factors: bool = False,
        discrete=None, num_bins: int = 20) -> dict:
    """Separated Attribute Predictability (disentanglement_lib ``_compute_sap``).

    Discrete factors: S[j, k] = test accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` fit
    on code j alone. ``continuous_factors=True``: S[j, k] = squared correlation of code j and raw
    factor k on the training set (the lib's continuous branch). SAP = mean_k (top1 − top2 of S[:, k]).
    Single-valued factors get NaN and are left out of the mean. Returns {"sap", "per_factor", "scores"}.
    """
    x_tr, x_te = _as_2d(codes_train, "codes_train"), _as_2d(codes_test, "codes_test")
    if continuous_factors:
        y_tr = _as_2d(factors_train, "factors_train").astype(np.float64)
        y_te = _as_2d(factors_test, "factors_test").astype(np.float64)
    else:
        y_tr, y_te = _discretize_pair(factors_train, factors_test, discrete, num_bins)
    n_codes, n_factors = x_tr.shape[1], y_tr.shape[1]
    scores = np.full((n_codes, n_factors), np.nan)
    for k in range(n_factors):
        if len(np.unique(y_tr[:, k])) < 2:
            continue  # nothing to predict; LinearSVC would raise
        for j in range(n_codes):
            if continuous_factors:
                c = np.cov(x_tr[:, j], y_tr[:, k], ddof=1)
                scores[j, k] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
                continue
            clf = LinearSVC(C=0.01, class_weight="balanced")
            with warnings.catch_warnings():
                # The lib keeps liblinear's default max_iter; non-convergence on an uninformative
                # code is expected and only lowers that code's score, so it is not worth a warning.
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(x_tr[:, j:j + 1], y_tr[:, k])
            scores[j, k] = np.mean(clf.predict(x_te[:, j:j + 1]) == y_te[:, k])
    per_factor = np.full(n_factors, np.nan)
    ok = ~np.isnan(scores).any(axis=0)
    if ok.any():
        per_factor[ok] = _top_two_gap(scores[:, ok])
    return {"sap": _nanmean(per_factor), "per_factor": per_factor, "scores": scores}


def split_train_test(codes, factors, train_fraction: float = 2 / 3, seed: int = 0):
    """A seeded random split of (codes, factors) rows: codes_train, factors_train, codes_test, factors_test."""
    codes, factors = _as_2d(codes, "codes"), _as_2d(factors, "factors")
    if len(codes) != len(factors):
        raise ValueError(f"{len(codes)} codes for {len(factors)} factor rows")
    order = np.random.default_rng(seed).permutation(len(codes))
    n_train = int(np.ceil(len(codes) * train_fraction))  # rounding as the lib's split_train_test
    tr, te = order[:n_train], order[n_train:]
    return codes[tr], factors[tr], codes[te], factors[te]


def dci_single(codes, factors, train_fraction: float = 2 / 3, seed: int = 0, **kwargs) -> dict:
    """:func:`dci` on one (codes, factors) set, split train/test with :func:`split_train_test`."""
    return dci(*split_train_test(codes, factors, train_fraction, seed), random_state=seed, **kwargs)


def sap_single(codes, factors, train_fraction: float = 2 / 3, seed: int = 0, **kwargs) -> dict:
    """:func:`sap` on one (codes, factors) set, split train/test with :func:`split_train_test`."""
    return sap(*split_train_test(codes, factors, train_fraction, seed), **kwargs)


def disentanglement_scores(codes, factors, factor_names, seed: int = 0, num_bins: int = 20,
                           n_estimators: int = 100, train_fraction: float = 2 / 3,
                           discrete=None) -> dict:
    """MIG, DCI and SAP as one flat dict of floats (and strings), ready for a metrics JSON.

    Keys: "mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", and
    per factor f"{metric}/{name}" for metric in mig, dci_disentanglement (see :func:`dci` for this
    per-factor definition), dci_completeness, dci_informativeness, sap; plus "sklearn_version" and
    "skipped_factors" (comma-joined names of factors with a single value, which get no keys and are
    excluded from every aggregate). MIG uses all rows (the lib uses its training sample); DCI and
    SAP use one seeded ``train_fraction`` split. Undefined values are float NaN.
    """
    codes, factors = _as_2d(codes, "codes"), _as_2d(factors, "factors")
    names = [str(n) for n in factor_names]
    if len(names) != factors.shape[1]:
        raise ValueError(f"{len(names)} factor names for {factors.shape[1]} factors")
    if len(codes) != len(factors):
        raise ValueError(f"{len(codes)} codes for {len(factors)} factor rows")
    ys = discretize_factors(factors, discrete, num_bins)  # once, so all three see the same bins
    keep = [k for k in range(ys.shape[1]) if len(np.unique(ys[:, k])) > 1]
    out: dict = {"sklearn_version": sklearn.__version__,
                 "skipped_factors": ",".join(names[k] for k in range(len(names)) if k not in keep)}
    if not keep:
        out.update({k: float("nan") for k in
                    ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap")})
        return out
    ys, names = ys[:, keep], [names[k] for k in keep]
    all_discrete = [True] * len(names)  # ys is already discretised
    m = mig(codes, ys, num_bins=num_bins, discrete=all_discrete)
    split = split_train_test(codes, ys, train_fraction, seed)
    d = dci(*split, n_estimators=n_estimators, random_state=seed, discrete=all_discrete)
    s = sap(*split, discrete=all_discrete)
    out.update({"mig": m["mig"], "dci_disentanglement": d["disentanglement"],
                "dci_completeness": d["completeness"], "dci_informativeness": d["informativeness"],
                "sap": s["sap"]})
    per = {"mig": m["per_factor"], "dci_disentanglement": d["per_factor_disentanglement"],
           "dci_completeness": d["per_factor_completeness"],
           "dci_informativeness": d["per_factor_informativeness"], "sap": s["per_factor"]}
    for metric, values in per.items():
        for name, v in zip(names, values):
            out[f"{metric}/{name}"] = float(v)
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}
