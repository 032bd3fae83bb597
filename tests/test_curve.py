"""The validation curve picture of training runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
import typer

from upscale.cli.curve_cmd import parse_line
from upscale.errors import UsageError
from upscale.hub.manifest import make_entry, write_manifest
from upscale.reports.curve import (
    COLOURS, LINE_COLOURS, Line, curve_panels, curve_picture, lighter, read_curves, reference_lines,
)


def _run(folder, model="rdn", scale=2, points=((250, 33.6), (500, 34.4))):
    folder.mkdir(parents=True)
    lines = [json.dumps({"event": "start", "model": model, "scale": scale, "step": 0})]
    for step, psnr in points:
        lines.append(json.dumps({"step": step, "loss": 0.02, "lr": 2e-4}))
        lines.append(json.dumps({"step": step, "val_set": "Set5", "val_psnr": psnr}))
    (folder / "log.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _one_curve(run):
    (curve,) = read_curves(run)  # a single-scale run: exactly one curve
    return curve


def test_a_run_log_gives_its_points_by_step_and_a_resumed_call_replaces_a_step(tmp_path):
    run = _run(tmp_path / "rdn_x2")
    with (run / "log.jsonl").open("a") as f:  # a resumed call from step 250 and a line cut short by a kill
        f.write(json.dumps({"event": "start", "model": "rdn", "scale": 2, "step": 250}) + "\n")
        f.write(json.dumps({"step": 500, "val_set": "Set5", "val_psnr": 34.5}) + "\n")
        f.write(json.dumps({"step": 750, "val_set": "Set5", "val_psnr": 35.1}) + "\n")
        f.write('{"step": 1000, "val_')
    curve = _one_curve(run)
    assert (curve.model, curve.scale, curve.val_set) == ("rdn", 2, "Set5")
    assert curve.points == ((250, 33.6), (500, 34.5), (750, 35.1))


def test_a_branch_from_a_file_of_its_scale_is_drawn_on_from_that_files_step(tmp_path):
    for name, scale in (("same", 2), ("other", 4)):
        run = _run(tmp_path / name)
        lines = (run / "log.jsonl").read_text().splitlines()
        start = json.loads(lines[0]) | {"init": {"file": "x.safetensors", "steps": 1000, "scale": scale}}
        (run / "log.jsonl").write_text("\n".join([json.dumps(start)] + lines[1:]) + "\n")
    assert _one_curve(tmp_path / "same").points == ((1250, 33.6), (1500, 34.4))
    assert _one_curve(tmp_path / "other").points == ((250, 33.6), (500, 34.4))  # a fine-tune from x4


def test_a_folder_without_a_log_or_without_validations_is_refused(tmp_path):
    with pytest.raises(UsageError, match="run folder"):
        _one_curve(tmp_path)
    with pytest.raises(UsageError, match="no validation points"):
        _one_curve(_run(tmp_path / "early", points=()))


def test_reference_lines_are_the_paper_and_the_best_shipped_file(tmp_path, monkeypatch, random_weights):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(folder))
    a, b = random_weights(folder, "fsrcnn", 2), random_weights(folder, "espcn", 2)
    write_manifest({a.name: make_entry(a, {"x2": {"Set5": {"psnr": 37.1, "ssim": 0.9}}}),
                    b.name: make_entry(b, {"x2": {"Set5": {"psnr": 36.4, "ssim": 0.9}}})}, folder)
    lines = reference_lines(_one_curve(_run(tmp_path / "run")))
    assert [line.value for line in lines] == [38.24, 37.1]  # RDN's published Set5 x2, then FSRCNN's file
    assert "fsrcnn" in lines[1].label


def test_the_picture_puts_each_point_and_line_at_its_value(tmp_path):
    curve = _one_curve(_run(tmp_path / "run", points=((100, 30.0), (200, 32.0))))
    image = np.asarray(curve_picture([curve], [Line("bar", 31.0)]).convert("RGB")).astype(int)
    colour = np.array(COLOURS[0])
    ys, xs = np.nonzero((np.abs(image - colour).sum(axis=2) == 0))
    # The curve climbs from left to right: its rightmost pixels lie higher (smaller y) than its leftmost.
    assert xs.size and ys[xs >= xs.max() - 3].mean() < ys[xs <= xs.min() + 3].mean()
    # The dashed line at 31.0 lies between the two points' rows.
    grey = np.nonzero((np.abs(image - np.array((90, 90, 90))).sum(axis=2) == 0).sum(axis=1) > 100)[0]
    assert grey.size and ys.min() < grey.mean() < ys.max()


def test_an_averaged_run_draws_its_live_weights_as_a_lighter_line_below(tmp_path):
    run = _run(tmp_path / "run", points=((100, 30.0), (200, 31.0)))
    with (run / "log.jsonl").open("a") as f:  # resumed with --ema from step 200
        f.write(json.dumps({"step": 300, "val_set": "Set5", "val_psnr": 32.0, "val_psnr_live": 31.5}) + "\n")
        f.write(json.dumps({"step": 400, "val_set": "Set5", "val_psnr": 32.5, "val_psnr_live": 31.8}) + "\n")
    curve = _one_curve(run)
    assert curve.points[-2:] == ((300, 32.0), (400, 32.5)) and curve.live == ((300, 31.5), (400, 31.8))
    image = np.asarray(curve_picture([curve], []).convert("RGB")).astype(int)

    def rows(colour):
        ys, xs = np.nonzero(np.abs(image - np.array(colour)).sum(axis=2) == 0)
        return ys[(xs > 600) & (xs < 900) & (ys < 400)]  # steps 300-400, above the legend

    main, live = rows(COLOURS[0]), rows(lighter(COLOURS[0]))
    assert main.size and live.size and live.mean() > main.mean()  # lower PSNR: further down


def test_the_command_writes_a_png_and_refuses_a_bad_line(cli, tmp_path):
    run = _run(tmp_path / "run")
    out = tmp_path / "curve.png"
    result = cli(["curve", str(run), "-o", str(out), "--line", "VDSR paper=37.53"])
    assert result.exit_code == 0, result.stderr
    assert Image.open(out).size == (960, 540) and "Set5 34.40 dB at step 500" in result.stdout
    bad = cli(["curve", str(run), "-o", str(tmp_path / "x.png"), "--line", "37.53"])
    assert bad.exit_code == 2 and not (tmp_path / "x.png").exists()
    missing = cli(["curve", str(tmp_path / "nothing"), "-o", str(tmp_path / "y.png")])
    assert missing.exit_code == 2 and "run folder" in missing.stderr


def _flat_run_pixels(folder, value):
    """A flat curve ending at ``value`` above a line at 32.0: its pixels (ys, xs), its last
    point's row, the grey line's and label's pixels (gy, gx), and the picture's height."""
    curve = _one_curve(_run(folder, points=((100, value), (200, value))))
    image = np.asarray(curve_picture([curve], [Line("bar", 32.0), Line("floor", 30.0)]).convert("RGB"))
    image = image.astype(int)
    ys, xs = np.nonzero(np.abs(image - np.array(COLOURS[0])).sum(axis=2) == 0)
    y_last = ys[xs >= xs.max() - 2].mean()
    gy, gx = np.nonzero(np.abs(image - np.array((90, 90, 90))).sum(axis=2) == 0)
    return ys, xs, y_last, gy, gx, image.shape[0]


def test_the_last_value_never_covers_a_reference_line_label(tmp_path):
    # A flat curve ending at a sweep of heights just above a labelled line: below its
    # point, its value would cover the line's label for some of them; it must not.
    checked = 0
    for k, value in enumerate(np.arange(32.02, 32.6, 0.02)):
        ys, xs, y_last, gy, gx, height = _flat_run_pixels(tmp_path / f"run{k}", value)
        rows = np.bincount(gy, minlength=height)
        # The label: grey pixels off the dashed line's rows (hundreds each), at the right end.
        label = (rows[gy] < 100) & (gx > xs.max() - 100)
        top, bottom, left, right = gy[label].min(), gy[label].max(), gx[label].min(), gx[label].max()
        if y_last > top - 4:
            continue  # the curve itself runs through the label: no place for its value is free
        checked += 1
        inside = (ys >= top) & (ys <= bottom) & (xs >= left) & (xs <= right) & (np.abs(ys - y_last) > 3)
        assert not inside.any(), f"{value:.2f}: the value covers the label"
    assert checked >= 10


def test_the_last_value_is_not_crossed_by_a_dashed_line(tmp_path):
    # A flat curve ending at a sweep of heights just above a dashed line: placed below its
    # point, its value would lie on the line for some of them; it must keep off it.
    checked = 0
    for k, value in enumerate(np.arange(32.02, 32.4, 0.01)):
        ys, xs, y_last, gy, gx, height = _flat_run_pixels(tmp_path / f"run{k}", value)
        line_rows = np.nonzero(np.bincount(gy, minlength=height) > 100)[0]
        if y_last > line_rows.min() - 6:
            continue  # the curve's own dots touch the line
        checked += 1
        text = np.abs(ys - y_last) > 4  # off the curve and its dots: the value's glyphs
        left, right = xs[text].min(), xs[text].max()
        near = (ys[text] >= line_rows.min() - 1) & (ys[text] <= line_rows.max() + 1)
        assert not near.any(), f"{value:.2f}: the value lies on the dashed line"
        on_line = np.isin(gy, line_rows) & (gx >= left) & (gx <= right)
        assert on_line.any(), f"{value:.2f}: the line is hidden under the value"  # it is beside the text, not under it
    assert checked >= 10


def test_a_reference_label_keeps_off_a_curve_that_runs_through_its_place(tmp_path):
    # Runs that end just above or below a labelled line, at a sweep of heights: at the
    # line's right end the curve would run through its label for some of them.
    for k, value in enumerate(np.arange(31.90, 32.12, 0.02)):
        curve = _one_curve(_run(tmp_path / f"run{k}", points=((100, 30.0), (150, value), (200, value))))
        image = np.asarray(curve_picture([curve], [Line("the bar", 32.0)]).convert("RGB")).astype(int)
        ys, xs = np.nonzero(np.abs(image - np.array(COLOURS[0])).sum(axis=2) == 0)
        gy, gx = np.nonzero(np.abs(image - np.array((90, 90, 90))).sum(axis=2) == 0)
        rows = np.bincount(gy, minlength=image.shape[0])
        line_row = np.nonzero(rows > 100)[0].mean()
        # The label: grey pixels off the dashed line's rows, next to it (the black title's
        # anti-aliasing has a few grey ones too).
        label = (rows[gy] < 100) & (np.abs(gy - line_row) < 25)
        top, bottom, left, right = gy[label].min(), gy[label].max(), gx[label].min(), gx[label].max()
        assert right - left > 20 and bottom - top > 5, f"{value:.2f}: no label drawn"
        inside = (ys >= top - 1) & (ys <= bottom + 1) & (xs >= left - 1) & (xs <= right + 1)
        assert not inside.any(), f"{value:.2f}: the curve runs through the line's label"


def test_the_legend_keeps_off_the_curves_and_goes_under_the_axis_when_no_corner_is_clear(tmp_path):
    low = _one_curve(_run(tmp_path / "low", points=((0, 30.0), (300, 30.0))))
    clear = np.asarray(curve_picture([low], []).convert("RGB"))
    assert clear.shape[0] == 540  # a corner is clear: the picture keeps its size
    high = _one_curve(_run(tmp_path / "high", points=((0, 33.0), (300, 33.0))))
    # Both curves run flat across the whole width at the bottom and the top: every corner is taken.
    image = np.asarray(curve_picture([low, high], []).convert("RGB")).astype(int)
    assert image.shape[0] > 540
    for colour in COLOURS[:2]:
        ys, _ = np.nonzero(np.abs(image - np.array(colour)).sum(axis=2) == 0)
        assert (ys > 540).any(), "the legend is not under the axis"


def _multi_scale_run(folder):
    """A VDSR-like log: the mean as val_psnr, and a PSNR per scale beside it."""
    folder.mkdir(parents=True)
    lines = [json.dumps({"event": "start", "model": "vdsr", "scale": 2, "step": 0})]
    for step, (x2, x3, x4) in ((1000, (33.6, 31.5, 29.4)), (2000, (33.9, 31.7, 29.7))):
        lines.append(json.dumps({"step": step, "val_set": "Set5", "val_psnr": (x2 + x3 + x4) / 3,
                                 "val_psnr_x2": x2, "val_psnr_x3": x3, "val_psnr_x4": x4}))
    (folder / "log.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_a_multi_scale_run_gives_a_curve_per_scale(tmp_path):
    run = _multi_scale_run(tmp_path / "vdsr")
    curves = read_curves(run)
    assert [c.scale for c in curves] == [2, 3, 4]
    assert curves[0].points == ((1000, 33.6), (2000, 33.9)) and curves[2].points == ((1000, 29.4), (2000, 29.7))
    assert len(read_curves(_run(tmp_path / "rdn"))) == 1  # one scale: the one curve


def test_each_scale_gets_a_panel_with_its_own_lines(tmp_path, monkeypatch):
    empty = tmp_path / "weights"
    empty.mkdir()
    monkeypatch.setenv("UPSCALE_WEIGHTS", str(empty))  # no shipped files: each panel's lines are the paper's and ours
    curves = read_curves(_multi_scale_run(tmp_path / "vdsr"))
    image = np.asarray(curve_panels(curves, [parse_line("x3:bicubic=30.39")]).convert("RGB")).astype(int)
    assert image.shape[:2] == (3 * 540, 960)
    ours = np.all(image == np.array(LINE_COLOURS[1]), axis=-1)  # the second line of a panel: paper first
    panels = [ours[i * 540:(i + 1) * 540] for i in range(3)]
    assert not panels[0].any() and panels[1].sum() > 200 and not panels[2].any()
    paper = np.all(image == np.array(LINE_COLOURS[0]), axis=-1)
    assert all(panel.sum() > 200 for panel in (paper[:540], paper[540:1080], paper[1080:]))


def test_a_line_for_one_scale_parses_and_a_bad_one_is_refused():
    assert parse_line("x2:bicubic=33.66") == Line("bicubic 33.66", 33.66, 2)
    assert parse_line("VDSR paper=37.53") == Line("VDSR paper 37.53", 37.53, None)
    assert parse_line("ratio: 2=1.5") == Line("ratio: 2 1.50", 1.5, None)  # a colon in a label is a label's
    with pytest.raises(typer.BadParameter):
        parse_line("x2:=33.66")


def test_the_command_draws_a_multi_scale_run_as_panels(cli, tmp_path):
    out = tmp_path / "vdsr.png"
    result = cli(["curve", str(_multi_scale_run(tmp_path / "vdsr")), "-o", str(out), "--line", "x2:bicubic=33.66"])
    assert result.exit_code == 0, result.stderr
    assert Image.open(out).size == (960, 3 * 540)
    for scale, psnr in ((2, 33.9), (3, 31.7), (4, 29.7)):
        assert f"vdsr x{scale} (vdsr): 2 validations, Set5 {psnr:.2f} dB at step 2,000" in result.stdout


def test_two_bars_a_few_pixels_apart_over_a_flat_run_get_labels_that_do_not_overlap(tmp_path):
    # A paper value and a shipped one 0.07 dB apart, a run flat just under both (LapSRN x4
    # under RDN x4): beside each line there is no free place, and no label may cover another.
    curve = _one_curve(_run(tmp_path / "run", points=((500, 28.5), (1000, 31.38), (8000, 31.40))))
    lines = [Line("paper 31.54", 31.54), Line("best shipped x4: rdn 31.47", 31.47)]
    image = np.asarray(curve_picture([curve], lines).convert("RGB")).astype(int)
    boxes = []
    for colour in LINE_COLOURS[:2]:
        gy, gx = np.nonzero(np.abs(image - np.array(colour)).sum(axis=2) == 0)
        rows = np.bincount(gy, minlength=image.shape[0])
        text = rows[gy] < 100  # off the dashed line's own rows
        assert text.sum() > 30, f"{colour}: no label drawn"
        boxes.append((gx[text].min(), gy[text].min(), gx[text].max(), gy[text].max()))
    (l0, t0, r0, b0), (l1, t1, r1, b1) = boxes
    assert r0 < l1 or r1 < l0 or b0 < t1 or b1 < t0, f"the labels overlap: {boxes}"
    # The run's line is drawn to its end: nothing is painted over it.
    ys, xs = np.nonzero(np.abs(image - np.array(COLOURS[0])).sum(axis=2) == 0)
    assert xs.max() >= image.shape[1] - 24 - 3


def test_a_short_early_runs_value_keeps_out_of_the_axis_labels(tmp_path):
    # A run of two early validations beside one of 30,000 steps: right-aligned to its last
    # point, as other values are, its text would reach into the y-axis' tick labels.
    short = _one_curve(_run(tmp_path / "short", points=((500, 33.9), (1000, 34.2))))
    long = _one_curve(_run(tmp_path / "long", points=tuple((s, 34.0 + s / 30000) for s in range(2000, 30001, 2000))))
    pixels = np.asarray(curve_picture([short, long], [])).astype(int)
    coloured = pixels.max(axis=2) - pixels.min(axis=2) > 40  # ticks and titles are black or grey
    assert not coloured[:, :68].any(), "a curve's label reaches into the y-axis labels"
    assert not coloured[-52:, :].any(), "a curve's label reaches into the x-axis labels"
    # ... and it is written right of its last point (x 99) instead, in its curve's colour.
    own = np.abs(pixels - np.array(COLOURS[0])).max(axis=2) < 60
    assert own[:, 104:200].sum() > 40
