"""``upscale weights add --store fp16``: a file is re-stored in half precision only where that moves no score."""

from __future__ import annotations

import shutil

import pytest
import torch

from upscale import load_model
from upscale.errors import WeightsError
from upscale.evaluation.datasets import BenchmarkSet, list_images
from upscale.evaluation.scoring import STORAGE_TOLERANCE_DB, score_file, score_stored
from upscale.hub.manifest import read_manifest, sha256_file, write_manifest
from upscale.hub.weights import REPO_WEIGHTS, Storage, read_weights, stored_as, weights_bytes
from upscale.files import write_bytes_atomic

SOURCE = "fsrcnn_x3.safetensors"  # small and quick to evaluate


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """A weights folder of one shipped file and its manifest entry, used as the shipped folder."""
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(REPO_WEIGHTS / SOURCE, folder / SOURCE)
    write_manifest({SOURCE: read_manifest(REPO_WEIGHTS)[SOURCE]}, folder)
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    return folder / SOURCE


def _set5(shared_set) -> BenchmarkSet:
    folder = shared_set("Set5")
    return BenchmarkSet("Set5", folder, list_images(folder))


def _rescaled_copy(path, first: float, second: float) -> None:
    """The same function as ``path`` in fp32, with its first layers' weights moved in magnitude.

    FSRCNN's activations are PReLUs, which commute with a positive factor: the first
    convolution is scaled by ``first``, the second by ``second`` (its bias by
    ``first * second``) and the third by ``1 / (first * second)``, so the output is the
    same in fp32 while fp16 storage may flush, round or overflow the moved tensors.
    """
    state, meta = read_weights(path)
    state = dict(state)
    state["body.0.weight"] = state["body.0.weight"] * first
    state["body.0.bias"] = state["body.0.bias"] * first
    state["body.2.weight"] = state["body.2.weight"] * second
    state["body.2.bias"] = state["body.2.bias"] * (first * second)
    state["body.4.weight"] = state["body.4.weight"] / (first * second)
    write_bytes_atomic(path, weights_bytes(state, meta))


def test_stored_as_halves_the_floats_and_leaves_the_file_alone(shipped_copy):
    before = shipped_copy.read_bytes()
    data = stored_as(shipped_copy, Storage.FP16)
    assert shipped_copy.read_bytes() == before
    half = shipped_copy.with_name("half.safetensors")
    half.write_bytes(data)
    state, meta = read_weights(half)
    original, original_meta = read_weights(shipped_copy)
    assert {v.dtype for v in state.values()} == {torch.float16}
    assert meta == {**original_meta, "storage": "fp16"}
    assert all(torch.equal(state[k], original[k].half()) for k in original)
    assert len(data) < 0.6 * len(before)
    # It loads into the fp32 network like any other file.
    model = load_model("fsrcnn", 3, half)
    assert all(p.dtype is torch.float32 for p in model.net.parameters())


def test_add_store_fp16_rewrites_the_file_and_records_its_scores(shipped_copy, shared_set, cli):
    entry_before = read_manifest(shipped_copy.parent)[SOURCE]
    size_before = shipped_copy.stat().st_size
    result = cli(["weights", "add", str(shipped_copy), "--set", "Set5", "--store", "fp16"])
    assert result.exit_code == 0, result.output
    assert "stored as fp16" in result.output
    _, meta = read_weights(shipped_copy)
    assert meta["storage"] == "fp16" and shipped_copy.stat().st_size < 0.6 * size_before
    entry = read_manifest(shipped_copy.parent)[SOURCE]
    assert entry["sha256"] == sha256_file(shipped_copy) and entry["bytes"] == shipped_copy.stat().st_size
    change = entry["scores"]["x3"]["Set5"]["psnr"] - entry_before["scores"]["x3"]["Set5"]["psnr"]
    assert abs(change) <= STORAGE_TOLERANCE_DB + 0.0001  # the manifest rounds to 4 places
    assert set(entry["drift"]["x3"]) == {"fp16", "bf16"}
    assert cli(["weights", "verify"]).exit_code == 0


@pytest.mark.parametrize(
    ("first", "second", "after"),
    [(1e-6, 1e3, r"\d+\.\d+"), (1e-3, 1e6, "nan")],  # first layer in fp16's subnormals; second beyond its range
    ids=["rounded", "overflow"],
)
def test_add_store_fp16_refuses_a_file_that_half_precision_changes(shipped_copy, shared_set, cli, first, second, after):
    bench = _set5(shared_set)
    fp32_before = score_file(shipped_copy, [bench], with_drift=False)[0]
    _rescaled_copy(shipped_copy, first, second)
    rescaled = shipped_copy.read_bytes()
    # In fp32 the rescaled file is the same network.
    fp32_after = score_file(shipped_copy, [bench], with_drift=False)[0]
    assert abs(fp32_after["x3"]["Set5"]["psnr"] - fp32_before["x3"]["Set5"]["psnr"]) <= 0.001
    manifest_before = (shipped_copy.parent / "MANIFEST.json").read_bytes()
    with pytest.raises(WeightsError, match=rf"fp16 storage moves Set5 x3 PSNR from \d+\.\d+ to {after} dB"):
        score_stored(shipped_copy, Storage.FP16, [bench])
    result = cli(["weights", "add", str(shipped_copy), "--set", "Set5", "--store", "fp16"])
    assert result.exit_code == 1
    assert "keep it in fp32" in result.output and len(result.output.strip().splitlines()) == 1
    # Nothing was written: neither the file nor the manifest.
    assert shipped_copy.read_bytes() == rescaled
    assert (shipped_copy.parent / "MANIFEST.json").read_bytes() == manifest_before
    assert not list(shipped_copy.parent.glob(".*partial"))


def test_store_writes_a_checked_half_copy_and_keeps_the_source(shipped_copy, shared_set, cli, tmp_path):
    source = shipped_copy.read_bytes()
    manifest = (shipped_copy.parent / "MANIFEST.json").read_bytes()
    out = tmp_path / "training" / "fsrcnn_x3.safetensors"
    result = cli(["weights", "store", str(shipped_copy), "--as", "fp16", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Set5 PSNR change: x3" in result.output
    assert shipped_copy.read_bytes() == source and (shipped_copy.parent / "MANIFEST.json").read_bytes() == manifest
    assert out.read_bytes() == stored_as(shipped_copy, Storage.FP16)
    # An existing output is kept unless --force; the source itself is never the output.
    again = cli(["weights", "store", str(shipped_copy), "--as", "fp16", "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    same = cli(["weights", "store", str(shipped_copy), "--as", "fp16", "-o", str(shipped_copy), "--force"])
    assert same.exit_code == 2 and shipped_copy.read_bytes() == source


def test_store_refuses_a_copy_that_measures_differently(shipped_copy, shared_set, cli, tmp_path):
    _rescaled_copy(shipped_copy, 1e-6, 1e3)
    out = tmp_path / "half.safetensors"
    result = cli(["weights", "store", str(shipped_copy), "--as", "fp16", "-o", str(out)])
    assert result.exit_code == 1 and "keep it in fp32" in result.output
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
