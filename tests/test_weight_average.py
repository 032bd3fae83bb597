"""``--ema``: the weight average that validation, best and export use, and how it resumes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from upscale.errors import UsageError
from upscale.hub.weights import read_weights
from upscale.training.average import WeightAverage
from upscale.training.trainer import train

from test_train import one_image, tiny_config  # noqa: F401  (a fixture and a helper)


def test_an_update_moves_each_parameter_by_one_minus_the_decay_and_copies_buffers():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    average = WeightAverage(net, decay=0.75, since=5)
    start = {k: v.clone() for k, v in average.net.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
        net[1].running_mean.fill_(3.0)
        net[1].num_batches_tracked.fill_(7)
    live = {k: v.clone() for k, v in net.state_dict().items()}
    average.update(net, step=5 + 1000)  # long past the warm-up: the decay asked for
    mine = average.net.state_dict()
    for key in ("0.weight", "0.bias", "1.weight", "1.bias"):
        assert torch.allclose(mine[key], 0.75 * start[key] + 0.25 * live[key]), key
    assert torch.equal(mine["1.running_mean"], live["1.running_mean"]) and int(mine["1.num_batches_tracked"]) == 7
    assert all(torch.equal(v, live[k]) for k, v in net.state_dict().items())  # the live network is only read
    assert not any(p.requires_grad for p in average.net.parameters()) and not average.net.training


def test_a_young_average_warms_up_to_its_decay_counted_from_where_it_started():
    torch.manual_seed(0)
    net = nn.Conv2d(1, 1, 3)
    average = WeightAverage(net, decay=0.995, since=100)
    # (1 + t) / (10 + t) from the start of the average, capped by the decay
    assert [average.decay_at(s) for s in (100, 101, 190)] == [pytest.approx(0.1), pytest.approx(2 / 11),
                                                             pytest.approx(91 / 100)]
    assert average.decay_at(100 + 1800) == 0.995 and average.decay_at(100 + 1780) < 0.995
    start = average.net.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    average.update(net, step=100)  # the first update: 90% of the way to the live weights
    assert torch.allclose(average.net.weight, 0.1 * start + 0.9 * net.weight)


def test_the_trainer_warms_the_average_up_from_the_step_it_started(one_image, tmp_path):  # noqa: F811
    """An average started on resume at step 3: its first update (at step 3) is 90% of the way to the live weights."""
    data = one_image(48)
    run = tmp_path / "run"
    train(tiny_config("espcn", data, run, steps=3, patch=10))
    start = torch.load(run / "last.pt", weights_only=True)["model"]
    train(tiny_config("espcn", data, run, steps=4, patch=10, resume=True, ema=0.995))
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["ema"]["since"] == 3
    for key, live in state["model"].items():
        assert not torch.allclose(live, start[key]), key  # the step moved it, so the check below can fail
        assert torch.allclose(state["ema"]["weights"][key], 0.1 * start[key] + 0.9 * live, atol=1e-6), key


def _ema_of(run):
    return torch.load(run / "last.pt", weights_only=True)["ema"]


def test_validation_and_export_use_the_average_and_the_log_shows_both(one_image, tmp_path):  # noqa: F811
    data = one_image(48)
    result = train(tiny_config("espcn", data, tmp_path / "run", steps=4, val=str(data), val_every=4, patch=10,
                               ema=0.5, export=tmp_path / "w"))
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    (val,) = [r for r in records if "val_psnr" in r]
    assert val["step"] == 4 and result.best_psnr == val["val_psnr"] != val["val_psnr_live"]
    exported, meta = read_weights(tmp_path / "w" / "espcn_x2.safetensors")
    assert meta["ema"] == {"decay": 0.5, "since_step": 0, "warmup": "min(decay, (1 + t) / (10 + t))"} and meta["val"]["step"] == 4
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert all(torch.equal(exported[k], state["ema"]["weights"][k]) for k in exported)
    assert not all(torch.equal(exported[k], state["model"][k]) for k in exported)


def test_an_average_resumes_bitwise_and_cannot_be_dropped(one_image, tmp_path):  # noqa: F811
    data = one_image(48)
    cfg = dict(augment=True, patch=10, ema=0.9)
    train(tiny_config("espcn", data, tmp_path / "straight", steps=6, **cfg))
    split = tmp_path / "split"
    train(tiny_config("espcn", data, split, steps=3, **cfg))
    train(tiny_config("espcn", data, split, steps=6, resume=True, **cfg))
    a, b = _ema_of(tmp_path / "straight"), _ema_of(split)
    assert a["since"] == b["since"] == 0
    assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
    with pytest.raises(UsageError, match="keeps a weight average; resume with --ema"):
        train(tiny_config("espcn", data, split, steps=8, resume=True, augment=True, patch=10))


def test_a_run_without_an_average_starts_one_on_resume(one_image, tmp_path):  # noqa: F811
    data = one_image(48)
    run = tmp_path / "run"
    train(tiny_config("espcn", data, run, steps=3, patch=10))
    assert torch.load(run / "last.pt", weights_only=True)["ema"] is None
    logs = []
    train(tiny_config("espcn", data, run, steps=4, patch=10, resume=True, ema=0.995), log=logs.append)
    assert {"ema": 0.995, "since_step": 3} in logs
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["ema"]["since"] == 3 and state["ema"]["decay"] == 0.995


@pytest.mark.parametrize("decay", ["0", "1", "1.5"])
def test_a_decay_outside_zero_to_one_is_one_line(one_image, tmp_path, cli, decay):  # noqa: F811
    result = cli(["train", "--model", "espcn", "-x", "2", "--data", str(one_image(24)), "--val", "none",
                  "--steps", "1", "--ema", decay, "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "--ema" in result.stderr
    assert not (tmp_path / "run").exists()
