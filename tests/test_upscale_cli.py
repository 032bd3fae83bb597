"""`upscale IMAGE...` and `upscale eval --model NET` end to end, with weights made by the test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from upscale.models import list_models


def make_image(path, size=(20, 16), mode="RGB"):
    arr = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def test_writes_beside_the_input_and_default_routing(cli, tmp_path, random_weights):
    w = random_weights(tmp_path, "fsrcnn", 3)
    src = make_image(tmp_path / "photo.png")
    result = cli([str(src), "--model", "fsrcnn", "-x", "3", "--weights", str(w)])
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "photo_fsrcnn_x3.png"
    assert Image.open(out).size == (60, 48)
    again = cli([str(src), "--model", "fsrcnn", "-x", "3", "--weights", str(w)])
    assert again.exit_code == 0 and "skipped" in again.stderr
    assert not list(tmp_path.glob(".*partial"))


def test_output_file_folder_json_and_failures(cli, tmp_path, random_weights):
    w = random_weights(tmp_path, "espcn", 2)
    srcs = tmp_path / "in"
    srcs.mkdir()
    make_image(srcs / "a.png")
    make_image(srcs / "b.png", mode="L")
    (srcs / "broken.png").write_bytes(b"\x89PNG not really")
    out_dir = tmp_path / "out"
    result = cli([str(srcs), "-m", "espcn", "-x", "2", "-w", str(w), "-o", str(out_dir), "--json"])
    assert result.exit_code == 1  # one file failed; the others were still written
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # one JSON line per input
    status = {r["input"].split("/")[-1]: r["status"] for r in rows}
    assert status == {"a.png": "ok", "b.png": "ok", "broken.png": "failed"}
    assert Image.open(out_dir / "b_espcn_x2.png").mode == "L"
    single = cli([str(srcs / "a.png"), "-m", "espcn", "-x", "2", "-w", str(w), "-o", str(tmp_path / "one.png")])
    assert single.exit_code == 0 and Image.open(tmp_path / "one.png").size == (40, 32)


def test_never_overwrites_the_input(cli, tmp_path, random_weights):
    w = random_weights(tmp_path, "espcn", 2)
    src = make_image(tmp_path / "keep.png")
    before = src.read_bytes()
    result = cli([str(src), "-m", "espcn", "-x", "2", "-w", str(w), "-o", str(src), "--overwrite"])
    assert result.exit_code == 1 and "overwrite the input" in result.stderr
    assert src.read_bytes() == before


def test_missing_weights_and_inputs_are_one_line_errors(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(tmp_path))
    src = make_image(tmp_path / "p.png")
    no_weights = cli([str(src), "--model", "rdn", "-x", "4"])
    assert no_weights.exit_code == 1 and no_weights.stderr.count("\n") == 1
    assert "upscale train --model rdn -x 4" in no_weights.stderr
    missing = cli([str(tmp_path / "nope.png"), "--model", "rdn"])
    assert missing.exit_code == 1 and "no such file" in missing.stderr


@pytest.mark.parametrize("name,scale", [("fsrcnn", 2), ("rdn", 2), ("lapsrn", 3)])
def test_eval_runs_networks_with_weights(cli, tmp_path, name, scale, random_weights):
    w = random_weights(tmp_path, name, scale)
    data = tmp_path / "set"
    data.mkdir()
    make_image(data / "x.png", size=(24, 24))
    result = cli(["eval", "--model", name, "--set", str(data), "-x", str(scale), "--weights", str(w), "--json"])
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["model"] == name and row["n_images"] == 1 and np.isfinite(row["psnr"])


def test_models_json_lists_the_nine(cli):
    result = cli(["models", "--json"])
    assert result.exit_code == 0
    names = [r["name"] for r in json.loads(result.stdout)]
    assert names == list_models()
    # The mission's nine networks, in the listing order: SRGAN's generator trained on MSE is SRResNet.
    nine = ["srcnn", "fsrcnn", "espcn", "vdsr", "drcn", "lapsrn", "srdensenet", "rdn", "srresnet", "srgan"]
    assert names[:10] == nine


def test_bench_train_reports_a_training_step(cli, tmp_path):
    result = cli(["bench", "--train", "--model", "lapsrn", "-x", "4", "--batch", "2", "--patch", "8",
                  "--runs", "1", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert (row["model"], row["batch"], row["input_side"], row["target_side"]) == ("lapsrn", 2, 8, 32)
    assert row["median_step_seconds"] > 0 and row["peak_memory_bytes"] > 0
    readme = tmp_path / "R.md"
    readme.write_text("a\n<!-- upscale:train-bench -->\nold\n<!-- /upscale:train-bench -->\nb\n")
    written = cli(["bench", "--train", "--model", "espcn", "-x", "2", "--batch", "2", "--patch", "8",
                   "--runs", "1", "--device", "cpu", "--readme", str(readme)])
    assert written.exit_code == 0, written.stderr
    text = readme.read_text()
    assert "old" not in text and "| espcn | x2 | 2 |" in text and text.startswith("a\n") and text.endswith("b\n")
