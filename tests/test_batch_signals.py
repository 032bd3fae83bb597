"""A batch killed (SIGKILL), interrupted (SIGINT) or terminated (SIGTERM) in a real process: only complete
outputs are left, and a re-run finishes the rest without redoing what was done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from upscale import create_model
from upscale.models import get_spec
from upscale.hub.weights import describe, save_weights

ROOT = Path(__file__).resolve().parent.parent
COUNT = 40


@pytest.fixture
def batch(tmp_path):
    """(inputs folder, output folder, weights): enough small images to stop a run halfway."""
    torch.manual_seed(0)
    spec = get_spec("espcn")
    weights = tmp_path / "espcn_x2.safetensors"
    save_weights(weights, create_model("espcn", 2), describe(spec, 2, spec.config_cls()))
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(COUNT):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(src / f"{i:02d}.png")
    return src, tmp_path / "out", weights


def launch(src: Path, out: Path, weights: Path) -> subprocess.Popen:
    # --tile 4 makes each file slow enough (tens of ms) to be stopped between the first and the last.
    cmd = [sys.executable, "-m", "upscale", str(src), "-o", str(out), "-m", "espcn", "-x", "2", "-w", str(weights),
           "--tile", "4", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # A shell without job control starts background jobs with SIGINT ignored; the CLI must see it.
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_outputs(out: Path, proc: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.png"))) < count:
        assert proc.poll() is None, f"the batch ended before it could be stopped: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.005)


def complete_outputs(out: Path) -> dict[str, float]:
    """Every visible output decodes in full at the right size; name -> mtime."""
    done = {}
    for path in out.glob("*.png"):
        with Image.open(path) as im:
            im.load()
            assert im.size == (64, 64), path
        done[path.name] = path.stat().st_mtime_ns
    return done


def test_sigkill_leaves_only_complete_outputs_and_a_rerun_resumes(batch, cli):
    src, out, weights = batch
    proc = launch(src, out, weights)
    wait_for_outputs(out, proc, 3)
    proc.kill()
    proc.wait(timeout=30)
    done = complete_outputs(out)
    assert 3 <= len(done) < COUNT
    result = cli([str(src), "-o", str(out), "-m", "espcn", "-x", "2", "-w", str(weights), "--json"])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    skipped = {Path(r["output"]).name for r in rows if r["status"] == "skipped"}
    assert skipped == set(done) and sum(r["status"] == "ok" for r in rows) == COUNT - len(done)
    after = complete_outputs(out)
    assert len(after) == COUNT and all(after[name] == mtime for name, mtime in done.items())
    assert sorted(p.name for p in out.iterdir()) == sorted(after)  # no temporary file is left behind


@pytest.mark.parametrize(
    "signum, code, word",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],  # Slurm and Kubernetes send SIGTERM
)
def test_a_signal_exits_after_discarding_the_current_file(batch, signum, code, word):
    src, out, weights = batch
    proc = launch(src, out, weights)
    wait_for_outputs(out, proc, 1)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert word in stderr and "not processed" in stderr
    done = complete_outputs(out)
    assert 1 <= len(done) < COUNT
    assert sorted(p.name for p in out.iterdir()) == sorted(done)
