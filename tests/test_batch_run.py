"""Batch behaviour: expansion, mirroring, naming, resume, atomic writes, exit codes, shards."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import upscale.batch.run as batch_run
from upscale.batch.inputs import Inputs, InputFile, expand_inputs
from upscale.batch.plan import Job, OutputOptions, plan_jobs, take_shard
from upscale.errors import UsageError


@pytest.fixture
def weights(espcn_x2_weights):
    return espcn_x2_weights


@pytest.fixture
def run(cli, weights):
    """The CLI with a tiny model: args -> (result, JSON rows)."""
    def invoke(*args):
        result = cli([*map(str, args), "-m", "espcn", "-x", "2", "-w", str(weights), "--json"])
        return result, [json.loads(line) for line in result.stdout.splitlines()]
    return invoke


def image(path: Path, size=(8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(len(str(path))).integers(0, 256, (size[1], size[0], 3), np.uint8)).save(path)
    return path


def tree(root: Path) -> Path:
    for rel in ("a.png", "b.jpg", "sub/c.png", "sub/deeper/d.png"):
        image(root / rel)
    (root / "README.txt").write_text("notes")
    return root


def by_name(rows):
    return {Path(r["input"]).name: r for r in rows}


def test_folders_mirror_into_out_and_notes_are_not_errors(run, tmp_path):
    src = tree(tmp_path / "in")
    flat, rows = run(src, "-o", tmp_path / "flat")
    assert flat.exit_code == 0 and sorted(by_name(rows)) == ["a.png", "b.jpg"]
    assert "skipped 1 non-image file(s) (README.txt)" in flat.stderr and "1 sub-folder(s) not searched" in flat.stderr
    deep, rows = run(src, "-r", "-o", tmp_path / "out")
    assert deep.exit_code == 0 and len(rows) == 4
    made = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*"))
    assert made == ["a_espcn_x2.png", "b_espcn_x2.jpg", "sub/c_espcn_x2.png", "sub/deeper/d_espcn_x2.png"]
    globbed, rows = run(str(src / "*" / "*.png"), "-o", tmp_path / "g")
    assert globbed.exit_code == 0 and (tmp_path / "g" / "sub" / "c_espcn_x2.png").exists()


def test_name_template_and_format(run, tmp_path):
    src = image(tmp_path / "photo.png")
    result, rows = run(src, "--name", "{model}-{scale}x-{stem}.{ext}", "--format", "WEBP", "--quality", "80")
    assert result.exit_code == 0 and rows[0]["output"].endswith("espcn-2x-photo.webp")
    assert Image.open(tmp_path / "espcn-2x-photo.webp").format == "WEBP"
    for bad in (["--name", "{stem}_{size}.{ext}"], ["--name", "{stem"], ["--format", "gif"], ["--name", "/tmp/x.png"]):
        assert run(src, *bad)[0].exit_code == 2, bad
    assert "unknown field {size}" in run(src, "--name", "{stem}_{size}.{ext}")[0].stderr
    assert run(src, "-o", tmp_path / "x.png", "--format", "jpg")[0].exit_code == 2  # the name says PNG


def test_resume_skips_done_outputs_and_overwrite_replaces_them(run, tmp_path):
    src = tree(tmp_path / "in")
    first, _ = run(src, "-r")
    assert first.exit_code == 0
    out = src / "a_espcn_x2.png"
    out.write_bytes(b"stale")  # a previous output the user wants replaced
    again, rows = run(src, "-r")  # outputs beside the inputs are not taken as new inputs
    assert again.exit_code == 0 and [r["status"] for r in rows] == ["skipped"] * 4
    assert "ignored 4 file(s) that are outputs of other inputs" in again.stderr
    assert out.read_bytes() == b"stale"
    replaced, rows = run(src, "-r", "--overwrite")
    assert replaced.exit_code == 0 and [r["status"] for r in rows] == ["ok"] * 4
    assert Image.open(out).size == (16, 12)


def test_never_overwrites_any_input_and_names_never_collide(run, tmp_path):
    a, b = image(tmp_path / "a.png"), image(tmp_path / "b.png")
    before = a.read_bytes()
    result, rows = run(a, b, "--name", "{stem}.{ext}", "--overwrite")
    assert result.exit_code == 1 and all("overwrite the input" in r["error"] for r in rows)
    result, rows = run(a, b, "--name", "a.png", "--overwrite", "-o", tmp_path)
    assert result.exit_code == 1 and a.read_bytes() == before
    image(tmp_path / "same.jpg")
    image(tmp_path / "same.png")
    result, rows = run(tmp_path / "same.jpg", tmp_path / "same.png", "--format", "png")
    assert [r["status"] for r in rows] == ["ok", "failed"] and "same output name" in rows[1]["error"]


def test_exit_codes_and_human_output(run, cli, weights, tmp_path):
    good = image(tmp_path / "good.png")
    ok, rows = run(good)
    assert ok.exit_code == 0 and rows[0]["status"] == "ok" and "1 ok, 0 skipped, 0 failed in" in ok.stderr
    (tmp_path / "bad.png").write_text("no")
    some, rows = run(tmp_path / "bad.png", good, tmp_path / "missing.png", "--overwrite")
    assert some.exit_code == 1 and [r["status"] for r in rows] == ["failed", "ok", "failed"]
    assert "no such file or folder" in rows[2]["error"] and "1 ok, 0 skipped, 2 failed" in some.stderr
    args = [str(tmp_path / "bad.png"), str(good), "-q", "--overwrite", "-m", "espcn", "-x", "2", "-w", str(weights)]
    quiet = cli(args)
    assert quiet.exit_code == 1 and quiet.stdout == ""
    assert quiet.stderr.startswith("failed:") and quiet.stderr.count("\n") == 1  # only the failure
    for usage in (["--shard", "0/2"], ["--shard", "3/2"], ["--shard", "x"], ["--alpha", "x"], ["--quality", "101"],
                  ["--tile", "-1"], ["--no-such-option"]):
        assert run(good, *usage)[0].exit_code == 2, usage
    odd = image(tmp_path / "[bold]odd.png")  # file names are printed as text, not as rich markup
    human = cli([str(odd), "-m", "espcn", "-x", "2", "-w", str(weights)])
    assert human.exit_code == 0 and f"ok: {odd} -> {tmp_path / '[bold]odd_espcn_x2.png'}" in human.stderr
    several = run(good, tmp_path / "bad.png", "-o", tmp_path / "one.png")[0]
    assert several.exit_code == 2 and "several inputs" in several.stderr


def test_fail_fast_stops_at_the_first_failure(run, tmp_path):
    (tmp_path / "a.png").write_bytes(b"broken")
    image(tmp_path / "b.png")
    result, rows = run(tmp_path, "--fail-fast")
    assert result.exit_code == 1 and len(rows) == 1 and "1 not processed" in result.stderr
    assert not (tmp_path / "b_espcn_x2.png").exists()


def test_a_failed_write_keeps_the_previous_output_and_the_batch_goes_on(run, tmp_path, monkeypatch):
    a, b = image(tmp_path / "a.png"), image(tmp_path / "b.png")
    previous = tmp_path / "a_espcn_x2.png"
    previous.write_bytes(b"the previous output")
    real, calls = batch_run.save_upscaled, []

    def disk_full_for_a(pixels, dest, fmt, **kw):
        calls.append(fmt)
        if len(calls) == 1:  # a.png, the first input
            dest.write(b"half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(pixels, dest, fmt, **kw)

    monkeypatch.setattr(batch_run, "save_upscaled", disk_full_for_a)
    result, rows = run(a, b, "--overwrite")
    assert result.exit_code == 1 and [r["status"] for r in rows] == ["failed", "ok"]
    assert "No space left on device" in rows[0]["error"]
    assert previous.read_bytes() == b"the previous output" and not list(tmp_path.glob(".*partial"))


def test_read_only_output_folder(run, tmp_path, monkeypatch):
    image(tmp_path / "in" / "locked" / "a.png")
    image(tmp_path / "in" / "open" / "b.png")
    locked = tmp_path / "out" / "locked"
    locked.mkdir(parents=True)
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root ignores the mode bits: refuse the way the kernel would
        real_open = os.open

        def guarded(path, flags, *args, **kwargs):
            if Path(path).parent == locked and flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded)
    try:
        result, rows = run(tmp_path / "in", "-r", "-o", tmp_path / "out")
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 1
    status = {Path(r["input"]).name: (r["status"], r["error"]) for r in rows}
    assert status["b.png"] == ("ok", None)
    assert status["a.png"][0] == "failed" and "Permission denied" in status["a.png"][1]
    assert list(locked.iterdir()) == []


def test_shards_split_the_inputs_without_coordination(run, tmp_path):
    src = tmp_path / "in"
    for i in range(10):
        image(src / f"{i}.png")
    seen = []
    for k in (1, 2, 3):  # outputs land beside the inputs, yet later shards see the same plan
        result, rows = run(src, "--shard", f"{k}/3")
        assert result.exit_code == 0 and all(r["status"] == "ok" for r in rows)
        seen.append({Path(r["input"]).name for r in rows})
    assert [len(s) for s in seen] == [4, 3, 3]
    assert set().union(*seen) == {f"{i}.png" for i in range(10)} and sum(map(len, seen)) == 10


def test_take_shard_is_a_deterministic_partition():
    jobs = [Job(Path(f"{name}.png"), None) for name in "dbeca"]
    shards = [take_shard(jobs, k, 2) for k in (1, 2)]
    assert [[j.src.stem for j in s] for s in shards] == [["a", "c", "e"], ["b", "d"]]
    assert take_shard(list(reversed(jobs)), 1, 2) == shards[0]
    with pytest.raises(UsageError):
        take_shard(jobs, 3, 2)


def test_expand_and_plan_units(tmp_path):
    src = tree(tmp_path / "in")
    found = expand_inputs([str(src / "a.png"), str(src), str(tmp_path / "nope*.png")], recursive=True)
    assert [f.path.name for f in found.files] == ["a.png", "b.jpg", "c.png", "d.png", "nope*.png"]  # a.png once
    assert found.files[3].rel == Path("sub/deeper/d.png") and found.files[4].problem == "the pattern matches no files"
    plan = plan_jobs(found, "espcn", 2, OutputOptions(out=tmp_path / "o"))
    want = ["a_espcn_x2.png", "b_espcn_x2.jpg", "sub/c_espcn_x2.png", "sub/deeper/d_espcn_x2.png"]
    assert [j.dst for j in plan.jobs] == [tmp_path / "o" / p for p in want] + [None]
    assert [j.format for j in plan.jobs] == ["PNG", "JPEG", "PNG", "PNG", ""]
    named = Inputs([InputFile(src / "a.png", Path("a.png"))])
    assert plan_jobs(named, "rdn", 4, OutputOptions(out=tmp_path / "x.tif")).jobs[0].format == "TIFF"
