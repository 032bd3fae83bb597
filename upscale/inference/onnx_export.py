"""ONNX export of a network, with dynamic height and width, checked in ONNX Runtime.

The exported graph is the network alone, as the papers define it: a Y-channel model
takes the Y plane in [0, 1] (already bicubic-upscaled for SRCNN, VDSR and DRCN), an
RGB model takes RGB in [0, 1]. The model's metadata properties say which, so another
runtime can rebuild the colour handling of ``upscale.pipeline``. A network whose forward
derives weights from its parameters is exported in its spec's ``export_module`` form,
so the file holds the weights and little more (no index tables, no scatter ops).
Every export is run once in ONNX Runtime at a size other than the traced one, and the
largest absolute difference from PyTorch is reported with the file's size and node count.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np
import torch

from .._version import __version__
from ..errors import DependencyError, ExportError, UsageError
from ..files import write_bytes_atomic
from ..models import InputKind
from .loading import LoadedModel

FORMATS = ("onnx",)
DEFAULT_OPSET = 18
TRACE_SIDES = (24, 32)  # unequal (and a batch of 2), so no dimension is fixed by the example
CHECK_SIDES = (37, 45)  # another size than the traced one: the dynamic shapes are really dynamic


@dataclass(frozen=True)
class ExportReport:
    """What was written and how closely ONNX Runtime reproduces PyTorch."""

    path: Path
    opset: int
    input_layout: str
    check_shape: tuple[int, ...]
    max_abs_diff: float
    properties: dict
    file_bytes: int
    weight_bytes: int  # the network's float32 tensors: what a lean file holds, and little more
    nodes: int


def _modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError as exc:
        raise DependencyError(
            f"ONNX export needs onnx, onnxscript and onnxruntime ({exc.name} is missing): "
            "pip install 'upscale[onnx]'"
        ) from None
    return onnx, onnxruntime


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs and warns about things that do not concern our graphs (torchvision ops)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _input(model: LoadedModel, batch: int, sides: tuple[int, int], seed: int) -> torch.Tensor:
    factor = model.scale if model.spec.input_kind is InputKind.PRE_UPSAMPLED else 1
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, model.spec.in_channels, sides[0] * factor, sides[1] * factor, generator=gen)


def properties(model: LoadedModel) -> dict:
    """Metadata stored in the ONNX file: what the input is and where the weights came from."""
    spec = model.spec
    channel = "Y (BT.601 studio swing)" if spec.in_channels == 1 else "RGB"
    pre = " after a MATLAB-bicubic upscale by the scale" if spec.input_kind is InputKind.PRE_UPSAMPLED else ""
    return {
        "upscale.model": spec.name,
        "upscale.scale": str(model.scale),
        "upscale.input": f"N x {spec.in_channels} x H x W float32, {channel} in [0, 1]{pre}",
        "upscale.input_kind": spec.input_kind.value,
        "upscale.color_space": spec.color_space.value,
        "upscale.version": __version__,
        "upscale.weights": json.dumps(model.meta, sort_keys=True, default=str),
    }


def _export_graph(net: torch.nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    batch = torch.export.Dim("batch", min=1)
    height = torch.export.Dim("height", min=4)
    width = torch.export.Dim("width", min=4)
    try:
        with _quiet_exporter():
            # external_data=False: the weights go inside the file; the default sidecar
            # would be named after the temporary file and left behind by the rename.
            torch.onnx.export(
                net, (example,), str(path), dynamo=True, external_data=False,
                input_names=["input"], output_names=["output"], dynamic_shapes=({0: batch, 2: height, 3: width},),
                opset_version=opset, verbose=False, report=False,
            )
    except Exception as exc:  # the exporter raises many kinds; the first line says what failed
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"the ONNX exporter failed: {first}") from exc


def _strip_trace_metadata(graph: Any) -> None:
    """Drop the exporter's per-node and per-value notes: Python stack traces and FX names.

    They name this machine's paths and weigh much in a small network's file (FSRCNN x3:
    77 kB with them, 58 kB without, for 51 kB of weights); the model's properties stay.
    """
    for items in (graph.node, graph.value_info, graph.input, graph.output, graph.initializer):
        for item in items:
            del item.metadata_props[:]


def _max_diff(onnxruntime: Any, graph: bytes, net: torch.nn.Module, x: torch.Tensor) -> float:
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        want = net(x).numpy()
    if got.shape != want.shape:
        raise ExportError(f"ONNX Runtime gave shape {got.shape}, PyTorch {want.shape}")
    return float(np.abs(got - want).max())


def export_onnx(
    model: LoadedModel, path: Union[str, Path], *, opset: int = DEFAULT_OPSET, overwrite: bool = False
) -> ExportReport:
    """Write ``model``'s network to ``path`` as ONNX and check it in ONNX Runtime."""
    onnx, onnxruntime = _modules()
    spec, path = model.spec, Path(path)
    if spec.network_scale(model.scale) != model.scale:
        raise UsageError(
            f"{spec.name} serves x{model.scale} through its x{spec.network_scale(model.scale)} network and a "
            f"bicubic resize; export -x {spec.network_scale(model.scale)} instead"
        )
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --force to replace it")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a folder")
    net = copy.deepcopy(model.net).float().cpu().eval().to(memory_format=torch.contiguous_format)
    exported = spec.export_module(net) if spec.export_module is not None else net
    with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=path.parent) as work:
        # The exporter writes files of its own; the graph is finished and checked before
        # the one atomic write puts it at ``path``, whole or not at all.
        traced = Path(work) / "graph.onnx"
        _export_graph(exported, _input(model, 2, TRACE_SIDES, seed=0), traced, opset)
        graph = onnx.load(str(traced))
    _strip_trace_metadata(graph.graph)
    props = properties(model)
    onnx.helper.set_model_props(graph, props)
    data = graph.SerializeToString()
    check = _input(model, 1, CHECK_SIDES, seed=1)
    diff = _max_diff(onnxruntime, data, net, check)  # against the network PyTorch runs, not the export form
    write_bytes_atomic(path, data)
    layout = f"N x {spec.in_channels} x H x W"
    weight_bytes = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    return ExportReport(
        path, opset, layout, tuple(check.shape), diff, props,
        file_bytes=path.stat().st_size, weight_bytes=weight_bytes, nodes=len(graph.graph.node),
    )
