"""One-channel tensors and weights really read as channels-last after the layout helpers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from upscale.imaging.layout import channels_last, channels_last_module
from upscale.models import create_model, get_spec


def test_a_one_channel_tensor_is_restrided_not_copied() -> None:
    x = torch.rand(2, 1, 7, 9)
    assert x.contiguous(memory_format=torch.channels_last).stride() == x.stride()  # the trap
    y = channels_last(x)
    assert y.data_ptr() == x.data_ptr() and torch.equal(y, x)
    assert y.stride() == (63, 1, 9, 1)


@pytest.mark.parametrize("batch", [1, 3])
def test_the_luma_slice_of_a_ycbcr_batch_is_read_right(batch: int) -> None:
    ycc = torch.rand(batch, 3, 4, 5)
    luma = channels_last(ycc[:, :1])
    assert torch.equal(luma, ycc[:, :1]) and luma.stride()[1:] == (1, 5, 1)
    assert (luma.data_ptr() == ycc.data_ptr()) == (batch == 1)  # one image: a view, no copy


@pytest.mark.parametrize("cout", [8, 64])
def test_a_convolution_of_restrided_tensors_writes_channels_last(cout: int) -> None:
    torch.manual_seed(0)
    x, w = torch.rand(1, 1, 16, 16), torch.randn(cout, 1, 5, 5)
    with torch.inference_mode():
        plain = F.conv2d(x, w, padding=2)
        out = F.conv2d(channels_last(x), channels_last(w), padding=2)
    assert plain.is_contiguous()  # NCHW strides in, NCHW out: what the helper avoids
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    assert torch.allclose(out, plain, atol=1e-6)


@pytest.mark.parametrize("name", ["fsrcnn", "espcn", "srcnn", "vdsr", "lapsrn"])
def test_every_one_channel_weight_of_a_y_model_becomes_channels_last(name: str) -> None:
    net = create_model(name, get_spec(name).scales[0])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    channels_last_module(net)
    weights = [p for p in net.parameters() if p.dim() == 4]
    assert any(p.shape[1] == 1 for p in weights)
    assert all(p.stride(1) == 1 for p in weights)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_a_restrided_model_trains_and_its_weights_keep_their_layout() -> None:
    torch.manual_seed(0)
    net = channels_last_module(create_model("fsrcnn", 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = channels_last(torch.rand(2, 1, 12, 12)), torch.rand(2, 1, 24, 24)
    first = net.body[0].weight.detach().clone()
    F.mse_loss(net(x), y).backward()
    opt.step()
    assert net.body[0].weight.grad.shape == first.shape and not torch.equal(net.body[0].weight, first)
    assert net.body[0].weight.stride(1) == 1
