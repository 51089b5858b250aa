"""Is a decoded image a face a person can read? (issue 14) The numbers every claim about decoded images needs.

A class-average blob fools a pixel probe: it has the class's mean pixels. It does not fool these:
- `faces/mean_face_ssim`: SSIM of each test face with the mean training face of its class, the score of
  a model that draws only class averages; reconstructions must beat it (`test/recon_ssim`).
- `faces/sharpness_<what>`: Laplacian variance of reconstructions, of the decoded Fig. 11 traversal and of
  edits, relative to the real test faces (facevae.metrics.sharpness_ratio).
- `<observer>/acc_recon[_<class>]`: the observer's accuracy on reconstructions, per class, next to its
  accuracy on the real faces (`<observer>/acc_real_<class>`); `<observer>/acc_class_decode_<class>`: on
  the β-VAE's class decode (emotion axes at the class's mean test code, style at the prior mean 0), and
  `<observer>/acc_class_mean_<class>` on the class's mean training face beside it (an exact class average).
"""

from __future__ import annotations

import numpy as np
import torch

from ..metrics import face_verdict, relative_per_class, sharpness_ratio
from .collect import EvalSet, edit_images, traverse_images

MIN_SHARPNESS = 0.5  # decoded faces keep at least half the real faces' Laplacian variance (64x64)


def class_mean_faces(images_uint8: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, H, W) mean training face of every class in [0, 1] (the global mean for a class without images)."""
    x = images_uint8.astype(np.float32) / 255.0
    overall = x.mean(0)
    return np.stack([x[labels == k].mean(0) if (labels == k).any() else overall for k in range(n_classes)])


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """torchmetrics SSIM (Gaussian 11x11, as test/recon_ssim) of two (N, H, W) stacks in [0, 1]."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    ta, tb = (torch.as_tensor(np.asarray(v, np.float32)).unsqueeze(1) for v in (a, b))
    return float(structural_similarity_index_measure(ta, tb, data_range=1.0))


def accuracy_per_class(observer, images: np.ndarray, labels: np.ndarray) -> tuple[float, dict[str, float]]:
    from .observers import accuracy_on

    return accuracy_on(observer, images, labels)


def traversal_faces(model, ev: EvalSet, values) -> np.ndarray | None:
    """The decoded Fig. 11 traversal (sadness axis) of the test neutral faces: (S*N, H, W), or None."""
    from .observers import starting_faces

    if not hasattr(model, "decode_along") or "sadness" not in ev.classes:
        return None
    faces = traverse_images(model, ev, starting_faces(ev), model.axis_of(ev.classes.index("sadness")), values)
    return faces.reshape(-1, *ev.images.shape[1:])


@torch.no_grad()
def class_decodes(model, ev: EvalSet) -> tuple[np.ndarray, np.ndarray] | None:
    """β-VAE (§2.4): one face per class decoded from its emotion axes at the class's mean test code, the rest 0."""
    if not hasattr(model, "n_axes") or "codes" not in ev.outputs or not hasattr(model, "latent_dims"):
        return None
    codes = torch.as_tensor(ev.outputs["codes"]).float()
    ks = [k for k in range(len(ev.classes)) if (ev.labels == k).any()]
    z = torch.zeros(len(ks), model.latent_dims)
    for row, k in enumerate(ks):
        z[row, : model.n_axes] = codes[torch.as_tensor(ev.labels == k), : model.n_axes].mean(0)
    return model.decode(z.to(model.device))[:, 0].float().cpu().numpy(), np.array(ks)


def face_scores(model, ev: EvalSet, train_images: np.ndarray, train_labels: np.ndarray, observer,
                traversal_values, edit_targets: list[int]) -> tuple[dict[str, float], dict]:
    """Face-ness numbers (module docstring) and the verdicts the claims use: {"recon", "traversal", "edit"}
    -> facevae.metrics.face_verdict dicts, "recon_judged" -> relative_per_class of the observer."""
    from .observers import starting_faces

    numbers: dict[str, float] = {}
    verdicts: dict = {}
    if "recon" not in ev.outputs or not len(ev):
        return numbers, verdicts
    means = class_mean_faces(train_images, train_labels, len(ev.classes))
    mean_ssim = ssim(means[ev.labels], ev.images)
    recon = ev.outputs["recon"]
    recon_ssim = ssim(recon, ev.images)
    numbers["faces/mean_face_ssim"] = mean_ssim
    numbers["faces/sharpness_recon"] = sharpness_ratio(recon, ev.images)
    verdicts["recon"] = face_verdict(recon_ssim, mean_ssim, numbers["faces/sharpness_recon"], MIN_SHARPNESS)
    traversal = traversal_faces(model, ev, traversal_values)
    if traversal is not None:
        numbers["faces/sharpness_traversal"] = sharpness_ratio(traversal, ev.images)
        verdicts["traversal"] = face_verdict(recon_ssim, mean_ssim, numbers["faces/sharpness_traversal"],
                                             MIN_SHARPNESS)
    if model.can_edit and edit_targets:
        start = starting_faces(ev)
        edits = np.concatenate([edit_images(model, ev, start, k, 1.0) for k in edit_targets])
        numbers["faces/sharpness_edit"] = sharpness_ratio(edits, ev.images)
        verdicts["edit"] = face_verdict(recon_ssim, mean_ssim, numbers["faces/sharpness_edit"], MIN_SHARPNESS)
    if observer is not None:
        n = observer.name
        acc, per = accuracy_per_class(observer, recon, ev.labels)
        _, real = accuracy_per_class(observer, ev.images, ev.labels)
        numbers[f"{n}/acc_recon"] = acc
        numbers.update({f"{n}/acc_recon_{c}": v for c, v in per.items()})
        verdicts["recon_judged"] = relative_per_class(per, real)
        decoded = class_decodes(model, ev)
        if decoded is not None:
            faces, ks = decoded
            read = read_as_class(observer, faces, ks, ev.classes, "class_decode")
            if read:
                # Beside each class decode, the same observer on the class's mean training face: what a decoder
                # that draws exact class averages (the paper's weighting, §3.4) would score.
                numbers.update(read)
                numbers.update(read_as_class(observer, means[ks], ks, ev.classes, "class_mean"))
                numbers["faces/sharpness_class_decode"] = sharpness_ratio(faces, ev.images)
    return numbers, verdicts


def read_as_class(observer, images: np.ndarray, ks: np.ndarray, classes: list[str], what: str) -> dict[str, float]:
    """`<observer>/acc_<what>_<class>` (1 if read as its class) and `p_<what>_<class>`, one image per class in ks."""
    keep = np.isin(ks, observer.scored())
    if not keep.any():
        return {}
    p = observer.probs(images[keep])
    p = np.where(np.isnan(p), -np.inf, p)
    out = {}
    for k, row in zip(ks[keep], p):
        out[f"{observer.name}/acc_{what}_{classes[k]}"] = float(row.argmax() == k)
        out[f"{observer.name}/p_{what}_{classes[k]}"] = float(row[k])
    return out


def verdict_text(v: dict) -> str:
    """One line for the claims table: why a decoded image counts as a face (or not)."""
    return (f"recon SSIM {v['recon_ssim']:.2f} vs class-mean face {v['mean_face_ssim']:.2f}; "
            f"sharpness {v['sharpness']:.2f} of real (≥ {v['min_sharpness']:.1f})")


def gate(claim, verdict: dict | None):
    """A claim about decoded images passes only if they are faces too (`verdict`: face_verdict's dict)."""
    from .claims_table import Claim

    if verdict is None or claim.passed is None:
        return claim
    return Claim(claim.figure, f"{claim.claim}, on faces rather than a blob",
                 f"{claim.value}; {verdict_text(verdict)}", bool(claim.passed and verdict["passed"]))


def fig9_claim(verdicts: dict, observer: str):
    """Fig. 9 (§3.4): reconstructions 'very clearly represent the AUs to every emotion' and are faces."""
    from .claims_table import Claim

    recon, judged = verdicts.get("recon"), verdicts.get("recon_judged")
    if recon is None:
        return None
    text = verdict_text(recon)
    ok = recon["passed"]
    if judged is not None:
        rows = ", ".join(f"{c} {r['decoded']:.2f}/{r['real']:.2f}" for c, r in judged["per_class"].items()
                         if r["passed"] is not None)
        text += f"; {observer} on reconstructions / real faces: {rows} (≥ 0.9×)"
        ok = ok and judged["passed"]
    return Claim("Fig. 9", f"reconstructions are faces the {observer} reads as their emotion", text, bool(ok))
