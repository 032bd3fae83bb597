"""Rules the library keeps (STYLE.md): options are typed, never a catch-all **kwargs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import upscale

# Not options: a call forwarded to another process, a callback whose signature torch
# fixes, click's own overrides, the timm-style strict config overrides of create_model
# (an unknown field raises), and free-form metadata written into a weights file.
ALLOWED = {
    "upscale.bench.bench_isolated",
    "upscale.bench.bench_train_step_isolated",
    "upscale.models.fused._fused_flops",
    "upscale.models.registry.create_model",
    "upscale.weights.describe",
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
