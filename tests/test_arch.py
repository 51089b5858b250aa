"""Architecture strings in the paper's notation -> layers, shapes and parameter counts."""

import pytest
import torch

from facevae.models.arch import ArchError, build_network, count_parameters, parse_arch

PAPER_CLASSIFIER = "C8-C32-F256-F100-D0.5-D7"
PAPER_DECODER = "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,1,1-F16384"


def conv_params(cin, cout, k=3):
    return cin * cout * k * k + cout


def test_parse_tokens():
    layers = parse_arch("C8-Flatten-F256-D0.5-D7-TC18,3,2")
    assert [l.kind for l in layers] == ["conv", "flatten", "fc", "dropout", "dense", "tconv"]
    assert layers[3].p == 0.5 and layers[4].units == 7
    assert (layers[5].units, layers[5].kernel, layers[5].stride) == (18, 3, 2)


@pytest.mark.parametrize("bad", ["C8-X3", "C8--F2", "D1.5", "TC18,3"])
def test_unknown_token_names_it(bad):
    with pytest.raises(ArchError, match="architecture"):
        parse_arch(bad)


def test_paper_classifier_keeps_full_resolution():
    """§2.1 pools with stride 1 SAME: F256 sees 128*128*32 = 524,288 inputs."""
    net, out = build_network(PAPER_CLASSIFIER, (1, 128, 128), pool_stride=1)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert linears[0].weight.shape == (256, 524_288)
    expected = (conv_params(1, 8) + conv_params(8, 32) + 524_288 * 256 + 256 + 256 * 100 + 100 + 100 * 7 + 7)
    assert count_parameters(net) == expected
    assert out == (7,)


def test_fast_classifier_downsamples_by_four():
    net, out = build_network(PAPER_CLASSIFIER, (1, 128, 128), pool_stride=2)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert linears[0].weight.shape == (256, 32 * 32 * 32)
    assert net(torch.zeros(3, 1, 128, 128)).shape == (3, 7)


def test_paper_decoder_shapes_and_giant_head():
    net, out = build_network(PAPER_DECODER, (7,), out_activation=False)
    assert out == (16384,)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert linears[0].weight.shape == (8192, 7)
    assert linears[-1].weight.shape == (16384, 16384)
    tconvs = [m for m in net if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(t.in_channels, t.out_channels) for t in tconvs] == [(32, 18), (18, 12), (12, 6), (6, 1)]
    assert not isinstance(net[-1], torch.nn.ReLU)  # logits out


def test_fast_decoder_reaches_image_size():
    net, out = build_network("F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1", (9,), out_activation=False)
    assert out == (1, 128, 128)
    assert net(torch.randn(2, 9)).shape == (2, 1, 128, 128)


def test_unreshapable_dense_layer_is_explained():
    with pytest.raises(ArchError, match="cannot be reshaped"):
        build_network("F1000-TC8,3,2", (7,))


def test_resize_then_convolve_layers():
    """UC<m>,<n>,<s>: nearest upsample by s, then an n x n SAME conv with m kernels (no transpose conv)."""
    layers = parse_arch("F8192-UC32,3,2-UC1,3,1")
    assert [(l.kind, l.units, l.kernel, l.stride) for l in layers[1:]] == [("upconv", 32, 3, 2), ("upconv", 1, 3, 1)]
    net, out = build_network("F8192-UC32,3,2-UC16,3,2-UC8,3,2-UC1,3,1", (39,), out_activation=False)
    assert out == (1, 128, 128) and net(torch.randn(2, 39)).shape == (2, 1, 128, 128)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net)
    assert sum(isinstance(m, torch.nn.Upsample) for m in net) == 3
    with pytest.raises(ArchError, match="odd"):
        build_network("F8192-UC8,4,2-UC1,3,1", (7,), out_activation=False, image_size=64)


def test_constant_code_decodes_without_a_checkerboard():
    """A TC k3 s2 stack with all-one weights draws a periodic pattern from a constant input; UC cannot."""
    for spec, periodic in (("F1024-TC4,3,2-TC1,3,2", True), ("F1024-UC4,3,2-UC1,3,2", False)):
        net, _ = build_network(spec, (3,), out_activation=False, image_size=32)
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                torch.nn.init.constant_(m.weight, 0.1)
                torch.nn.init.zeros_(m.bias)
        img = net(torch.ones(1, 3))[0, 0, 4:-4, 4:-4]  # interior: borders differ for both
        assert (img.std() / img.mean() > 0.05) == periodic, spec


def test_kernel_four_transpose_conv_doubles_exactly():
    net, out = build_network("F8192-TC18,4,2-TC12,4,2-TC6,4,2-TC1,3,1", (7,), out_activation=False)
    assert out == (1, 128, 128) and net(torch.randn(1, 7)).shape == (1, 1, 128, 128)


def test_batch_norm_blocks_and_global_pooling():
    """Issue 16's recipe tokens: CB<k> = conv (no bias) + BN + ReLU + pool, GAP = one value per channel."""
    layers = parse_arch("CB16-CB32-GAP-D7")
    assert [(l.kind, l.batch_norm) for l in layers[:2]] == [("conv", True), ("conv", True)]
    assert layers[2].kind == "gap"
    net, shape = build_network("CB16-CB32-GAP-D7", (1, 128, 128), 2, out_activation=False)
    assert shape == (7,)
    kinds = [type(m).__name__ for m in net]
    assert kinds[:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] and "AdaptiveAvgPool2d" in kinds
    assert net[0].bias is None
    # GAP: the output does not depend on where in the image a pattern sits (up to borders)
    x = torch.zeros(1, 1, 128, 128)
    x[..., 40:56, 40:56] = 1
    net.eval()
    h = net[: kinds.index("Flatten") + 1]
    assert torch.allclose(h(x), h(torch.roll(x, shifts=(32, 32), dims=(2, 3))), atol=1e-5)
    with pytest.raises(ArchError, match="GAP needs a conv map"):
        build_network("F10-GAP", (1, 8, 8))
