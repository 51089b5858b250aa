"""Figure claims (Figs. 6, 7/10, 8, 11) on constructed data whose verdict is known."""

import json

import numpy as np
import pytest

from facevae.metrics.claims import (
    control_ordering,
    control_score,
    own_latent_dominance,
    traversal_spearman,
    tsne_neutral_centrality,
    tsne_opposite_angle,
)

CLASSES = ["neutral", "sadness", "surprise", "fear", "happiness", "disgust", "anger"]


def ring_map(neutral_at=(0.0, 0.0), per_class=30, sizes=None, seed=0):
    """Emotions on a circle of radius 3, 60° apart (sadness at 0°, happiness at 180°), neutral at
    ``neutral_at``; each class a small Gaussian blob of ``per_class`` (or ``sizes[c]``) points."""
    rng = np.random.default_rng(seed)
    centres = {"neutral": np.asarray(neutral_at)}
    for i, c in enumerate(["sadness", "surprise", "fear", "happiness", "disgust", "anger"]):
        a = np.radians(60 * i)
        centres[c] = 3 * np.array([np.cos(a), np.sin(a)])
    pts, labels = [], []
    for k, c in enumerate(CLASSES):
        n = (sizes or {}).get(c, per_class)
        pts.append(centres[c] + 0.1 * rng.standard_normal((n, 2)))
        labels += [k] * n
    return np.concatenate(pts), np.array(labels)


def test_neutral_at_centre_ranks_first():
    emb, y = ring_map()
    r = tsne_neutral_centrality(emb, y, CLASSES)
    assert r["neutral_rank"] == 1 and r["passed"]
    assert r["neutral_distance"] < 0.1 and r["neutral_to_median_ratio"] < 0.05
    assert set(r["distances"]) == set(CLASSES)
    json.dumps(r)


def test_neutral_off_centre_fails():
    emb, y = ring_map(neutral_at=(5.0, 0.0))
    r = tsne_neutral_centrality(emb, y, CLASSES)
    assert r["neutral_rank"] > 1 and not r["passed"]


def test_class_sizes_do_not_move_the_centre():
    emb, y = ring_map(sizes={"happiness": 600})  # one huge class would drag a point-mean centre
    r = tsne_neutral_centrality(emb, y, CLASSES)
    assert r["passed"] and np.linalg.norm(r["centre"]) < 0.1


def test_string_labels_are_accepted():
    emb, y = ring_map()
    r = tsne_neutral_centrality(emb, np.array(CLASSES)[y], CLASSES)
    assert r["neutral_rank"] == 1


def test_opposite_classes_make_180_degrees():
    emb, y = ring_map()
    r = tsne_opposite_angle(emb, y, CLASSES)
    assert r["angle_deg"] == pytest.approx(180, abs=3) and r["passed"]
    json.dumps(r)


def test_neighbouring_classes_fail_the_opposite_claim():
    emb, y = ring_map()
    r = tsne_opposite_angle(emb, y, CLASSES, a="sadness", b="surprise")
    assert r["angle_deg"] == pytest.approx(60, abs=3) and not r["passed"]
    assert tsne_opposite_angle(emb, y, CLASSES, a="sadness", b="surprise", threshold_deg=45)["passed"]


def test_missing_class_raises():
    emb, y = ring_map()
    keep = y != CLASSES.index("happiness")
    with pytest.raises(ValueError, match="happiness"):
        tsne_opposite_angle(emb[keep], y[keep], CLASSES)


def dominant_latents(seed=0, n=350):
    """Latents where each image's own class variable is clearly the largest."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    z = 3 * np.eye(len(CLASSES))[y] + 0.3 * rng.standard_normal((n, len(CLASSES)))
    return z, y


def test_diagonal_dominant_latents_score_one():
    z, y = dominant_latents()
    r = own_latent_dominance(z, y, CLASSES)
    assert r["mean"] == 1.0 and all(v == 1.0 for v in r["per_class"].values())
    assert r["passed"] and all(r["mean_dominant"].values())
    assert r["chance"] == pytest.approx(1 / 7)
    json.dumps(r)


def test_permuted_latents_score_lower():
    z, y = dominant_latents()
    r = own_latent_dominance(np.roll(z, 1, axis=1), y, CLASSES)  # every class reads its neighbour
    assert r["mean"] == 0.0 and not r["passed"]


def test_absent_classes_are_omitted():
    z, y = dominant_latents()
    keep = y != CLASSES.index("fear")
    r = own_latent_dominance(z[keep], y[keep], CLASSES)
    assert "fear" not in r["per_class"] and len(r["per_class"]) == 6
    # a latent layout without a neutral variable (emotions only): neutral is not reported
    r2 = own_latent_dominance(z[:, 1:], y, CLASSES, latent_classes=CLASSES[1:])
    assert "neutral" not in r2["per_class"] and r2["chance"] == pytest.approx(1 / 6)


def test_control_score_monotone_probabilities():
    s, n = 6, 5
    up = np.linspace(0.1, 0.9, s)
    probs = np.zeros((s, n, 3))
    probs[:, :, 1] = up[:, None]
    probs[:, :, 0] = 1 - up[:, None]
    r = control_score(probs, target_index=1)
    assert r["spearman"] == pytest.approx(1.0) and r["delta"] == pytest.approx(0.8)
    r0 = control_score(probs, target_index=0)
    assert r0["spearman"] == pytest.approx(-1.0) and r0["delta"] == pytest.approx(-0.8)
    r2 = control_score(probs, target_index=2)  # constant zero: no ranking possible
    assert r2["n_constant"] == n and np.isnan(r2["spearman"]) and r2["delta"] == 0.0
    json.dumps(r)


def test_control_ordering():
    assert control_ordering({"l2": 0.0, "mc": 0.3, "adv": 0.6})["passed"]
    assert not control_ordering({"l2": 0.0, "mc": 0.6, "adv": 0.3})["passed"]
    assert not control_ordering({"l2": 0.0, "mc": 0.3, "adv": float("nan")})["passed"]
    assert not control_ordering({"l2": 0.3, "mc": 0.3, "adv": 0.6})["passed"]  # strict
    with pytest.raises(ValueError, match="adv"):
        control_ordering({"l2": 0.0, "mc": 0.3})


def test_traversal_spearman_sadness_axis():
    strengths = np.linspace(-3, 3, 7)
    probs = np.full((7, len(CLASSES)), 0.05)
    probs[:, CLASSES.index("sadness")] = np.linspace(0.0, 0.7, 7)
    probs[:, CLASSES.index("happiness")] = np.linspace(0.7, 0.0, 7)
    r = traversal_spearman(strengths, probs, CLASSES)
    assert r["rho_up"] == pytest.approx(1.0) and r["rho_down"] == pytest.approx(-1.0) and r["passed"]
    per_image = np.repeat(probs[:, None, :], 4, axis=1)  # (S, N, C) is averaged over N
    assert traversal_spearman(strengths, per_image, CLASSES)["rho_up"] == pytest.approx(1.0)
    assert not traversal_spearman(strengths[::-1], probs, CLASSES)["passed"]
    json.dumps(r)
