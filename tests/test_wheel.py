"""A built wheel, installed away from the checkout, holds the small weights and upscales with them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from upscale.hub.manifest import read_manifest
from upscale.hub.weights import REPO_WEIGHTS
from upscale.hub.fetch import URL_ENV, ships_in_wheel

ROOT = Path(__file__).resolve().parents[1]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]


def test_pyproject_lists_every_package():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "upscale").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert set(setuptools["packages"]) == on_disk | {"upscale.weights_data"}
    assert setuptools["package-dir"] == {"upscale.weights_data": "weights"}


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy, so that build/ and *.egg-info never land in the checkout."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("upscale", "weights"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    # No network: no build isolation (setuptools comes from this environment), no index.
    _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path), str(src)], tmp_path)
    (wheel,) = tmp_path.glob("upscale-*.whl")
    return wheel


# Slow (about 10 s on 2 cores): it builds a wheel, installs it and starts Python twice,
# each importing torch. It is the only test that runs the package as pip installs it.
@pytest.mark.slow
def test_wheel_holds_small_weights_and_upscales_with_them(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "upscale/weights_data/MANIFEST.json" in names
    manifest = read_manifest(REPO_WEIGHTS)
    assert manifest
    for name, entry in manifest.items():
        assert (f"upscale/weights_data/{name}" in names) == ships_in_wheel(entry), name

    target = tmp_path / "site"
    _run([*PIP, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], tmp_path)

    work = tmp_path / "work"  # outside the checkout, so neither the cwd nor weights/ can help
    work.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(work / "in.png")
    env = {k: v for k, v in os.environ.items() if k not in ("UPSCALE_WEIGHTS", URL_ENV, "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)

    show = "import upscale.hub.weights as w; print(w.__file__); print(w.weights_dir())"
    module, folder = _run([sys.executable, "-c", show], work, env).split()
    assert Path(module).is_relative_to(target)  # the wheel ran, not the editable install
    assert Path(folder) == target / "upscale" / "weights_data"

    _run([sys.executable, "-m", "upscale", "in.png", "--model", "fsrcnn", "-x", "3", "-o", "out.png"], work, env)
    with Image.open(work / "out.png") as out:
        assert out.size == (72, 60)
