"""The inference engine over the registry: tiling, input kinds, colour handling, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from upscale import create_model, list_models, load_model, upscale_image
from upscale.inference.memory import activation_floats_per_pixel, auto_tile
from upscale.inference.loading import from_module
from upscale.imaging.color import rgb_to_ycbcr
from upscale.errors import UsageError, WeightsError
from upscale.models import get_spec
from upscale.inference.pipeline import make_pipeline, pipeline_radius
from upscale.imaging.resize import matlab_imresize
from upscale.inference.tiling import plan_tiles
from upscale.hub.weights import describe, save_weights

CASES = [(name, scale) for name in list_models() for scale in get_spec(name).scales]


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    cache = {}

    def get(name, scale):
        if (name, scale) not in cache:
            cache[name, scale] = from_module(name, scale)
        return cache[name, scale]

    return get


# Slow: RDN and DRCN run whole and tiled.
@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_tiled_equals_untiled(name, models):
    spec = get_spec(name)
    scale = 3 if 3 in spec.scales else spec.scales[0]
    model = models(name, scale)
    side = min(2 * pipeline_radius(spec, scale) + 11, 41)  # small-radius models get real interior tiles
    x = torch.rand(1, 3, side, side - 4, generator=torch.Generator().manual_seed(1))
    whole = upscale_image(x, model, tile=0)
    assert whole.shape == (1, 3, side * scale, (side - 4) * scale)
    for tile in (7, 4 * side):  # a tile that does not divide the image, one larger than it
        tiled = upscale_image(x, model, tile=tile)
        assert (tiled - whole).abs().max().item() <= 1e-5, (name, tile)


def test_plan_tiles_covers_the_image_once():
    tiles = plan_tiles(23, 17, 6, 3)
    covered = np.zeros((23, 17), dtype=int)
    for t in tiles:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
        assert t.py0 == max(t.y0 - 3, 0) and t.px1 == min(t.x1 + 3, 17)
    assert (covered == 1).all()
    assert len(plan_tiles(23, 17, 0, 3)) == 1 and len(plan_tiles(23, 17, 100, 3)) == 1


def test_too_small_padding_shows_seams(models):
    model = models("vdsr", 2)
    x = torch.rand(1, 1, 40, 40, generator=torch.Generator().manual_seed(2))
    whole = upscale_image(x, model, tile=0)
    assert (upscale_image(x, model, tile=10, tile_pad=1) - whole).abs().max() > 1e-4


@pytest.mark.parametrize("name", ["fsrcnn", "rdn"])
def test_numpy_kinds_keep_dtype_mode_and_alpha(name, models):
    model = models(name, 2)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    assert upscale_image(rgb, model).shape == (18, 22, 3)
    gray = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    assert upscale_image(gray, model).shape == (18, 22)
    deep = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    assert upscale_image(deep, model).dtype == np.uint16
    rgba = np.dstack([rgb, rng.integers(0, 256, (9, 11), dtype=np.uint8)])
    out = upscale_image(rgba, model)
    assert out.shape == (18, 22, 4)
    assert np.array_equal(out[..., 3], matlab_imresize(rgba[..., 3], 2.0))


def test_pil_in_pil_out(models):
    model = models("espcn", 3)
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8))
    out = upscale_image(img, model)
    assert isinstance(out, Image.Image) and out.size == (36, 30) and out.mode == "RGB"
    assert upscale_image(img.convert("L"), model).mode == "L"


def test_tensor_batch_and_bad_inputs(models):
    model = models("fsrcnn", 2)
    out = upscale_image(torch.rand(2, 3, 8, 9), model)
    assert out.shape == (2, 3, 16, 18) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(UsageError):
        upscale_image(np.zeros((4, 4), dtype=np.int32), model)
    with pytest.raises(UsageError):
        upscale_image("photo.png", model)
    with pytest.raises(UsageError):
        upscale_image(torch.rand(1, 3, 8, 8), model, device="tpu")


def test_y_model_keeps_chroma_from_bicubic():
    # A network that answers Y = 0.5 everywhere only sets luma: Cb/Cr come from the bicubic.
    model = from_module("espcn", 2)
    for p in model.net.parameters():
        torch.nn.init.zeros_(p)
    last = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.constant_(last.bias, 0.5)
    x = 0.4 + 0.2 * torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(3))

    out = upscale_image(x, model, tile=0)
    assert (rgb_to_ycbcr(out)[:, :1] - 0.5).abs().max() < 1e-5
    want = matlab_imresize(rgb_to_ycbcr(x)[:, 1:], 2.0)
    got = rgb_to_ycbcr(out)[:, 1:]
    assert (got - want).abs().max() < 1e-5


def test_weights_round_trip_and_strictness(tmp_path):
    torch.manual_seed(4)
    spec = get_spec("fsrcnn")
    net = create_model("fsrcnn", 3)
    path = tmp_path / "fsrcnn_x3.safetensors"
    save_weights(path, net, describe(spec, 3, spec.config_cls(), training_data=["test"], steps=0))
    loaded = load_model("fsrcnn", 3, weights=path)
    x = torch.rand(1, 1, 10, 10)
    with torch.no_grad():
        assert torch.equal(loaded.net(x), net.eval()(x))
    assert loaded.meta["training_data"] == ["test"] and loaded.meta["scale"] == 3
    with pytest.raises(WeightsError, match="x3"):
        load_model("fsrcnn", 2, weights=path)
    with pytest.raises(WeightsError, match="fsrcnn"):
        load_model("espcn", 3, weights=path)
    (tmp_path / "junk.safetensors").write_bytes(b"not weights")
    with pytest.raises(WeightsError):
        load_model("fsrcnn", 3, weights=tmp_path / "junk.safetensors")


def test_missing_key_is_an_error(tmp_path):
    spec = get_spec("espcn")
    net = create_model("espcn", 2)
    path = tmp_path / "w.safetensors"
    from safetensors.torch import save_file
    import json

    state = {k: v for k, v in net.state_dict().items() if not k.endswith("bias")}
    save_file(state, str(path), metadata={"upscale": json.dumps(describe(spec, 2, spec.config_cls()))})
    with pytest.raises(WeightsError, match="does not fit"):
        load_model("espcn", 2, weights=path)


def test_no_shipped_weights_names_the_train_command(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="upscale train --model rdn -x 4"):
        load_model("rdn", 4)


def test_auto_tile_whole_for_small_images_and_bounded_for_huge(models):
    model = models("fsrcnn", 4)
    assert activation_floats_per_pixel(model) > 1
    assert auto_tile(model, torch.device("cpu"), 64, 64, 10) == 0
    assert 16 <= auto_tile(model, torch.device("cpu"), 20000, 20000, 10) < 20000


@pytest.mark.parametrize("available", [None, 2**30, 16 * 2**30, 1024 * 2**30])
def test_cpu_tiles_grow_only_where_the_context_is_wide(models, monkeypatch, available):
    import upscale.inference.memory as memory

    model = models("fsrcnn", 4)
    bytes_per_px = activation_floats_per_pixel(model) * 16
    huge = 100_000
    monkeypatch.setattr(memory, "available_memory", lambda: available)
    # A narrow context: the usual 0.5 GiB tile, whatever the machine has.
    narrow = auto_tile(model, torch.device("cpu"), huge, huge, 10)
    assert (narrow + 20) ** 2 * bytes_per_px <= memory.CPU_BUDGET < (narrow + 22) ** 2 * bytes_per_px
    # A context wider than the usual tile itself: larger tiles where memory allows,
    # never past a quarter of what is available (or 8 GiB), nor past the 15% target.
    pad = int(math.sqrt(memory.CPU_BUDGET / bytes_per_px) / 2)
    wide = auto_tile(model, torch.device("cpu"), huge, huge, pad)
    most = min(max((available or 0) * memory.CPU_GROWTH_FRACTION, memory.CPU_BUDGET), memory.CPU_GROWTH_MAX)
    assert (wide + 2 * pad) ** 2 * bytes_per_px <= max(most, (3 * pad) ** 2 * bytes_per_px)
    assert ((wide + 2 * pad) / wide) ** 2 >= memory.CONTEXT_OVERHEAD * 0.999
    if most == memory.CPU_BUDGET:
        assert wide == pad  # no room to grow: the smallest tile the context allows
    else:
        assert wide > pad
    # A picture no larger than the grown tile runs whole.
    side = wide + 2 * pad
    assert auto_tile(model, torch.device("cpu"), side, side, pad) == (0 if wide > pad else wide)


def test_available_memory_is_read_from_the_system():
    from upscale.inference.memory import available_memory

    found = available_memory()
    assert found is None or 2**20 < found < 2**50


def test_cuda_out_of_memory_halves_the_tile(monkeypatch):
    # The pipeline "runs out of memory" on crops larger than 20x20; the engine must
    # retry with smaller tiles and still produce the untiled result.
    import upscale.inference.engine as engine

    real = engine.make_pipeline
    seen = []

    def fragile(*args, **kwargs):
        fn = real(*args, **kwargs)

        def run(x):
            seen.append(tuple(x.shape[-2:]))
            if x.shape[-1] > 20 or x.shape[-2] > 20:
                raise torch.cuda.OutOfMemoryError("fake")
            return fn(x)

        return run

    model = from_module("espcn", 2)
    x = torch.rand(1, 1, 30, 30, generator=torch.Generator().manual_seed(5))
    whole = upscale_image(x, model, tile=0)
    monkeypatch.setattr(engine, "make_pipeline", fragile)
    out = upscale_image(x, model, tile=0, tile_pad=4)
    assert (out - whole).abs().max() <= 1e-5
    assert seen[0] == (30, 30) and max(seen[-1]) <= 20


def test_batched_tiles_equal_one_tile_per_pass(models):
    from upscale.inference.tiling import batch_tiles, run_tiled

    model = models("fsrcnn", 3)
    pipeline = make_pipeline(model.spec, model.net, 3)
    x = torch.rand(2, 3, 40, 37, generator=torch.Generator().manual_seed(2))  # N = 2 rides along
    tiles = plan_tiles(40, 37, 9, pipeline_radius(model.spec, 3))
    outputs, calls = {}, []

    def counted(t):
        calls.append(t.shape[0])
        return pipeline(t)

    for batch in (1, 4):
        out = torch.zeros(2, 3, 120, 111)

        def write(t, core):
            out[..., t.y0 * 3 : t.y1 * 3, t.x0 * 3 : t.x1 * 3] = core

        with torch.inference_mode():
            run_tiled(counted, x, 3, tiles, write, batch=batch)
        outputs[batch] = out
    assert (outputs[4] - outputs[1]).abs().max() <= 1e-5
    groups = batch_tiles(tiles, 4)
    assert sum(len(g) for g in groups) == len(tiles) and max(len(g) for g in groups) > 1
    assert all(len({(t.py1 - t.py0, t.px1 - t.px0) for t in g}) == 1 for g in groups)
    assert len(calls) == len(tiles) + len(groups) and max(calls) == 2 * max(len(g) for g in groups)


def test_tile_batch_is_one_on_the_cpu(models):
    from upscale.inference.memory import tile_batch

    assert tile_batch(models("fsrcnn", 4), torch.device("cpu"), 64, 8) == 1


def test_auto_precision_is_fp16_on_gpus_and_fp32_on_the_cpu():
    from upscale.inference.options import pick_autocast

    assert pick_autocast("auto", torch.device("cuda")) is torch.float16
    assert pick_autocast(None, torch.device("mps")) is torch.float16
    assert pick_autocast("auto", torch.device("cpu")) is None
    assert pick_autocast("bf16", torch.device("cpu")) is torch.bfloat16


def test_a_tile_that_overflows_fp16_is_redone_in_fp32():
    torch.manual_seed(0)
    net = create_model("fsrcnn", 2).eval()
    with torch.no_grad():
        net.body[2].weight.mul_(1e8)  # the shrinking layer's outputs go far beyond fp16's 65504
    spec = get_spec("fsrcnn")
    x = torch.rand(1, 1, 12, 10)
    with torch.inference_mode():
        full = make_pipeline(spec, net, 2)(x)
        half = make_pipeline(spec, net, 2, torch.float16)(x)
        with torch.autocast("cpu", dtype=torch.float16):
            raw = net(x)
    assert not torch.isfinite(raw).all()  # without the fallback, fp16 would write inf/NaN
    assert torch.isfinite(full).all()
    assert torch.equal(half, full)


def test_the_engine_never_changes_a_network_handed_to_it():
    """from_module copies: the caller's network keeps its mode, memory format and parameters."""
    from upscale import create_model
    from upscale.inference.loading import from_module

    net = create_model("espcn", 2).train()
    before = {k: (v.stride(), v.device, v.clone()) for k, v in net.state_dict().items()}
    model = from_module("espcn", 2, net)
    upscale_image(torch.rand(1, 3, 10, 12), model, tile=0)
    assert net.training
    for key, value in net.state_dict().items():
        stride, device, data = before[key]
        assert (value.stride(), value.device) == (stride, device) and torch.equal(value, data), key
    assert model.net is not net
