"""Hostile inputs, one class per test: symlink loops, pipes, devices and dangling links,
float and 32-bit integer TIFFs, a Lab TIFF with its profile, and EXIF that makes Pillow warn.

Each corpus is built here in ``tmp_path``. Every class ends as a checked output with a
note saying what changed, or as a one-line per-file failure; never as an abort, a false
reason, a silent drop or a warning printed past the per-file notes.
"""

from __future__ import annotations

import json
import os
import re
import stat
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from upscale.batch.inputs import expand_inputs
from upscale.errors import ImageReadError
from upscale.imaging.image_io import load_for_upscale

STDERR_LINE = re.compile(r"(error|failed|note|ok|skipped): .+|\d+ ok, \d+ skipped, \d+ failed in .+")
"""Every line the batch prints on stderr (progress is off outside a terminal)."""


@pytest.fixture
def run(cli, espcn_x2_weights):
    """The CLI with a tiny model: args -> (result, JSON row by input file name); warnings must not escape."""
    def invoke(*args):
        with warnings.catch_warnings(record=True) as escaped:
            warnings.simplefilter("always")
            result = cli([*map(str, args), "-m", "espcn", "-x", "2", "-w", str(espcn_x2_weights), "--json"])
        assert [str(w.message) for w in escaped if not issubclass(w.category, DeprecationWarning)] == []
        for line in result.stderr.splitlines():
            assert STDERR_LINE.fullmatch(line), line  # one line per failure and per note
        return result, {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    return invoke


def picture(path: Path, size=(8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (size[1], size[0], 3), np.uint8)).save(path)
    return path


def link(target, path: Path) -> Path:
    try:
        os.symlink(target, path)
    except (OSError, NotImplementedError) as exc:  # Windows without the symlink privilege
        pytest.skip(f"cannot create symlinks here: {exc}")
    return path


def fifo(path: Path, request) -> Path:
    """A named pipe with bytes waiting in it, so that code which wrongly opens it fails instead of hanging."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    os.write(fd, b"not a picture " * 8)
    request.addfinalizer(lambda: os.close(fd))
    return path


def null_device() -> str:
    if not (os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode)):
        pytest.skip("no /dev/null character device here")
    return "/dev/null"


# --- symlink loops, pipes, devices, dangling links ---------------------------------


def test_a_symlink_loop_named_on_the_command_line_fails_alone(run, tmp_path):
    good = picture(tmp_path / "good.png")
    loop_a = link(tmp_path / "loop_b.png", tmp_path / "loop_a.png")
    link(loop_a, tmp_path / "loop_b.png")
    itself = link(tmp_path / "self.png", tmp_path / "self.png")
    out = tmp_path / "out"
    result, rows = run(loop_a, itself, good, "-o", out)
    assert result.exit_code == 1  # the loops failed; the good file was still written
    assert rows["good.png"]["status"] == "ok" and (out / "good_espcn_x2.png").is_file()
    for name, path in (("loop_a.png", loop_a), ("self.png", itself)):
        assert rows[name]["status"] == "failed" and rows[name]["error"] == "a symlink loop", rows[name]
        assert f"failed: {path}: a symlink loop\n" in result.stderr
    assert "RuntimeError" not in result.stderr and "unexpected" not in result.stderr
    with pytest.raises(ImageReadError, match="^a symlink loop$"):
        load_for_upscale(loop_a)


def test_an_output_name_that_is_a_symlink_loop_does_not_abort_the_plan(run, tmp_path):
    good = picture(tmp_path / "good.png")
    out = tmp_path / "out"
    out.mkdir()
    link(out / "good_espcn_x2.png", out / "good_espcn_x2.png")
    result, rows = run(good, "-o", out)
    assert result.exit_code == 0 and rows["good.png"]["status"] == "ok"
    assert not (out / "good_espcn_x2.png").is_symlink() and Image.open(out / "good_espcn_x2.png").size == (16, 12)


def test_special_files_named_on_the_command_line_get_a_true_reason(run, tmp_path, request):
    good = picture(tmp_path / "good.png")
    pipe = fifo(tmp_path / "pipe.png", request)
    device = link(null_device(), tmp_path / "null.png")
    dangling = link("missing.png", tmp_path / "dangling.png")
    result, rows = run(pipe, device, dangling, good, "-o", tmp_path / "out")
    assert result.exit_code == 1 and rows["good.png"]["status"] == "ok"
    assert rows["pipe.png"]["error"] == "a named pipe, not an image file"
    real = os.path.realpath("/dev/null")
    assert rows["null.png"]["error"] == f"a link to a character device ({real}), not an image file"
    assert rows["dangling.png"]["error"] == "a dangling symlink (to missing.png, which does not exist)"
    assert all(rows[n]["status"] == "failed" for n in ("pipe.png", "null.png", "dangling.png"))
    assert "no such file" not in result.stderr
    for path in (pipe, device):  # the library refuses them too, before anything opens them
        with pytest.raises(ImageReadError, match="not an image file"):
            load_for_upscale(path)
    assert os.read(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK), 100).startswith(b"not a picture")  # never read


def test_a_folder_scan_notes_special_files_dangling_links_and_loops(run, tmp_path, request):
    src = tmp_path / "in"
    picture(src / "good.png")
    fifo(src / "pipe.png", request)
    link(null_device(), src / "null.png")
    link("gone.png", src / "dangling.png")
    link(src / "loop.png", src / "loop.png")
    picture(src / "sub" / "deep.png")
    fifo(src / "sub" / "deep_pipe.png", request)
    result, rows = run(src, "-o", tmp_path / "out")
    assert result.exit_code == 0 and set(rows) == {"good.png"}  # none of them is a failure, and none is silent
    listed = ("skipped 4 special file(s) or broken link(s): dangling.png is a dangling symlink (to gone.png, "
              "which does not exist); loop.png is a symlink loop; null.png is a link to a character device "
              f"({os.path.realpath('/dev/null')}), not an image file; ...")  # and pipe.png, not shown
    assert f"note: {src}: {listed}\n" in result.stderr
    deep = expand_inputs([str(src)], recursive=True)
    assert sorted(f.path.name for f in deep.files) == ["deep.png", "good.png"]
    (odd,) = [n for n in deep.notes if "special file" in n]
    assert "skipped 5 special file(s)" in odd
    globbed = expand_inputs([str(src / "*.png")])
    assert [f.path.name for f in globbed.files] == ["good.png"]
    assert globbed.notes == [f"{src / '*.png'}: {listed}"]
    only_odd = tmp_path / "odd"
    only_odd.mkdir()
    link("nowhere.png", only_odd / "x.png")
    result, rows = run(only_odd)
    assert result.exit_code == 1 and rows == {}
    assert "no images found" in result.stderr and "x.png is a dangling symlink" in result.stderr


# --- float and 32-bit integer TIFFs ------------------------------------------------


RAMP = np.linspace(0, 1, 48).reshape(6, 8)


def float_tiff(path: Path, data: np.ndarray) -> Path:
    Image.fromarray(data.astype(np.float32)).save(path)  # Pillow writes 32-bit float samples (mode F)
    with Image.open(path) as im:
        assert im.mode == "F" and im.tag_v2[258] == (32,) and im.tag_v2[339] == (3,)  # SampleFormat: float
    return path


@pytest.mark.parametrize(
    "data,dtype,expected,note",
    [
        (RAMP, np.uint16, np.round(RAMP.astype(np.float32).astype(np.float64) * 65535), "float samples in 0..1"),
        (np.round(RAMP * 255), np.uint8, np.round(RAMP * 255), "whole numbers in 0..255: read and written as 8"),
        (RAMP * 255, np.uint16, np.round((RAMP * 255).astype(np.float32).astype(np.float64) * 257),
         "float samples in 0..255: read and written as 16 bits"),
    ],
    ids=["0..1", "0..255-whole", "0..255-fractions"],
)
def test_float_tiffs_in_0_1_and_0_255_are_read_at_the_depth_that_keeps_them(tmp_path, data, dtype, expected, note):
    loaded = load_for_upscale(float_tiff(tmp_path / "f.tif", data))
    assert loaded.pixels.dtype == dtype and np.array_equal(loaded.pixels, expected.astype(dtype))
    assert len(loaded.notes) == 1 and note in loaded.notes[0]


def test_a_float_tiff_upscales_to_a_16_bit_tiff_with_a_note(run, tmp_path):
    src = float_tiff(tmp_path / "unit.tif", RAMP)
    result, rows = run(src)
    assert result.exit_code == 0, result.stderr
    row = rows["unit.tif"]
    assert row["notes"] == ["float samples in 0..1: read and written as 16 bits"]
    assert f"note: {src}: float samples in 0..1" in result.stderr
    written = cv2.imdecode(np.fromfile(row["output"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (12, 16) and not np.all(written % 257 == 0)


@pytest.mark.parametrize(
    "data,error",
    [
        (RAMP - 0.5, "float samples span -0.5..0.5; only 0..1 or 0..255 can be read"),
        (RAMP * 300, "float samples span 0..300; only 0..1 or 0..255 can be read"),
        (np.where(RAMP > 0.5, np.nan, RAMP), "float samples include NaN or infinity"),
        (np.where(RAMP > 0.5, np.inf, RAMP), "float samples include NaN or infinity"),
    ],
    ids=["negative", "above-255", "nan", "inf"],
)
def test_floats_out_of_range_are_a_clear_one_line_failure(run, tmp_path, data, error):
    src = float_tiff(tmp_path / "hdr.tif", data)
    good = picture(tmp_path / "good.png")
    result, rows = run(src, good)
    assert result.exit_code == 1 and rows["good.png"]["status"] == "ok"
    assert rows["hdr.tif"]["status"] == "failed" and rows["hdr.tif"]["error"].startswith(error), rows["hdr.tif"]
    assert "0..65535" not in result.stderr


def int32_tiff(path: Path, data: np.ndarray) -> Path:
    Image.fromarray(data.astype(np.int32)).save(path)
    with Image.open(path) as im:
        assert im.mode == "I" and im.tag_v2[258] == (32,)  # 32 bits per sample in the file
    return path


def test_a_32_bit_integer_tiff_holding_8_bit_values_is_written_as_8_bits(run, tmp_path):
    values = np.arange(48).reshape(6, 8) * 5  # 0..235
    src = int32_tiff(tmp_path / "wide.tif", values)
    loaded = load_for_upscale(src)
    assert loaded.pixels.dtype == np.uint8 and np.array_equal(loaded.pixels, values)
    result, rows = run(src)
    assert result.exit_code == 0, result.stderr
    assert rows["wide.tif"]["notes"] == ["32-bit integer samples all within 0..255: read and written as 8 bits"]
    with Image.open(rows["wide.tif"]["output"]) as out:
        assert out.mode == "L" and out.size == (16, 12)


def test_32_bit_integers_keep_16_bits_when_they_need_them_and_fail_beyond(tmp_path):
    values = np.arange(48).reshape(6, 8) * 1000  # 0..47000
    loaded = load_for_upscale(int32_tiff(tmp_path / "w16.tif", values))
    assert loaded.pixels.dtype == np.uint16 and np.array_equal(loaded.pixels, values)
    assert loaded.notes == ("32-bit integer samples all within 0..65535: read and written as 16 bits",)
    with pytest.raises(ImageReadError, match=r"^integer samples span 0\.\.94000; only values within 0\.\.65535"):
        load_for_upscale(int32_tiff(tmp_path / "w32.tif", values * 2))


# --- Lab TIFF with its ICC profile -------------------------------------------------


def test_a_lab_tiff_becomes_rgb_without_its_lab_profile(run, tmp_path):
    lab_profile = ImageCms.createProfile("LAB")
    lab_icc = ImageCms.ImageCmsProfile(lab_profile).tobytes()
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), lab_profile, "RGB", "LAB")
    src = tmp_path / "lab.tif"
    ImageCms.applyTransform(Image.new("RGB", (8, 6), (220, 30, 30)), to_lab).save(src, icc_profile=lab_icc)
    with Image.open(src) as im:
        if im.mode != "LAB" or im.info.get("icc_profile") != lab_icc:
            pytest.skip(f"this Pillow reads the Lab TIFF as {im.mode}, so the case does not arise")
    loaded = load_for_upscale(src)
    assert loaded.icc_profile is None and loaded.pixels.shape == (6, 8, 3)
    assert np.abs(loaded.pixels.astype(int) - (220, 30, 30)).max() <= 3  # still the red it was
    result, rows = run(src)
    assert result.exit_code == 0, result.stderr
    assert rows["lab.tif"]["notes"] == ["the Lab ICC profile does not describe the RGB pixels; the output has none"]
    with Image.open(rows["lab.tif"]["output"]) as out:  # the network is random: not its colours
        assert out.mode == "RGB" and out.size == (16, 12) and "icc_profile" not in out.info


# --- warnings from the image library -----------------------------------------------


def corrupt_exif(tags) -> bytes:
    """An EXIF block whose ASCII entries point past its end: Pillow warns once per entry and skips it."""
    entries = b"".join(struct.pack("<HHII", tag, 2, 100, 26) for tag in tags)
    ifd = struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + b"abc"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_warnings_on_a_corrupt_exif_block_become_per_file_notes(run, tmp_path, fmt):
    few, many = tmp_path / f"few.{fmt.lower()}", tmp_path / f"many.{fmt.lower()}"
    pixels = Image.open(picture(tmp_path / "src" / "p.png")).convert("RGB")
    pixels.save(few, format=fmt, exif=corrupt_exif([0x010F]))
    pixels.save(many, format=fmt, exif=corrupt_exif([0x010F, 0x0110, 0x0131, 0x013B, 0x8298]))
    with warnings.catch_warnings(record=True) as caught, Image.open(few) as im:
        warnings.simplefilter("always")
        im.getexif()
    if not caught:
        pytest.skip("this Pillow reads the corrupt EXIF block without a warning")
    result, rows = run(few, many)
    assert result.exit_code == 0, result.stderr
    assert rows[few.name]["status"] == "ok" and rows[many.name]["status"] == "ok"
    (note,) = rows[few.name]["notes"]
    assert note.startswith("warning from the image library: ") and "271" in note  # Make, the broken tag
    assert f"note: {few}: {note}\n" in result.stderr
    notes = rows[many.name]["notes"]  # one per broken tag would flood the terminal: three, and a count
    assert len(notes) == 4 and notes[-1] == "2 more warning(s) from the image library"
