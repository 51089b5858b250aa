"""The Fader's style map and cross-reconstruction (issue 14): shapes, XL by hand, the paired sampler, aligned
augmentation of pairs, the config check that ties them, and checkpoints from before the encoder split."""

import re

import numpy as np
import pytest
import torch

from facevae.config import ConfigError, validate
from facevae.data.cache import PreparedData
from facevae.data.datamodule import FaceDataset, augment_batch
from facevae.data.partners import PairedShuffle
from facevae.models.editing import partner_index
from facevae.models.fader import Fader
from facevae.models.losses import l2_reconstruction

from .conftest import compose_config

CLASSES = ["neutral", "happiness"]
ARCH = {"pool_stride": 2, "encoder": "C8-C32-C64-F256-F100", "decoder": "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1",
        "map_decoder": "TC32,4,2-TC16,4,2-TC8,4,2-UC1,3,1", "discriminator": "F256-F256"}
LOSS = {"name": "fader", "l2_reduction": "sum", "xl": 1.0}


def make(**kw):
    torch.manual_seed(0)
    return Fader(CLASSES, ARCH, LOSS, **{"style_map": 4, **kw})


def test_style_map_latent_shapes_and_what_the_discriminator_reads():
    model = make(style_dims=3).eval()
    x = torch.rand(5, 1, 128, 128)
    z = model.encode(x)
    assert model.vector_dims == 2 + 3 and model.map_shape == (4, 16, 16)
    assert z.shape == (5, 5 + 4 * 16 * 16) and model.latent_dims == z.shape[1]
    assert model.decode(z, torch.zeros(5, dtype=torch.long)).shape == (5, 1, 128, 128)
    assert model.summary_codes(z).shape == (5, 5 + 4)
    assert model.discriminator[0].in_features == model.vector_dims  # D sees §2.3's z, not the map
    # the map reaches the decoder: changing only the map changes the image
    z2 = z.clone()
    z2[:, model.vector_dims:] += 1.0
    y = torch.ones(5, dtype=torch.long)
    assert (model.decode(z2, y) - model.decode(z, y)).abs().mean() > 1e-4


def test_partner_index_reads_the_batch_as_pairs():
    y = torch.tensor([0, 1, 0, 0, 1, 0, 2])
    subjects = torch.tensor([7, 7, 8, 8, 9, 4, 4])  # (8, 8): an image paired with itself; (9 | 4): cut mid-pair
    j, has = partner_index(y, subjects)
    assert j.tolist() == [1, 0, 3, 2, 5, 4, 6]
    assert has.tolist() == [True, True, False, False, False, False, False]


def test_xl_is_the_partners_cross_reconstruction():
    model = make().eval()
    x = torch.rand(4, 1, 128, 128)
    y, subjects = torch.tensor([0, 1, 0, 0]), torch.tensor([3, 3, 5, 5])  # one pair; subject 5's image is alone
    out = model.losses(x, y, subjects=subjects)
    z = model.encode(x)
    crossed = model.decode(z[:2], torch.tensor([1, 0]))  # subject 3's codes with each other's emotion
    assert out["xl"].item() == pytest.approx(l2_reconstruction(crossed, x[[1, 0]], "sum").mean().item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((out["al"] + out["p_mc"] + out["xl"]).item(), rel=1e-5)
    assert model.losses(x, y)["xl"].item() == 0.0  # no subjects: no pairs


def dataset(subjects, labels, sequences=None) -> FaceDataset:
    n = len(labels)
    data = PreparedData(images=np.zeros((n, 4, 4), np.uint8), labels=np.asarray(labels, np.int64),
                        subjects=np.asarray(subjects, np.int64),
                        sequences=np.array(sequences or [f"p{i}" for i in range(n)]),
                        frames=np.zeros(n, np.int64), factors=np.zeros((n, 0), np.float32), manifest={})
    return FaceDataset(data, np.arange(n))


def test_paired_shuffle_follows_each_image_with_a_partner_and_repeats_per_epoch():
    ds = dataset([0, 0, 0, 1, 1, 2], [0, 1, 2, 0, 1, 0])  # one photo a sequence (London); subject 2 is alone
    sampler = PairedShuffle(ds, seed=3)
    order = list(sampler)
    assert len(order) == len(sampler) == 2 * 6
    for i, j in zip(order[::2], order[1::2]):
        if i == 5:
            assert j == 5  # no partner: paired with itself, so batches stay pairs
        else:
            assert ds.subjects[i] == ds.subjects[j] and ds.labels[i] != ds.labels[j]
    assert sorted(set(order)) == list(range(6))
    sampler.set_epoch(1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) == first  # (seed, epoch) alone decide the order
    sampler.set_epoch(2)
    assert list(sampler) != first


def test_paired_shuffle_pairs_frames_of_one_sequence():
    """CK+: a neutral first frame's partner is an apex of its own sequence (pixel-aligned), never another's."""
    ds = dataset([0, 0, 0, 0, 0], [0, 3, 0, 5, 5], sequences=["001", "001", "002", "002", "002"])
    sampler = PairedShuffle(ds, seed=0)
    for epoch in range(5):
        sampler.set_epoch(epoch)
        order = list(sampler)
        for i, j in zip(order[::2], order[1::2]):
            assert ds.sequences[i] == ds.sequences[j] and ds.labels[i] != ds.labels[j]


def test_grouped_augmentation_moves_a_pair_together():
    torch.manual_seed(0)
    face = torch.rand(1, 1, 32, 32)
    x = face.repeat(6, 1, 1, 1)
    groups = torch.tensor([4, 4, 9, 9, 2, 2])
    out = augment_batch(x, 0.5, 0.1, 10.0, 0.1, groups=groups)
    for a in (0, 2, 4):
        assert torch.equal(out[a], out[a + 1])  # one draw per group
    assert not torch.equal(out[0], out[2]) or not torch.equal(out[2], out[4])
    ungrouped = augment_batch(x, 0.5, 0.1, 10.0, 0.1)
    assert not torch.equal(ungrouped[0], ungrouped[1])


def test_xl_needs_partners_in_the_config(tmp_path):
    args = ["model=fader", "model.style_map=8", "loss.xl=1", "loss.l2_reduction=sum"]
    with pytest.raises(ConfigError, match=r"loss.xl.*data.partners=true"):
        validate(compose_config(args, tmp_path, tmp_path))
    validate(compose_config([*args, "data.partners=true"], tmp_path, tmp_path))
    with pytest.raises(ConfigError, match=r"data.batch_size.*odd"):  # a batch must hold whole pairs
        validate(compose_config([*args, "data.partners=true", "data.batch_size=15"], tmp_path, tmp_path))


def test_fader_checkpoint_from_before_the_trunk_split_loads():
    """The Fader's encoder saved as one Sequential (encoder.<i>.weight) loads into trunk + head unchanged."""
    model = make(style_map=0).eval()
    flat = [m for part in model.encoder for m in part]
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    for i, m in enumerate(flat):
        old.update({f"encoder.{i}.{n}": p for n, p in m.state_dict().items()})
    again = make(style_map=0).eval()
    torch.manual_seed(1)
    for p in again.parameters():
        p.data.normal_()
    again.load_state_dict(old)
    x = torch.rand(2, 1, 128, 128)
    assert torch.equal(again.encode(x), model.encode(x))


def test_mask_mode_paints_the_drawn_face_where_its_mask_says():
    model = make(edit_mode="mask").eval()
    x = torch.rand(4, 1, 128, 128)
    z = model.encode(x)
    y = torch.tensor([1, 1, 0, 0])
    face, mask = model.decode_parts(z, y)
    assert face.shape == mask.shape == (4, 1, 128, 128) and torch.equal(model.decode(z, y), face)
    assert 0 <= mask.min() and mask.max() <= 1
    assert torch.allclose(model.paint(x, z, y), mask * face + (1 - mask) * x)
    # an edit is the painting: x's code with y moved to happiness, composed over x itself
    edit = model.edit(x, target=1, strength=1.0)
    assert torch.allclose(edit, model.paint(x, z, torch.ones(4, dtype=torch.long)), atol=1e-6)


def one_pair_xl(edit_mode: str):
    """A model in `edit_mode`, one pair (x_0 neutral, x_1 happy, one subject), its losses and codes."""
    model = make(edit_mode=edit_mode).eval()
    x = torch.rand(2, 1, 128, 128)
    y, subjects = torch.tensor([0, 1]), torch.tensor([3, 3])
    return model, x, y, model.losses(x, y, subjects=subjects), model.encode(x)


def test_mask_mode_xl_is_the_painted_partner_plus_the_painted_self():
    model, x, y, out, z = one_pair_xl("mask")
    cross = l2_reconstruction(model.paint(x, z, torch.tensor([1, 0])), x[[1, 0]], "sum").mean()
    self_ = l2_reconstruction(model.paint(x, z, y), x, "sum").mean()
    assert out["xl"].item() == pytest.approx((cross + self_).item(), rel=1e-5)


def test_mask_mode_needs_a_decoder_ending_in_one_map():
    with pytest.raises(ValueError, match="must end in TC1,<n>,<s> or UC1,<n>,<s>"):
        Fader(CLASSES, {**ARCH, "map_decoder": "TC32,4,2-TC16,4,2-TC8,4,2-F16384"}, LOSS, style_map=4,
              edit_mode="mask")
    with pytest.raises(ValueError, match="model.edit_mode='paint'"):
        make(edit_mode="paint")


def test_residual_mode_xl_trains_the_edit_itself():
    """edit_mode=residual: XL is x_i plus the decoder's change from y_i to y_j, against the partner x_j."""
    model, x, y, out, z = one_pair_xl("residual")
    edit = x + model.decode(z, torch.tensor([1, 0])) - model.decode(z, y)
    assert out["xl"].item() == pytest.approx(l2_reconstruction(edit, x[[1, 0]], "sum").mean().item(), rel=1e-5)


def test_partners_keep_keeps_the_pairs_that_change_most_over_the_region():
    """data.partners_keep: of three people's (neutral, smile) pairs, the one whose mouth region changes most is kept,
    on both of its sides; a change outside the region does not count; the others pair with themselves."""
    from facevae.data.partners import clearest_pairs

    n = 6
    images = np.zeros((n, 10, 10), np.uint8)
    images[1, 6:9, 2:8] = 40  # person 0's smile: a strong change in the mouth region
    images[3, 6:9, 2:8] = 10  # person 1's: a faint one
    images[5, 0:3, :] = 255   # person 2's: a big change, but above the region (the hair, the light)
    data = PreparedData(images=images, labels=np.array([0, 1] * 3), subjects=np.repeat(np.arange(3), 2),
                        sequences=np.array([f"p{i}" for i in range(n)]), frames=np.zeros(n, np.int64),
                        factors=np.zeros((n, 0), np.float32), manifest={})
    ds = FaceDataset(data, np.arange(n))
    region = [0.6, 0.9, 0.2, 0.8]
    sampler = PairedShuffle(ds, seed=0, keep=1 / 3, region=region)
    assert [list(p) for p in sampler.partners] == [[1], [0], [], [], [], []]
    order = list(sampler)
    for i, j in zip(order[::2], order[1::2]):
        assert j == (1 - i if i < 2 else i)
    whole = clearest_pairs(PairedShuffle(ds, seed=0).partners, images, 1 / 3)  # no region: the hair wins
    assert [list(p) for p in whole] == [[], [], [], [], [5], [4]]
    assert [list(p) for p in clearest_pairs(sampler.partners, images, 1.0, region)] == [[1], [0], [], [], [], []]


def test_partners_keep_keeps_its_share_of_each_kind_of_pair():
    """With labels, a faint kind of pair (a smile) keeps its own clearest half instead of losing every pair to a kind
    that changes more (surprise's open mouth)."""
    from facevae.data.partners import clearest_pairs

    images = np.zeros((8, 4, 4), np.uint8)
    labels = np.array([0, 1, 0, 1, 0, 2, 0, 2])  # two smiles (1), two surprises (2), each paired with a neutral face
    for k, v in zip((1, 3, 5, 7), (5, 10, 80, 90)):
        images[k] = v
    partners = [np.array([i ^ 1]) for i in range(8)]
    per_kind = clearest_pairs(partners, images, 0.5, None, labels)
    assert [list(p) for p in per_kind] == [[], [], [3], [2], [], [], [7], [6]]
    one_cut = clearest_pairs(partners, images, 0.5)  # without labels the surprises take both places
    assert [list(p) for p in one_cut] == [[], [], [], [], [5], [4], [7], [6]]


@pytest.mark.parametrize("override, key", [("data.partners_keep=0", "data.partners_keep=0"),
                                           ("data.partners_keep=1.5", "data.partners_keep=1.5"),
                                           ("data.partners_region=[0.9,0.6,0.2,0.8]", "data.partners_region"),
                                           ("data.partners_region=[0.6,0.9]", "data.partners_region")])
def test_partners_keep_and_region_are_checked_before_any_work(tmp_path, override, key):
    args = ["model=fader", "model.style_map=8", "loss.xl=1", "loss.l2_reduction=sum", "data.partners=true"]
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate(compose_config([*args, override], tmp_path, tmp_path))
    validate(compose_config([*args, "data.partners_keep=0.5", "data.partners_region=[0.6,0.9,0.25,0.75]"],
                            tmp_path, tmp_path))


def test_the_datamodule_serves_only_the_kept_pairs(tmp_path, data_dir):
    """data.partners_keep reaches the training loader: half of the smoke set's pairs are left, and each kept pair
    changes more over the region than any dropped one."""
    from facevae.data.partners import pair_change, partner_lists
    from facevae.run import build_datamodule

    region = [0.5, 1.0, 0.0, 1.0]
    cfg = compose_config(["debug=smoke", "data.progress=false", "data.partners=true", "data.partners_keep=0.5",
                          f"data.partners_region=[{','.join(map(str, region))}]"], tmp_path, data_dir)
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    sampler = dm.train_dataloader().sampler
    assert isinstance(sampler, PairedShuffle)
    ds = dm.datasets["train"]

    def pairs(lists):
        return {(min(i, int(j)), max(i, int(j))) for i, own in enumerate(lists) for j in own}

    labels, images = ds.labels.numpy(), ds.images[:, 0].numpy()
    every, kept = pairs(partner_lists(ds.subjects.numpy(), ds.sequences, labels)), pairs(sampler.partners)
    assert kept < every
    change = lambda ps: pair_change(images, *np.array(sorted(ps)).T, region)  # noqa: E731
    kinds = {tuple(sorted(labels[[i, j]])) for i, j in every}
    assert len(kinds) > 1  # neutral with each emotion: the share is kept of each kind on its own
    for kind in kinds:
        of_kind = {p for p in every if tuple(sorted(labels[list(p)])) == kind}
        assert len(kept & of_kind) == max(1, round(len(of_kind) / 2))
        if of_kind - kept:
            assert change(kept & of_kind).min() >= change(of_kind - kept).max()
