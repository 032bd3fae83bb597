"""Every registered architecture, checked through the registry.

The tests are parametrised over ``list_models()`` and each spec's scales, so a new
model is covered by adding its expected parameter count and nothing else.
"""

from __future__ import annotations

import functools
import io

import pytest
import torch
from torch import Tensor, nn

from upscale.errors import ModelError
from upscale.models import InputKind, ModelSpec, count_parameters, create_model, get_spec, list_models
from upscale.models.drcn import DRCN
from upscale.models.lapsrn import LapSRN

CASES = [(name, scale) for name in list_models() for scale in get_spec(name).scales]
IDS = [f"{name}-x{scale}" for name, scale in CASES]


def _model(name: str, scale: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, scale)


def _input(spec: ModelSpec, scale: int, lr_size: tuple[int, int], batch: int = 1) -> Tensor:
    """A random image of LR size, or of HR size for a pre-upsampling network."""
    s = spec.network_scale(scale) if spec.input_kind is InputKind.PRE_UPSAMPLED else 1
    return torch.rand(batch, spec.in_channels, lr_size[0] * s, lr_size[1] * s)


def test_every_registered_model_has_expected_counts() -> None:
    for name in list_models():
        spec = get_spec(name)
        missing = {spec.network_scale(s) for s in spec.scales} - set(spec.reference_parameters)
        assert not missing, f"{name}: no expected parameter count for x{sorted(missing)}"


@pytest.mark.parametrize(("name", "scale"), CASES, ids=IDS)
def test_parameter_count_matches_paper(name: str, scale: int) -> None:
    spec = get_spec(name)
    expected = spec.reference_parameters[spec.network_scale(scale)]
    actual = count_parameters(create_model(name, scale))
    assert abs(actual - expected) <= 0.03 * expected, f"{name} x{scale}: {actual:,} vs {expected:,}"


@pytest.mark.parametrize(("name", "scale"), CASES, ids=IDS)
def test_output_shape(name: str, scale: int) -> None:
    spec = get_spec(name)
    factor = spec.network_scale(scale)
    model = _model(name, scale).eval()
    with torch.no_grad():
        out = model(_input(spec, scale, (13, 11)))
    assert out.shape == (1, spec.in_channels, 13 * factor, 11 * factor)


@pytest.mark.parametrize(("name", "scale"), CASES, ids=IDS)
def test_backward_reaches_every_parameter(name: str, scale: int) -> None:
    spec = get_spec(name)
    model = _model(name, scale).train()
    out = model(_input(spec, scale, (6, 5), batch=2))
    torch.nn.functional.mse_loss(out, torch.rand_like(out)).backward()
    for pname, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"{pname} got no gradient"
            assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
            assert param.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize(("name", "scale"), CASES, ids=IDS)
def test_state_dict_round_trip(name: str, scale: int) -> None:
    spec = get_spec(name)
    original = _model(name, scale, seed=0).eval()
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    restored = _model(name, scale, seed=1).eval()
    restored.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    x = _input(spec, scale, (7, 6))
    with torch.no_grad():
        assert torch.equal(original(x), restored(x))


@functools.cache
def _reach(name: str, scale: int, axis: int) -> int:
    """How far along ``axis``, in network-input pixels, the output's dependence reaches.

    We backpropagate from the output pixels that sit over one input pixel and see which
    inputs get a non-zero gradient: the exact footprint. (Poking an input pixel and
    diffing the outputs misses the edge of deep footprints, where the change falls
    below float64 rounding after ~40 layers.) The probe is a strip one pixel thick:
    with zero padding the footprint along the strip is the same as in a full image, and
    RDN stays cheap.
    """
    spec = get_spec(name)
    model = _model(name, scale).double().eval()
    per_input = spec.network_scale(scale) if spec.input_kind is InputKind.LR else 1
    length = 2 * (spec.receptive_radius + 3) + 1  # room to see a reach of radius + 3
    shape = [1, spec.in_channels, 1, 1]
    shape[2 + axis] = length
    x = torch.rand(shape, dtype=torch.float64, requires_grad=True)
    centre = length // 2
    over_centre = model(x).narrow(2 + axis, centre * per_input, per_input)
    over_centre.sum().backward()
    assert x.grad is not None
    positions = x.grad.abs().sum(dim=1).squeeze(0).nonzero()[:, axis]
    return int((positions - centre).abs().max())


@pytest.mark.parametrize(("name", "scale"), CASES, ids=IDS)
def test_receptive_radius_is_an_upper_bound(name: str, scale: int) -> None:
    radius = get_spec(name).receptive_radius
    for axis in (0, 1):
        reach = _reach(name, scale, axis)
        assert reach <= radius, (
            f"{name} x{scale} reaches {reach} px along axis {axis}, radius {radius}"
        )


@pytest.mark.parametrize("name", list_models())
def test_receptive_radius_is_tight(name: str) -> None:
    spec = get_spec(name)
    widest = max(_reach(name, scale, axis) for scale in spec.scales for axis in (0, 1))
    assert widest == spec.receptive_radius, (
        f"{name}: reaches {widest} px, radius {spec.receptive_radius}"
    )


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ModelError) as info:
        create_model("nope", 2)
    for name in list_models():
        assert name in str(info.value)


@pytest.mark.parametrize("name", list_models())
def test_unknown_config_field_is_refused(name: str) -> None:
    with pytest.raises(ModelError, match="no_such_field"):
        create_model(name, get_spec(name).scales[0], no_such_field=1)


@pytest.mark.parametrize("name", list_models())
def test_unsupported_scale_is_refused(name: str) -> None:
    with pytest.raises(ModelError, match="x5"):
        create_model(name, 5)


@pytest.mark.parametrize(
    ("name", "overrides"), [("vdsr", {"layers": 30}), ("drcn", {"recursions": 20})]
)
def test_config_beyond_the_registered_radius_is_refused(
    name: str, overrides: dict[str, int]
) -> None:
    with pytest.raises(ModelError, match="radius"):
        create_model(name, 2, **overrides)


@pytest.mark.parametrize("scale", get_spec("drcn").scales)
def test_drcn_intermediates(scale: int) -> None:
    spec = get_spec("drcn")
    model = _model("drcn", scale).eval()
    assert isinstance(model, DRCN)
    x = _input(spec, scale, (4, 3))
    with torch.no_grad():
        outputs = model.forward_intermediates(x)
        final = model(x)
    assert len(outputs) == 16 + 1
    assert all(o.shape == x.shape for o in outputs)
    assert torch.allclose(outputs[-1], final)


@pytest.mark.parametrize("scale", get_spec("lapsrn").scales)
def test_lapsrn_intermediates(scale: int) -> None:
    spec = get_spec("lapsrn")
    model = _model("lapsrn", scale).eval()
    assert isinstance(model, LapSRN)
    x = _input(spec, scale, (5, 4))
    with torch.no_grad():
        outputs = model.forward_intermediates(x)
        final = model(x)
    levels = spec.network_scale(scale).bit_length() - 1
    assert [o.shape[-2:] for o in outputs] == [(5 * 2**k, 4 * 2**k) for k in range(1, levels + 1)]
    assert torch.equal(outputs[-1], final)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fsrcnn_subpixel_equals_the_deconvolution(scale):
    # The 9x9 transposed conv runs as a conv + pixel shuffle; same numbers.
    torch.manual_seed(scale)
    net = create_model("fsrcnn", scale).eval()
    torch.nn.init.normal_(net.deconv.weight, std=0.1)
    torch.nn.init.normal_(net.deconv.bias, std=0.1)
    x = torch.rand(2, 1, 13, 11)
    with torch.no_grad():
        reference = net.deconv(net.body(x))
        assert torch.allclose(net(x), reference, atol=1e-5)
        net.deconv.weight.mul_(-1)  # changed weights must not reuse the cached rearrangement
        assert torch.allclose(net(x), net.deconv(net.body(x)), atol=1e-5)
    # Training runs the same rearrangement, and the gradients reach the deconvolution's weights.
    net.train()
    target = torch.rand(2, 1, 13 * scale, 11 * scale)
    grads = []
    for forward in (net, lambda t: net.deconv(net.body(t))):
        net.zero_grad()
        torch.nn.functional.mse_loss(forward(x), target).backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for ours, plain in zip(*grads):
        assert torch.allclose(ours, plain, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("kernel,factor", [(9, 2), (9, 3), (3, 2), (5, 4)])
def test_polyphase_conv_is_the_convolution(kernel: int, factor: int) -> None:
    from upscale.models.layers import polyphase_conv

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 3, kernel, padding=kernel // 2).double()
    x = torch.randn(2, 6, 4 * factor, 5 * factor, dtype=torch.float64)
    assert torch.allclose(polyphase_conv(conv, x, factor), conv(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("scale", [2, 4])
def test_srresnet_tail_matches_the_plain_network_and_its_gradients(scale: int) -> None:
    from upscale.models.srgan import PlainSRResNet

    torch.manual_seed(0)
    net = create_model("srgan", scale).double()
    plain = PlainSRResNet(net)
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64)  # even HR sides: the polyphase path
    net(x).square().sum().backward()
    grads = {k: p.grad.clone() for k, p in net.named_parameters()}
    net.zero_grad()
    plain(x).square().sum().backward()
    for k, p in net.named_parameters():
        assert torch.allclose(grads[k], p.grad, atol=1e-9, rtol=1e-9), k
    with torch.no_grad():
        net.eval()
        assert torch.allclose(net(x), plain(x), atol=1e-10, rtol=0)
