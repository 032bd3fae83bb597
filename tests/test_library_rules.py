"""Rules the library keeps (STYLE.md): options are typed, never a catch-all **kwargs; layers import downwards."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import upscale


# Not options: a call forwarded to another process, a callback whose signature torch
# fixes, click's own overrides, the timm-style strict config overrides of create_model
# (an unknown field raises), and free-form metadata written into a weights file.
ALLOWED = {
    "upscale.reports.timing.bench_isolated",
    "upscale.reports.train_bench.bench_train_step_isolated",
    "upscale.models.fused._fused_flops",
    "upscale.models.registry.create_model",
    "upscale.hub.weights.describe",
    "upscale.cli.app.DefaultGroup.main",
    "upscale.cli.app.DefaultGroup._run",
}


def _functions(module):
    for name, obj in vars(module).items():
        if inspect.isfunction(obj) and obj.__module__ == module.__name__:
            yield f"{module.__name__}.{name}", obj
        elif inspect.isclass(obj) and obj.__module__ == module.__name__:
            for attr, member in vars(obj).items():
                if inspect.isfunction(member):
                    yield f"{module.__name__}.{name}.{attr}", member


def test_no_library_function_takes_kwargs_for_options():
    found = set()
    for info in pkgutil.walk_packages(upscale.__path__, "upscale."):
        module = importlib.import_module(info.name)
        for qualname, fn in _functions(module):
            if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
                found.add(qualname)
    assert found - ALLOWED == set(), "use a typed options dataclass or explicit keywords"
    assert ALLOWED - found == set(), "stale entries: these no longer take **kwargs"


# The README's package map, top to bottom: a package imports only from those listed
# before it (or from itself). "base" is errors, progress, files and the version.
LAYERS = ["base", "imaging", "models", "hub", "inference", "evaluation", "training", "batch", "reports", "cli"]
FACADES = {"upscale", "upscale.__main__"}  # the public API and ``python -m upscale`` sit on top of everything


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "base"


def _imports(path: Path, package: str):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target + "." + a.name if target == "upscale" else target for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        yield from ((node.lineno, n) for n in names if n == "upscale" or n.startswith("upscale."))


def test_packages_import_only_from_the_layers_above_them():
    root = Path(upscale.__file__).parent
    wrong = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module in FACADES:
            continue
        for line, target in _imports(path, ".".join(parts[:-1])):
            if LAYERS.index(_layer(target)) > LAYERS.index(_layer(module)):
                wrong.append(f"{module}:{line} imports {target}")
    assert wrong == []
    assert {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(LAYERS[1:])


def test_the_layer_check_sees_an_upward_import(tmp_path):
    # The check above must be able to fail: an imaging module reaching up into inference.
    (tmp_path / "resize.py").write_text("from ..inference.engine import upscale_with\nimport upscale.reports.bench\n")
    found = [t for _, t in _imports(tmp_path / "resize.py", "upscale.imaging")]
    assert found == ["upscale.inference.engine", "upscale.reports.bench"]
    assert all(LAYERS.index(_layer(t)) > LAYERS.index(_layer("upscale.imaging.resize")) for t in found)
