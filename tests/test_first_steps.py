"""A new user's first commands: the default model, messages that say what to do, help at 80 columns."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from upscale.errors import UsageError, WeightsError
from upscale.hub.manifest import make_entry, write_manifest
from upscale.hub.choice import choose_model, shipped_models


def make_image(path, size=(20, 16)):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def shipped(tmp_path, monkeypatch, random_weights):
    """A weights folder with fsrcnn x2/x3 and espcn x2/x3, espcn scoring higher at x3 only."""
    folder = tmp_path / "weights"
    folder.mkdir()
    psnr = {("fsrcnn", 2): 36.0, ("fsrcnn", 3): 32.0, ("espcn", 2): 35.0, ("espcn", 3): 33.0}
    entries = {}
    for (name, scale), value in psnr.items():
        path = random_weights(folder, name, scale)
        entries[path.name] = make_entry(path, {f"x{scale}": {"Set5": {"psnr": value, "ssim": 0.9}}})
    write_manifest(entries, folder)
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    return folder


def test_auto_is_the_best_shipped_model_by_set5(shipped):
    assert [m.name for m in shipped_models(3)] == ["espcn", "fsrcnn"]
    assert choose_model("auto", 2) == "fsrcnn"
    assert choose_model("auto", 3) == "espcn"
    assert choose_model("vdsr", 3) == "vdsr"  # a named model is taken as it is
    with pytest.raises(WeightsError, match="no weights ship for x4"):
        choose_model("auto", 4)
    with pytest.raises(UsageError, match="no model supports x5"):
        choose_model("auto", 5)


def test_auto_with_a_weights_file_runs_that_file_s_architecture(tmp_path, random_weights):
    assert choose_model("auto", 3, random_weights(tmp_path, "espcn", 3)) == "espcn"


def test_default_command_says_which_model_ran_and_runs_each_scale(cli, shipped, tmp_path):
    src = make_image(tmp_path / "photo.png")
    result = cli([str(src), "-x", "2,3"])
    assert result.exit_code == 0, result.stderr
    assert "x2: running fsrcnn" in result.stderr and "x3: running espcn" in result.stderr
    assert Image.open(tmp_path / "photo_fsrcnn_x2.png").size == (40, 32)
    assert Image.open(tmp_path / "photo_espcn_x3.png").size == (60, 48)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["-x", "5"], 2, "no model supports x5"),
        (["--model", "espcn", "-x", "8"], 2, "espcn does not support x8"),
        (["-x", "2,3", "-o", "{tmp}/one.png"], 2, "several scales"),
        (["-x", "2,3", "--name", "{{stem}}_big.{{ext}}"], 2, "needs {scale}"),
        (["--model", "vdsr", "-x", "3"], 1, "weights ship for x3: espcn, fsrcnn"),
        (["-x", "4"], 1, "no weights ship for x4"),
    ],
)
def test_what_cannot_run_is_one_line_that_says_why(cli, shipped, tmp_path, args, code, message):
    src = make_image(tmp_path / "photo.png")
    result = cli([str(src), *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == code
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.glob("photo*")) == ["photo.png"]  # nothing was written


def test_eval_reports_missing_weights_before_looking_for_data(cli, shipped, tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_DATA", str(tmp_path / "no-data"))
    monkeypatch.setattr("upscale.evaluation.datasets.fetch_set", lambda *a, **k: pytest.fail("a download was tried"))
    result = cli(["eval", "--model", "lapsrn", "--set", "Set14", "-x", "4"])
    assert result.exit_code == 1
    assert "no shipped weights for lapsrn x4" in result.stderr


def test_a_failed_download_says_where_sets_are_looked_up(tmp_path, monkeypatch):
    from upscale.evaluation.datasets import resolve_set
    from upscale.errors import DownloadError

    def offline(*_args, **_kw):
        raise DownloadError("cannot download baboon.png: Temporary failure in name resolution")

    monkeypatch.setattr("upscale.evaluation.datasets.fetch_set", offline)
    with pytest.raises(DownloadError) as caught:
        resolve_set("Set14", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    text = str(caught.value)
    assert str(tmp_path / "data" / "Set14") in text and str(tmp_path / "cache" / "Set14") in text
    assert "name resolution" in text and "$UPSCALE_DATA/Set14" in text


COMMANDS = ["upscale", "train", "eval", "bench", "models", "demo", "compare", "zoo", "export", "weights"]


def _at_80_columns(cli, monkeypatch, args):
    monkeypatch.setenv("COLUMNS", "80")
    result = cli(args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_with_every_flag_whole(cli, monkeypatch, command):
    from upscale.cli import app
    from typer.main import get_command

    text = _at_80_columns(cli, monkeypatch, [command, "--help"])
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    group = get_command(app)
    for param in group.commands[command].params:
        for flag in param.opts:
            if flag.startswith("--"):
                assert re.search(re.escape(flag) + r"\b", text), flag


def test_root_help_shows_the_default_command_s_options(cli, monkeypatch):
    text = _at_80_columns(cli, monkeypatch, ["--help"])
    for flag in ("--model", "--scale", "--tile", "--shard", "--overwrite"):
        assert flag in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_models_table_reads_whole_at_80_columns(cli, monkeypatch):
    from upscale.models import list_models

    text = _at_80_columns(cli, monkeypatch, ["models"])
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for name in list_models():
        assert re.search(rf"^ ?{name} ", text, re.M), name


def test_bench_against_opencv_needs_a_models_folder(cli, monkeypatch):
    monkeypatch.delenv("UPSCALE_OPENCV_MODELS", raising=False)
    result = cli(["bench", "--model", "fsrcnn", "--vs", "opencv"])
    assert result.exit_code == 2 and "--opencv-models" in result.stderr


def test_demo_shows_the_best_shipped_models_next_to_bicubic(shipped, tmp_path):
    from upscale.reports.demo import run_demo

    result = run_demo(tmp_path / "demo", scale=3, size=64)
    assert [s.method for s in result.scores] == ["bicubic", "espcn", "fsrcnn"]
    assert all(s.path.is_file() for s in result.scores)


def test_zoo_reports_progress_over_the_whole_zoo(shipped, shared_set):
    from upscale.evaluation.datasets import BenchmarkSet, list_images
    from upscale.reports.zoo import zoo_rows

    folder = shared_set("Set5")
    bench = BenchmarkSet("Set5", folder, list_images(folder)[:1])
    events = []
    rows = zoo_rows([bench], events.append, time_cpu=False)
    overall = [(e.done, e.total) for e in events if e.task == "zoo"]
    assert overall == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert len(rows) == 4


def test_training_warnings_print_as_one_line(capsys):
    from upscale.cli.train_cmd import _show

    _show({"warning": "x/302003.jpg: excluded from training (" + "a long reason [with brackets] " * 8 + ")"})
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "[with brackets]" in err
