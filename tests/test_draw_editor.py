"""Issue 14: the stroke editor (facevae.models.draw) of the β-VAE and the Fader, and its XL on pixel-aligned pairs."""

import pytest
import torch

from facevae.models.draw import PAIR_WEIGHT_RANGE, StrokeEditor, build_stroke_net, pair_weights, stroke_xl
from facevae.models.fader import Fader
from facevae.models.ssvae import SSVAE

CLASSES = ["neutral", "happiness", "sadness"]
ARCH = {"pool_stride": 2, "encoder": "C8-C32-C64-F256-F100", "decoder": "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1",
        "map_decoder": "TC32,4,2-TC16,4,2-TC8,4,2-UC1,3,1", "stroke_net": "P2-U4,8,8"}
LOSS = {"name": "ssvae", "alpha": 1.0, "beta": 0.01, "gamma": 1000.0, "rl_reduction": "sum", "xl": 1.0}


def make(style_map: int = 4) -> SSVAE:
    torch.manual_seed(0)
    return SSVAE(CLASSES, ARCH, LOSS, style_map=style_map, edit_mode="draw")


def test_the_stroke_net_draws_at_full_size_from_a_pooled_input_and_starts_at_nothing():
    net = build_stroke_net("P2-U4,8,8", 3)
    x, d = torch.rand(2, 1, 128, 128), torch.tensor([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert net.pool == 2 and net.levels == 2
    change = net(x, d)
    assert change.shape == x.shape and change.abs().max() == 0  # zero-initialised output: an untrained edit is x
    with torch.no_grad():
        net.out.bias.fill_(0.1)
        net.out.weight.normal_(0, 0.5)
    assert not torch.allclose(net(x, d)[0], net(x, -d)[0])  # the condition reaches the change


@pytest.mark.parametrize("spec, message", [(None, "needs arch.stroke_net"), ("U8", "at least two"),
                                           ("U8,16-M0", "at least one hypothesis"),
                                           ("C8-C32", r"expected \[P<f>-\]U")])
def test_bad_stroke_net_specs_say_what_to_write(spec, message):
    with pytest.raises(ValueError, match=message):
        build_stroke_net(spec, 3)


def test_a_drawn_edit_changes_the_face_and_strength_0_returns_it_exactly():
    model = make().eval()
    x = torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.5)
        model.stroke_net.out.bias.fill_(0.2)
        model.class_codes[1] = torch.tensor([-5.0, 5.0, -5.0])
        assert torch.equal(model.edit(x, 1, strength=0.0), x)
        edited = model.edit(x, 1, strength=1.0)
    assert not torch.allclose(edited, x, atol=1e-3)
    assert edited.min() >= 0 and edited.max() <= 1


def test_the_drawn_slider_is_linear_in_its_strength_and_mixes_by_its_weights():
    """Each slider's stroke is drawn for the full move and scaled by its weight (the edit saturated at strength
    0.5 when the condition was the moved axes' probabilities)."""
    model = make().eval()
    x = torch.full((1, 1, 128, 128), 0.5)
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.01)
        model.class_codes.copy_(torch.eye(3) * 10)
        change = {s: model.edit(x, 1, strength=s) - x for s in (0.5, 1.0, 1.5, -1.0)}
        p = torch.softmax(model.encode(x)[0][:, :3], 1)
        full = model.stroke_net(x, torch.softmax(model.class_codes, 1)[1:2] - p)
        half_half = model.mix(x, torch.tensor([[0.0, 0.5, 0.5]])) - x
        goals = torch.softmax(model.class_codes, 1)
        both = 0.5 * model.stroke_net(x, goals[1:2] - p) + 0.5 * model.stroke_net(x, goals[2:3] - p)
    assert change[1.0].abs().max() > 1e-3
    torch.testing.assert_close(change[1.0], full, atol=1e-6, rtol=0)
    for s in (0.5, 1.5, -1.0):
        torch.testing.assert_close(change[s], s * full, atol=1e-6, rtol=0)
    torch.testing.assert_close(half_half, both, atol=1e-6, rtol=0)  # each slider adds its own stroke


def test_a_given_source_class_sets_where_the_betavaes_strokes_start_as_the_faders_y_does():
    """source (edit.py/serve.py `source=`, the Editor's reading under `auto`) was ignored by the β-VAE's stroke
    editor: a face the encoder half-reads as sad got half a stroke toward sadness even when the user said neutral."""
    model = make().eval()
    x = torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.5)
        model.class_codes.copy_(torch.eye(3) * 10)
        goals = torch.softmax(model.class_codes, 1)
        from_neutral = model.edit(x, 2, strength=1.0, source=torch.tensor([0]))
        own = model.edit(x, 2, strength=1.0)
        expected = (x + model.stroke_net(x, (goals[2] - goals[0]).expand(2, -1))).clamp(0, 1)
        per_row = model.edit(x, 2, strength=1.0, source=torch.tensor([0, 2]))  # one source a face
        assert torch.equal(model.edit(x, 2, strength=0.0, source=torch.tensor([1])), x)
    torch.testing.assert_close(from_neutral, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(from_neutral, own, atol=1e-4)  # the encoder's own reading of noise is not neutral
    torch.testing.assert_close(per_row[0], from_neutral[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(per_row[1], x[1], atol=1e-6, rtol=0)  # already at sadness: no stroke


def test_draw_xl_is_the_partners_distance_plus_doing_nothing_toward_its_own_axes_and_trains_only_the_stroke_net():
    model = make(style_map=0)  # the stroke editor needs no style map: it sees the input
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.1)
    x = torch.rand(4, 1, 128, 128)
    y, subjects = torch.tensor([0, 1, 0, 2]), torch.tensor([3, 3, 5, 5])
    out = model.losses(x, y, sample=False, subjects=subjects)
    p = torch.softmax(model.encode(x)[0][:, :3], 1)  # what CL reads as class probabilities (§2.4)
    src, dst = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([1, 0, 3, 2, 0])  # the pairs, then every eighth row
    drawn = x[src] + model.stroke_net(x[src], p[dst] - p[src])
    assert out["xl"].item() == pytest.approx(stroke_xl(drawn, x[dst]).mean().item(), rel=1e-5)
    model.zero_grad()
    out["xl"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.stroke_net.parameters())


def test_xl_per_change_weighs_each_pair_by_the_inverse_of_its_own_change_and_leaves_the_still_rows_alone():
    """loss.xl_per_change: a pair whose partner differs by a few thin lines (a smile) counts as much of its own
    change as one whose partner differs by a lot (an open mouth); weights stay in PAIR_WEIGHT_RANGE."""
    x = torch.full((4, 1, 128, 128), 0.5)
    x[1, 0, 60:62, 40:80] = 0.0    # subject 3's partner: one thin line moved in (80 pixels)
    x[3, 0, 40:80, 40:80] = 0.0    # subject 5's partner: a big dark mouth (1,600 pixels)
    w = pair_weights(x[[0, 1, 2, 3]], x[[1, 0, 3, 2]])
    assert w[0] == w[1] and w[2] == w[3] and w[0] > 1 > w[2]
    # changes 40 and 800 (grey level 0.5 times the pixels), mean 420: the line's 10.5 is capped, the mouth's is 420/800
    assert w[0].item() == PAIR_WEIGHT_RANGE[1] and w[2].item() == pytest.approx(420 / 800)
    assert pair_weights(x[[0]], x[[0]]).item() == pytest.approx(1.0)  # a batch of still pairs: no reweighting

    model = make(style_map=0)
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.1)
    y, subjects = torch.tensor([0, 1, 0, 2]), torch.tensor([3, 3, 5, 5])
    plain = model.losses(x, y, sample=False, subjects=subjects)["xl"]
    model.xl_per_change = True
    weighted = model.losses(x, y, sample=False, subjects=subjects)["xl"]
    p = torch.softmax(model.encode(x)[0][:, :3], 1)
    src, dst = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([1, 0, 3, 2, 0])
    per = stroke_xl(x[src] + model.stroke_net(x[src], p[dst] - p[src]), x[dst])
    assert weighted.item() == pytest.approx((per * torch.cat([w, torch.ones(1)])).mean().item(), rel=1e-5)
    assert weighted.item() != pytest.approx(plain.item(), rel=1e-3)


def _marks(positions: torch.Tensor, size: int = 32):
    """Faces of the toy task: a grey field with a bright 2×2 'mouth' at each (row, col); the targets draw a dark
    stroke under the mouth (d = +1) or beside it (d = −1)."""
    n = len(positions)
    x = torch.full((n, 1, size, size), 0.5)
    under, beside = x.clone(), x.clone()
    for k, (r, c) in enumerate(positions.tolist()):
        for img in (x, under, beside):
            img[k, 0, r:r + 2, c:c + 2] = 1.0
        under[k, 0, r + 3, c - 2:c + 4] = 0.0
        beside[k, 0, r - 2:r + 4, c + 3] = 0.0
    return x, under, beside


def test_the_stroke_net_learns_to_draw_a_sharp_stroke_where_the_input_says_on_unseen_faces():
    """What XL asks of S, on a toy task: the change is drawn at a place only the input shows (the mouth), its kind
    set by the condition; after 300 steps the strokes land on held-out positions, sharp."""
    torch.manual_seed(0)
    net = build_stroke_net("U8,16,16", 1)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    grid = torch.tensor([(r, c) for r in range(4, 26, 3) for c in range(4, 26, 3)])
    held_out = (grid.sum(1) % 2) == 1
    train_pos, test_pos = grid[~held_out], grid[held_out]
    for _ in range(300):
        pick = train_pos[torch.randint(len(train_pos), (16,))]
        x, under, beside = _marks(pick)
        d = torch.randint(0, 2, (16, 1)).float() * 2 - 1
        target = torch.where(d[:, :, None, None] > 0, under, beside)
        loss = stroke_xl(x + net(x, d), target).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, under, beside = _marks(test_pos)
    with torch.no_grad():
        drew_under = x + net(x, torch.ones(len(x), 1))
        drew_beside = x + net(x, -torch.ones(len(x), 1))
    for drawn, right, wrong in ((drew_under, under, beside), (drew_beside, beside, under)):
        err_right, err_wrong = (drawn - right).abs().mean(), (drawn - wrong).abs().mean()
        assert err_right < 0.5 * (x - right).abs().mean()  # most of the stroke is drawn ...
        assert err_right < 0.5 * err_wrong  # ... the one the condition asks for
        stroke = right < 0.25
        assert drawn[stroke].mean() < 0.25  # dark where the stroke is: drawn, not a blurred half-tone


def test_stroke_lr_gives_the_stroke_net_its_own_learning_rate():
    model = SSVAE(CLASSES, ARCH, LOSS, style_map=4, edit_mode="draw", lr=1e-3, stroke_lr=2e-3)
    groups = model.parameter_groups()
    assert [g.get("lr") for g in groups] == [None, 2e-3]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert set(groups[1]["params"]) == set(model.stroke_net.parameters())
    plain = SSVAE(CLASSES, ARCH, LOSS, style_map=4, edit_mode="draw")
    assert len(list(plain.parameter_groups())) == len(list(plain.parameters()))


def test_the_faders_stroke_editor_draws_ys_move_trains_by_xl_and_leaves_the_autoencoder_to_its_own_loss():
    """edit_mode=draw on the Fader (§2.3, the London editor): the condition is the move of the one-hot attribute y."""
    arch = {**ARCH, "discriminator": "F256-F256"}
    torch.manual_seed(0)
    model = Fader(["neutral", "happiness"], arch, {"name": "fader", "l2_reduction": "sum", "xl": 1.0},
                  style_map=4, edit_mode="draw", stroke_lr=2e-3)
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.1)
    x = torch.rand(4, 1, 128, 128)
    y, subjects = torch.tensor([0, 1, 1, 0]), torch.tensor([7, 7, 9, 9])
    out = model.losses(x, y, subjects=subjects)
    onehot = torch.eye(2)[y]
    src, dst = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([1, 0, 3, 2, 0])
    drawn = x[src] + model.stroke_net(x[src], onehot[dst] - onehot[src])
    assert out["xl"].item() == pytest.approx(stroke_xl(drawn, x[dst]).mean().item(), rel=1e-5)
    model.zero_grad()
    out["xl"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.stroke_net.parameters())
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.edit(x[:1], 1, strength=0.0), x[:1])
        assert torch.equal(model.edit(x[:1], 1, strength=1.0, source=torch.tensor([1])), x[:1])  # already happy
        smile = model.edit(x[:1], 1, strength=1.0)  # source: neutral, the Fader's default
        torch.testing.assert_close(smile, (x[:1] + model.stroke_net(x[:1], torch.tensor([[-1.0, 1.0]]))).clamp(0, 1))
    ae, dis = model.configure_optimizers()
    assert [g["lr"] for g in ae.param_groups] == [1e-3, 2e-3]
    assert set(ae.param_groups[1]["params"]) == set(model.stroke_net.parameters())


def test_the_faders_cosine_schedule_anneals_the_autoencoder_and_stroke_lr_and_keeps_the_discriminators(tmp_path):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    model = Fader(["neutral", "happiness"], {**ARCH, "discriminator": "F256-F256"},
                  {"name": "fader", "l2_reduction": "sum", "xl": 1.0}, style_map=4, edit_mode="draw",
                  stroke_lr=2e-3, schedule="cosine")
    batch = (torch.rand(4, 1, 128, 128), torch.tensor([0, 1, 1, 0]), torch.tensor([7, 7, 9, 9]), torch.zeros(4))
    trainer = pl.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, DataLoader([batch], batch_size=None))
    ae, dis = trainer.optimizers
    assert [g["lr"] for g in ae.param_groups] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert dis.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="model.schedule='step'"):
        Fader(["neutral", "happiness"], {**ARCH, "discriminator": "F256-F256"}, {"name": "fader"}, schedule="step")


def _critic_fader(**loss) -> Fader:
    torch.manual_seed(0)
    return Fader(["neutral", "happiness"], {**ARCH, "discriminator": "F256-F256"},
                 {"name": "fader", "l2_reduction": "sum", "xl": 1.0, "xl_adv": 100.0, **loss},
                 style_map=4, edit_mode="draw", stroke_lr=2e-3)


def test_the_stroke_critic_and_the_stroke_net_train_apart_from_the_autoencoder_each_by_its_own_term():
    """loss.xl_adv: the critic's loss (real partner photos against the detached edits) reaches only the critic; its
    score of the edits (XL_adv) only the stroke net; each has its own Adam with β1 0.5, the autoencoder keeps its own."""
    model = _critic_fader()
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.1)
    x = torch.rand(4, 1, 128, 128)
    y = torch.tensor([0, 1, 1, 0])
    out = model.losses(x, y, subjects=torch.tensor([7, 7, 9, 9]))
    assert torch.equal(out["real"], x[[1, 0, 3, 2]]) and torch.equal(out["drawn_p"], torch.eye(2)[y[[1, 0, 3, 2]]])
    model.zero_grad()
    model.critic_term(out["drawn"], out["drawn_p"]).backward(retain_graph=True)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.stroke_net.parameters())
    model.zero_grad()
    model.critic_loss(out["real"], out["drawn"], out["drawn_p"]).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.stroke_net.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.stroke_critic.parameters())
    ae, dis, stroke, critic = model.configure_optimizers()
    in_ae = {p for g in ae.param_groups for p in g["params"]}
    assert not (set(model.stroke_net.parameters()) | set(model.stroke_critic.parameters())) & in_ae
    assert set(stroke.param_groups[0]["params"]) == set(model.stroke_net.parameters())
    assert set(critic.param_groups[0]["params"]) == set(model.stroke_critic.parameters())
    assert [(o.param_groups[0]["lr"], o.param_groups[0]["betas"]) for o in (ae, stroke, critic)] == [
        (1e-3, (0.9, 0.999)), (2e-3, (0.5, 0.999)), (2e-4, (0.5, 0.999))]
    off = _critic_fader(xl_adv=0.0)  # off: no critic, the stroke net in the autoencoder's optimizer as before
    assert off.stroke_critic is None and len(off.configure_optimizers()) == 2


def test_the_stroke_critic_learns_to_tell_real_partners_from_faint_edits_in_training(tmp_path):
    """A few Trainer epochs on one batch whose partners carry a dark mark the untrained editor does not draw: all
    four optimizers step, and the critic scores a real partner above a faint edit drawn toward it."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    model = _critic_fader(critic_lr=2e-3)
    x = torch.full((4, 1, 128, 128), 0.6)
    x[1, 0, 80:90, 40:88] = 0.1  # the 'smiles': person 7's and person 9's happy photos
    x[2, 0, 80:90, 40:88] = 0.1
    batch = (x, torch.tensor([0, 1, 1, 0]), torch.tensor([7, 7, 9, 9]), torch.zeros(4))
    before = [p.detach().clone() for p in (*model.stroke_critic.parameters(), *model.stroke_net.parameters())]
    trainer = pl.Trainer(max_epochs=30, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, DataLoader([batch], batch_size=None))
    after = [*model.stroke_critic.parameters(), *model.stroke_net.parameters()]
    n_critic = len(list(model.stroke_critic.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before[:n_critic], after[:n_critic]))  # the critic stepped
    assert any(not torch.equal(a, b) for a, b in zip(before[n_critic:], after[n_critic:]))  # and the stroke net
    model.eval()
    happy = torch.tensor([[0.0, 1.0]])
    with torch.no_grad():
        faint = (x[:1] + 0.2 * (x[1:2] - x[:1]))  # a fifth of the stroke, as XL's average draws it
        assert model.stroke_critic(x[1:2], happy).mean() > model.stroke_critic(faint, happy).mean()


def test_a_stroke_critic_without_the_stroke_editor_says_what_it_needs():
    with pytest.raises(ValueError, match="model.edit_mode=draw and loss.xl>0"):
        Fader(["neutral", "happiness"], {**ARCH, "discriminator": "F256-F256"},
              {"name": "fader", "xl": 1.0, "xl_adv": 1.0}, style_map=4, edit_mode="residual")


def test_the_fader_stroke_editor_preset_composes_the_london_recipe_for_sequences(tmp_path):
    """experiment=fader_draw_editor: the Fader with the stroke net, its critic and per-change XL on sequence pairs,
    flips only; its edits start from neutral, the condition XL trains (neutral's apex pairs)."""
    from types import SimpleNamespace

    from facevae.config import validate
    from facevae.run import build_model

    from .conftest import compose_config

    cfg = compose_config(["experiment=fader_draw_editor"], tmp_path, tmp_path)
    validate(cfg)
    assert cfg.data.source == "synth" and cfg.data.partners
    assert (cfg.data.shift, cfg.data.rotate, cfg.data.zoom) == (0, 0, 0)
    classes = list(cfg.data.classes)
    model = build_model(cfg, classes)
    assert isinstance(model, Fader) and model.edit_mode == "draw" and model.xl_per_change
    assert model.stroke_critic is not None and model.l2_reduction == "sum"
    model.trainer = SimpleNamespace(max_epochs=cfg.trainer.max_epochs)  # the cosine schedule reads the run's length
    opts, schedules = model.configure_optimizers()
    assert len(opts) == 4 and len(schedules) == 2  # autoencoder, discriminator, stroke net, critic
    x = torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        model.stroke_net.out.weight.normal_(0, 0.1)
        happy = classes.index("happiness")
        from_neutral = model.edit(x, happy, 1.0)  # source defaults to neutral
        explicit = model.edit(x, happy, 1.0, source=torch.full((2,), classes.index("neutral")))
    assert torch.equal(from_neutral, explicit) and not torch.equal(from_neutral, x.clamp(0, 1))


def _train_two_kinds_of_stroke(spec: str, steps: int = 600, pairs: int = 16):
    """One condition, two real strokes: each training pair's target is drawn under the mouth or beside it at random,
    as one CK+ class's apexes differ from sequence to sequence. S trained by XL (StrokeNet.best_of, as stroke_terms
    calls it for the β-VAE and the Fader)."""
    torch.manual_seed(0)
    net = build_stroke_net(spec, 1)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    grid = torch.tensor([(r, c) for r in range(4, 26, 3) for c in range(4, 26, 3)])
    train_pos = grid[(grid.sum(1) % 2) == 0]
    for _ in range(steps):
        x, under, beside = _marks(train_pos[torch.randint(len(train_pos), (pairs,))])
        target = torch.where(torch.rand(pairs, 1, 1, 1) < 0.5, under, beside)
        xl, _ = net.best_of(x, torch.ones(pairs, 1), target, pairs)
        opt.zero_grad()
        xl.mean().backward()
        opt.step()
    return net.eval()


def test_several_hypotheses_draw_each_kind_of_stroke_whole_where_one_draws_their_average():
    """arch.stroke_net ...-M<k>: with one output XL's optimum is a half-tone of both strokes (the ghost the README's
    synthetic edits show); with two hypotheses and the best one's XL, each draws one stroke dark, and an edit draws
    the hypothesis that won most pairs of its class."""
    grid = torch.tensor([(r, c) for r in range(4, 26, 3) for c in range(4, 26, 3)])
    x, under, beside = _marks(grid[(grid.sum(1) % 2) == 1])  # positions never trained on
    d = torch.ones(len(x), 1)
    one, two = (_train_two_kinds_of_stroke(spec) for spec in ("U4,8,8", "U4,8,8-M2"))
    with torch.no_grad():
        half = x + one(x, d)
        hyp = x[:, None] + two.hypotheses(x, d)[:, :, None]
        edit = x + two(x, d)
    for stroke in (under, beside):
        dark = stroke < 0.25
        assert half[dark].mean() > 0.1  # one output: neither stroke drawn whole
        assert min(hyp[:, h][dark].mean() for h in range(2)) < 0.05  # some hypothesis draws it whole
    assert two.wins.sum() == 600 * 16 and two.wins.min() > 0  # both hypotheses won pairs
    torch.testing.assert_close(edit, hyp[:, int(two.wins[0].argmax())])  # an edit draws the usual winner


def test_hypotheses_are_parsed_and_their_win_counts_saved_only_where_there_is_a_choice():
    three, one = build_stroke_net("P2-U4,8,8-M3", 2), build_stroke_net("P2-U4,8,8", 2)
    x = torch.rand(2, 1, 32, 32)
    assert three.hypotheses(x, torch.ones(2, 2)).shape == (2, 3, 32, 32)
    assert three(x, torch.ones(2, 2)).shape == (2, 1, 32, 32)
    assert "wins" in three.state_dict() and "wins" not in one.state_dict()  # old checkpoints still load
