"""Where shipped weights are found, and large files downloaded from a local HTTP server."""

from __future__ import annotations

import pytest
from test_datasets import leftovers, server  # noqa: F401  (the 127.0.0.1 server fixture)

from upscale import load_model
from upscale.hub import weights as weights_module
from upscale.errors import DownloadError, WeightsError
from upscale.hub.manifest import make_entry, write_manifest
from upscale.models import get_spec
from upscale.hub.weights import REPO_WEIGHTS, has_shipped_weights, shipped_weights, weights_dir
from upscale.hub.fetch import URL_ENV, WHEEL_MAX_BYTES, ships_in_wheel, weights_cache_dir

NAME = "espcn_x2.safetensors"
ESPCN = get_spec("espcn")


@pytest.fixture
def listed_only(tmp_path, monkeypatch, random_weights):
    """A weights folder whose manifest lists espcn_x2 but lacks the file, as a wheel lacks a large one.

    Returns the file's bytes, which a test serves or withholds.
    """
    made = random_weights(tmp_path / "made", "espcn", 2)
    folder = tmp_path / "weights"
    write_manifest({NAME: make_entry(made, {})}, folder)
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    monkeypatch.delenv(URL_ENV, raising=False)
    return made.read_bytes()


# --------------------------------------------------------------------------- policy and folders


def test_wheel_threshold_is_by_size():
    assert WHEEL_MAX_BYTES == 4 * 1024 * 1024
    assert ships_in_wheel({"bytes": WHEEL_MAX_BYTES - 1})
    assert not ships_in_wheel({"bytes": WHEEL_MAX_BYTES})


def test_weights_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(tmp_path / "mine"))
    assert weights_dir() == tmp_path / "mine"
    monkeypatch.delenv("UPSCALE_WEIGHTS")
    assert weights_dir() == REPO_WEIGHTS  # a checkout: no package data folder inside upscale/
    (tmp_path / "pkg").mkdir()
    monkeypatch.setattr(weights_module, "PACKAGED_WEIGHTS", tmp_path / "pkg")
    assert weights_dir() == tmp_path / "pkg"  # an installed wheel


def test_file_in_the_folder_wins_without_network(tmp_path, monkeypatch, random_weights):
    path = random_weights(tmp_path, "espcn", 2)
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(tmp_path))
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9")  # nothing listens: any download would fail
    assert shipped_weights(ESPCN, 2) == path


def test_unlisted_file_has_no_shipped_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(tmp_path))
    assert shipped_weights(ESPCN, 2) is None and not has_shipped_weights(ESPCN, 2)


def test_listed_file_counts_as_shipped_without_downloading(listed_only):
    assert has_shipped_weights(ESPCN, 2)
    assert not weights_cache_dir().exists()


# --------------------------------------------------------------------------- downloads


def test_download_verifies_caches_and_loads(server, listed_only, monkeypatch):  # noqa: F811
    server.put(NAME, listed_only)
    monkeypatch.setenv(URL_ENV, server.url + "/")
    path = shipped_weights(ESPCN, 2)
    assert path == weights_cache_dir() / NAME and path.read_bytes() == listed_only
    assert leftovers(weights_cache_dir()) == [NAME]  # no temporary file left
    assert load_model("espcn", 2).meta["arch"] == "espcn"
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9")  # the cached copy is used from now on
    assert shipped_weights(ESPCN, 2) == path


def test_damaged_cached_copy_is_fetched_again(server, listed_only, monkeypatch):  # noqa: F811
    server.put(NAME, listed_only)
    monkeypatch.setenv(URL_ENV, server.url)
    cached = weights_cache_dir() / NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(listed_only[:-1] + b"\0")
    assert shipped_weights(ESPCN, 2) == cached and cached.read_bytes() == listed_only


def test_sha256_mismatch_is_refused_and_not_kept(server, listed_only, monkeypatch):  # noqa: F811
    server.put(NAME, listed_only[:-1] + b"\0")
    monkeypatch.setenv(URL_ENV, server.url)
    with pytest.raises(DownloadError, match=f"sha256 mismatch for {NAME}"):
        shipped_weights(ESPCN, 2)
    assert leftovers(weights_cache_dir()) == []


def test_http_error_names_the_url(server, listed_only, monkeypatch):  # noqa: F811
    monkeypatch.setenv(URL_ENV, server.url + "/nowhere")
    with pytest.raises(DownloadError, match=f"{server.url}/nowhere/{NAME}: HTTP 404"):
        shipped_weights(ESPCN, 2)
    assert leftovers(weights_cache_dir()) == []


def test_missing_url_says_which_file_and_how_to_provide_it(listed_only):
    with pytest.raises(WeightsError) as err:
        load_model("espcn", 2)
    msg = str(err.value)
    assert "\n" not in msg and NAME in msg and URL_ENV in msg
    assert str(weights_cache_dir() / NAME) in msg
    assert not weights_cache_dir().exists()


def test_cache_follows_upscale_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_CACHE", str(tmp_path / "c"))
    assert weights_cache_dir() == tmp_path / "c" / "weights"
