"""The committed zoo record: `upscale zoo --models NAME` measures those rows and keeps the rest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from upscale.evaluation.datasets import BenchmarkSet, list_images
from upscale.hub.manifest import make_entry, write_manifest
from upscale.reports.zoo import zoo_markdown, zoo_rows
from upscale.reports.zoo_record import StaleZooRowError, read_record, write_record


def _set(folder, name, seed):
    folder = folder / name
    folder.mkdir()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(folder / "a.png")
    return BenchmarkSet(name, folder, list_images(folder))


@pytest.fixture
def shipped(tmp_path, monkeypatch, random_weights):
    """A weights folder of its own with an FSRCNN x2 and an ESPCN x3 file in its manifest."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    paths = [random_weights(folder, "fsrcnn", 2), random_weights(folder, "espcn", 3)]
    write_manifest({p.name: make_entry(p, {f"x{s}": {}}) for p, s in zip(paths, (2, 3))}, folder)
    return folder


def _run(benches, **kwargs):
    tasks = set()
    rows = zoo_rows(benches, lambda p: tasks.add(p.task), time_cpu=False, **kwargs)
    return rows, tasks


def test_only_the_named_models_are_measured_and_the_rest_kept_as_recorded(shipped, tmp_path):
    benches = [_set(tmp_path, "first", 1), _set(tmp_path, "second", 2)]
    measured, _ = _run(benches)
    write_record(shipped, [r.to_record() for r in measured])

    rows, tasks = _run(benches, only={"espcn"}, record=read_record(shipped))
    espcn, fsrcnn = rows  # the manifest's order
    assert fsrcnn.recorded and not espcn.recorded
    assert not any(t.startswith("fsrcnn") for t in tasks) and "espcn second x3" in tasks
    assert [(e.set, e.psnr, e.ssim) for e in fsrcnn.results] == [(e.set, e.psnr, e.ssim) for e in measured[1].results]
    assert fsrcnn.drift == measured[1].drift and [b.psnr for b in fsrcnn.bicubic] == [b.psnr for b in measured[1].bicubic]
    table = zoo_markdown(rows, ["first", "second"], "upscale zoo --models espcn")
    assert "1 of 2 rows are kept as last measured" in table and "this run measured the other 1" in table
    assert zoo_markdown(measured, ["first", "second"], "upscale zoo").splitlines()[3] == table.splitlines()[3]


def test_a_row_the_record_cannot_give_is_refused_before_measuring(shipped, tmp_path):
    benches = [_set(tmp_path, "first", 1)]
    measured, _ = _run(benches)
    record = [r.to_record() for r in measured]
    with pytest.raises(StaleZooRowError, match="fsrcnn_x2.safetensors x2 has no row"):
        _run(benches, only={"espcn"}, record=record[:1])
    changed = [record[0], {**record[1], "sha256": "0" * 64}]
    with pytest.raises(StaleZooRowError, match="changed since"):
        _run(benches, only={"espcn"}, record=changed)
    with pytest.raises(StaleZooRowError, match="recorded on first, not first, other"):
        _run([*benches, _set(tmp_path, "other", 2)], only={"espcn"}, record=record)


def test_rows_timed_on_different_cpus_say_which(shipped, tmp_path):
    benches = [_set(tmp_path, "first", 1)]
    measured, _ = _run(benches)
    record = [r.to_record() for r in measured]
    record[1]["cpu"] = "Elsewhere CPU (family 1 model 2)"  # fsrcnn's, kept
    rows, _ = _run(benches, only={"espcn"}, record=record)
    table = zoo_markdown(rows, ["first"], "upscale zoo --models espcn")
    lines = table.splitlines()
    assert lines[0].endswith("| CPU |") and lines[2].endswith("| A |") and lines[3].endswith("| B |")
    assert f"A: {rows[0].cpu}; B: Elsewhere CPU (family 1 model 2))" in table
    single = zoo_markdown(measured, ["first"], "upscale zoo")
    assert "| CPU |" not in single and f"Time and Δ on {measured[0].cpu};" in single


def test_zoo_readme_writes_the_record_and_models_keeps_it(cli, shipped, tmp_path):
    data = tmp_path / "set"
    data.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(data / "a.png")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- upscale:zoo -->\n<!-- /upscale:zoo -->\n")
    full = cli(["zoo", "--set", str(data), "--readme", str(readme)])
    assert full.exit_code == 0, full.stderr
    record = json.loads((shipped / "ZOO.json").read_text())["rows"]
    assert [(r["file"], r["scale"]) for r in record] == [("espcn_x3.safetensors", 3), ("fsrcnn_x2.safetensors", 2)]
    first = readme.read_text()

    partial = cli(["zoo", "--set", str(data), "--readme", str(readme), "--models", "FSRCNN"])
    assert partial.exit_code == 0, partial.stderr
    again = readme.read_text()
    assert "1 of 2 rows are kept" in again
    assert [line for line in again.splitlines() if line.startswith("| espcn")] == \
        [line for line in first.splitlines() if line.startswith("| espcn")]

    (shipped / "ZOO.json").write_text(json.dumps({"rows": record[1:]}))  # espcn's row lost
    refused = cli(["zoo", "--set", str(data), "--models", "fsrcnn"])
    assert refused.exit_code == 2 and "espcn_x3.safetensors x3 has no row" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    unknown = cli(["zoo", "--set", str(data), "--models", "fsrcn"])
    assert unknown.exit_code == 2 and "fsrcnn" in unknown.stderr
