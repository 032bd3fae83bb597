"""The GPU check, in what the CPU can test: budget, compile plan, markdown, JSON, refusal, the whole path in tiny.

The measurements themselves need a GPU (``bash .ci/gpu-check``); everything around
them runs here: the tables are rendered from hand-made results, the compile column
is driven by stand-in compilers, and the command and the script run end to end on
the CPU with the quick plan's 16-pixel inputs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from upscale.errors import UpscaleError
from upscale.reports.bench import BenchResult
from upscale.reports.gpu_check import (
    BLOCKS,
    COMPILED,
    EAGER,
    QUICK_PLAN,
    Budget,
    CheckInfo,
    GpuCheck,
    InferenceRow,
    NetworkTiming,
    TilingRow,
    compile_estimate,
    measure_compiled,
    run_gpu_check,
)
from upscale.reports.gpu_tables import readme_blocks
from upscale.reports.train_bench import TrainStepResult

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _block(text: str, name: str) -> str:
    match = re.search(rf"<!-- upscale:{name} -->\n(.*?)<!-- /upscale:{name} -->", text, re.S)
    assert match, name
    return match.group(1)


def _outside_blocks(text: str) -> str:
    return re.sub(r"(<!-- upscale:gpu-[\w-]+ -->\n).*?(<!-- /upscale)", r"\1\2", text, flags=re.S)


def _bench(model: str, seconds: float, side: int = 512, memory: int = 3 * 2**30) -> BenchResult:
    mp = side * side * 16 / 1e6
    return BenchResult(
        model=model, scale=4, width=side, height=side, device="cuda", precision="float16", parameters=1000,
        gflops_per_output_mp=100.0, median_seconds=seconds, output_mpix_per_second=mp / seconds,
        achieved_tflops=None, fraction_of_peak=None, peak_memory_bytes=memory, memory_kind="cuda_max_allocated",
        weights="random-init",
    )


def _step(model: str, precision: str) -> TrainStepResult:
    return TrainStepResult(
        model=model, scale=4, batch=16, input_side=48, target_side=192, device="cuda", precision=precision,
        median_step_seconds=0.025, batch_seconds=0.005, samples_per_second=533.3, batch_share=1 / 6,
        step_tflop=5.0, achieved_tflops=200.0, peak_tflops=400.0, fraction_of_peak=0.5,
        peak_memory_bytes=5 * 2**30, memory_kind="cuda_max_allocated",
    )


INFO = CheckInfo(device="NVIDIA H200", torch="2.11.0+cu128", cuda="12.8", cudnn=91002, tf32=True, version="0.1.0",
                 date="2031-01-02", command="upscale gpu-check")


def _measured() -> GpuCheck:
    """A check as an H200 might leave it: made by hand, so every number below is known."""
    times = (0.010, 0.008, 0.004, 0.005)
    rdn = InferenceRow("rdn", 4, 2841.0, (
        *(NetworkTiming(v.label, s) for v, s in zip(EAGER, times)),
        NetworkTiming(COMPILED.label, 0.002, compile_seconds=41.6),
    ), _bench("rdn", 0.020), module_calls=153)
    drcn = InferenceRow("drcn", 4, 39007.0, (
        *(NetworkTiming(v.label, 0.5) for v in EAGER),
        NetworkTiming(COMPILED.label, note="skipped: ~90 s to compile, 12 s of the budget left"),
    ), _bench("drcn", 0.6), module_calls=68)
    tiling = (
        TilingRow("rdn", 4, 0, 1, 1, _bench("rdn", 1.0, 2048)),
        TilingRow("rdn", 4, None, 4, 1, _bench("rdn", 1.25, 2048)),
        TilingRow("rdn", 4, 256, 64, 8, _bench("rdn", 4.0, 2048)),
        TilingRow("rdn", 4, 512, 0, 0, None, "skipped: time budget"),
    )
    return GpuCheck(
        INFO, GPU_PLAN_FOR_TESTS, {"fp32": 250.0, "fp16": 500.0, "bf16": 480.0}, (rdn, drcn), tiling,
        (_step("rdn", "fp16 channels-last"), _step("rdn", "fp32 channels-last")),
        notes=("tiling rdn tile 512: skipped, time budget", "training rdn bf16: skipped, time budget"),
        parts=("inference", "tiling", "training", "compile"), seconds=371.0,
    )


GPU_PLAN_FOR_TESTS = dataclasses.replace(QUICK_PLAN, side=512, tiling_side=2048, runs=20, run_budget_s=1.5,
                                         compile_s=150.0)


def test_a_budget_hands_each_part_a_share_of_what_is_left():
    clock = FakeClock()
    total = Budget(100, clock)
    assert total.share(30).left() == 30
    clock.now += 80
    part = total.share(30)
    assert part.left() == 20  # only 20 s of the whole are left
    clock.now += 25
    assert part.left() == -5 and total.share(30).left() == 0


def test_compile_estimate_starts_from_a_guess_then_follows_the_compiles_timed():
    assert compile_estimate(100, []) == pytest.approx(50.0)  # 0.5 s per module call until measured
    assert compile_estimate(100, [(10, 3.0), (30, 6.0)]) == pytest.approx(30.0)  # the slower rate: 0.3 s a call


def test_the_three_blocks_from_results():
    blocks = readme_blocks(_measured())
    assert list(blocks) == list(BLOCKS)
    bench = blocks["gpu-bench"]
    rdn = next(line for line in bench.splitlines() if line.startswith("| rdn |"))
    cells = [c.strip() for c in rdn.strip("|").split("|")]
    # fp32 alone, then ms and the speed-up over fp32 for each variant; the compiled cell with its compile time
    assert cells[:8] == ["rdn", "x4", "2841.0", "10.00", "8.00 (1.2x)", "4.00 (2.5x)", "5.00 (2.0x)",
                         "2.00 (5.0x), compile 42 s"]
    # the fastest is the compiled one: 2841 GFLOP/MP x 4.19 MP / 2 ms = 5958 TFLOP/s... of the fp16 conv peak
    tflops = 2841.0 * (512 * 4) ** 2 / 1e6 / 0.002 / 1e3
    assert cells[8] == "fp16 CL compiled" and cells[9] == f"{tflops:.1f} ({tflops / 500:.0%})"
    assert cells[10:] == ["20.00", f"{512 * 512 * 16 / 1e6 / 0.02:.1f}", "3072 MiB"]
    assert "skipped: ~90 s to compile, 12 s of the budget left" in bench
    assert "Device NVIDIA H200 (torch 2.11.0+cu128, CUDA 12.8, cuDNN 91002)" in bench
    assert "`upscale gpu-check` (upscale 0.1.0, 2031-01-02)" in bench  # the run's date, not today's

    tiling = blocks["gpu-tiling"]
    assert "| rdn | x4 | untiled | 1 (1) | 1000.0 | 67.1 | 1.00x | 3072 MiB |" in tiling
    assert "| rdn | x4 | auto | 4 (1) | 1250.0 | 53.7 | 0.80x | 3072 MiB |" in tiling
    assert "| rdn | x4 | 256 | 64 (8) | 4000.0 | 16.8 | 0.25x | 3072 MiB |" in tiling
    assert "| rdn | x4 | 512 | – | skipped: time budget |" in tiling
    assert "Not measured: tiling rdn tile 512: skipped, time budget." in tiling and "training rdn" not in tiling

    train = blocks["gpu-train-bench"]
    assert "| rdn | x4 | 16 | 48² | 192² | fp16 channels-last | 25.0 |" in train
    assert "| rdn | x4 | 16 | 48² | 192² | fp32 channels-last | 25.0 |" in train
    assert "Not measured: training rdn bf16: skipped, time budget." in train
    assert "AMD" not in train and "Device NVIDIA H200" in train  # the GPU, not the CPU of whoever renders it


def test_a_part_the_run_did_not_reach_says_so():
    check = dataclasses.replace(_measured(), parts=("inference",))
    blocks = readme_blocks(check)
    assert "| rdn |" in blocks["gpu-bench"]
    for name in ("gpu-tiling", "gpu-train-bench"):
        assert blocks[name] == "Not measured: the check (`upscale gpu-check`) stopped before this part."


def test_results_survive_json():
    check = _measured()
    again = GpuCheck.from_dict(json.loads(json.dumps(check.to_dict())))
    assert again == check and readme_blocks(again) == readme_blocks(check)
    with pytest.raises(UpscaleError, match="not the results of upscale gpu-check"):
        GpuCheck.from_dict({"info": {}})


def _compile_plan(compile_s: float):
    plan = dataclasses.replace(QUICK_PLAN, compile_s=compile_s, total_s=1000.0)
    rows = tuple(
        InferenceRow(name, 4, 2.0, (*(NetworkTiming(v.label, 0.01) for v in EAGER),
                                    NetworkTiming(COMPILED.label, note="not reached")), None, calls)
        for name, calls in (("fsrcnn", 40), ("espcn", 4))
    )
    return GpuCheck(INFO, plan, {}, inference=rows, parts=("inference",)), plan


def _compiled_cells(check: GpuCheck) -> dict[str, NetworkTiming]:
    return {r.model: r.timings[-1] for r in check.inference}


def test_compiling_goes_smallest_first_and_only_within_the_budget():
    seen = []

    def compiler(net):
        seen.append(type(net).__name__)
        return net  # a stand-in: the eager network, so the path runs without a C compiler

    # 0.5 s per module call until a compile is timed: espcn (4 calls) ~2 s fits in 3 s, fsrcnn (40) ~20 s would not,
    # but its estimate then follows espcn's measured rate, a fraction of a second, and it fits too.
    check, plan = _compile_plan(compile_s=3.0)
    cells = _compiled_cells(measure_compiled(check, CPU, Budget(1000.0, FakeClock()), lambda _: None, compiler))
    assert seen == ["Sequential", "ESPCN", "FSRCNN"]  # the warm-up, then the fewest module calls first
    for name in ("espcn", "fsrcnn"):
        assert cells[name].seconds > 0 and cells[name].compile_seconds is not None and cells[name].note == ""
    check, plan = _compile_plan(compile_s=1.0)
    cells = _compiled_cells(measure_compiled(check, CPU, Budget(1000.0, FakeClock()), lambda _: None, compiler))
    assert cells["espcn"].seconds is None and cells["espcn"].note == "skipped: ~2 s to compile, 1 s of the budget left"
    assert cells["fsrcnn"].note == "skipped: ~20 s to compile, 1 s of the budget left"
    check, plan = _compile_plan(compile_s=3.0)
    clock = FakeClock()
    whole = Budget(1000.0, clock)
    clock.now += 999.0  # the earlier parts spent all but a second of the whole
    cells = _compiled_cells(measure_compiled(check, CPU, whole, lambda _: None, compiler))
    assert all(c.seconds is None and c.note.startswith("skipped: ~") for c in cells.values())


def test_a_compiler_that_fails_is_reported_not_raised():
    def broken(net):
        raise RuntimeError("no C compiler\nsecond line")

    check, plan = _compile_plan(compile_s=100.0)
    done = measure_compiled(check, CPU, Budget(1000.0, FakeClock()), lambda _: None, broken)
    assert {c.note for c in _compiled_cells(done).values()} == {"skipped: torch.compile fails here"}
    assert done.notes == ("compile: on a one-layer network, failed: RuntimeError: no C compiler",)

    calls = []

    def fails_on_networks(net):  # the warm-up compiles, the first real network does not
        calls.append(net)
        if len(calls) > 1:
            raise RuntimeError("inductor")
        return net

    done = measure_compiled(check, CPU, Budget(1000.0, FakeClock()), lambda _: None, fails_on_networks)
    cells = _compiled_cells(done)
    assert cells["espcn"].note == "failed: RuntimeError"
    assert cells["fsrcnn"].note == "skipped: torch.compile failed on espcn"
    assert "compile" in done.parts and "compile espcn: failed: RuntimeError: inductor" in done.notes
    assert "failed: RuntimeError" in readme_blocks(done)["gpu-bench"]


def test_a_row_that_fails_is_reported_and_the_check_goes_on(monkeypatch):
    import upscale.reports.gpu_check as gpu_check

    def out_of_memory(name, *args):
        if name == "espcn":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB\nmore")
        return _step(name, "fp16 channels-last")

    monkeypatch.setattr(gpu_check, "bench_train_step", out_of_memory)
    plan = dataclasses.replace(QUICK_PLAN, training_models=("espcn", "rdn"))
    check = gpu_check.measure_training(GpuCheck(INFO, plan, {}), CPU, Budget(100.0), lambda _: None)
    assert [r.model for r in check.training] == ["rdn"]
    assert check.notes == ("training espcn fp32: failed: OutOfMemoryError: CUDA out of memory. Tried to allocate "
                           "8.00 GiB",)
    assert "Not measured: training espcn fp32: failed: OutOfMemoryError" in readme_blocks(check)["gpu-train-bench"]


def test_a_spent_budget_skips_rows_and_says_which():
    plan = dataclasses.replace(QUICK_PLAN, total_s=0.0, peak_precisions=())
    saved = []
    check = run_gpu_check(plan, CPU, "upscale gpu-check --quick", on_part=saved.append)
    assert [c.parts for c in saved] == [("inference",), ("inference", "tiling"), ("inference", "tiling", "training"),
                                        ("inference", "tiling", "training", "compile")]
    assert all(t.note == "skipped: time budget" for r in check.inference for t in r.timings)
    assert check.training == () and all(r.result is None for r in check.tiling)
    blocks = readme_blocks(check)
    assert "Not measured: inference fsrcnn: skipped, time budget; inference espcn" in blocks["gpu-bench"]
    assert "| espcn | x4 | 16 | – | skipped: time budget |" in blocks["gpu-tiling"]
    assert blocks["gpu-train-bench"].startswith("No training step was measured.")


def test_refuses_without_a_cuda_device(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for args in ([], ["--device", "cuda"], ["--device", "cpu"]):
        result = cli(["gpu-check", *args])
        assert result.exit_code == 1, args
        assert result.stderr.count("\n") == 1 and "needs a CUDA device" in result.stderr, result.stderr
        assert result.stdout == ""


def test_a_readme_without_the_blocks_is_refused_before_measuring(cli, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# upscale\n<!-- upscale:gpu-bench -->\n<!-- /upscale:gpu-bench -->\n")
    result = cli(["gpu-check", "--device", "cpu", "--quick", "--readme", str(readme), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "has no block <!-- upscale:gpu-tiling -->" in result.stderr
    assert not (tmp_path / "o").exists()  # refused before any measurement


def test_the_command_is_hidden_but_documented(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert "gpu-check" not in cli(["--help"]).stdout
    shown = cli(["gpu-check", "--help"])
    assert shown.exit_code == 0 and "--from-json" in shown.stdout and "--quick" in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80


def test_quick_run_on_the_cpu_writes_the_three_blocks(cli, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    before = readme.read_text()
    result = cli(["gpu-check", "--device", "cpu", "--quick", "--readme", str(readme), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    text = readme.read_text()
    for name in BLOCKS:
        assert "Not measured yet" in _block(before, name) and "Not measured" not in _block(text, name)
        assert f"<!-- upscale:{name} -->\n{_block(text, name)}<!-- /upscale:{name} -->" in result.stdout
    assert _outside_blocks(text) == _outside_blocks(before)  # nothing but the three blocks changed
    bench, tiling, train = (_block(text, n) for n in BLOCKS)
    assert re.search(r"^\| fsrcnn \| x4 \| 2\.0 \| [\d.]+ \| [\d.]+ \([\d.]+x\) \|", bench, re.M)
    assert "| espcn | x4 |" in bench and "skipped: no compile budget" in bench
    assert [line.split(" | ")[2] for line in tiling.splitlines() if line.startswith("| espcn")] == [
        "untiled", "auto", "16"]
    assert "| espcn | x4 | 8 | 17² | 68² | fp32 |" in train
    assert "`upscale gpu-check --quick --device cpu`" in bench and "Device cpu" in bench
    assert "[" in result.stderr and "training steps 1/1" in result.stderr  # progress, one plain line a step

    saved = json.loads((tmp_path / "out" / "gpu-check.json").read_text())
    check = GpuCheck.from_dict(saved)
    assert check.notes == () and check.parts == ("inference", "tiling", "training", "compile")
    assert (tmp_path / "out" / "gpu-check.md").read_text() in result.stdout
    # Rendered again elsewhere from the JSON alone: the same blocks.
    other = tmp_path / "other.md"
    other.write_text(before)
    again = cli(["gpu-check", "--from-json", str(tmp_path / "out" / "gpu-check.json"), "--readme", str(other)])
    assert again.exit_code == 0, again.stderr
    assert other.read_text() == text


def test_the_script_writes_everything_into_out(tmp_path):
    out = tmp_path / "out"
    readme_before = (ROOT / "README.md").read_bytes()
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    # A one-second budget: the script's whole path (environment line, README copy, JSON, log) in a few seconds.
    done = subprocess.run(["bash", str(ROOT / ".ci" / "gpu-check"), "--device", "cpu", "--quick", "--budget", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.startswith("python ") and "torch" in done.stdout.splitlines()[0]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "gpu-check.json", "gpu-check.log", "gpu-check.md"]
    copy = (out / "README.md").read_text()
    assert "Generated by `upscale gpu-check --quick --device cpu --budget 1.0`" in _block(copy, "gpu-bench")
    assert "gpu-check: " in (out / "gpu-check.log").read_text()
    assert (ROOT / "README.md").read_bytes() == readme_before  # with OUT set, the checkout is left alone
    assert not (ROOT / "gpu-check").exists()
