"""The command-line contract: default command, --version/--help everywhere, errors and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from upscale import __version__
from upscale.cli.app import route_default

COMMANDS = ["upscale", "eval", "train", "bench", "models", "demo", "compare", "zoo", "curve", "weights"]


@pytest.mark.parametrize("args", [[], *[[c] for c in COMMANDS], ["weights", "add"], ["weights", "store"], ["weights", "verify"]])
def test_version_and_help_on_every_level(cli, args):
    version = cli([*args, "--version"])
    assert version.exit_code == 0 and version.stdout.strip() == f"upscale {__version__}"
    shown = cli([*args, "--help"])
    assert shown.exit_code == 0 and "Usage" in shown.stdout


@pytest.mark.parametrize(
    "args,expected",
    [
        (["photo.jpg", "--model", "rdn", "-x", "4"], ["upscale", "photo.jpg", "--model", "rdn", "-x", "4"]),
        (["--model", "rdn", "photo.jpg"], ["upscale", "--model", "rdn", "photo.jpg"]),
        (["--debug", "photo.jpg"], ["--debug", "upscale", "photo.jpg"]),
        (["eval", "--set", "Set5"], ["eval", "--set", "Set5"]),
        (["upscale", "photo.jpg"], ["upscale", "photo.jpg"]),
        (["--version"], ["--version"]),
        (["--help"], ["--help"]),
        ([], []),
    ],
)
def test_default_command_routing(args, expected):
    assert route_default(args, set(COMMANDS)) == expected


def test_default_command_is_the_upscale_command(cli):
    routed, explicit = cli(["photo.jpg", "--model", "rdn", "-x", "4"]), cli(["upscale", "photo.jpg", "--model", "rdn", "-x", "4"])
    assert routed.exit_code == explicit.exit_code
    assert routed.stderr == explicit.stderr


@pytest.mark.parametrize("scale", ["abc", "0", "1", "2,x"])
def test_bad_scale_is_a_usage_error(cli, scale):
    result = cli(["eval", "--set", "Set5", "-x", scale])
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1


def test_unknown_option_is_a_usage_error(cli):
    result = cli(["eval", "--no-such-option"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


def test_unknown_set_lists_known_names_and_exits_1(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli(["eval", "--set", "NoSuchSet", "-x", "2"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    for name in ("Set5", "Set14", "BSD100", "Urban100", "Manga109"):
        assert name in result.stderr


def test_empty_folder_lists_known_names_and_exits_1(cli, tmp_path):
    result = cli(["eval", "--set", str(tmp_path), "-x", "2"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "Set14" in result.stderr


def test_unknown_model_is_a_usage_error_naming_the_models(cli, tmp_path):
    result = cli(["eval", "--model", "nosuchnet", "--set", str(tmp_path)])
    assert result.exit_code == 2 and "bicubic" not in result.stdout
    assert result.stderr.count("\n") == 1 and "unknown model" in result.stderr


def test_debug_shows_the_traceback(cli, tmp_path):
    plain = cli(["eval", "--set", str(tmp_path)])
    debug = cli(["--debug", "eval", "--set", str(tmp_path)])
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
    assert plain.exit_code == debug.exit_code == 1


def test_eval_on_a_folder_of_images(cli, tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    Image.fromarray(rng.integers(0, 256, (36, 36), dtype=np.uint8)).save(tmp_path / "gray.png")
    (tmp_path / "notes.txt").write_text("not an image")
    result = cli(["eval", "--set", str(tmp_path), "-x", "2,3", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["set"], r["scale"], r["n_images"]) for r in rows] == [(tmp_path.name, 2, 3), (tmp_path.name, 3, 3)]
    assert all(0 < r["ssim"] < 1 and 5 < r["psnr"] < 40 for r in rows)


def test_eval_measures_every_scale_a_model_has_weights_for_by_default(cli, tmp_path, monkeypatch, random_weights):
    folder, images = tmp_path / "weights", tmp_path / "set"
    folder.mkdir()
    images.mkdir()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(images / "a.png")
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))

    def scales(*args):
        result = cli(["eval", "--set", str(images), "--json", *args])
        assert result.exit_code == 0, result.stderr
        return [(r["model"], r["scale"]) for r in json.loads(result.stdout)]

    none = cli(["eval", "--model", "lapsrn", "--set", str(images)])
    assert none.exit_code == 1 and "no shipped weights for lapsrn x2" in none.stderr
    random_weights(folder, "lapsrn", 2)
    assert scales("--model", "lapsrn,bicubic") == [("lapsrn", 2), ("bicubic", 2), ("bicubic", 3), ("bicubic", 4)]
    x4 = random_weights(folder, "lapsrn", 4)
    assert scales("--model", "lapsrn") == [("lapsrn", 2), ("lapsrn", 3), ("lapsrn", 4)]  # x3 runs through x4
    random_weights(folder, "lapsrn", 8)
    assert scales("--model", "lapsrn") == [("lapsrn", s) for s in (2, 3, 4, 8)]
    assert scales("--model", "lapsrn", "--weights", str(x4)) == [("lapsrn", 3), ("lapsrn", 4)]  # that file's scales
    assert scales("--model", "lapsrn", "-x", "8") == [("lapsrn", 8)]  # named scales win


def test_eval_table_and_per_image(cli, tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "only.png")
    result = cli(["eval", "--set", str(tmp_path), "-x", "2", "--per-image"])
    assert result.exit_code == 0
    assert "PSNR" in result.stdout and "only" in result.stdout


def test_demo_needs_no_files_and_writes_a_comparison(cli, tmp_path):
    out = tmp_path / "demo"
    result = cli(["demo", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    for name in ("hr.png", "lr_x4.png", "bicubic_x4.png", "comparison.png"):
        assert (out / name).is_file()
    hr, lr = Image.open(out / "hr.png"), Image.open(out / "lr_x4.png")
    assert (hr.width, hr.height) == (lr.width * 4, lr.height * 4)
    assert "bicubic" in result.stdout
