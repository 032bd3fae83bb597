"""Tests for upscale.training.data: loading HR images, deterministic patches, step-wise loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from upscale.evaluation.degrade import y_plane_uint8
from upscale.errors import DatasetError
from upscale.imaging.resize import matlab_imresize
from upscale.training.data import (
    EXCLUDED_STEMS,
    PatchDataset,
    PatchSpec,
    find_training_files,
    load_hr_images,
    make_loader,
    sample_uniforms,
    step_indices,
)

Y2 = PatchSpec(scales=(2,), hr_patch=16, color="y", pre_upsample=False)


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth-ish random content, so resizes are not trivially zero."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(h // 4 + 2, w // 4 + 2, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR))
    noise = rng.integers(-20, 21, size=big.shape)
    return np.clip(big.astype(int) + noise, 0, 255).astype(np.uint8)


def _save(folder: Path, name: str, arr: np.ndarray, mode: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    path = folder / name
    img.save(path)
    return path


@pytest.fixture
def images(tmp_path):
    """Three images of different sizes (PNG and JPEG) in one folder, loaded."""
    folder = tmp_path / "hr"
    _save(folder, "a.png", _rgb(40, 52, 1))
    _save(folder, "b.jpg", _rgb(64, 48, 2))
    _save(folder, "c.png", _rgb(36, 36, 3))
    return load_hr_images([folder])


def _one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(DatasetError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and msg
    return msg


def _batches(loader) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    return [tuple(b) for b in loader]


# --------------------------------------------------------------------------- loading


def test_load_order_modes_and_readonly(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    _save(first, "z.png", _rgb(20, 20, 1))
    _save(first, "m.png", _rgb(20, 20, 2)[..., 0])  # gray
    _save(second, "a.png", _rgb(20, 20, 3), mode="P")  # palette
    _save(second, "b.png", np.dstack([_rgb(20, 20, 4), np.full((20, 20), 128, np.uint8)]))  # RGBA
    loaded = load_hr_images([first, second])
    assert [im.name for im in loaded] == ["m", "z", "a", "b"]
    for im in loaded:
        assert im.array.shape == (20, 20, 3) and im.array.dtype == np.uint8
        assert not im.array.flags.writeable
    gray = loaded[0].array
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 0], gray[..., 2])


def test_corrupt_file_is_warned_and_skipped(tmp_path):
    folder = tmp_path / "hr"
    _save(folder, "good.png", _rgb(20, 20, 1))
    (folder / "bad.png").write_bytes(b"not an image at all")
    warnings: list[str] = []
    loaded = load_hr_images([folder], warn=warnings.append)
    assert [im.name for im in loaded] == ["good"]
    assert len(warnings) == 1 and str(folder / "bad.png") in warnings[0] and "skipped" in warnings[0]


def test_set5_woman_source_is_excluded(tmp_path):
    assert "302003" in EXCLUDED_STEMS
    folder = tmp_path / "bsd200"
    _save(folder, "302003.png", _rgb(20, 20, 1))
    _save(folder, "2092.png", _rgb(20, 20, 2))
    warnings: list[str] = []
    loaded = load_hr_images([folder], warn=warnings.append)
    assert [im.name for im in loaded] == ["2092"]
    assert len(warnings) == 1 and "302003.png" in warnings[0] and "Set5" in warnings[0]
    assert [im.name for im in load_hr_images([folder], exclude=frozenset())] == ["2092", "302003"]


def test_missing_empty_and_undecodable_folders(tmp_path):
    assert "does not exist" in _one_line_error(load_hr_images, [tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    assert str(tmp_path / "empty") in _one_line_error(load_hr_images, [tmp_path / "empty"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"junk")
    assert "no training images" in _one_line_error(load_hr_images, [tmp_path / "bad"])


# --------------------------------------------------------------------------- spec checks


def test_spec_validation(images):
    msg = _one_line_error(PatchDataset, images, PatchSpec((3,), 16, "y", False), 0)
    assert "16" in msg and "divisible" in msg
    _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "ycbcr", False), 0)
    _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "y", False, scale_aug=(0.5, 1.5)), 0)
    _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "y", False, scale_aug=(0.0,)), 0)
    assert "pre_upsample" in _one_line_error(PatchDataset, images, PatchSpec((2, 4), 16, "y", False), 0)
    assert "non-negative" in _one_line_error(PatchDataset, images, Y2, -1)


def test_patch_larger_than_every_image(images):
    msg = _one_line_error(PatchDataset, images, PatchSpec((2,), 80, "y", False), 0)
    assert "80" in msg and "x2" in msg


def test_small_images_are_skipped(images):
    ds = PatchDataset(images, PatchSpec((2,), 40, "y", False), seed=0)
    assert ds.names == ["a", "b"]  # c is 36x36


# --------------------------------------------------------------------------- samples


def test_same_index_same_sample_other_index_other_sample(images):
    a = PatchDataset(images, Y2, seed=5)
    b = PatchDataset(images, Y2, seed=5)
    for i in (0, 7, 99, 10**12):
        x1, y1, s1 = a[i]
        x2, y2, s2 = b[i]
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and s1 == s2 == 2
    assert not torch.equal(a[0][1], a[1][1])
    assert not torch.equal(a[0][1], PatchDataset(images, Y2, seed=6)[0][1])
    with pytest.raises(DatasetError):
        a.batch([-1])


def test_a_batch_is_its_samples_stacked(images):
    ds = PatchDataset(images, PatchSpec((2,), 16, "rgb", False, scale_aug=(0.8, 1.0)), seed=3)
    x, y, s = ds.batch(range(40, 56))
    for j, i in enumerate(range(40, 56)):
        xi, yi, si = ds[i]
        assert torch.equal(x[j], xi) and torch.equal(y[j], yi) and s[j] == si


def test_sample_uniforms_are_pure_spread_and_independent():
    idx = np.arange(20000)
    u = sample_uniforms(7, idx, 3)
    assert u.shape == (20000, 3) and (u >= 0).all() and (u < 1).all()
    assert np.array_equal(u[123:130], sample_uniforms(7, idx[123:130], 3))
    assert not np.array_equal(u, sample_uniforms(8, idx, 3))
    assert abs(u.mean() - 0.5) < 0.01 and np.histogram(u[:, 0], bins=10)[0].min() > 1800
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.03


@pytest.mark.parametrize("color,channels", [("y", 1), ("rgb", 3)])
@pytest.mark.parametrize("pre_upsample", [False, True])
def test_shapes_and_ranges(images, color, channels, pre_upsample):
    spec = PatchSpec((4,), 24, color, pre_upsample)
    x, y, s = PatchDataset(images, spec, seed=1).batch(range(8))
    side = 24 if pre_upsample else 6
    assert (s == 4).all() and x.dtype == y.dtype == torch.float32
    assert y.shape == (8, channels, 24, 24) and x.shape == (8, channels, side, side)
    assert 0 <= y.min() and y.max() <= 1
    if pre_upsample:  # bicubic overshoot is kept, exactly as eval's pipeline keeps it
        assert -0.2 <= x.min() and x.max() <= 1.2
    else:
        assert 0 <= x.min() and x.max() <= 1


def _find(window: np.ndarray, whole: np.ndarray) -> tuple[int, int]:
    """Where ``window`` lies in ``whole`` (exactly), as (top, left)."""
    h, w = window.shape[:2]
    hits = [(t, l) for t in range(whole.shape[0] - h + 1) for l in range(whole.shape[1] - w + 1)
            if np.array_equal(whole[t:t + h, l:l + w], window)]
    assert len(hits) >= 1
    return hits[0]


@pytest.mark.parametrize("pre_upsample", [False, True])
def test_y_samples_are_crops_of_the_whole_image_degraded_as_eval_does(tmp_path, pre_upsample):
    hr = _rgb(30, 33, 9)
    _save(tmp_path / "one", "only.png", hr)
    loaded = load_hr_images([tmp_path / "one"])
    ds = PatchDataset(loaded, PatchSpec((3,), 12, "y", pre_upsample, augment=False), seed=0)
    y_ref = y_plane_uint8(hr[:30, :33]) / 255.0  # 30x33 is already a multiple of 3
    lr_ref = matlab_imresize(y_ref, 1 / 3)
    in_ref = (matlab_imresize(lr_ref, 3.0) if pre_upsample else lr_ref).astype(np.float32)
    for i in range(6):
        x, y, _ = ds[i]
        top, left = _find(y[0].numpy(), y_ref.astype(np.float32))
        if pre_upsample:
            assert np.array_equal(x[0].numpy(), in_ref[top:top + 12, left:left + 12])
        else:
            assert top % 3 == 0 and left % 3 == 0  # the LR grid's own pixels
            assert np.array_equal(x[0].numpy(), in_ref[top // 3:top // 3 + 4, left // 3:left // 3 + 4])


def test_rgb_samples_are_crops_of_the_whole_uint8_lr(tmp_path):
    hr = _rgb(24, 26, 9)
    _save(tmp_path / "one", "only.png", hr)
    loaded = load_hr_images([tmp_path / "one"])
    ds = PatchDataset(loaded, PatchSpec((2,), 12, "rgb", False, augment=False), seed=0)
    lr_ref = matlab_imresize(hr, 0.5)
    for i in range(6):
        x, y, _ = ds[i]
        hr_crop = np.round(y.numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        top, left = _find(hr_crop, hr)
        lr = x.double().numpy() * 255.0
        assert np.allclose(lr, np.round(lr), atol=1e-3)  # integer levels: the uint8 LR image
        assert np.array_equal(np.round(lr).astype(np.uint8).transpose(1, 2, 0),
                              lr_ref[top // 2:top // 2 + 6, left // 2:left // 2 + 6])


def test_augmentation_draws_all_eight_orientations_of_aligned_pairs(tmp_path):
    hr = _rgb(12, 12, 4)
    _save(tmp_path / "one", "only.png", hr)
    loaded = load_hr_images([tmp_path / "one"])
    lr = matlab_imresize(hr, 0.5)

    def orientations(a):
        out = [np.rot90(a, k) for k in range(4)]
        return out + [o[:, ::-1] for o in out]

    hr_variants, lr_variants = orientations(hr), orientations(lr)
    x, y, _ = PatchDataset(loaded, PatchSpec((2,), 12, "rgb", False), seed=0).batch(range(80))
    seen = set()
    for i in range(80):
        got = np.round(y[i].numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        k = next(j for j, v in enumerate(hr_variants) if np.array_equal(v, got))
        seen.add(k)  # the input is the same orientation of the whole image's LR
        got_lr = np.round(x[i].numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        assert np.array_equal(got_lr, lr_variants[k])
    assert seen == set(range(8))


def test_multi_scale_batches_stack(images):
    spec = PatchSpec((2, 3, 4), 24, "y", True)
    ds = PatchDataset(images, spec, seed=0)
    x, y, s = next(iter(make_loader(ds, batch=16, start_step=0, steps=4)))
    assert x.shape == y.shape == (16, 1, 24, 24)
    assert set(s.tolist()) == {2, 3, 4}
    for i in range(16):
        assert ds[i][2] == s[i].item()


def test_scale_augmentation(images):
    plain = PatchDataset(images, PatchSpec((2,), 16, "rgb", False), seed=0)
    aug = PatchDataset(images, PatchSpec((2,), 16, "rgb", False, scale_aug=(0.4,)), seed=0)
    assert aug.names == ["a", "b"]  # at 0.4, c (36x36) is 15x15: smaller than the patch
    for i in range(4):
        x, y, _ = aug[i]
        assert x.shape == (3, 8, 8) and y.shape == (3, 16, 16)
        assert np.allclose(y.numpy() * 255, np.round(y.numpy() * 255), atol=1e-3)  # uint8 after resize
        assert not torch.equal(y, plain[i][1])
    # a factor that no image fits is never drawn; none left at all is an error naming the patch
    mixed = PatchDataset(images, PatchSpec((2,), 16, "y", False, scale_aug=(0.3, 1.0)), seed=0)
    assert {p.factor for p in mixed.pools} == {1.0}
    assert all(mixed[i][1].shape == (1, 16, 16) for i in range(50))
    assert "16" in _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "y", False, scale_aug=(0.3,)), 0)


# --------------------------------------------------------------------------- the cache


def test_cache_is_reused_and_gives_the_same_samples(images, tmp_path):
    spec = PatchSpec((2,), 16, "y", True, scale_aug=(0.8, 1.0))
    first = PatchDataset(images, spec, seed=0, cache=tmp_path / "c")
    second = PatchDataset(images, spec, seed=0, cache=tmp_path / "c")
    assert (first.report.built, first.report.hits) == (6, 0)
    assert (second.report.built, second.report.hits) == (0, 6)
    a, b = first.batch(range(32)), second.batch(range(32))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_changed_or_corrupt_training_image_invalidates_its_cache_entry(tmp_path):
    folder, cache = tmp_path / "hr", tmp_path / "cache"
    _save(folder, "a.png", _rgb(32, 32, 1))
    _save(folder, "b.png", _rgb(32, 32, 2))
    spec = PatchSpec((2,), 16, "y", False)
    before = PatchDataset(find_training_files([folder]), spec, seed=0, cache=cache)
    assert before.report.built == 2 and before.names == ["a", "b"]
    # An edited image has other bytes, so another key: its entry is rebuilt, the other is reused.
    _save(folder, "a.png", _rgb(32, 32, 3))
    edited = PatchDataset(find_training_files([folder]), spec, seed=0, cache=cache)
    assert (edited.report.hits, edited.report.built) == (1, 1)
    fresh = PatchDataset(load_hr_images([folder]), spec, seed=0)
    assert all(torch.equal(u, v) for u, v in zip(edited.batch(range(16)), fresh.batch(range(16))))
    # A corrupt cache entry (one byte of its pixels flipped, or cut short) is rebuilt.
    entries = sorted(cache.glob("*.npz"))
    assert len(entries) == 3  # the stale entry of the old a.png stays, unused
    for n, entry in enumerate(entries):
        data = bytearray(entry.read_bytes())
        if n % 2:
            data[len(data) // 2] ^= 0xFF
        else:
            data = data[: len(data) // 2]
        entry.write_bytes(bytes(data))
    again = PatchDataset(find_training_files([folder]), spec, seed=0, cache=cache)
    assert (again.report.hits, again.report.rebuilt) == (0, 2)
    assert all(torch.equal(u, v) for u, v in zip(again.batch(range(16)), fresh.batch(range(16))))
    # A training image that went corrupt is a miss too: it is warned about and skipped.
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    warnings: list[str] = []
    broken = PatchDataset(find_training_files([folder]), spec, seed=0, cache=cache, warn=warnings.append)
    assert broken.names == ["a"] and broken.report.skipped == ("b",)
    assert len(warnings) == 1 and "b.png" in warnings[0]


def test_cache_build_reports_progress(images, tmp_path):
    seen = []
    PatchDataset(images, PatchSpec((2,), 16, "y", False, scale_aug=(0.9, 1.0)), 0, cache=tmp_path, progress=seen.append)
    assert seen[-1].done == seen[-1].total == 6 and [p.done for p in seen[:-1]] == list(range(6))


# --------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_loader_matches_uninterrupted(images, workers):
    ds = PatchDataset(images, PatchSpec((2,), 16, "y", True), seed=11)
    full = _batches(make_loader(ds, batch=4, start_step=0, steps=6))
    resumed = _batches(make_loader(ds, batch=4, start_step=3, steps=6, workers=workers))
    assert len(full) == 6 and len(resumed) == 3
    for a, b in zip(full[3:], resumed):
        assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_ranks_draw_disjoint_consecutive_samples(images):
    batch, world, steps = 3, 2, 4
    ds = PatchDataset(images, Y2, seed=2)
    per_rank = [_batches(make_loader(ds, batch, 0, steps, rank=r, world=world)) for r in range(world)]
    for t in range(steps):
        for r in range(world):
            first = (world * t + r) * batch
            expect = torch.stack([ds[first + i][1] for i in range(batch)])
            assert torch.equal(per_rank[r][t][1], expect)
        assert not torch.equal(per_rank[0][t][1], per_rank[1][t][1])
    # two ranks together draw what one rank draws with twice as many steps of the same batch
    single = _batches(make_loader(ds, batch, 0, steps * world))
    assert torch.equal(single[2 * 1 + 1][1], per_rank[1][1][1])


def test_step_indices_and_loader_bounds(images):
    assert list(step_indices(2, batch=2, rank=1, world=3)) == [14, 15]
    assert list(step_indices(3, batch=2, rank=1, world=3)) == [20, 21]
    ds = PatchDataset(images, Y2, seed=0)
    assert len(_batches(make_loader(ds, batch=2, start_step=1, steps=3))) == 2
    _one_line_error(make_loader, ds, batch=2, start_step=0, steps=2, rank=2, world=2)
    _one_line_error(make_loader, ds, batch=2, start_step=3, steps=2)
    _one_line_error(make_loader, ds, batch=0, start_step=0, steps=2)
