"""Tests for upscale.datasets: resolution on disk, and real downloads from a local HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from upscale.evaluation import datasets
from upscale.evaluation.dataset_sources import BSD100_JPEG_PIXELS, BSD100_PNG, SOURCES
from upscale.evaluation.datasets import (
    KNOWN_SETS,
    BenchmarkSet,
    RemoteFile,
    default_cache_dir,
    fetch_set,
    list_images,
    pixel_sha256,
    resolve_set,
)
from upscale.errors import DatasetError, DownloadError
from upscale.progress import Progress


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test may see the real data folder or cache (and so never reaches the internet)."""
    monkeypatch.delenv("UPSCALE_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("UPSCALE_CACHE", str(tmp_path / "default-cache"))


# --------------------------------------------------------------------------- helpers


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_bytes(seed: int, size=(6, 4), mode="RGB") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_images(folder: Path, names=("a.png", "b.png")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        (folder / name).write_bytes(png_bytes(i))
        paths.append(folder / name)
    return paths


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving a temp folder; ``put`` adds a file and returns its URL."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    class Server:
        url = base

        @staticmethod
        def put(name: str, data: bytes) -> str:
            (root / name).write_bytes(data)
            return f"{base}/{name}"

    yield Server
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


IMAGES = {"img1.png": png_bytes(1), "img2.png": png_bytes(2), "img3.png": png_bytes(3, mode="L")}


# --------------------------------------------------------------------------- downloads


def test_fetch_zip_archive_then_resolve_returns_files(server, tmp_path, monkeypatch):
    members = {f"Set5/{k}": v for k, v in IMAGES.items()} | {"Set5/README.txt": b"hi", "__MACOSX/._x": b""}
    data = make_zip(members)
    url = server.put("set5.zip", data)
    monkeypatch.setitem(datasets.SOURCES, "Set5", (RemoteFile(url, "set5.zip", sha256(data)),))
    events: list[Progress] = []

    cache = tmp_path / "cache"
    got = resolve_set("set5", data_dir=tmp_path / "nodata", cache_dir=cache, progress=events.append)

    assert got.name == "Set5" and got.root == cache / "Set5"
    assert [p.name for p in got.files] == sorted(IMAGES)
    assert all(p.read_bytes() == IMAGES[p.name] for p in got.files)
    assert leftovers(cache) == ["Set5"]  # no partial folder, no temp files, no archive
    assert leftovers(cache / "Set5") == sorted(IMAGES)
    assert events[0] == Progress("download Set5", 0, 1, "set5.zip")
    assert events[-1].done == events[-1].total == 1
    # A second resolve finds the cache and downloads nothing.
    (tmp_path / "www" / "set5.zip").unlink()
    assert resolve_set("SET5", cache_dir=cache).files == got.files


def test_fetch_tar_gz_flattens_top_folder(server, tmp_path):
    data = make_tgz({f"top/{k}": v for k, v in IMAGES.items()} | {"top/sub/deep.png": png_bytes(9)})
    url = server.put("set.tar.gz", data)
    dest = fetch_set("Mini", tmp_path / "out" / "Mini", sources=[RemoteFile(url, "set.tar.gz", sha256(data))])
    assert leftovers(dest) == sorted(IMAGES)
    assert (dest / "img3.png").read_bytes() == IMAGES["img3.png"]
    assert leftovers(tmp_path / "out") == ["Mini"]


def test_fetch_tgz_without_top_folder(server, tmp_path):
    data = make_tgz(IMAGES)
    url = server.put("set.tgz", data)
    dest = fetch_set("Mini", tmp_path / "Mini", sources=[RemoteFile(url, "set.tgz", sha256(data))])
    assert leftovers(dest) == sorted(IMAGES)


def test_fetch_per_file_sources_renames_and_reports_progress(server, tmp_path):
    sources = [RemoteFile(server.put(f"src_{k}", v), k, sha256(v)) for k, v in IMAGES.items()]
    events: list[Progress] = []
    dest = fetch_set("Mini", tmp_path / "Mini", sources=sources, progress=events.append)
    assert leftovers(dest) == sorted(IMAGES)
    assert all((dest / k).read_bytes() == v for k, v in IMAGES.items())
    assert [(e.task, e.done, e.total, e.detail) for e in events[:3]] == [
        ("download Mini", i, 3, name) for i, name in enumerate(IMAGES)
    ]
    assert (events[-1].done, events[-1].total) == (3, 3)


def test_wrong_sha256_raises_and_leaves_nothing(server, tmp_path):
    good = [RemoteFile(server.put(k, v), k, sha256(v)) for k, v in IMAGES.items()]
    bad = RemoteFile(good[-1].url, good[-1].name, "0" * 64)
    out = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        fetch_set("Mini", out / "Mini", sources=good[:-1] + [bad])
    msg = str(err.value)
    assert "img3.png" in msg and "0" * 64 in msg and sha256(IMAGES["img3.png"]) in msg
    assert "\n" not in msg
    assert leftovers(out) == []  # no final folder, no partial folder, no temp files


def test_interrupted_download_leaves_nothing(server, tmp_path):
    sources = [RemoteFile(server.put(k, v), k, sha256(v)) for k, v in IMAGES.items()]

    def interrupt(event: Progress) -> None:
        if event.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch_set("Mini", tmp_path / "c" / "Mini", sources=sources, progress=interrupt)
    assert leftovers(tmp_path / "c") == []


def test_wrong_archive_sha256_raises(server, tmp_path):
    data = make_zip(IMAGES)
    url = server.put("x.zip", data)
    with pytest.raises(DownloadError, match="x.zip"):
        fetch_set("Mini", tmp_path / "c" / "Mini", sources=[RemoteFile(url, "x.zip", "f" * 64)])
    assert leftovers(tmp_path / "c") == []


def test_http_404_raises_one_line_with_url(server, tmp_path):
    url = f"{server.url}/missing.png"
    with pytest.raises(DownloadError) as err:
        fetch_set("Mini", tmp_path / "c" / "Mini", sources=[RemoteFile(url, "m.png", "0" * 64)])
    msg = str(err.value)
    assert url in msg and "404" in msg and "\n" not in msg
    assert leftovers(tmp_path / "c") == []


def test_unreachable_host_raises_download_error(tmp_path):
    url = "http://127.0.0.1:9/nothing.png"  # discard port: connection refused
    with pytest.raises(DownloadError, match=re.escape(url)):
        fetch_set("Mini", tmp_path / "Mini", sources=[RemoteFile(url, "n.png", "0" * 64)])


@pytest.mark.parametrize(
    "kind,member",
    [("zip", "../evil.png"), ("zip", "/abs/evil.png"), ("tgz", "top/../../evil.png"), ("tgz", "/evil.png")],
)
def test_path_traversal_member_rejected(server, tmp_path, kind, member):
    members = dict(IMAGES) | {member: png_bytes(7)}
    data = make_zip(members) if kind == "zip" else make_tgz(members)
    name = "bad.zip" if kind == "zip" else "bad.tar.gz"
    url = server.put(name, data)
    out = tmp_path / "deep" / "cache"
    with pytest.raises(DownloadError, match="unsafe"):
        fetch_set("Mini", out / "Mini", sources=[RemoteFile(url, name, sha256(data))])
    assert leftovers(out) == []
    assert not list(tmp_path.rglob("evil.png"))


def jpeg_bytes(seed: int = 5) -> bytes:
    buf = io.BytesIO()
    arr = np.random.default_rng(seed).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(arr).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def test_jpeg_to_png_verifies_pixel_hash(server, tmp_path):
    data = jpeg_bytes()
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    h, w, c = decoded.shape
    expected = hashlib.sha256(f"{w}x{h}x{c}".encode() + decoded.tobytes()).hexdigest()
    assert pixel_sha256(Image.open(io.BytesIO(data))) == expected
    url = server.put("photo.jpg", data)
    dest = fetch_set("Mini", tmp_path / "Mini", sources=[RemoteFile(url, "photo.png", expected, "jpeg_to_png")])
    assert leftovers(dest) == ["photo.png"]
    with Image.open(dest / "photo.png") as img:
        assert img.format == "PNG"
        assert np.array_equal(np.asarray(img.convert("RGB")), decoded)


def test_jpeg_to_png_wrong_pixel_hash_raises(server, tmp_path):
    data = jpeg_bytes()
    url = server.put("photo.jpg", data)
    wrong = sha256(data)  # the file hash is not the pixel hash
    with pytest.raises(DownloadError, match="pixel sha256") as err:
        fetch_set("Mini", tmp_path / "c" / "Mini", sources=[RemoteFile(url, "photo.png", wrong, "jpeg_to_png")])
    assert "photo.png" in str(err.value) and wrong in str(err.value)
    assert leftovers(tmp_path / "c") == []


def test_fetch_refuses_non_empty_destination(server, tmp_path):
    make_images(tmp_path / "Mini", ["old.png"])
    with pytest.raises(DatasetError, match="not empty"):
        fetch_set("Mini", tmp_path / "Mini", sources=[RemoteFile(f"{server.url}/x.png", "x.png", "0" * 64)])
    assert leftovers(tmp_path / "Mini") == ["old.png"]


def test_fetch_into_existing_empty_folder(server, tmp_path):
    (tmp_path / "Mini").mkdir()
    v = IMAGES["img1.png"]
    dest = fetch_set("Mini", tmp_path / "Mini", sources=[RemoteFile(server.put("i.png", v), "i.png", sha256(v))])
    assert leftovers(dest) == ["i.png"]


def test_fetch_rejects_unsafe_source_name(tmp_path):
    with pytest.raises(DatasetError, match="bad file name"):
        fetch_set("Mini", tmp_path / "Mini", sources=[RemoteFile("http://127.0.0.1:9/x", "../x.png", "0" * 64)])
    assert leftovers(tmp_path) == []


def test_fetch_set_without_source_raises():
    with pytest.raises(DatasetError, match=r"\$UPSCALE_DATA/Urban100"):
        fetch_set("Urban100", Path("/nonexistent/never/Urban100"))


# --------------------------------------------------------------------------- resolution


def test_folder_path(tmp_path):
    files = make_images(tmp_path / "mine", ["b.PNG", "a.jpg", "c.txt", ".hidden.png", "MANIFEST.sha256"])
    (tmp_path / "mine" / "sub").mkdir()
    make_images(tmp_path / "mine" / "sub", ["z.png"])
    got = resolve_set(str(tmp_path / "mine"))
    assert isinstance(got, BenchmarkSet)
    assert got.name == "mine" and got.root == tmp_path / "mine"
    assert got.files == (files[1], files[0])


def test_list_images_filters_and_sorts(tmp_path):
    make_images(tmp_path, ["z.WebP", "a.tif", "m.JPEG", "x.bmp", "notes.md", "MANIFEST.sha256", ".a.png"])
    assert [p.name for p in list_images(tmp_path)] == ["a.tif", "m.JPEG", "x.bmp", "z.WebP"]


def test_empty_folder_error_is_one_line_and_lists_known_sets(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "MANIFEST.sha256").write_text("x\n")
    with pytest.raises(DatasetError) as err:
        resolve_set(str(tmp_path / "empty"))
    msg = str(err.value)
    assert "\n" not in msg and "no images" in msg and str(tmp_path / "empty") in msg
    assert all(name in msg for name in KNOWN_SETS)


def test_unknown_name_lists_known_sets():
    with pytest.raises(DatasetError) as err:
        resolve_set("Set6")
    assert str(err.value) == (
        "unknown benchmark set 'Set6': not a folder and not one of Set5, Set14, BSD100, Urban100, Manga109"
    )


def test_known_name_found_via_data_dir(tmp_path):
    make_images(tmp_path / "data" / "Set14")
    make_images(tmp_path / "cache" / "Set14", ["other.png"])
    got = resolve_set("Set14", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", download=False)
    assert got.name == "Set14" and got.root == tmp_path / "data" / "Set14"
    assert [p.name for p in got.files] == ["a.png", "b.png"]


def test_known_name_found_via_cache_dir(tmp_path):
    (tmp_path / "data" / "BSD100").mkdir(parents=True)  # present but empty: skipped
    make_images(tmp_path / "cache" / "BSD100")
    got = resolve_set("bsd100", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", download=False)
    assert got.name == "BSD100" and got.root == tmp_path / "cache" / "BSD100"


def test_default_cache_dir_used_for_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_CACHE", str(tmp_path / "uc"))
    make_images(tmp_path / "uc" / "datasets" / "Set5")
    assert resolve_set("Set5", download=False).root == tmp_path / "uc" / "datasets" / "Set5"


def test_upscale_data_env_honoured(tmp_path, monkeypatch):
    make_images(tmp_path / "shared" / "Manga109")
    monkeypatch.setenv("UPSCALE_DATA", str(tmp_path / "shared"))
    got = resolve_set("manga109", cache_dir=tmp_path / "nocache")
    assert got.name == "Manga109" and got.root == tmp_path / "shared" / "Manga109"


@pytest.mark.parametrize("spelling", ["urban100", "URBAN100", "Urban100", " uRbAn100 "])
def test_case_insensitive_known_names(tmp_path, spelling):
    make_images(tmp_path / "data" / "Urban100")
    got = resolve_set(spelling, data_dir=tmp_path / "data", cache_dir=tmp_path / "c")
    assert got.name == "Urban100"


def test_folder_in_other_case_found(tmp_path):
    make_images(tmp_path / "data" / "set5")
    got = resolve_set("Set5", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", download=False)
    assert got.root == tmp_path / "data" / "set5" and got.name == "Set5"


def test_set_without_source_explains_where_to_put_it(tmp_path):
    with pytest.raises(DatasetError) as err:
        resolve_set("Urban100", data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    msg = str(err.value)
    assert "$UPSCALE_DATA/Urban100" in msg and "\n" not in msg
    assert not (tmp_path / "c").exists()


def test_download_off_raises(tmp_path):
    with pytest.raises(DatasetError, match="downloading is off"):
        resolve_set("Set5", data_dir=tmp_path / "d", cache_dir=tmp_path / "c", download=False)


def test_default_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("UPSCALE_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("UPSCALE_CACHE")
    assert default_cache_dir() == tmp_path / "x" / "upscale"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "upscale"


# --------------------------------------------------------------------------- built-in table


def test_sources_table_is_pinned_and_complete():
    assert set(SOURCES) == {"Set5", "Set14", "BSD100"}
    assert {k: len(v) for k, v in SOURCES.items()} == {"Set5": 5, "Set14": 14, "BSD100": 100}
    pinned = re.compile(r"^https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/")
    for files in SOURCES.values():
        assert len({f.name for f in files}) == len(files)
        for f in files:
            assert pinned.match(f.url), f.url
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.transform == ("jpeg_to_png" if f.url.endswith(".jpg") else "none")
    assert len(BSD100_PNG) == 68 and len(BSD100_JPEG_PIXELS) == 32
    assert not set(BSD100_PNG) & set(BSD100_JPEG_PIXELS)


@pytest.mark.parametrize("name", ["Set5", "Set14", "BSD100"])
def test_builtin_file_hashes_match_shared_data(name, shared_set):
    folder = shared_set(name)
    files = [f for f in SOURCES[name] if f.transform == "none"]
    assert len(files) == {"Set5": 5, "Set14": 14, "BSD100": 68}[name]
    for f in files:
        assert sha256((folder / f.name).read_bytes()) == f.sha256, f.name
    assert sorted(f.name for f in SOURCES[name]) == [p.name for p in list_images(folder)]


def test_builtin_pixel_hashes_match_shared_data(shared_set):
    folder = shared_set("BSD100")
    files = [f for f in SOURCES["BSD100"] if f.transform == "jpeg_to_png"]
    assert len(files) == 32
    for f in files:
        with Image.open(folder / f.name) as img:
            assert pixel_sha256(img) == f.sha256, f.name
