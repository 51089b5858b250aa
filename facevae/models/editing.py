"""What the generative models share for editing (issue 14): class prototype codes and the residual output.

- `class_codes` (K × D buffer, in checkpoints): the mean latent code of each class over the last training
  epoch. An edit moves the emotion axes to the target's *observed* code: the β-VAE's CL puts a class at
  about +2.5 on its own axis and -0.4 on the others (measured), so its label vector (1 on the axis, §2.4)
  lands half-way and decodes an undecided face.
- `edit_mode=mask` (the Fader): the decoder also draws an attention mask A, and the edit is A·D(z') + (1 − A)·x,
  GANimation's composition, trained on pairs of one person by the Fader's XL term.
- `edit_mode=residual`: the edit is x + D(z') - D(z), the input plus only what the decoder changes when the
  emotion changes (the spirit of GANimation's attention mask, without training one): the person's own
  detail survives any decoder blur, and strength 0 returns the input exactly. `decode`: D(z') itself.
"""

from __future__ import annotations

import torch

EDIT_MODES = ("residual", "decode")


def partner_index(y: torch.Tensor, subjects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's partner in a data.partners batch, a list of pairs (rows 2k, 2k+1; PairedShuffle), and whether
    it is one: the same subject with another label (an image paired with itself, or a batch cut mid-pair, is not).
    XL, the cross-reconstruction of the β-VAE and the Fader, learns from these pairs."""
    rows = torch.arange(len(y), device=y.device)
    j = torch.where(rows ^ 1 < len(y), rows ^ 1, rows)
    return j, (subjects[j] == subjects) & (y[j] != y)


class ClassCodes:
    """Mixin for a LightningModule: running per-class mean codes, and the residual composition of edits."""

    def init_class_codes(self, n_classes: int, dims: int, edit_mode: str, modes: tuple[str, ...] = EDIT_MODES) -> None:
        if edit_mode not in modes:
            raise ValueError(f"model.edit_mode={edit_mode!r}: use one of {list(modes)}")
        self.edit_mode = edit_mode
        self.register_buffer("class_codes", torch.zeros(n_classes, dims))
        self.register_buffer("_code_sum", torch.zeros(n_classes, dims), persistent=False)
        self.register_buffer("_code_n", torch.zeros(n_classes), persistent=False)

    @torch.no_grad()
    def track_codes(self, codes: torch.Tensor, y: torch.Tensor) -> None:
        """Add a training batch's codes to this epoch's per-class sums."""
        self._code_sum.index_add_(0, y, codes.detach().float())
        self._code_n.index_add_(0, y, torch.ones_like(y, dtype=torch.float))

    def on_train_epoch_end(self) -> None:
        s, n = self._code_sum.clone(), self._code_n.clone()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(s)
            torch.distributed.all_reduce(n)
        seen = n > 0
        self.class_codes[seen] = s[seen] / n[seen, None]
        self._code_sum.zero_()
        self._code_n.zero_()

    def has_class_codes(self) -> bool:
        return bool(self.class_codes.abs().sum() > 0)

    def compose(self, x: torch.Tensor, edited: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        """The edit's output: x + (edited - recon) under edit_mode=residual, else the decoded `edited`."""
        if self.edit_mode == "residual":
            return (x + edited - recon).clamp(0, 1)
        return edited

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        # Checkpoints from before class_codes existed: zeros = "not trained", edits fall back to label vectors.
        if "class_codes" not in state_dict:
            state_dict = {**state_dict, "class_codes": torch.zeros_like(self.class_codes)}
        return super().load_state_dict(state_dict, strict=strict, **kwargs)
