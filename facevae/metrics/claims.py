"""The paper's figure claims (Figs. 6, 7, 8, 10, 11) turned into numbers with pass/fail verdicts.

Pure numpy/scipy functions over arrays the caller has already computed (t-SNE maps, latent codes,
classifier probabilities of edited images). Every function returns plain floats/bools/dicts so the
result can go straight into a metrics JSON (undefined values are float NaN).

``labels`` may be integer indices into ``class_names`` or the class names themselves.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats


def _label_names(labels, class_names) -> np.ndarray:
    """Labels as an array of class-name strings (ints index ``class_names``)."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "iu":
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(f"label indices must lie in [0, {len(class_names)})")
        return np.asarray(class_names, dtype=object)[labels]
    return labels.astype(str).astype(object)


def _centroids(emb2d, labels, class_names) -> dict[str, np.ndarray]:
    """Mean 2-D position of each class of ``class_names`` that has points (in class_names order)."""
    emb = np.asarray(emb2d, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[1] != 2:
        raise ValueError(f"emb2d must be (N, 2); got {emb.shape}")
    names = _label_names(labels, class_names)
    if len(names) != len(emb):
        raise ValueError(f"{len(emb)} points for {len(names)} labels")
    return {c: emb[names == c].mean(axis=0) for c in class_names if np.any(names == c)}


def _centre(cents: dict[str, np.ndarray], neutral: str | None) -> np.ndarray:
    """Mean of the class centroids, the neutral one excluded (see :func:`tsne_neutral_centrality`)."""
    others = [v for c, v in cents.items() if c != neutral]
    if not others:
        raise ValueError("no class other than neutral has points")
    return np.mean(others, axis=0)


def tsne_neutral_centrality(emb2d, labels, class_names, neutral: str = "neutral") -> dict:
    """Fig. 6: "neutral ... located at the center of all the emotions" — rank of neutral by centrality.

    The centre is the mean of the emotion class centroids (unweighted, so class sizes do not bias
    it, and without the neutral centroid, so neutral does not pull the centre towards itself —
    the claim is about the centre *of the emotions*). Each class centroid's distance to that centre
    is ranked; ``passed`` when neutral is the most central (rank 1). ``neutral=None`` uses all
    classes for the centre (and then cannot be passed).
    """
    cents = _centroids(emb2d, labels, class_names)
    if neutral is not None and neutral not in cents:
        raise ValueError(f"class {neutral!r} has no points")
    centre = _centre(cents, neutral)
    dist = {c: float(np.linalg.norm(v - centre)) for c, v in cents.items()}
    nd = dist.get(neutral, float("nan"))
    rank = 1 + sum(d < nd for c, d in dist.items() if c != neutral) if neutral is not None else 0
    others = [d for c, d in dist.items() if c != neutral]
    return {
        "neutral_rank": int(rank),
        "neutral_distance": nd,
        # < 1: neutral is closer to the centre than the typical emotion
        "neutral_to_median_ratio": float(nd / np.median(others)) if np.median(others) > 0 else float("nan"),
        "distances": dist,
        "centre": [float(x) for x in centre],
        "passed": bool(neutral is not None and rank == 1),
    }


def tsne_opposite_angle(emb2d, labels, class_names, a: str = "sadness", b: str = "happiness",
                        threshold_deg: float = 90.0, neutral: str | None = "neutral") -> dict:
    """Fig. 6: "sadness is located in the opposite side of happiness" — angle a–centre–b in degrees.

    Centre as in :func:`tsne_neutral_centrality`. 180° is exactly opposite; ``passed`` when the
    angle is at least ``threshold_deg`` (default 90°: the two lie in opposite half-planes).
    """
    cents = _centroids(emb2d, labels, class_names)
    for c in (a, b):
        if c not in cents:
            raise ValueError(f"class {c!r} has no points")
    centre = _centre(cents, neutral)
    u, v = cents[a] - centre, cents[b] - centre
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    angle = float(np.degrees(np.arccos(np.clip(u @ v / (nu * nv), -1.0, 1.0)))) if nu * nv > 0 else float("nan")
    return {"angle_deg": angle, "threshold_deg": float(threshold_deg), "a": a, "b": b,
            "passed": bool(angle >= threshold_deg)}


def own_latent_dominance(latents, labels, class_names, latent_classes=None) -> dict:
    """Figs. 7 and 10: for images of class c, the share whose largest latent is c's own variable.

    ``latents`` (N, L) holds one latent variable per class; ``latent_classes`` names the class of
    each column (default: ``class_names``, in order). Classes without images or without a latent
    column are omitted. Chance is 1/L (argmax over L columns), so ``passed`` means every reported
    class beats chance; "mean" is the unweighted mean of the shares. ``mean_dominant`` additionally
    records, per class, whether its own variable has the highest *mean* activation (the figures'
    "distribution displaced to higher values").
    """
    z = np.asarray(latents, dtype=np.float64)
    latent_classes = list(class_names if latent_classes is None else latent_classes)
    if z.ndim != 2 or z.shape[1] != len(latent_classes):
        raise ValueError(f"latents must be (N, {len(latent_classes)}); got {z.shape}")
    names = _label_names(labels, class_names)
    if len(names) != len(z):
        raise ValueError(f"{len(z)} latents for {len(names)} labels")
    top = z.argmax(axis=1)
    per_class, mean_dom = {}, {}
    for c in class_names:
        rows = names == c
        if not rows.any() or c not in latent_classes:
            continue
        col = latent_classes.index(c)
        per_class[c] = float(np.mean(top[rows] == col))
        mean_dom[c] = bool(z[rows].mean(axis=0).argmax() == col)
    chance = 1.0 / z.shape[1]
    shares = list(per_class.values())
    return {"per_class": per_class, "mean": float(np.mean(shares)) if shares else float("nan"),
            "chance": chance, "mean_dominant": mean_dom,
            "passed": bool(shares) and all(s > chance for s in shares)}


def _spearman(x, y) -> float:
    """Spearman ρ, NaN (silently) when either input is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(scipy.stats.spearmanr(x, y)[0])


def control_score(probs_by_strength, target_index: int) -> dict:
    """Fig. 8: how much raising one latent variable raises P(target) of the edited images.

    ``probs_by_strength`` (S, N, C) — or (S, C) for one image — holds class probabilities of N edited
    images at S increasing strengths. "delta" = mean over images of P(target) at the last strength
    minus at the first (in [-1, 1]); "spearman" = mean over images of Spearman ρ(strength, P(target))
    (images whose P(target) is constant are left out and counted in "n_constant").
    """
    p = np.asarray(probs_by_strength, dtype=np.float64)
    if p.ndim == 2:
        p = p[:, None, :]
    if p.ndim != 3 or p.shape[0] < 2:
        raise ValueError(f"probs_by_strength must be (S>=2, N, C); got {p.shape}")
    t = p[:, :, target_index]
    steps = np.arange(p.shape[0])
    rhos = np.array([_spearman(steps, t[:, n]) for n in range(p.shape[1])])
    ok = ~np.isnan(rhos)
    return {"delta": float(np.mean(t[-1] - t[0])),
            "spearman": float(rhos[ok].mean()) if ok.any() else float("nan"),
            "n_images": int(p.shape[1]), "n_constant": int((~ok).sum())}


def control_ordering(scores: dict, order=("l2", "mc", "adv")) -> dict:
    """Fig. 8: control must grow with the loss: L2 < L2+multiclass < L2+multiclass+adversarial.

    ``passed`` when the values of ``scores`` are strictly increasing along ``order`` (NaN fails).
    """
    missing = [k for k in order if k not in scores]
    if missing:
        raise ValueError(f"scores lacks {missing}")
    values = [float(scores[k]) for k in order]
    ok = all(np.isfinite(values)) and all(a < b for a, b in zip(values, values[1:]))
    return {"passed": bool(ok), "order": list(order), "values": dict(zip(order, values))}


def traversal_spearman(strengths, probs, class_names, axis: str = "sadness", up: str = "sadness",
                       down: str = "happiness") -> dict:
    """Fig. 11: along the ``axis`` latent, P(up) should rise and P(down) fall with the strength.

    ``probs`` (S, C), or (S, N, C) averaged over the N images, are class probabilities of faces
    decoded at ``strengths`` (S,). "rho_up" = Spearman ρ(strength, P(up)), expected > 0;
    "rho_down" = Spearman ρ(strength, P(down)), expected < 0 (joy on the negative side of sadness).
    ``passed`` when both signs hold. ``axis`` is only echoed (it names the traversed variable).
    """
    s = np.asarray(strengths, dtype=np.float64).ravel()
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 3:
        p = p.mean(axis=1)
    if p.ndim != 2 or p.shape != (len(s), len(class_names)):
        raise ValueError(f"probs must be ({len(s)}, [N,] {len(class_names)}); got {np.shape(probs)}")
    names = list(class_names)
    for c in (up, down):
        if c not in names:
            raise ValueError(f"{c!r} is not in class_names")
    rho_up, rho_down = _spearman(s, p[:, names.index(up)]), _spearman(s, p[:, names.index(down)])
    return {"axis": axis, "up": up, "down": down, "rho_up": rho_up, "rho_down": rho_down,
            "passed": bool(rho_up > 0 and rho_down < 0)}


# -- face-ness: what stops a blob from passing a claim about decoded images (issue 14) ----------------
def laplacian_variance(images) -> np.ndarray:
    """Sharpness of each image (N, H, W) in [0, 1]: variance of its 4-neighbour Laplacian (interior pixels).

    A class-average blob has almost none; drawn eyes, brows and mouth lines have a lot.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:] - 4 * x[:, 1:-1, 1:-1])
    return lap.reshape(len(x), -1).var(axis=1)


def sharpness_ratio(decoded, real, pool: int = 2) -> float:
    """Median Laplacian variance of decoded faces over that of real faces, both mean-pooled by `pool` first.

    Pooling (2 -> 64x64, the judge's resolution) keeps the real faces' sensor noise, which no decoder
    should copy, from setting the bar. 1.0 = as sharp as the real faces; a blurred class mean is near 0.
    """
    def pooled(a):
        a = np.asarray(a, dtype=np.float64)
        a = a[None] if a.ndim == 2 else a
        n, h, w = a.shape
        h, w = h - h % pool, w - w % pool
        return a[:, :h, :w].reshape(n, h // pool, pool, w // pool, pool).mean(axis=(2, 4))

    ref = float(np.median(laplacian_variance(pooled(real))))
    return float(np.median(laplacian_variance(pooled(decoded))) / ref) if ref > 0 else float("nan")


def relative_per_class(decoded_acc: dict, real_acc: dict, fraction: float = 0.9) -> dict:
    """Per class, an observer's accuracy on decoded faces against `fraction` × its accuracy on real faces.

    Classes the observer misses on real faces too (real accuracy 0) are reported, not decided: the
    observer cannot tell us anything about them. ``passed`` when every decided class reaches the bar
    (and at least one class is decided).
    """
    rows, decided = {}, []
    for c, real in real_acc.items():
        if c not in decoded_acc or not np.isfinite(real) or not np.isfinite(decoded_acc[c]):
            continue
        ok = None if real <= 0 else bool(decoded_acc[c] >= fraction * real)
        rows[c] = {"decoded": float(decoded_acc[c]), "real": float(real), "passed": ok}
        if ok is not None:
            decided.append(ok)
    return {"per_class": rows, "fraction": float(fraction), "passed": bool(decided) and all(decided)}


def face_verdict(recon_ssim: float, mean_face_ssim: float, sharpness: float, min_sharpness: float = 0.5) -> dict:
    """Are decoded images faces rather than a class-average blob?

    Two conditions, both needed: reconstructions of held-out faces beat the class-mean face in SSIM
    (a model that only draws the class mean cannot), and decoded faces keep at least `min_sharpness`
    of real faces' Laplacian variance (a blurred average cannot). NaN fails.
    """
    values = (recon_ssim, mean_face_ssim, sharpness)
    ok = all(np.isfinite(values)) and recon_ssim > mean_face_ssim and sharpness >= min_sharpness
    return {"passed": bool(ok), "recon_ssim": float(recon_ssim), "mean_face_ssim": float(mean_face_ssim),
            "sharpness": float(sharpness), "min_sharpness": float(min_sharpness)}
