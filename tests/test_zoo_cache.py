"""Zoo rows kept in the user cache: reused only when the first set, measured again, repeats."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from upscale.evaluation.datasets import BenchmarkSet, list_images
from upscale.hub.manifest import make_entry, write_manifest
from upscale.reports.zoo import zoo_markdown, zoo_rows


def _set(folder, name, seed):
    folder = folder / name
    folder.mkdir()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(folder / "a.png")
    return BenchmarkSet(name, folder, list_images(folder))


def _scores(row):
    return [(r.set, r.psnr, r.ssim, r.images) for r in row.results]  # not the seconds


def _run(benches, cache, reuse=True):
    tasks = set()
    rows = zoo_rows(benches, lambda p: tasks.add(p.task), time_cpu=False, cache=cache, reuse=reuse)
    return rows, tasks


def _ship(tmp_path, monkeypatch, random_weights, name, scale):
    """A weights folder of its own holding one random-init file, listed in its manifest."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    path = random_weights(folder, name, scale)
    write_manifest({path.name: make_entry(path, {f"x{scale}": {}})}, folder)


def test_a_kept_row_is_reused_only_while_the_first_set_repeats(tmp_path, monkeypatch, random_weights):
    _ship(tmp_path, monkeypatch, random_weights, "fsrcnn", 2)
    first, second = _set(tmp_path, "first", 1), _set(tmp_path, "second", 2)
    cache = tmp_path / "zoo"

    measured, tasks = _run([first, second], cache)
    assert not measured[0].cached and "fsrcnn second x2" in tasks
    assert len(list(cache.glob("*.json"))) == 1

    reused, tasks = _run([first, second], cache)
    assert reused[0].cached and "fsrcnn first x2" in tasks and "fsrcnn second x2" not in tasks
    assert _scores(reused[0]) == _scores(measured[0]) and reused[0].drift == measured[0].drift
    assert "1 of 1 rows measured first again" in zoo_markdown(reused, ["first", "second"], "upscale zoo")
    assert "from the user cache" not in zoo_markdown(measured, ["first", "second"], "upscale zoo")

    # A kept first set that no longer agrees (as after a code change that moves a score): all measured anew.
    kept = next(cache.glob("*.json"))
    data = json.loads(kept.read_text())
    data["results"][0]["images"][0]["psnr"] += 0.01
    kept.write_text(json.dumps(data))
    stale, tasks = _run([first, second], cache)
    assert not stale[0].cached and "fsrcnn second x2" in tasks
    assert json.loads(kept.read_text())["results"][0]["images"][0]["psnr"] == stale[0].results[0].images[0].psnr

    fresh, tasks = _run([first, second], cache, reuse=False)
    assert not fresh[0].cached and "fsrcnn second x2" in tasks

    # Other images in a later set: another key, so measured.
    Image.fromarray(np.zeros((24, 30, 3), dtype=np.uint8)).save(second.root / "a.png")
    changed, tasks = _run([first, second], cache)
    assert not changed[0].cached and "fsrcnn second x2" in tasks
    assert changed[0].results[1].psnr != measured[0].results[1].psnr


def test_an_unreadable_kept_row_is_measured_again(tmp_path, monkeypatch, random_weights):
    _ship(tmp_path, monkeypatch, random_weights, "espcn", 3)
    benches, cache = [_set(tmp_path, "first", 3)], tmp_path / "zoo"
    _run(benches, cache)
    next(cache.glob("*.json")).write_text("{not json")
    rows, _ = _run(benches, cache)
    assert not rows[0].cached and np.isfinite(rows[0].results[0].psnr)
