"""`upscale train` on the CPU: every model learns, overfitting beats bicubic, resume is exact, DDP runs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from upscale.evaluation.bicubic import bicubic_planes
from upscale.evaluation.datasets import BenchmarkSet, list_images
from upscale.evaluation.evaluate import evaluate
from upscale.models import InputKind, get_spec, list_models
from upscale.errors import UsageError
from upscale.training.precision import Precision
from upscale.training.config import TrainConfig
from upscale.training.trainer import train


def picture(size: int, seed: int) -> Image.Image:
    """Edges, stripes and a gradient: something a network can learn to sharpen."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, 1 - x * y], -1) * 180 + 40
    img = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.integers(0, size, 2)
        draw.line([(int(x0), int(y0)), (int(rng.integers(0, size)), int(rng.integers(0, size)))], fill=tuple(int(v) for v in rng.integers(0, 256, 3)), width=2)
    return img


@pytest.fixture
def one_image(tmp_path):
    def make(size: int):
        folder = tmp_path / f"data{size}"
        folder.mkdir(exist_ok=True)
        picture(size, 0).save(folder / "a.png")
        return folder

    return make


def tiny_config(name, data, out, **kw):
    lr_model = get_spec(name).input_kind is InputKind.LR
    base = dict(model=name, scale=2, data=(data,), out=out, val=None, steps=12, batch=2,
                patch=12 if lr_model else 24, augment=False, device="cpu", log_every=1,
                precision=Precision.FP32)  # fp32: bf16 is chosen by timing, which differs between CPUs
    return TrainConfig(**{**base, **kw})


# Slow: RDN, DRCN and SRDenseNet take real optimiser steps.
@pytest.mark.slow
# SRGAN trains from SRResNet's weights: test_srgan_adversarial_phase_from_srresnet runs it.
@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).starts_from is None])
def test_every_model_learns_on_a_fixed_batch(name, one_image, tmp_path):
    # A 24x24 image and a 24 px HR patch without augmentation: every step sees the same
    # crop, so the loss must fall (VDSR still mixes scales 2/3/4 per sample, hence a window).
    logs = []
    train(tiny_config(name, one_image(24), tmp_path / "run"), log=logs.append)
    losses = [r["loss"] for r in logs if "loss" in r]
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses


# Slow: 800 real training steps, the fewest that reliably clear bicubic by 2 dB.
@pytest.mark.slow
def test_fsrcnn_overfits_one_image_well_above_bicubic(one_image, tmp_path):
    data = one_image(48)
    cfg = tiny_config("fsrcnn", data, tmp_path / "run", val=str(data), steps=800, batch=4, patch=24,
                      lr=3e-3, val_every=800, log_every=100, export=tmp_path / "w")
    result = train(cfg)
    bench = BenchmarkSet(data.name, data, list_images(data))
    bicubic = evaluate("bicubic", bicubic_planes, bench, 2).psnr
    assert result.best_psnr > bicubic + 2.0, (result.best_psnr, bicubic)
    assert (tmp_path / "w" / "fsrcnn_x2.safetensors").is_file()


def test_resume_is_bitwise_exact(one_image, tmp_path):
    data = one_image(48)
    straight = tmp_path / "straight"
    train(tiny_config("espcn", data, straight, steps=6, augment=True, patch=10))

    def stop_at_3(step):
        if step.task == "train" and step.done == 3:
            raise KeyboardInterrupt

    split = tmp_path / "split"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config("espcn", data, split, steps=6, augment=True, patch=10), progress=stop_at_3)
    assert torch.load(split / "last.pt", weights_only=True)["step"] == 3
    train(tiny_config("espcn", data, split, steps=6, augment=True, patch=10, resume=True))
    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(split / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_an_existing_run_is_not_overwritten(one_image, tmp_path, cli):
    data = one_image(24)
    args = ["train", "--model", "espcn", "-x", "2", "--data", str(data), "--val", "none", "--steps", "2",
            "--batch", "2", "--patch", "12", "--out", str(tmp_path / "run"), "--device", "cpu"]
    assert cli(args).exit_code == 0
    again = cli(args)
    assert again.exit_code == 2 and "--resume" in again.stderr


def test_the_time_limit_is_said_when_the_run_starts(one_image, tmp_path, cli):
    # A bare number is seconds: the user sees the limit as a duration before any step runs.
    args = ["train", "--model", "espcn", "-x", "2", "--data", str(one_image(24)), "--val", "none", "--steps", "2",
            "--batch", "2", "--patch", "12", "--out", str(tmp_path / "run"), "--device", "cpu", "--time-limit", "135"]
    result = cli(args)
    assert result.exit_code == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("time limit 2m15s: the run stops before "), first
    start = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["time_limit_s"] == 135


def test_bad_inputs(one_image, tmp_path, cli):
    data = one_image(24)
    (data / "broken.png").write_bytes(b"\x89PNG but not")
    ok = cli(["train", "--model", "espcn", "-x", "2", "--data", str(data), "--val", "none", "--steps", "2",
              "--batch", "2", "--patch", "12", "--out", str(tmp_path / "r1"), "--device", "cpu"])
    assert ok.exit_code == 0, ok.stderr
    assert "broken.png" in ok.stderr and "warning" in ok.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (empty, tmp_path / "missing"):
        bad = cli(["train", "--model", "espcn", "-x", "2", "--data", str(folder), "--val", "none",
                   "--out", str(tmp_path / "r2"), "--device", "cpu"])
        assert bad.exit_code == 1 and bad.stderr.count("\n") == 1, bad.stderr


def test_ddp_two_gloo_processes(one_image, tmp_path):
    data = one_image(24)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "upscale",
           "train", "--model", "fsrcnn", "-x", "2", "--data", str(data), "--val", "none", "--steps", "3",
           "--batch", "2", "--patch", "12", "--out", str(out), "--device", "cpu", "--log-every", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 3
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[0]["world"] == 2
    assert sum(1 for r in records if r.get("event") == "start") == 1  # rank 0 alone writes


# Slow: SRResNet plus its discriminator, a few steps of each phase.
@pytest.mark.slow
def test_srgan_adversarial_phase_from_srresnet(one_image, tmp_path):
    data = one_image(48)
    pre = tiny_config("srresnet", data, tmp_path / "pre", steps=3, patch=12, export=tmp_path / "w")
    train(pre)
    srresnet = tmp_path / "w" / "srresnet_x2.safetensors"
    assert srresnet.is_file()
    logs = []
    gan = tiny_config("srgan", data, tmp_path / "gan", steps=4, patch=12, init=srresnet,
                      export=tmp_path / "w", log_every=1)
    train(gan, log=logs.append)
    steps = [r for r in logs if "d_loss" in r]
    assert len(steps) == 4 and all(np.isfinite([r["loss"], r["d_loss"], r["content"]]).all() for r in steps)
    from upscale.hub.weights import read_weights

    _, meta = read_weights(tmp_path / "w" / "srgan_x2.safetensors")
    assert meta["arch"] == "srgan" and meta["variant"] == "srgan-mse"
    assert meta["init"]["file"] == "srresnet_x2.safetensors"
    state = torch.load(tmp_path / "gan" / "last.pt", weights_only=True)
    assert state["adversary"]["variant"] == "srgan-mse" and "disc" in state["adversary"]
    # Resumed without --init: the checkpoint holds the weights, and the export still names its start.
    # (The same --steps: SRGAN's step schedule divides the rate by 10 half way through them.)
    (tmp_path / "w" / "srgan_x2.safetensors").unlink()
    train(dataclasses.replace(gan, init=None, resume=True))
    _, meta = read_weights(tmp_path / "w" / "srgan_x2.safetensors")
    assert meta["steps"] == 4 and meta["init"]["file"] == "srresnet_x2.safetensors"


def test_srgan_needs_srresnets_weights(one_image, tmp_path):
    from upscale.errors import UsageError

    data = one_image(24)
    with pytest.raises(UsageError, match="srresnet's weights: pass --init"):
        train(tiny_config("srgan", data, tmp_path / "a"))
    other = tmp_path / "espcn_x2.safetensors"
    train(tiny_config("espcn", data, tmp_path / "b", steps=1, export=tmp_path))
    with pytest.raises(UsageError, match="weights of 'espcn', not 'srgan' or 'srresnet'"):
        train(tiny_config("srgan", data, tmp_path / "c", init=other))


def test_bench_times_srgans_whole_adversarial_step():
    # The same generator at the same batch: SRGAN's step adds the discriminator's two
    # updates, so it counts more work than SRResNet's supervised step.
    from upscale.reports.train_bench import bench_train_step

    rows = {name: bench_train_step(name, 4, device="cpu", precision=Precision.FP32, batch=1, patch=12, runs=1)
            for name in ("srresnet", "srgan")}
    assert rows["srgan"].step_tflop > 1.5 * rows["srresnet"].step_tflop
    # Timing it (as --precision auto does before a run) leaves the run's random state as it was.
    from upscale.models import create_model
    from upscale.training.precision import StepMode
    from upscale.training.recipes import recipe_for
    from upscale.training.step import time_steps

    net, x, y = create_model("srgan", 4), torch.rand(1, 3, 6, 6), torch.rand(1, 3, 24, 24)
    before = torch.random.get_rng_state()
    time_steps(get_spec("srgan"), recipe_for("srgan"), net, StepMode(Precision.FP32, False), x, y,
               torch.device("cpu"), 0)
    assert torch.equal(before, torch.random.get_rng_state())


def test_auto_precision_on_a_gpu_keeps_fp16_from_an_adversarial_step(monkeypatch):
    from upscale.training.adversarial import Adversary
    from upscale.training.precision import choose_mode
    from upscale.training.recipes import recipe_for

    never = lambda mode: pytest.fail("a GPU's mode is not chosen by timing")  # noqa: E731
    cuda = torch.device("cuda")
    assert choose_mode(Precision.AUTO, cuda, never)[0].precision is Precision.FP16
    for has_bf16, expected in ((True, Precision.BF16), (False, Precision.FP32)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: has_bf16)
        assert choose_mode(Precision.AUTO, cuda, never, fp16=False)[0].precision is expected
    # Asked for explicitly, fp16 is refused where the step is built (trainer and bench alike).
    with pytest.raises(UsageError, match="bf16 or fp32, not fp16"):
        Adversary(get_spec("srgan"), recipe_for("srgan"), torch.device("cpu"), torch.float16, lambda m: m, None)


def test_srgan_mse_content_loss_is_the_papers_mse_on_images_in_minus_one_to_one(monkeypatch, tmp_path):
    # The paper's MSE is on HR in [-1, 1]; with ours in [0, 1] it would weigh a quarter as much
    # against 1e-3 x the adversarial loss.
    from upscale.training.adversarial import Adversary
    from upscale.training.recipes import recipe_for

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no VGG19 file: the SRGAN-MSE variant
    adversary = Adversary(get_spec("srgan"), recipe_for("srgan"), torch.device("cpu"), None, lambda m: m, None)
    assert adversary.variant == "srgan-mse"
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    paper = ((2 * sr - 1) - (2 * hr - 1)).square().mean()
    assert torch.allclose(adversary.content(sr, hr), paper, rtol=1e-6, atol=0)


def test_vgg54_content_loss_from_a_local_file(tmp_path):
    from upscale.training.vgg import VGG54, find_vgg_weights, load_vgg54

    torch.manual_seed(0)
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in VGG54().features.state_dict().items()}, path)
    vgg = load_vgg54(path)
    assert find_vgg_weights(path) == path
    out = vgg(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 512, 2, 2)
    torch.save({"classifier.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    from upscale.errors import WeightsError

    with pytest.raises(WeightsError):
        load_vgg54(tmp_path / "bad.pth")


def test_sigterm_saves_a_checkpoint_and_exits_143(one_image, tmp_path):
    """A scheduler's SIGTERM (preemption, time limit) ends training like Ctrl-C: checkpoint, then exit."""
    import signal
    import time

    data, run = one_image(32), tmp_path / "run"
    cmd = [sys.executable, "-m", "upscale", "train", "--model", "espcn", "-x", "2", "--data", str(data),
           "--val", "none", "--steps", "1000000", "--batch", "2", "--patch", "10", "--log-every", "1",
           "--out", str(run), "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        seen = []
        while not seen or not seen[-1].startswith("step="):  # a log line per step on stderr once training runs
            seen.append(proc.stderr.readline())
            assert seen[-1] and time.monotonic() < deadline, "".join(seen)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # never leave a million-step run behind
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "terminated; checkpoint saved" in stderr
    assert torch.load(run / "last.pt", weights_only=True)["step"] >= 1


def _weights_of(run) -> dict:
    return torch.load(run / "last.pt", weights_only=True)["model"]


def test_time_limit_resume_extend_and_decay_equal_one_uninterrupted_run(one_image, tmp_path):
    data = one_image(48)
    cfg = dict(augment=True, patch=10, val=str(data), val_every=100)
    straight = train(tiny_config("espcn", data, tmp_path / "straight", steps=8, decay_steps=3, **cfg))
    assert not straight.time_limited and straight.steps == 8
    run = tmp_path / "split"
    # A time limit already spent stops after the first step, with a checkpoint and exported weights.
    first = train(tiny_config("espcn", data, run, steps=4, decay_steps=0, time_limit=1e-9,
                              export=tmp_path / "w", **cfg))
    assert first.time_limited and first.steps == 1 and first.total_steps == 4
    assert (tmp_path / "w" / "espcn_x2.safetensors").is_file() and first.best_psnr is not None
    assert train(tiny_config("espcn", data, run, steps=4, decay_steps=0, resume=True, **cfg)).steps == 4
    # Extending with a decay that would start before step 4 would rewrite history: refused.
    with pytest.raises(UsageError, match="learning rate of step 3, which the run has already taken"):
        train(tiny_config("espcn", data, run, steps=8, decay_steps=6, resume=True, **cfg))
    last = train(tiny_config("espcn", data, run, steps=8, decay_steps=3, resume=True, **cfg))
    assert last.steps == 8 and not last.time_limited
    a, b = _weights_of(tmp_path / "straight"), _weights_of(run)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    lrs = [json.loads(line).get("lr") for line in (run / "log.jsonl").read_text().splitlines()]
    lrs = [lr for lr in lrs if lr is not None]
    assert len(lrs) == 8 and lrs[:6] == [lrs[0]] * 6 and lrs[7] < lrs[6] < lrs[5]  # stable, then decaying


def test_resume_refuses_another_recipe(one_image, tmp_path):
    data = one_image(24)
    train(tiny_config("espcn", data, tmp_path / "run", steps=2))
    with pytest.raises(UsageError, match="another recipe.*batch"):
        train(tiny_config("espcn", data, tmp_path / "run", steps=4, batch=3, resume=True))
    with pytest.raises(UsageError, match="below"):
        train(tiny_config("espcn", data, tmp_path / "run", steps=1, resume=True))


def test_validation_leaves_the_trained_network_as_it_was(one_image, tmp_path):
    from upscale.evaluation.datasets import BenchmarkSet
    from upscale.training.trainer import Run

    data = one_image(24)
    run = Run(tiny_config("fsrcnn", data, tmp_path / "run"), log=lambda r: None)
    run.prepare(None)
    run.net.train()
    before = {k: (v.stride(), v.dtype) for k, v in run.net.state_dict().items()}
    run.validate(BenchmarkSet(data.name, data, list_images(data)))
    assert run.net.training
    assert {k: (v.stride(), v.dtype) for k, v in run.net.state_dict().items()} == before


def test_a_multi_scale_model_is_validated_and_chosen_at_every_scale(one_image, tmp_path):
    from upscale.inference.loading import from_module
    from upscale.evaluation.restorers import network_planes
    from upscale.hub.weights import read_weights
    from upscale.inference.options import InferenceOptions, InferencePrecision
    from upscale.training.trainer import Run

    data = one_image(48)
    bench = BenchmarkSet(data.name, data, list_images(data))
    run = Run(tiny_config("vdsr", data, tmp_path / "run", val=str(data)), log=lambda r: None)
    run.prepare(None)
    run.cfg.out.mkdir(parents=True)
    values = run.validate(bench)
    exact = InferenceOptions(tile=0, device="cpu", precision=InferencePrecision.FP32)
    expected = {s: evaluate("vdsr", network_planes(from_module("vdsr", s, run.net), exact), bench, s).psnr
                for s in (2, 3, 4)}
    assert {k: values[f"val_psnr_x{k}"] for k in (2, 3, 4)} == pytest.approx(expected, abs=1e-9)
    assert values["val_psnr"] == pytest.approx(sum(expected.values()) / 3, abs=1e-9)
    assert len(set(expected.values())) == 3  # three measurements, not one taken thrice
    _, meta = read_weights(run.cfg.out / "best.safetensors")
    assert meta["val"]["scales"] == [2, 3, 4] and meta["val"]["psnr"] == pytest.approx(values["val_psnr"])
    # A single-scale model is measured at its own scale only.
    single = Run(tiny_config("fsrcnn", data, tmp_path / "single", val=str(data)), log=lambda r: None)
    single.prepare(None)
    single.cfg.out.mkdir(parents=True)
    assert set(single.validate(bench)) == {"val_psnr"}


def test_a_zero_output_recipe_starts_a_residual_network_as_its_input(one_image, tmp_path):
    """VDSR's recipe starts its last layer at zero: the fresh network is the identity on its
    bicubic input. --init replaces it; a recipe without it keeps the random last layer."""
    from upscale.training.trainer import Run

    data = one_image(24)
    x = torch.rand(1, 1, 30, 30)
    vdsr = Run(tiny_config("vdsr", data, tmp_path / "vdsr"), log=lambda r: None)
    assert get_spec("vdsr").recipe.zero_output
    with torch.no_grad():
        assert torch.equal(vdsr.net(x), x)
        assert vdsr.net.body[0].weight.abs().sum() > 0  # only the last layer
    # DRCN: every one of its predictions adds the zeroed reconstruction to the input, and the
    # ensemble weights sum to one.
    drcn = Run(tiny_config("drcn", data, tmp_path / "drcn"), log=lambda r: None)
    assert get_spec("drcn").recipe.zero_output
    with torch.no_grad():
        assert torch.allclose(drcn.net(x), x, atol=1e-6, rtol=0)
        assert all(torch.allclose(p, x, atol=1e-6, rtol=0) for p in drcn.net.forward_intermediates(x))
        assert drcn.net.recursive.weight.abs().sum() > 0
    init = _save_model(tmp_path / "init.safetensors", "vdsr", 2, seed=3)
    started = Run(tiny_config("vdsr", data, tmp_path / "started", init=init), log=lambda r: None)
    with torch.no_grad():
        assert not torch.equal(started.net(x), x)
    fsrcnn = Run(tiny_config("fsrcnn", data, tmp_path / "fsrcnn"), log=lambda r: None)
    assert not get_spec("fsrcnn").recipe.zero_output and fsrcnn.net.deconv.weight.abs().sum() > 0
    from upscale.errors import ModelError
    from upscale.training.init import start_as_interpolation

    with pytest.raises(ModelError, match="no residual layers"):  # a recipe asking it of a network that names none
        start_as_interpolation(fsrcnn.net)


def test_weight_decay_is_decoupled_from_adams_normalisation():
    from upscale.models.vdsr import RECIPE
    from upscale.training.step import make_optimizer

    assert RECIPE.weight_decay > 0
    torch.manual_seed(0)
    net = torch.nn.Conv2d(8, 8, 3)
    before = net.weight.detach().clone()
    optimizer = make_optimizer(RECIPE, net)
    for _ in range(100):
        for p in net.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()
    # Decoupled, each step scales the weights by 1 - lr * decay, rounded in float32 (two
    # roundings of at most 2^-24 each): 100 steps move them by at most 100 * (lr * decay +
    # 2^-23) of themselves. The decay added to the gradient would have moved each about lr
    # a step, 100 * lr in all: thousands of times more.
    moved = (before - net.weight.detach()).abs() / before.abs().clamp_min(1e-3)
    assert float(moved.max()) < 100 * (RECIPE.lr * RECIPE.weight_decay + 2.0**-23)


def _save_model(path, name, scale, seed):
    from upscale import create_model
    from upscale.hub.weights import describe, save_weights

    torch.manual_seed(seed)
    spec = get_spec(name)
    save_weights(path, create_model(name, scale), describe(spec, scale, spec.config_cls()))
    return path


@pytest.mark.parametrize("name,source,target,fresh_prefix", [
    ("fsrcnn", 3, 2, "deconv."),  # the FSRCNN paper: x2 and x4 share x3's convolutions
    ("rdn", 2, 4, "upsample."),  # the RDN paper: x3 and x4 fine-tuned from x2
])
def test_init_from_another_scale_loads_all_but_the_upsampler(tmp_path, name, source, target, fresh_prefix):
    from upscale import create_model
    from upscale.training.init import init_from_file

    path = _save_model(tmp_path / f"{name}_x{source}.safetensors", name, source, seed=1)
    torch.manual_seed(2)
    net = create_model(name, target)
    untouched = {k: v.clone() for k, v in net.state_dict().items()}
    report = init_from_file(net, get_spec(name), target, path)
    from upscale.hub.weights import read_weights

    src, _ = read_weights(path)
    state = net.state_dict()
    assert report.fresh and all(k.startswith(fresh_prefix) for k in report.fresh)
    assert set(report.loaded) == {k for k in state if not k.startswith(fresh_prefix)}
    for key in report.loaded:
        assert torch.equal(state[key], src[key]), key
    for key in report.fresh:
        assert torch.equal(state[key], untouched[key]), key


def test_init_lapsrn_x2_takes_the_first_level_of_x4_and_x8_skips_layers_of_another_type(tmp_path):
    """The x2 pyramid is x4's first level; x8 (5 convs a level) shares names, not layers, past its depth."""
    from upscale import create_model
    from upscale.hub.weights import read_weights
    from upscale.training.init import init_from_file

    path = _save_model(tmp_path / "lapsrn_x4.safetensors", "lapsrn", 4, seed=1)
    src, _ = read_weights(path)
    x2 = create_model("lapsrn", 2)
    report = init_from_file(x2, get_spec("lapsrn"), 2, path)
    assert report.fresh == () and set(report.unused) == {k for k in src if k.startswith("levels.1.")}

    x8 = create_model("lapsrn", 8)
    report = init_from_file(x8, get_spec("lapsrn"), 8, path)
    deconv = "levels.0.features.10.weight"  # a transposed conv in x8, the sixth conv in x4
    assert isinstance(x8.get_submodule("levels.0.features.10"), torch.nn.ConvTranspose2d)
    assert src[deconv].shape == x8.state_dict()[deconv].shape
    assert deconv in report.fresh and "levels.0.features.8.weight" in report.loaded
    assert not any(k.startswith("levels.2.") for k in report.loaded)
    for key in report.loaded:
        assert torch.equal(x8.state_dict()[key], src[key]), key


def test_init_errors_are_one_line(tmp_path, one_image, cli):
    data = one_image(24)
    other = _save_model(tmp_path / "espcn_x2.safetensors", "espcn", 2, seed=0)
    result = cli(["train", "--model", "fsrcnn", "-x", "2", "--data", str(data), "--val", "none", "--steps", "1",
                  "--init", str(other), "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "espcn" in result.stderr


def test_init_same_scale_continues_a_run_whose_state_was_lost(one_image, tmp_path):
    data = one_image(24)
    train(tiny_config("fsrcnn", data, tmp_path / "a", steps=3, export=tmp_path / "w"))
    logs = []
    train(tiny_config("fsrcnn", data, tmp_path / "b", steps=1, init=tmp_path / "w" / "fsrcnn_x2.safetensors"),
          log=logs.append)
    (record,) = [r for r in logs if "loaded" in r]
    assert record["fresh"] == [] and record["unused"] == [] and record["loaded"] > 0
    # The run folder's own log says what it started from, so its curve can follow its source's.
    start = json.loads((tmp_path / "b" / "log.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["init"]["file"] == "fsrcnn_x2.safetensors"
    assert start["init"]["steps"] == 3 and start["init"]["scale"] == 2


def test_parse_duration():
    import typer

    from upscale.cli.options import format_duration, parse_duration

    assert parse_duration("2h30m") == 9000 and parse_duration("90m") == 5400 and parse_duration("45s") == 45
    assert parse_duration("1.5h") == 5400 and parse_duration("120") == 120
    for bad in ("", "2x", "h", "0", "-5", "1h 2m"):
        with pytest.raises(typer.BadParameter):
            parse_duration(bad)
    # What the CLI prints reads back as the same duration.
    for text, printed in (("2h05m", "2h05m"), ("135", "2m15s"), ("45", "45s"), ("3h", "3h00m"), ("3661", "1h01m01s")):
        assert format_duration(parse_duration(text)) == printed
        assert parse_duration(printed) == parse_duration(text)


def test_a_run_of_the_older_step_schedule_continues_under_wsd():
    """Checkpoints written before the WSD schedule (RDN's step decay, DRCN's alpha fraction) still resume."""
    import dataclasses

    from upscale.training.recipes import (
        Schedule,
        first_lr_difference,
        recipe_for,
        recipe_from_dict,
        recipe_to_dict,
    )

    older = recipe_to_dict(dataclasses.replace(recipe_for("rdn"), schedule=Schedule.STEP, step_every=100_000))
    del older["decay_steps"], older["alpha_steps"]
    older["alpha_decay"] = 0.5  # a field that is gone
    restored = recipe_from_dict(older)
    assert restored.schedule is Schedule.STEP and restored.step_every == 100_000
    constant = dataclasses.replace(recipe_for("rdn"), decay_steps=0)
    assert first_lr_difference(restored, constant, 100_000) is None  # the same rate at every step taken
    decaying = dataclasses.replace(recipe_for("rdn"), steps=1000, decay_steps=900)
    assert first_lr_difference(restored, decaying, 500) == 101


def test_written_files_follow_the_umask_not_0600(tmp_path):
    from upscale.files import write_bytes_atomic

    path = _save_model(tmp_path / "fsrcnn_x3.safetensors", "fsrcnn", 3, seed=0)
    assert path.stat().st_mode & 0o777 == 0o644 & ~_current_umask()
    write_bytes_atomic(tmp_path / "x.bin", b"abc")
    assert (tmp_path / "x.bin").read_bytes() == b"abc" and not list(tmp_path.glob(".*.tmp"))


def _current_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
