"""Every command the README shows runs, in a fast form, and leaves what the README says it does.

The commands are read from the README itself: each ```bash block is one scenario run
top to bottom, and each inline `upscale ...` command is a scenario of its own. Fast
forms are made by the substitutions below, applied in the open so a reader sees how
each command was shrunk (fewer steps, a smaller set, one run), and by extra arguments
for the few that would otherwise run for minutes. A README command with no entry
here fails the coverage test, so the README cannot show a command no test runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from upscale.inference.precision import cpu_has_bf16

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PEERS = ROOT.parent / "shared" / "peers"

# Inline spans that name a command or a flag in prose; they are not meant to be run as written.
MENTIONS = {
    "upscale --debug ...",
    "upscale bench",
    "upscale bench --train",
    "upscale curve",
    "upscale train",
    "upscale train --export",
    "upscale gpu-check",
}
# The set-up commands: .ci/run runs them on a fresh machine (checked below).
CI_ONLY = {
    'pip install torch==2.13.0 && pip install -e ".[test]" && upscale demo',
    "pytest -q",
    'pip install "upscale[onnx]"          # onnx, onnxscript and ONNX Runtime',
}
# Fast forms: (README text, what runs instead), applied in this order to every command.
SUBSTITUTIONS = [
    ("Set5,Set14,BSD100 -x 2,3,4", "Set5 -x 3"),
    ("--steps 300000 --decay-steps 0", "--steps 6 --decay-steps 0"),
    ("--steps 500000 --decay-steps 0", "--steps 8 --decay-steps 0"),
    ("--steps 180000 --decay-steps 30000", "--steps 10 --decay-steps 2"),
    ("--runs 20", "--runs 1"),
    ("--runs 2", "--runs 1"),
    ("--size 3000x2000", "--size 96x64"),
    ("--size 256x256", "--size 32x32"),
    ("--model all", "--model fsrcnn"),
    ("--model fsrcnn,espcn,lapsrn", "--model fsrcnn"),
    ("../shared/datasets/test/", "{data}/"),
    ("../shared/peers", "{peers}"),
    ("--crop X,Y,W,H", "--crop 8,8,32,32"),
    ("IMAGE", "photo.png"),
    ("FILE", "{shipped}/fsrcnn_x3.safetensors"),
    (" DIR ", " datasets/T91 "),
]
# Extra arguments for commands whose README form has no size knob to shrink.
EXTRA = {
    "upscale zoo --readme README.md": ["--set", "Set5"],
    "upscale bench --train --device cpu --precision bf16 --runs 2 --readme README.md": ["--model", "fsrcnn"],
    "upscale train --model srresnet -x 4 --data DIR --export weights/": ["--steps", "2", "--batch", "2", "--patch", "8"],
    "upscale train --model srgan -x 4 --data DIR --init weights/srresnet_x4.safetensors --out "
    "runs/srgan_x4 --export weights/": ["--steps", "2", "--batch", "2", "--patch", "8"],
    "upscale train --model fsrcnn -x 3 --data datasets/T91,datasets/General100": ["--steps", "4"],
    "upscale weights add FILE": ["--set", "Set5"],
    "upscale train --model fsrcnn -x 3 --data DIR --init ~/runs/export/fsrcnn_x3.safetensors --out ~/runs/fsrcnn_x3b": [
        "--steps", "4"],
}
COMPARISON_X4 = ("upscale compare ../shared/datasets/test/Set14/zebra.png --models bicubic,srcnn,fsrcnn,espcn,vdsr,rdn "
                 "-x 4 --crop 400,120,128,128 -o weights/comparison_x4.png")
COMPARISON_X3 = ("upscale compare ../shared/datasets/test/Set14/zebra.png --models bicubic,srcnn,fsrcnn,espcn,vdsr,rdn "
                 "-x 3 --crop 230,160,128,128 -o weights/comparison_x3.png")
COMPARISON_X8 = ("upscale compare ../shared/datasets/test/Set14/monarch.png --models bicubic,lapsrn -x 8 "
                 "--crop 280,120,240,200 -o weights/comparison_x8.png")
COMPARISON_X2 = ("upscale compare ../shared/datasets/test/Set14/ppt3.png --models bicubic,srcnn,fsrcnn,espcn,vdsr,lapsrn,rdn "
                 "-x 2 --crop 30,240,128,90 -o weights/comparison_x2.png")
# What the README says a command leaves behind, relative to the scenario's folder.
LEAVES = {
    COMPARISON_X4: ["weights/comparison_x4.png"],
    COMPARISON_X3: ["weights/comparison_x3.png"],
    COMPARISON_X2: ["weights/comparison_x2.png"],
    COMPARISON_X8: ["weights/comparison_x8.png"],
    "upscale photo.jpg -x 4": ["photo_fsrcnn_x4.jpg"],
    "upscale photo.jpg --model fsrcnn -x 4": ["photo_fsrcnn_x4.jpg"],
    "upscale photo.jpg --model rdn -x 4": ["photo_rdn_x4.jpg"],
    "upscale photo.jpg --model vdsr -x 3": ["photo_vdsr_x3.jpg"],
    "upscale eval --model bicubic --set path/to/hr-images -x 2 --json": [],
    "upscale export --format onnx --model fsrcnn -x 3 -o fsrcnn_x3.onnx": ["fsrcnn_x3.onnx"],
    "upscale compare IMAGE --models bicubic,fsrcnn -x 4 --crop X,Y,W,H -o compare.png": ["compare.png"],
    "upscale train --model srresnet -x 4 --data DIR --export weights/": ["weights/srresnet_x4.safetensors"],
    "upscale train --model srgan -x 4 --data DIR --init weights/srresnet_x4.safetensors --out "
    "runs/srgan_x4 --export weights/": ["weights/srgan_x4.safetensors"],
    'upscale photos/ -r -o upscaled/ -x 4 --shard "${SLURM_ARRAY_TASK_ID}/8" --json > '
    '"shard-${SLURM_ARRAY_TASK_ID}.jsonl"': ["shard-1.jsonl", "upscaled/img0_fsrcnn_x4.png"],
    "for k in 1 2 3 4; do CUDA_VISIBLE_DEVICES=$((k-1)) upscale photos/ -r -o upscaled/ --shard $k/4 & done; wait": [
        "upscaled/img0_fsrcnn_x4.png", "upscaled/sub/img1_fsrcnn_x4.png"],
    "upscale train --model fsrcnn -x 3 --data DIR --steps 300000 --decay-steps 0 --time-limit 2h30m --out "
    "~/runs/fsrcnn_x3 --export ~/runs/export": ["runs/fsrcnn_x3/last.pt", "runs/export/fsrcnn_x3.safetensors"],
    "upscale curve ~/runs/fsrcnn_x3 -o fsrcnn_x3_curve.png": ["fsrcnn_x3_curve.png"],
    # The GPU check's tiny form; the check itself (`bash .ci/gpu-check`, a sh block) needs a GPU: tests/test_gpu_check.py.
    "upscale gpu-check --device cpu --quick --out gpu-check": ["gpu-check/gpu-check.json", "gpu-check/gpu-check.md"],
}


def _prose_commands(text: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [" ".join(span.split()) for span in re.findall(r"`((?:upscale|for k) [^`]+)`", prose)]


def _bash_blocks(text: str) -> list[list[str]]:
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", text, re.S):
        lines = body.replace("\\\n", " ").splitlines()
        blocks.append([" ".join(line.split()) if not line.startswith("pip") else line for line in lines
                       if line.strip() and not line.lstrip().startswith("#")])
    return blocks


def readme_scenarios() -> list[list[str]]:
    """Each bash block, then each prose command not merely mentioned, in README order."""
    text = README.read_text(encoding="utf-8")
    blocks = [[line for line in block if line not in CI_ONLY] for block in _bash_blocks(text)]
    scenarios = [block for block in blocks if block]
    prose = [c for c in dict.fromkeys(_prose_commands(text)) if c not in MENTIONS]
    srgan = [c for c in prose if c.startswith(("upscale train --model srresnet", "upscale train --model srgan"))]
    scenarios += [[c] for c in prose if c not in srgan] + ([srgan] if srgan else [])
    return scenarios


def _strip_comment(command: str) -> str:
    return re.sub(r"\s+#\s.*$", "", command)


def test_every_readme_command_is_run_or_left_to_ci():
    text = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for line in (line for block in _bash_blocks(text) for line in block if line in CI_ONLY):
        if line.startswith('pip install "upscale[onnx]"'):
            continue  # from an index; the [test] extra that CI installs includes [onnx]
        for part in _strip_comment(line).split(" && "):
            assert part.strip() in ci, f"{part} (from the README) is not run by .ci/run"
    scenarios = readme_scenarios()
    commands = [c for s in scenarios for c in s]
    assert len(commands) >= 20  # the extraction found the README's commands
    for key in [*EXTRA, *LEAVES, *REAL_WEIGHTS]:
        assert key in commands, f"stale entry, no longer in the README: {key}"


def _workspace(tmp: Path, shared_set) -> dict[str, str]:
    """The files README commands assume a user has: a photo, folders of images, training data."""
    rng = np.random.default_rng(0)
    hr = np.asarray(Image.open(shared_set("Set5") / "baby.png").convert("RGB"))[:96, :96]
    Image.fromarray(hr).save(tmp / "photo.jpg", quality=95)
    Image.fromarray(hr).save(tmp / "photo.png")
    for folder in ("photos", "photos/sub", "path/to/hr-images"):
        (tmp / folder).mkdir(parents=True)
        for i in range(2):
            crop = hr[i * 8 : i * 8 + 48, i * 8 : i * 8 + 48]
            Image.fromarray(crop).save(tmp / folder / f"img{i}.png")
    for name in ("T91", "General100"):
        (tmp / "datasets" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp / "datasets" / name / f"{i}.png")
    (tmp / "weights").mkdir()
    shutil.copy(README, tmp / "README.md")
    # A copy of a few shipped files, so `weights add` and `zoo` work on a folder of their own.
    shipped = tmp / "shipped"
    shipped.mkdir()
    from upscale.hub.manifest import read_manifest, write_manifest

    keep = ("fsrcnn_x3.safetensors", "fsrcnn_x4.safetensors", "espcn_x3.safetensors", "srcnn_x3.safetensors")
    for name in keep:
        shutil.copy(ROOT / "weights" / name, shipped / name)
    write_manifest({k: v for k, v in read_manifest(ROOT / "weights").items() if k in keep}, shipped)
    # ... and their rows of the zoo record, so `zoo --models NAME` keeps them as the real one does.
    record = json.loads((ROOT / "weights" / "ZOO.json").read_text(encoding="utf-8"))
    (shipped / "ZOO.json").write_text(json.dumps({"rows": [r for r in record["rows"] if r["file"] in keep]}))
    return {"data": str(shared_set("Set5").parent), "peers": str(PEERS), "shipped": str(shipped)}


def fast_form(command: str, fields: dict[str, str]) -> str:
    for old, new in SUBSTITUTIONS:
        command = command.replace(old, new)
    for key, value in fields.items():  # not str.format: shell commands hold ${VAR}
        command = command.replace("{" + key + "}", value)
    return command


# Commands that run the project's own shipped weights (the others get a small copy of a few).
REAL_WEIGHTS = {
    "upscale photo.jpg --model rdn -x 4",
    "upscale photo.jpg --model vdsr -x 3",  # one file for three scales
    "upscale eval --model lapsrn --set Set14",  # the second command of the tool's own description
    COMPARISON_X4,
    COMPARISON_X3,
    COMPARISON_X2,
    COMPARISON_X8,
}

# Commands that need bf16 kernels (AVX512-BF16 or AMX). CI machines differ: on one without
# them, what the README says happens must happen: one line that says why, and exit code 2.
NEEDS_BF16 = {"upscale bench --train --device cpu --precision bf16 --runs 2 --readme README.md"}


def _run(command: str, readme_form: str, cwd: Path, env: dict[str, str], cli) -> None:
    command = _strip_comment(command)
    if readme_form in NEEDS_BF16 and not cpu_has_bf16():
        argv = shlex.split(command)
        result = cli(argv[1:] + EXTRA.get(readme_form, []))
        assert result.exit_code == 2 and "no bf16 instructions" in result.stderr, result.output
        assert result.stderr.count("\n") == 1, result.stderr
        return
    if re.search(r"[$>&;|]", command) or command.startswith("for "):
        done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{readme_form}\n{done.stderr[-2000:]}"
        return
    argv = [os.path.expanduser(a) for a in shlex.split(command)]  # as the shell expands ~/runs
    assert argv[0] == "upscale", readme_form
    result = cli(argv[1:] + EXTRA.get(readme_form, []))
    assert result.exit_code == 0, f"{readme_form}\n{result.output[-2000:]}"


# Slow: each README command for real, training and benchmarks included (a few minutes in all).
@pytest.mark.slow
@pytest.mark.parametrize("scenario", readme_scenarios(), ids=lambda s: s[0][:60])
def test_readme_command_runs(scenario, tmp_path, monkeypatch, shared_set, cli):
    if any("../shared/peers" in c for c in scenario) and not PEERS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{PEERS} is missing (CI is set, so ../shared must be there)")
        pytest.skip(f"{PEERS} is missing")
    fields = _workspace(tmp_path, shared_set)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/runs/... in the training commands
    monkeypatch.setenv("UPSCALE_WEIGHTS", fields["shipped"])
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("COLUMNS", "80")
    bin_dir = Path(sys.executable).parent  # `upscale` as pip installed it, for the shell scenarios
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for readme_form in scenario:
        monkeypatch.setenv("UPSCALE_WEIGHTS", str(ROOT / "weights") if readme_form in REAL_WEIGHTS else fields["shipped"])
        _run(fast_form(readme_form, fields), readme_form, tmp_path, env, cli)
        for path in LEAVES.get(readme_form, []):
            assert (tmp_path / path).is_file(), f"{readme_form} did not leave {path}"
