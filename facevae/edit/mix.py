"""Several emotion sliders at once: the sum of each emotion's edit direction.

Both models' edits are linear in the strength s of one target k:

- Fader (§2.3): the decoder's attribute row y = onehot(src) + s·(onehot(k) − onehot(src));
- β-VAE (§2.4): the emotion axes a' = a + s·(goal(k) − a), a = the face's own latent means, goal(k) the
  class's mean training code (facevae.models.editing).

With weights w_k for every class the natural extension adds the directions:
y = onehot(src) + Σ_k w_k·(onehot(k) − onehot(src)), and a' = a + Σ_k w_k·(goal(k) − a). A single non-zero
w_k gives exactly `model.edit(x, k, w_k, source)` (tests/test_edit.py checks it). A model without a known
code path edits one emotion at a time through its own `edit`.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def mix_decode(model, x: torch.Tensor, weights: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """One face x (1×1×H×W in [0, 1]) decoded once per row of `weights` (B×K class weights): B×1×H×W.

    The face is encoded once and only the decoder runs per row, so a grid of every emotion at every
    strength costs one encoder pass.
    """
    k = len(model.classes)
    weights = weights.to(x).reshape(-1, k)
    if hasattr(model, "mix"):  # Fader, β-VAE: the formulas above (and their edit_mode) live in the model
        return model.mix(x, weights, source.reshape(-1)[:1])
    rows = []
    for w in weights:  # any other generative model: its own edit, one emotion per row
        active = torch.nonzero(w).flatten().tolist()
        if len(active) > 1:
            raise ValueError(f"{type(model).__name__} edits one emotion at a time; set one slider, the others to 0")
        target = active[0] if active else int(source.reshape(-1)[0])
        rows.append(model.edit(x, target, float(w[target]) if active else 0.0, source=source.reshape(-1)[:1]))
    return torch.cat(rows)
