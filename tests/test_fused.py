"""The fused convolution + activation path agrees with the plain ops it replaces."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from upscale.models import create_model
from upscale.models import fused as fused_module
from upscale.models.fused import conv_act
from upscale.models.layers import pixel_shuffle

PLAIN = {"none": lambda t: t, "relu": torch.relu, "tanh": torch.tanh}


def float32_conv_bound(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Per-output bound on a float32 convolution's rounding error, in any summation order.

    A dot product of K terms summed in float32 is within K * eps * sum|w x| of the exact
    value (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 3.1).
    A fixed atol is not: the kernel oneDNN picks, and so the order of the sums,
    depends on the CPU and on the thread count, which earlier tests may have changed.
    """
    k = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] + 1  # + the bias
    magnitude = F.conv2d(x.double().abs(), conv.weight.double().abs(), conv.bias.double().abs(), padding=conv.padding)
    eps = torch.finfo(torch.float32).eps
    return k * eps * magnitude + 8 * eps  # + a few ulps of a vectorised tanh's own error


# What oneDNN's fused post-op may add to the convolution's rounding. tanh and sigmoid end in
# a division, which a kernel may take from an approximate reciprocal (rcp14: relative error
# at most 2^-14), so |d(2s - 1)| <= 2 * 2^-14 * s <= 2^-13 and tanh's own form alike: about
# a thirtieth of one 8-bit level. One CI machine (CPU not recorded) showed errors of that
# order on the sigmoid route (2.5e-6 to 7e-6 at outputs near 0.05 to 0.5, and at least one past the
# rounding bound), twenty times what the AMX Xeon (family 6 model 167) shows.
FUSED_POST_OP_ERROR = {"none": 0.0, "relu": 0.0, "tanh": 2.0**-13}


@pytest.mark.parametrize("fused_tanh_is_fast", [False, True])  # both routes, whatever this CPU has
@pytest.mark.parametrize("act", ["none", "relu", "tanh"])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("cin,kernel", [(8, 3), (1, 5)])  # (1, 5): the one-channel input's shifted copies
def test_conv_act_matches_plain_ops(
    act: str, channels_last: bool, fused_tanh_is_fast: bool, cin: int, kernel: int, monkeypatch
) -> None:
    from upscale.imaging.layout import channels_last as restride, channels_last_module

    monkeypatch.setattr(fused_module, "_fused_tanh_is_fast", lambda: fused_tanh_is_fast)
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, 5, kernel, padding=kernel // 2)
    x = torch.randn(2, cin, 19, 23)
    if channels_last:
        conv = channels_last_module(conv)
        x = restride(x)
    with torch.inference_mode():
        fused = conv_act(x, conv, act)
        plain = PLAIN[act](F.conv2d(x, conv.weight, conv.bias, padding=kernel // 2))
        exact = PLAIN[act](F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=kernel // 2))
        bound = float32_conv_bound(x, conv)  # relu and tanh only shrink differences (slope <= 1)
    assert fused.shape == plain.shape
    assert ((plain.double() - exact).abs() <= bound).all()
    assert ((fused.double() - exact).abs() <= bound + FUSED_POST_OP_ERROR[act]).all()
    # Not a vacuous bound: the inputs' own size is far above it.
    assert bound.max() < 1e-3 * exact.abs().max()


def test_conv_act_keeps_gradients_in_training() -> None:
    conv = nn.Conv2d(1, 4, 5, padding=2)
    out = conv_act(torch.randn(1, 1, 12, 12), conv, "tanh")
    out.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("fused_tanh_is_fast", [False, True])  # both routes, whatever this CPU has
@pytest.mark.parametrize("shape", [(31, 40), (3, 3), (2, 9)])  # (2, 9): too thin for the border classes
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_espcn_inference_equals_its_layers(scale: int, shape: tuple[int, int], fused_tanh_is_fast: bool, monkeypatch) -> None:
    monkeypatch.setattr(fused_module, "_fused_tanh_is_fast", lambda: fused_tanh_is_fast)
    folds = []
    add_border = fused_module._add_border

    def counted(y: torch.Tensor, terms: torch.Tensor) -> torch.Tensor:
        folds.append(y.shape)
        return add_border(y, terms)

    monkeypatch.setattr(fused_module, "_add_border", counted)
    torch.manual_seed(scale)
    net = create_model("espcn", scale).eval()
    # Biases far from zero: a wrong border term would show at every border pixel.
    with torch.no_grad():
        for conv in (net.body[0], net.body[2], net.body[4]):
            conv.bias.uniform_(-0.5, 0.5)
    x = torch.rand(1, 1, *shape)
    reference = net.body(x).detach()  # the Sequential's own layers: plain ops
    with torch.inference_mode():
        fast = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(fast, reference, atol=1e-5)
    # On the slow-tanh route, a tile big enough folds both tanh into the next layer.
    assert len(folds) == (2 if not fused_tanh_is_fast and min(shape) > 2 else 0)


def test_the_folded_stack_follows_weights_changed_in_place(monkeypatch) -> None:
    """The folded operands are cached per layer; an in-place update (an optimizer step,
    load_state_dict) and parameters made under inference_mode both give the plain result."""
    monkeypatch.setattr(fused_module, "_fused_tanh_is_fast", lambda: False)
    torch.manual_seed(1)
    net = create_model("espcn", 2).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 1, 20, 24).contiguous(memory_format=torch.channels_last)

    def agrees() -> bool:
        with torch.inference_mode():
            fast = net(x)
        return torch.allclose(fast, net.body(x).detach(), atol=1e-5)

    assert agrees()
    with torch.no_grad():
        for conv in (net.body[0], net.body[2], net.body[4]):
            conv.weight.mul_(-0.5)
            conv.bias.add_(0.25)
    assert agrees()
    net.load_state_dict(create_model("espcn", 2).state_dict())
    assert agrees()
    for _ in range(2):  # new storage twice between calls: the first one's address is not reused
        for conv in (net.body[0], net.body[2], net.body[4]):
            conv.weight.data = torch.randn_like(conv.weight) * 0.1
    assert agrees()
    with torch.inference_mode():
        made_here = create_model("espcn", 2).eval()
        assert torch.allclose(made_here(x), made_here.body(x), atol=1e-5)


def test_fused_flops_count_like_convolutions() -> None:
    net = create_model("espcn", 3).eval()
    x = torch.rand(1, 1, 16, 16)
    with torch.inference_mode(), FlopCounterMode(display=False) as fused:
        net(x)
    with FlopCounterMode(display=False) as plain:
        net.body(x)
    assert fused.get_total_flops() == plain.get_total_flops() > 0


def test_autocast_reaches_the_convolutions() -> None:
    """Under bf16 autocast the fused fp32 kernel steps aside (the middle layer runs in bf16),
    while the first and last layers stay in float32."""
    torch.manual_seed(0)
    net = create_model("espcn", 2).eval()
    x = torch.rand(1, 1, 24, 24)
    with torch.inference_mode():
        full = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = net(x)
    assert half.dtype == torch.float32
    assert 0 < (half - full).abs().max() < 0.05


def test_the_input_layer_leaves_autocast_in_inference_only() -> None:
    """The output layer is float32 always (the loss is measured on it); the input layer only
    where gradients are off (in training its float32 tanh costs ESPCN's step ~10%)."""
    from upscale.models.fused import Float32, in_float32

    x = torch.rand(2, 1, 4, 4, dtype=torch.bfloat16)
    dtype_seen = lambda t: t.dtype  # noqa: E731
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert in_float32(dtype_seen, x, Float32.ALWAYS) == torch.float32
        assert in_float32(dtype_seen, x, Float32.INFERENCE) == torch.bfloat16
        assert in_float32(dtype_seen, x, Float32.NEVER) == torch.bfloat16
        with torch.no_grad():
            assert in_float32(dtype_seen, x, Float32.INFERENCE) == torch.float32
    assert in_float32(dtype_seen, x, Float32.ALWAYS) == torch.bfloat16  # no autocast: untouched
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = create_model("espcn", 2)(torch.rand(2, 1, 12, 12))
    assert out.dtype == torch.float32 and out.requires_grad


@pytest.mark.parametrize("channels,factor", [(1, 2), (1, 3), (1, 4), (3, 4), (2, 3), (2, 2), (1, 8)])
def test_pixel_shuffle_of_channels_last_phases_is_the_plain_one(channels: int, factor: int) -> None:
    torch.manual_seed(factor)
    x = torch.randn(2, channels * factor * factor, 7, 9, requires_grad=True)
    for layout in (torch.contiguous_format, torch.channels_last):
        mine = pixel_shuffle(x.contiguous(memory_format=layout), factor)
        plain = F.pixel_shuffle(x, factor)
        assert torch.equal(mine, plain)  # a copy: the same values, bit for bit
        (grad,) = torch.autograd.grad((mine * plain.detach()).sum(), x)
        assert torch.equal(grad, torch.autograd.grad((plain * plain.detach()).sum(), x)[0])
        with torch.inference_mode():  # the wide-element copy, where factor x 4 bytes has a dtype
            for dtype in (torch.float32, torch.bfloat16):
                for rows, cols in ((7, 9), (1, 9), (7, 1), (1, 1)):  # a one-pixel side: its stride is anything
                    phases = x.detach()[..., :rows, :cols].to(dtype).contiguous(memory_format=layout)
                    assert torch.equal(pixel_shuffle(phases, factor), F.pixel_shuffle(phases.contiguous(), factor))


def test_the_tanh_identity_keeps_a_one_channel_weights_layout(monkeypatch) -> None:
    """The doubled weight keeps channels-last strides, so oneDNN writes channels-last (layout.py)."""
    from upscale.imaging.layout import channels_last, channels_last_module

    monkeypatch.setattr(fused_module, "_fused_tanh_is_fast", lambda: False)
    conv = channels_last_module(nn.Conv2d(1, 8, 5, padding=2))
    with torch.inference_mode():
        out = conv_act(channels_last(torch.rand(1, 1, 12, 12)), conv, "tanh")
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
