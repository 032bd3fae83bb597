"""Odd and broken inputs: a corpus made here (nothing downloaded), upscaled in one batch.

Every file either gives a checked output (size, mode, bit depth, alpha, orientation,
ICC, EXIF) or a one-line error, and the bad ones do not stop the good ones.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from upscale import upscale_image
from upscale.inference.loading import from_module
from upscale.errors import ImageReadError, UsageError
from upscale.imaging.image_io import encode_png16, load_for_upscale, pil_to_array
from upscale.imaging.resize import matlab_imresize

RNG = np.random.default_rng(7)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
RED, BLUE = (220, 30, 30), (30, 30, 220)


@pytest.fixture
def weights(espcn_x2_weights):
    return espcn_x2_weights


def noise(h, w, c=3, dtype=np.uint8):
    top = np.iinfo(dtype).max + 1
    return RNG.integers(0, top, (h, w, c) if c > 1 else (h, w), dtype=dtype)


def png_bytes(image, **kw):
    buf = io.BytesIO()
    image.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def upright_marker():
    """12 wide, 8 high: red top-left quarter, blue elsewhere; how the picture should look."""
    arr = np.empty((8, 12, 3), np.uint8)
    arr[:] = BLUE
    arr[:4, :6] = RED
    return Image.fromarray(arr)


# How a camera held each way stores the upright picture (the inverse of the EXIF fix).
STORED = {
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def huge_png(width, height):
    """A valid PNG header declaring ``width x height``, with a few bytes of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def make_corpus(root: Path) -> dict[str, str]:
    """Write the corpus; name -> "ok" or the text its one-line error must contain."""
    root.mkdir()
    expect: dict[str, str] = {}

    def put(name, data, outcome="ok"):
        (root / name).write_bytes(data)
        expect[name] = outcome

    put("rgb.png", png_bytes(Image.fromarray(noise(10, 12))))
    put("one_by_one.png", png_bytes(Image.fromarray(noise(1, 1))))
    put("one_by_n.png", png_bytes(Image.fromarray(noise(9, 1, 1))))
    put("n_by_one.png", png_bytes(Image.fromarray(noise(1, 9, 1))))
    put("bilevel.png", png_bytes(Image.fromarray(noise(10, 12, 1)).convert("1")))
    put("gray16.png", png_bytes(Image.fromarray(noise(10, 12, 1, np.uint16))))
    put("gray16.tif", png_bytes(Image.fromarray(noise(10, 12, 1, np.uint16)), format="TIFF"))
    put("rgb16.png", cv2.imencode(".png", noise(10, 12, 3, np.uint16))[1].tobytes())
    opaque16 = np.dstack([noise(10, 12, 3, np.uint16), np.full((10, 12), 40000, np.uint16)])
    put("rgba16.png", cv2.imencode(".png", opaque16)[1].tobytes())
    put("la16.png", encode_png16(np.dstack([noise(10, 12, 1, np.uint16), np.full((10, 12), 30000, np.uint16)])))
    put("rgba.png", png_bytes(Image.fromarray(noise(10, 12, 4))))
    put("la.png", png_bytes(Image.fromarray(noise(10, 12, 2))))
    palette = Image.fromarray(np.repeat(np.array([[0] * 6 + [1] * 6], np.uint8), 10, axis=0), "P")
    palette.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    put("palette_trns.png", png_bytes(palette, transparency=0))
    put("palette.gif", png_bytes(palette, format="GIF", transparency=0))
    put("cmyk.jpg", png_bytes(Image.new("CMYK", (12, 10), (0, 255, 255, 0)), format="JPEG", quality=95))
    cmyk = Image.new("CMYK", (12, 10), (0, 255, 255, 0))  # an RGB profile on CMYK data: unusable, so dropped
    put("cmyk_rgb_icc.jpg", png_bytes(cmyk, format="JPEG", quality=95, icc_profile=SRGB))
    for o, op in STORED.items():
        exif = Image.Exif()
        exif[0x0112] = o
        stored = upright_marker() if op is None else upright_marker().transpose(op)
        put(f"exif_{o}.jpg", png_bytes(stored, format="JPEG", quality=95, exif=exif.tobytes()))
    put("icc.png", png_bytes(Image.fromarray(noise(10, 12)), icc_profile=SRGB))
    exif = Image.Exif()
    exif[0x010F] = "upscale-test"  # Make
    put("icc_exif.jpg", png_bytes(Image.fromarray(noise(10, 12)), format="JPEG", icc_profile=SRGB, exif=exif.tobytes()))
    put("gray.jpg", png_bytes(Image.fromarray(noise(10, 12, 1)), format="JPEG"))
    put("rgb.webp", png_bytes(Image.fromarray(noise(10, 12)), format="WEBP"))
    put("rgb.bmp", png_bytes(Image.fromarray(noise(10, 12)), format="BMP"))
    put("rgb.tif", png_bytes(Image.fromarray(noise(10, 12)), format="TIFF"))
    put("ünïcødé 日本.png", png_bytes(Image.fromarray(noise(10, 12))))
    put("with space.png", png_bytes(Image.fromarray(noise(10, 12))))
    put("[bold]markup [1].png", png_bytes(Image.fromarray(noise(10, 12))))
    put("broken [bold].png", b"[bold]not markup either", "not an image file")
    good = png_bytes(Image.fromarray(noise(64, 64)))
    put("truncated.png", good[: len(good) // 2], "cannot decode image")
    jpeg = png_bytes(Image.fromarray(noise(64, 64)), format="JPEG")
    put("truncated.jpg", jpeg[: len(jpeg) // 2], "truncated")
    put("empty.png", b"", "not an image file")
    put("text.png", b"hello, I am not a picture\n", "not an image file")
    put("garbage.jpg", bytes(RNG.integers(0, 256, 300, dtype=np.uint8)), "not an image file")
    bomb = "3600.0 megapixels, over the limit of 100.0 (a decompression-bomb guard); pass --max-pixels 3600000000"
    put("huge.png", huge_png(60000, 60000), bomb)
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "green", "blue")]
    for name, fmt in (("anim_gif.gif", "GIF"), ("anim_apng.png", "PNG"), ("anim_webp.webp", "WEBP")):
        put(name, png_bytes(frames[0], format=fmt, save_all=True, append_images=frames[1:]), "with 3 frames")
    put("multipage.tif", png_bytes(frames[0], format="TIFF", save_all=True, append_images=frames[1:2]), "2 frames")
    (root / "x.jpg").mkdir()  # a folder with an image's name
    (root / "notes.txt").write_text("not an image, and not pretending to be one")
    (root / ".hidden.png").write_bytes(good)
    return expect


def check_output(name: str, path: Path, src: Path) -> None:
    """The properties each corpus file must keep (the network is random, so not the pixels)."""
    with Image.open(src) as im:
        w, h = ImageOps.exif_transpose(im).size
    out = Image.open(path)
    assert out.size == (2 * w, 2 * h), name
    expected_modes = {
        "bilevel.png": "L", "one_by_n.png": "L", "n_by_one.png": "L", "gray.jpg": "L", "la.png": "LA",
        "gray16.png": "I;16", "gray16.tif": "I;16", "rgba.png": "RGBA", "palette_trns.png": "RGBA",
        "palette.gif": "RGBA",
    }
    if name in expected_modes:
        assert out.mode == expected_modes[name], name
    if name.startswith(("gray16", "rgb16", "rgba16", "la16")):
        deep = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
        assert deep.dtype == np.uint16 and not np.all(deep % 257 == 0), f"{name} went through 8 bits"
        if name.endswith(".png"):
            assert path.read_bytes()[24] == 16  # the IHDR bit depth
    if name == "rgba16.png":
        assert np.all(cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)[..., 3] == 40000)
    if name == "la16.png":
        assert np.all(cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)[..., 3] == 30000)
    if name in ("rgba.png", "la.png"):
        alpha = np.asarray(Image.open(src))[..., -1]
        assert np.array_equal(np.asarray(out)[..., -1], matlab_imresize(alpha, 2.0)), name
    if name in ("palette_trns.png", "palette.gif"):
        alpha = np.asarray(out)[..., 3]
        assert alpha[:, :10].max() == 0 and alpha[:, 14:].min() == 255, name
    if name.startswith("cmyk"):
        r, g, b = np.asarray(out).reshape(-1, 3).mean(axis=0)
        assert out.mode == "RGB" and r > 150 and g < 100 and b < 100  # magenta + yellow, no cyan or black: red
        assert "icc_profile" not in out.info  # a CMYK profile must not travel with RGB pixels
    if name.startswith("exif_"):
        pixels = np.asarray(out.convert("RGB")).astype(int)
        assert pixels[4, 6, 0] > pixels[4, 6, 2] and pixels[12, 18, 2] > pixels[12, 18, 0], name
        assert out.getexif().get(0x0112, 1) == 1
    if name.startswith("icc"):
        assert out.info.get("icc_profile") == SRGB
    if name == "icc_exif.jpg":
        assert out.getexif()[0x010F] == "upscale-test"


def test_corpus_in_one_batch(cli, tmp_path, weights):
    corpus = tmp_path / "corpus"
    expect = make_corpus(corpus)
    assert len(expect) >= 30
    out = tmp_path / "out"
    result = cli([str(corpus), "-o", str(out), "-m", "espcn", "-x", "2", "-w", str(weights), "--json"])
    assert result.exit_code == 1, result.stderr  # some failed, the others were written
    rows = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == set(expect)  # notes.txt, x.jpg/ and .hidden.png are not inputs
    assert "skipped 1 non-image file(s) (notes.txt)" in result.stderr and "not searched (use -r)" in result.stderr
    for name, outcome in expect.items():
        row = rows[name]
        if outcome == "ok":
            assert row["status"] == "ok", (name, row["error"])
            check_output(name, Path(row["output"]), corpus / name)
        else:
            assert row["status"] == "failed" and outcome in row["error"], (name, row["error"])
            assert "\n" not in row["error"] and f"failed: {corpus / name}: {row['error']}\n" in result.stderr
    assert not list(out.rglob("*.partial")) and not list(out.rglob(".*"))
    assert (out / "rgb_espcn_x2.png").exists() and (out / "palette_espcn_x2.png").exists()  # GIF is read, PNG written
    assert (out / "rgb_espcn_x2.webp").exists() and (out / "rgb_espcn_x2.bmp").exists()


def test_a_folder_named_like_an_image_is_a_one_line_error(cli, tmp_path, weights):
    (tmp_path / "x.jpg").mkdir()
    result = cli([str(tmp_path / "x.jpg"), "-m", "espcn", "-x", "2", "-w", str(weights)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "a folder with no images" in result.stderr


def test_decompression_bomb_guard_and_override(cli, tmp_path, weights):
    src = tmp_path / "p.png"
    Image.fromarray(noise(10, 12)).save(src)
    args = [str(src), "-m", "espcn", "-x", "2", "-w", str(weights)]
    refused = cli([*args, "--max-pixels", "100"])
    assert refused.exit_code == 1 and "over the limit" in refused.stderr and "--max-pixels 120" in refused.stderr
    assert cli([*args, "--max-pixels", "120"]).exit_code == 0
    with pytest.raises(ImageReadError, match="decompression-bomb"):
        load_for_upscale(src, max_pixels=119)
    assert load_for_upscale(src, max_pixels=0).pixels.shape == (10, 12, 3)  # 0: no limit


def test_lossy_formats_refuse_16_bits_and_alpha(cli, tmp_path, weights):
    deep, rgba = tmp_path / "deep.png", tmp_path / "rgba.png"
    deep.write_bytes(encode_png16(noise(6, 7, 3, np.uint16)))
    Image.fromarray(noise(6, 7, 4)).save(rgba)
    args = ["-m", "espcn", "-x", "2", "-w", str(weights), "--json"]
    as_jpeg = cli([str(deep), str(rgba), *args, "--format", "jpg"])
    rows = [json.loads(line) for line in as_jpeg.stdout.splitlines()]
    assert as_jpeg.exit_code == 1 and [r["status"] for r in rows] == ["failed", "failed"]
    assert "16-bit" in rows[0]["error"] and "--format png" in rows[0]["error"]
    assert "alpha" in rows[1]["error"] and not list(tmp_path.glob("*.jpg"))
    as_bmp = cli([str(rgba), *args, "--format", "bmp"])  # a 32-bit BMP reads back without its alpha
    assert as_bmp.exit_code == 1 and "alpha channel, which BMP cannot hold" in as_bmp.stderr
    as_tiff = cli([str(deep), *args, "--format", "tiff"])
    assert as_tiff.exit_code == 0
    written = cv2.imdecode(np.fromfile(tmp_path / "deep_espcn_x2.tiff", np.uint8), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (12, 14, 3)


def test_quality_and_alpha_options(cli, tmp_path, weights):
    src = tmp_path / "p.png"
    Image.fromarray(noise(24, 24, 4)).save(src)
    args = [str(src), "-m", "espcn", "-x", "2", "-w", str(weights), "--format", "webp"]
    assert cli([*args, "--quality", "5", "--name", "low.{ext}"]).exit_code == 0
    assert cli([*args, "--quality", "100", "--name", "high.{ext}"]).exit_code == 0
    assert (tmp_path / "low.webp").stat().st_size < (tmp_path / "high.webp").stat().st_size
    assert cli([*args, "--quality", "0"]).exit_code == 2
    assert cli([*args, "--alpha", "network"]).exit_code == 2
    png = [str(src), "-m", "espcn", "-x", "2", "-w", str(weights)]
    assert cli([*png, "--name", "bicubic.png"]).exit_code == 0
    assert cli([*png, "--name", "model.png", "--alpha", "model"]).exit_code == 0
    want = matlab_imresize(np.asarray(Image.open(src))[..., 3], 2.0)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "bicubic.png"))[..., 3], want)
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "model.png"))[..., 3], want)


def test_pil_modes_become_arrays():
    gray = Image.fromarray(noise(4, 5, 1))
    assert pil_to_array(gray.convert("1")).shape == (4, 5)
    assert pil_to_array(gray.convert("LA")).shape == (4, 5, 2)
    assert pil_to_array(Image.new("PA", (5, 4))).shape == (4, 5, 4)
    assert pil_to_array(Image.new("RGBa", (5, 4))).shape == (4, 5, 4)
    assert pil_to_array(Image.new("YCbCr", (5, 4))).shape == (4, 5, 3)
    wide = Image.fromarray(np.full((4, 5), 1000, np.int32))
    assert wide.mode == "I" and pil_to_array(wide).dtype == np.uint16 and pil_to_array(wide).max() == 1000
    with pytest.raises(ImageReadError, match="0..65535"):
        pil_to_array(Image.fromarray(np.full((4, 5), 70000, np.int32)))
    keyed = Image.fromarray(np.array([[5, 6]], np.uint8))
    keyed.info["transparency"] = 5  # a gray PNG's tRNS: that value is transparent
    assert pil_to_array(keyed).tolist() == [[[5, 0], [6, 255]]]


def test_engine_alpha_modes():
    model = from_module("fsrcnn", 2)
    rgba = noise(6, 7, 4)
    want = matlab_imresize(rgba[..., 3], 2.0)
    assert np.array_equal(upscale_image(rgba, model)[..., 3], want)
    assert not np.array_equal(upscale_image(rgba, model, alpha="model")[..., 3], want)
    assert upscale_image(Image.fromarray(rgba), model, alpha="model").mode == "RGBA"
    with pytest.raises(UsageError, match="alpha"):
        upscale_image(rgba, model, alpha="nearest")


def test_png16_round_trip_with_metadata():
    exif = Image.Exif()
    exif[0x010F] = "cam"
    for channels in (1, 2, 3, 4):
        arr = noise(5, 6, channels, np.uint16)
        data = encode_png16(arr, SRGB, exif.tobytes())
        back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if channels == 2:
            back = back[..., [0, 3]]
        elif channels >= 3:
            back = cv2.cvtColor(back, cv2.COLOR_BGRA2RGBA if channels == 4 else cv2.COLOR_BGR2RGB)
        assert np.array_equal(back, arr), channels
        with Image.open(io.BytesIO(data)) as im:
            assert im.info["icc_profile"] == SRGB and im.getexif()[0x010F] == "cam"


def test_orientation_matches_pillow_for_all_eight(tmp_path):
    for o, op in STORED.items():
        exif = Image.Exif()
        exif[0x0112] = o
        path = tmp_path / f"{o}.png"
        (upright_marker() if op is None else upright_marker().transpose(op)).save(path, exif=exif.tobytes())
        loaded = load_for_upscale(path)
        assert np.array_equal(loaded.pixels, np.asarray(upright_marker())), o
        carried = Image.Exif()
        carried.load(loaded.exif)
        assert carried[0x0112] == 1  # the pixels are upright now, and the EXIF says so
        with Image.open(path) as im:
            assert np.array_equal(loaded.pixels, np.asarray(ImageOps.exif_transpose(im))), o
