"""`upscale bench`: every field, FLOPs counted from the executed ops, and the OpenCV comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"


@pytest.fixture(autouse=True)
def no_shipped_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(tmp_path / "no-weights"))


def run_bench(cli, *args):
    # fp32 unless a test asks: under auto a CPU with bf16 kernels adds a bf16 row per model.
    precision = [] if "--precision" in args else ["--precision", "fp32"]
    result = cli(["bench", "--size", "32x24", "--runs", "1", "--device", "cpu", "--json", *precision, *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_fields_and_bicubic_row(cli):
    data = run_bench(cli, "--model", "fsrcnn,rdn", "-x", "2")
    assert set(data["conv_peak_tflops"]) == {"fp32"} and data["conv_peak_tflops"]["fp32"] > 0
    rows = {r["model"]: r for r in data["results"]}
    assert list(rows) == ["bicubic", "fsrcnn", "rdn"]
    for name in ("fsrcnn", "rdn"):
        r = rows[name]
        assert r["weights"] == "random-init" and r["median_seconds"] > 0
        assert r["gflops_per_output_mp"] > 0 and 0 < r["fraction_of_peak"] and r["peak_memory_bytes"] > 0
        assert r["output_mpix_per_second"] == pytest.approx(32 * 24 * 4 / 1e6 / r["median_seconds"])
    assert rows["rdn"]["gflops_per_output_mp"] > 100 * rows["fsrcnn"]["gflops_per_output_mp"]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_flops_are_the_layers_flops(cli, scale):
    # ESPCN: 5x5 1->64, 3x3 64->32, 3x3 32->s^2, all at LR size; 2 FLOPs per multiply-add.
    (row,) = [r for r in run_bench(cli, "--model", "espcn", "-x", str(scale))["results"] if r["model"] == "espcn"]
    per_lr_pixel = 2 * (25 * 64 + 9 * 64 * 32 + 9 * 32 * scale**2)
    assert row["gflops_per_output_mp"] == pytest.approx(per_lr_pixel / scale**2 * 1e6 / 1e9)


def test_markdown_into_a_readme_block(cli, tmp_path):
    readme = tmp_path / "R.md"
    readme.write_text("top\n<!-- upscale:bench -->\n<!-- /upscale:bench -->\n")
    result = cli(["bench", "--model", "espcn", "-x", "3", "--size", "16x16", "--runs", "1", "--device", "cpu",
                  "--precision", "fp32", "--readme", str(readme)])
    assert result.exit_code == 0, result.stderr
    text = readme.read_text()
    assert "| bicubic | x3 | float32 | - |" in text and "| espcn | x3 | float32 | random-init | 22,729 |" in text
    assert "conv peak" in text


def test_trained_weights_are_timed_beside_fresh_ones(cli, tmp_path, random_weights):
    path = random_weights(tmp_path, "espcn", 3, seed=1)  # a file, as a shipped or trained one is
    (row,) = [r for r in run_bench(cli, "--model", "espcn", "-x", "3", "--weights", str(path))["results"] if r["model"] == "espcn"]
    assert row["weights"] == str(path) and row["fresh_seconds"] > 0 and row["fresh_ratio"] > 0
    fresh = run_bench(cli, "--model", "srcnn", "-x", "3")["results"][-1]
    assert fresh["weights"] == "random-init" and fresh["fresh_seconds"] is None  # nothing to set beside it
    readme = tmp_path / "R.md"
    readme.write_text("<!-- upscale:bench -->\n<!-- /upscale:bench -->\n")
    cli(["bench", "--model", "espcn", "-x", "3", "--size", "16x16", "--runs", "1", "--device", "cpu",
         "--weights", str(path), "--readme", str(readme)])
    assert re.search(r"\| [0-9.]+ \([0-9.]+x\) \| [0-9]+ MiB \|", readme.read_text())  # fresh ms and the ratio


def test_vs_opencv_says_what_is_missing(cli, tmp_path):
    result = cli(["bench", "--model", "fsrcnn", "--size", "16x16", "--runs", "1", "--device", "cpu",
                  "--vs", "opencv", "--opencv-models", str(tmp_path)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "FSRCNN_x4.pb" in result.stderr or "OpenCV" in result.stderr
    assert cli(["bench", "--vs", "tensorrt"]).exit_code == 2


def test_vs_opencv_side_by_side(cli):
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "dnn_superres") or not (PEERS / "Saafke__FSRCNN_Tensorflow").is_dir():
        pytest.skip("needs OpenCV 4.x contrib and the peer model files in ../shared/peers")
    data = run_bench(cli, "--model", "fsrcnn,espcn", "-x", "3", "--vs", "opencv", "--opencv-models", str(PEERS),
                     "--repeat", "2")
    names = [r["model"] for r in data["results"]]
    assert names == ["bicubic", "fsrcnn", "opencv-fsrcnn", "espcn", "opencv-espcn"]
    assert all(r["median_seconds"] > 0 for r in data["results"])
    # one paired ratio per round and precision
    assert set(data["peer_ratios"]) == {"fsrcnn float32", "espcn float32"}
    assert all(len(v) == 2 and all(r > 0 for r in v) for v in data["peer_ratios"].values())


def test_the_peer_ratio_comes_from_alternating_pairs_of_calls(monkeypatch, tmp_path):
    """Each pair times both sides back to back, the order swapping pair by pair; the ratio is the pairs' median."""
    import upscale.reports.bench as bench
    import upscale.reports.opencv_peer as opencv_peer

    clock, calls = [0.0], []
    costs = iter([1, 3, 5, 2, 1, 2, 9, 3, 1, 4, 1, 1, 1, 1])  # milliseconds, in call order

    def spend(side):
        def call(*_args):
            calls.append(side)
            clock[0] += next(costs) / 1000
        return call

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(bench, "upscale_with", spend("ours"))
    monkeypatch.setattr(opencv_peer, "opencv_upscaler", lambda *_args: spend("peer"))
    key, ratio = bench.paired_peer_ratio("espcn", 3, None, 8, 8, tmp_path, runs=6)
    assert key == "espcn float32"
    assert calls == ["ours", "peer"] + ["ours", "peer", "peer", "ours"] * 3
    # after the warm-up pair, (ours, peer): (5, 2) (2, 1) (9, 3) (4, 1) (1, 1) (1, 1)
    assert ratio == pytest.approx((0.4 + 0.5) / 2)  # the median of 0.25, 1/3, 0.4, 0.5, 1, 1


def test_auto_on_a_bf16_cpu_times_both_precisions_against_their_own_peaks(cli, monkeypatch):
    monkeypatch.setattr("upscale.reports.bench.cpu_has_bf16", lambda: True)
    data = run_bench(cli, "--model", "espcn", "-x", "2", "--precision", "auto")
    assert set(data["conv_peak_tflops"]) == {"fp32", "bf16"}
    assert [r["precision"] for r in data["results"] if r["model"] == "espcn"] == ["float32", "bfloat16"]
    monkeypatch.setattr("upscale.reports.bench.cpu_has_bf16", lambda: False)
    data = run_bench(cli, "--model", "espcn", "-x", "2", "--precision", "auto")
    assert set(data["conv_peak_tflops"]) == {"fp32"}
    assert [r["precision"] for r in data["results"] if r["model"] == "espcn"] == ["float32"]
    asked = run_bench(cli, "--model", "espcn", "-x", "2", "--precision", "bf16")
    assert [r["precision"] for r in asked["results"] if r["model"] == "espcn"] == ["bfloat16"]
