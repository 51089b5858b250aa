"""The stroke editor (issue 14, beyond the paper): an edit that draws what the emotion changes onto the input.

A decoder that draws a whole face blurs it on a 2-core budget, and a warp (facevae.models.warp) keeps the face
sharp but can only move its pixels: teeth, folds and an open mouth must be drawn, and the judge reads an edit as
the emotion only when its change is nearly as sharp and as strong as the real one (README, "Decoded faces").
So the β-VAE and the Fader can edit by adding a change drawn by a small U-Net S that sees the input itself:

    edit(x) = x + s·S(x, p' − p)

with p the class probabilities the input shows and p' the target's: for the β-VAE softmax of its emotion axes
(what CL reads, §2.4), for the Fader the one-hot attribute y (§2.3). s is the slider's strength: the change is
drawn for the full move and scaled, so the slider is linear (0.5 draws half the stroke, 1.5 overdraws it, −1
draws the opposite) instead of saturating as a condition of the moved axes' probabilities does. The U-Net's skip
connections carry where the person's mouth, brows and eyes are, so the strokes land on them; the model tells it
what the face shows now. S is trained by XL on the pairs of data.partners (the pixel-aligned frames of one CK+
sequence; on London one person's two photos, eyes aligned): x_i plus S's change toward x_j's p must be x_j, and
a change toward its own p must be nothing. It learns on the model's code without changing it. Strength 0 returns
x exactly (no change is drawn).

loss.xl_adv (Fader, beyond the paper): a pixel loss over pairs that differ in far more than the emotion asks S for
the average of every pair's stroke, a faint one (README, London editor). A stroke critic C, a conditional PatchGAN
at S's resolution, learns to tell each training partner's real photo from the edit drawn toward its class, and S
is also asked to fool it: one plausible, full-strength stroke scores better than the faint average.

Several strokes a class (beyond the paper): one condition stands for many real strokes (a CK+ class's apexes differ
in AUs, intensity and by a pixel or two of place), and XL's optimum for one output is their average, a faint ghost.
With M<k> S draws k hypotheses and each pair's XL is the best one's (winner takes all, relaxed: every hypothesis
also gets WTA_SHARE of the mean, so none is left untrained; Guzman-Rivera et al. 2012, multiple-choice learning):
each hypothesis becomes one kind of stroke, drawn whole. S counts which hypothesis wins the pairs of each target
class, and an edit draws that class's most frequent winner.

arch.stroke_net, e.g. "P2-U16,32,64,128,128": U<w0>,<w1>,... a U-Net with those widths, one level per width
(each level two conv 3x3 + GroupNorm + LeakyReLU, average-pool down, bilinear up, the condition given at every
level); an optional leading P<f> runs it on x average-pooled by f and upsamples the change back (P2 at 128x128
works at the judge's 64x64 for a quarter of the cost); an optional trailing M<k> gives it k hypotheses (above).
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

_SPEC = re.compile(r"^(?:P(?P<pool>\d+)-)?U(?P<widths>\d+(?:,\d+)*)(?:-M(?P<heads>\d+))?$")
SQUARED_WEIGHT = 10.0  # XL = Σ |e| + 10·e² per image: L1 keeps strokes sharp, the square pulls large misses first
PAIR_WEIGHT_RANGE = (0.2, 5.0)  # loss.xl_per_change: no pair weighs more than 25x another (a near-still pair is noise)
# Adam of the critic and, with one, of the stroke net: β1 0.5, as GANs train (a trial of the London stroke net alone:
# the critic lifted its edits' P(happy) 0.17 -> 0.36 with β1 0.5, to 0.20 with Adam's default 0.9)
CRITIC_BETAS = (0.5, 0.999)
WTA_SHARE = 0.05  # M<k>: each pair's XL = (1 − share)·the best hypothesis' + share·their mean
HYPOTHESIS_INIT_STD = 0.01
CRITIC_WIDTHS = (32, 64, 128)  # the stroke critic: three 4x4 stride-2 convolutions, each patch sees ~46 px of S's input


def _block(c_in: int, c_out: int) -> nn.Sequential:
    groups = 4 if c_out % 4 == 0 else 1
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.LeakyReLU(0.2),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.LeakyReLU(0.2))


class StrokeNet(nn.Module):
    """S(x, d): the change (N×1×H×W) that turns face x by the class-probability difference d (N×K); with
    `heads` > 1, the hypothesis that won most training pairs of the target class (argmax d)."""

    def __init__(self, widths: list[int], n_cond: int, pool: int = 1, heads: int = 1):
        super().__init__()
        self.pool, self.levels, self.heads = pool, len(widths) - 1, heads
        # wins[c, h]: training pairs toward class c whose XL hypothesis h drew best (saved with the checkpoint where
        # there is a choice, so one-hypothesis checkpoints keep the keys of those from before M<k>)
        self.register_buffer("wins", torch.zeros(n_cond, heads), persistent=heads > 1)
        self.inc = _block(1 + n_cond, widths[0])
        self.downs = nn.ModuleList(_block(widths[i] + n_cond, widths[i + 1]) for i in range(self.levels))
        self.ups = nn.ModuleList(_block(widths[i + 1] + widths[i] + n_cond, widths[i])
                                 for i in reversed(range(self.levels)))
        self.out = nn.Conv2d(widths[0], heads, 1)
        nn.init.zeros_(self.out.weight)  # an untrained editor draws nothing (its edits use hypothesis 0 until one wins)
        nn.init.zeros_(self.out.bias)
        # the other hypotheses start apart: all-zero ones tie, the first takes every pair and the rest never learn
        nn.init.normal_(self.out.weight[1:], std=HYPOTHESIS_INIT_STD)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        changes = self.hypotheses(x, d)
        if self.heads == 1:
            return changes
        head = self.wins[d.argmax(1)].argmax(1)  # each row's target class's most frequent winner
        return changes.gather(1, head[:, None, None, None].expand(-1, 1, *changes.shape[-2:]))

    def best_of(self, x: torch.Tensor, d: torch.Tensor, target: torch.Tensor, n_pairs: int,
                count: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row XL of x + S(x, d) against target, and the edits: the first n_pairs rows are pairs, scored by their
        best hypothesis (winner takes all; WTA_SHARE of the mean keeps every one learning) and counted in `wins`
        when `count`; the rest are still rows (d = 0), scored by the mean: no hypothesis may draw a change there."""
        drawn_all = x[:, None] + self.hypotheses(x, d)[:, :, None]  # N×heads×1×H×W
        xl_all = torch.stack([stroke_xl(drawn_all[:, h], target) for h in range(self.heads)], 1)
        if self.heads == 1:
            return xl_all[:, 0], drawn_all[:, 0]
        best = xl_all.argmin(1)
        pairs = xl_all[:n_pairs]
        xl = torch.cat([(1 - WTA_SHARE) * pairs.min(1).values + WTA_SHARE * pairs.mean(1), xl_all[n_pairs:].mean(1)])
        if count:
            self.wins.index_put_((d[:n_pairs].argmax(1), best[:n_pairs]), torch.ones(n_pairs, device=x.device),
                                 accumulate=True)
        return xl, drawn_all[torch.arange(len(x), device=x.device), best]

    def hypotheses(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """All `heads` changes, N×heads×H×W."""
        h_in = F.avg_pool2d(x, self.pool) if self.pool > 1 else x
        if min(h_in.shape[-2:]) % (2 ** self.levels):
            raise ValueError(f"arch.stroke_net: {tuple(h_in.shape[-2:])} input is not divisible by 2^{self.levels}")

        def cond(h: torch.Tensor) -> torch.Tensor:
            return torch.cat([h, d[:, :, None, None].expand(-1, -1, *h.shape[-2:])], 1)

        skips = [self.inc(cond(h_in))]
        for down in self.downs:
            skips.append(down(cond(F.avg_pool2d(skips[-1], 2))))
        h = skips.pop()
        for up in self.ups:
            h = up(cond(torch.cat([F.interpolate(h, scale_factor=2, mode="bilinear"), skips.pop()], 1)))
        change = self.out(h)
        return F.interpolate(change, size=x.shape[-2:], mode="bilinear") if self.pool > 1 else change


class StrokeCritic(nn.Module):
    """C(x, p) for loss.xl_adv: per-patch logits that face x (pooled as S pools it) is a real photo of class
    probabilities p, not an edit drawn toward them. Spectral norm keeps it from memorising 80 training photos."""

    def __init__(self, n_cond: int, pool: int = 1):
        super().__init__()
        self.pool, layers, c_in = pool, [], 1 + n_cond
        for w in CRITIC_WIDTHS:
            layers += [nn.utils.spectral_norm(nn.Conv2d(c_in, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = w
        self.net = nn.Sequential(*layers, nn.utils.spectral_norm(nn.Conv2d(c_in, 1, 3, 1, 1)))

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(x, self.pool) if self.pool > 1 else x
        return self.net(torch.cat([h, p[:, :, None, None].expand(-1, -1, *h.shape[-2:])], 1))


def build_stroke_net(spec: str | None, n_cond: int) -> StrokeNet:
    """arch.stroke_net ("P2-U16,32,64,128,128[-M4]") for a condition of n_cond class probabilities."""
    if not spec:
        raise ValueError("model.edit_mode=draw needs arch.stroke_net (e.g. 'P2-U16,32,64,128,128')")
    m = _SPEC.match(spec.replace(" ", ""))
    if m is None:
        raise ValueError(f"arch.stroke_net={spec!r}: expected [P<f>-]U<w0>,<w1>,...[-M<k>] (e.g. 'P2-U16,32,64,128,128')")
    widths = [int(w) for w in m["widths"].split(",")]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"arch.stroke_net={spec!r}: a U-Net needs at least two positive widths")
    heads = int(m["heads"] or 1)
    if heads < 1:
        raise ValueError(f"arch.stroke_net={spec!r}: M<k> needs at least one hypothesis")
    return StrokeNet(widths, n_cond, int(m["pool"] or 1), heads)


class StrokeEditor:
    """Mixin for a generative FaceModule: edit_mode=draw, the stroke net S, its edits and its XL."""

    def init_stroke_net(self, arch: dict, n_cond: int, critic: bool = False) -> None:
        self.stroke_net = build_stroke_net(arch.get("stroke_net"), n_cond)
        self.stroke_critic = StrokeCritic(n_cond, self.stroke_net.pool) if critic else None

    def draw_mix(self, x: torch.Tensor, own: torch.Tensor, goals: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x plus Σ_k w_k·S(x, goal_k − own), one row of the sliders `weights` (B × K) per output: own (N or B × C)
        the class probabilities x shows, goals (K × C) each target's. Each slider adds its full-strength stroke
        scaled by its weight, so the edit is linear in every slider; a row of zero weights, or whose sliders all point
        at where it already is, returns x as it is."""
        x = x.expand(len(weights), -1, -1, -1) if len(x) == 1 else x
        change = torch.zeros_like(x)
        for k in weights.abs().sum(0).nonzero().flatten().tolist():
            u = goals[k] - own  # a row already at goal k (the Fader's y = k) gets no stroke from this slider
            change = change + (weights[:, k] * (u.abs().sum(1) > 0))[:, None, None, None] * self.stroke_net(x, u)
        return (x + change).clamp(0, 1)

    def stroke_loss(self, x: torch.Tensor, probs: torch.Tensor, j: torch.Tensor, has: torch.Tensor,
                    per_change: bool = False) -> torch.Tensor:
        """XL of edit_mode=draw (stroke_terms' "xl")."""
        return self.stroke_terms(x, probs, j, has, per_change)["xl"]

    def stroke_terms(self, x: torch.Tensor, probs: torch.Tensor, j: torch.Tensor, has: torch.Tensor,
                     per_change: bool = False) -> dict[str, torch.Tensor]:
        """XL of edit_mode=draw: x_i plus the change toward x_j's class probabilities must be x_j, and on every
        eighth row a change toward x_i's own must be nothing. `probs` carry no gradient into the model's code.
        `per_change` (loss.xl_per_change): each pair's XL weighted by pair_weights. With a stroke critic also the
        pairs' edits ("drawn"), the partners' real photos ("real") and their class probabilities ("drawn_p"),
        for critic_loss and critic_term."""
        i = has.nonzero().squeeze(1)
        still = torch.arange(0, len(x), 8, device=x.device)
        src, dst = torch.cat([i, still]), torch.cat([j[i], still])
        d = probs[dst] - probs[src]
        xl, drawn = self.stroke_net.best_of(x[src], d, x[dst], len(i), count=self.training)
        if per_change and len(i):
            xl = torch.cat([xl[: len(i)] * pair_weights(x[i], x[j[i]]), xl[len(i):]])
        terms = {"xl": xl.mean()}
        if self.stroke_critic is not None and len(i):
            terms.update(drawn=drawn[: len(i)].clamp(0, 1), real=x[j[i]], drawn_p=probs[j[i]])
        return terms

    def critic_loss(self, real: torch.Tensor, drawn: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """The stroke critic's own loss: real partner photos as real, the (detached) edits drawn toward them as not."""
        return (F.softplus(-self.stroke_critic(real, p)).mean()
                + F.softplus(self.stroke_critic(drawn.detach(), p)).mean())

    def critic_term(self, drawn: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """loss.xl_adv's term for the stroke net: −log C(edit, p), the edits scored by the critic as real photos."""
        return F.softplus(-self.stroke_critic(drawn, p)).mean()

    def stroke_groups(self, params: list, lr: float | None) -> list:
        """model.stroke_lr: `params` as two optimizer groups, the stroke net's with its own lr (None: one group)."""
        if self.edit_mode != "draw" or lr is None:
            return params
        stroke = set(self.stroke_net.parameters())
        return [{"params": [p for p in params if p not in stroke]},
                {"params": [p for p in params if p in stroke], "lr": float(lr)}]


def pair_weights(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """loss.xl_per_change: each pair's weight, the batch's mean change Σ|x_j − x_i| over its own (within
    PAIR_WEIGHT_RANGE), so every pair counts by how much of its own change is missed: a smile moves a few thin
    lines (2.6 grey levels a pixel on the synthetic CK+) and surprise opens the mouth (12.8), and with equal
    weights the smile's whole stroke costs less than a fifth of surprise's."""
    change = (dst - src).abs().flatten(1).sum(1)
    return (change.mean().clamp_min(1e-6) / change.clamp_min(1e-6)).clamp(*PAIR_WEIGHT_RANGE).detach()


def stroke_xl(edited: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """XL of the stroke editor per image: Σ over pixels of |e| + SQUARED_WEIGHT·e², e = edit − partner."""
    e = edited - target
    return (e.abs() + SQUARED_WEIGHT * e.pow(2)).flatten(1).sum(1)
