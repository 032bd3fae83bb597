"""`upscale export --format onnx`: every registered network, dynamic sizes, checked in ONNX Runtime."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from upscale.inference.loading import from_module, load_model
from upscale.errors import DependencyError, UsageError
from upscale.models import InputKind, get_spec, list_models
from upscale.inference.onnx_export import export_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Ops that index or scatter: a graph that rebuilds weights from index tables (FSRCNN's
# subpixel rearrangement, traced) shows them; none of our networks needs one.
GRAPH_BYTES = 8 * 1024
INDEX_OPS = {"Gather", "GatherElements", "GatherND", "Scatter", "ScatterElements", "ScatterND"}


def _assert_lean(report) -> None:
    """The file is the network: close to its weights' size, with no index ops."""
    graph = onnx.load(str(report.path))
    # Within 2x of the weights, plus the graph's own few kB, which only a toy-sized network notices.
    assert report.path.stat().st_size == report.file_bytes <= 2 * report.weight_bytes + GRAPH_BYTES
    assert report.nodes == len(graph.graph.node)
    assert not INDEX_OPS & {node.op_type for node in graph.graph.node}
    assert not any(node.metadata_props for node in graph.graph.node)  # no stack traces with our paths


def _scale(name: str) -> int:
    scales = get_spec(name).scales
    return 2 if 2 in scales else scales[0]


# Slow: every model is exported and run in ONNX Runtime (RDN alone about 30 s).
@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_export_runs_in_onnx_runtime_at_any_size(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    scale = _scale(name)
    model = from_module(name, scale)
    report = export_onnx(model, tmp_path / f"{name}.onnx")
    spec = model.spec
    factor = scale if spec.input_kind is InputKind.PRE_UPSAMPLED else 1
    # a third size and a batch of 3: neither the traced nor the checked shape
    x = torch.rand(3, spec.in_channels, 21 * factor, 18 * factor)
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.inference_mode():
        want = model.net.eval()(x).numpy()
    assert got.shape == want.shape == (3, spec.in_channels, 21 * scale, 18 * scale)
    magnitude = max(1.0, float(np.abs(want).max()))  # random-init deep nets reach large values
    assert np.abs(got - want).max() <= 1e-4 * magnitude
    assert report.max_abs_diff <= 1e-4 * max(1.0, magnitude)
    props = {p.key: p.value for p in onnx.load(str(report.path)).metadata_props}
    assert props["upscale.model"] == name and props["upscale.scale"] == str(scale)
    _assert_lean(report)


def test_fsrcnn_x3_exports_its_weights_and_no_more(tmp_path) -> None:
    # The case: 4.4 MB of index tables and ScatterElements for 51 kB of weights.
    model = load_model("fsrcnn", 3)  # the shipped weights
    report = export_onnx(model, tmp_path / "fsrcnn_x3.onnx")
    _assert_lean(report)
    graph = onnx.load(str(report.path)).graph
    assert {node.op_type for node in graph.node} == {"Conv", "PRelu", "ConvTranspose"}
    stored = sum(int(np.prod(init.dims)) for init in graph.initializer)
    assert stored == sum(t.numel() for t in model.net.state_dict().values())
    assert report.max_abs_diff <= 1e-5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fsrcnn_x3.onnx"]  # no sidecar .data file


def test_export_never_overwrites_without_force(tmp_path) -> None:
    model = from_module("espcn", 2)
    target = tmp_path / "espcn.onnx"
    target.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="--force"):
        export_onnx(model, target)
    assert target.read_bytes() == b"keep me"
    export_onnx(model, target, overwrite=True)
    assert onnx.load(str(target)).graph.input[0].name == "input"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["espcn.onnx"]  # no temporary or .data file left


def test_export_refuses_a_scale_served_through_another(tmp_path) -> None:
    with pytest.raises(UsageError, match="-x 4"):
        export_onnx(from_module("lapsrn", 3), tmp_path / "l.onnx")


def test_missing_runtime_is_one_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(DependencyError, match=r"upscale\[onnx\]"):
        export_onnx(from_module("espcn", 2), tmp_path / "e.onnx")


def test_cli_export(cli, random_weights, tmp_path) -> None:
    weights = random_weights(tmp_path, "fsrcnn", 3)
    out = tmp_path / "f.onnx"
    result = cli(["export", "--model", "fsrcnn", "-x", "3", "--weights", str(weights), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "max abs diff" in result.stdout and out.is_file()
    assert "MB of float32 weights" in result.stdout and "15 nodes" in result.stdout
    again = cli(["export", "--model", "fsrcnn", "-x", "3", "--weights", str(weights), "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.stderr
    wrong = cli(["export", "--model", "fsrcnn", "-x", "3", "--format", "tflite", "-o", str(out)])
    assert wrong.exit_code == 2 and "onnx" in wrong.stderr
