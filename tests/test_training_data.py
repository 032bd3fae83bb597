"""Tests for upscale.training.data: loading HR images, deterministic patches, step-wise loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from upscale.baseline import y_plane_uint8
from upscale.errors import DatasetError
from upscale.resize import matlab_imresize
from upscale.training.data import (
    EXCLUDED_STEMS,
    PatchDataset,
    PatchSpec,
    StepSampler,
    load_hr_images,
    make_loader,
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
    msg = _one_line_error(PatchDataset, images, PatchSpec((3,), 16, "y", False), 0, 10)
    assert "16" in msg and "divisible" in msg
    _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "ycbcr", False), 0, 10)
    _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "y", False, scale_aug=(0.5, 1.5)), 0, 10)
    _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "y", False, scale_aug=(0.0,)), 0, 10)
    assert "pre_upsample" in _one_line_error(PatchDataset, images, PatchSpec((2, 4), 16, "y", False), 0, 10)


def test_patch_larger_than_every_image(images):
    msg = _one_line_error(PatchDataset, images, PatchSpec((2,), 80, "y", False), 0, 10)
    assert "80" in msg and "b.jpg" in msg  # b (64x48) has the largest short side


def test_small_images_are_skipped(images):
    ds = PatchDataset(images, PatchSpec((2,), 40, "y", False), seed=0, length=10)
    assert [im.name for im in ds.images] == ["a", "b"]  # c is 36x36


# --------------------------------------------------------------------------- samples


def test_same_index_same_sample_other_index_other_sample(images):
    a = PatchDataset(images, Y2, seed=5, length=100)
    b = PatchDataset(images, Y2, seed=5, length=100)
    for i in (0, 7, 99):
        x1, y1, s1 = a[i]
        x2, y2, s2 = b[i]
        assert torch.equal(x1, x2) and torch.equal(y1, y2) and s1 == s2 == 2
    assert not torch.equal(a[0][1], a[1][1])
    assert not torch.equal(a[0][1], PatchDataset(images, Y2, seed=6, length=100)[0][1])
    with pytest.raises(IndexError):
        a[100]


@pytest.mark.parametrize("color,channels", [("y", 1), ("rgb", 3)])
@pytest.mark.parametrize("pre_upsample", [False, True])
def test_shapes_and_ranges(images, color, channels, pre_upsample):
    spec = PatchSpec((4,), 24, color, pre_upsample)
    ds = PatchDataset(images, spec, seed=1, length=20)
    for i in range(5):
        x, y, s = ds[i]
        side = 24 if pre_upsample else 6
        assert s == 4 and x.dtype == y.dtype == torch.float32
        assert y.shape == (channels, 24, 24) and x.shape == (channels, side, side)
        assert 0 <= y.min() and y.max() <= 1
        if pre_upsample:  # bicubic overshoot is kept, exactly as eval's pipeline keeps it
            assert -0.2 <= x.min() and x.max() <= 1.2
        else:
            assert 0 <= x.min() and x.max() <= 1


def test_y_exactness_against_known_content(tmp_path):
    hr = _rgb(12, 12, 9)
    _save(tmp_path / "one", "only.png", hr)
    loaded = load_hr_images([tmp_path / "one"])
    for pre in (False, True):
        spec = PatchSpec((3,), 12, "y", pre, augment=False)
        x, y, _ = PatchDataset(loaded, spec, seed=0, length=1)[0]
        y_ref = y_plane_uint8(hr) / 255.0
        lr_ref = matlab_imresize(y_ref, 1 / 3)
        x_ref = matlab_imresize(lr_ref, 3.0) if pre else lr_ref
        assert torch.equal(y[0], torch.from_numpy(y_ref).float())
        assert torch.equal(x[0], torch.from_numpy(x_ref).float())


def test_rgb_exactness_against_known_content(tmp_path):
    hr = _rgb(12, 12, 9)
    _save(tmp_path / "one", "only.png", hr)
    loaded = load_hr_images([tmp_path / "one"])
    x, y, _ = PatchDataset(loaded, PatchSpec((2,), 12, "rgb", False, augment=False), seed=0, length=1)[0]
    assert torch.equal(y, torch.from_numpy(hr.transpose(2, 0, 1) / 255.0).float())
    lr_ref = matlab_imresize(hr, 0.5).transpose(2, 0, 1)
    assert torch.equal(x, torch.from_numpy(lr_ref / 255.0).float())


def test_augmentation_draws_all_eight_orientations(tmp_path):
    hr = _rgb(12, 12, 4)
    _save(tmp_path / "one", "only.png", hr)
    loaded = load_hr_images([tmp_path / "one"])
    variants = [np.rot90(hr, k) for k in range(4)]
    variants += [v[:, ::-1] for v in variants]
    ds = PatchDataset(loaded, PatchSpec((2,), 12, "rgb", False), seed=0, length=80)
    seen = set()
    for i in range(80):
        x, y, _ = ds[i]
        got = np.round(y.numpy() * 255).astype(np.uint8).transpose(1, 2, 0)
        k = next(j for j, v in enumerate(variants) if np.array_equal(v, got))
        seen.add(k)  # the input is the LR of that same orientation
        assert torch.equal(x, torch.from_numpy(matlab_imresize(got, 0.5).transpose(2, 0, 1) / 255.0).float())
    assert seen == set(range(8))


def test_y_input_is_matlab_resize_of_target(images):
    ds = PatchDataset(images, PatchSpec((2,), 16, "y", False), seed=3, length=20)
    for i in range(6):
        x, y, s = ds[i]
        levels = np.round(y[0].double().numpy() * 255.0)
        assert np.allclose(levels, y[0].double().numpy() * 255.0, atol=1e-4)  # rounded Y, as eval
        expect = matlab_imresize(levels / 255.0, 1 / s)
        assert torch.equal(x[0], torch.from_numpy(expect).float())


def test_rgb_input_is_rounded_uint8_lr(images):
    ds = PatchDataset(images, PatchSpec((2,), 16, "rgb", False), seed=3, length=20)
    for i in range(6):
        x, y, s = ds[i]
        hr = np.round(y.double().numpy() * 255.0).astype(np.uint8).transpose(1, 2, 0)
        lr = x.double().numpy() * 255.0
        assert np.allclose(lr, np.round(lr), atol=1e-3)
        assert np.array_equal(np.round(lr).astype(np.uint8), matlab_imresize(hr, 0.5).transpose(2, 0, 1))


def test_multi_scale_batches_stack(images):
    spec = PatchSpec((2, 3, 4), 24, "y", True)
    ds = PatchDataset(images, spec, seed=0, length=64)
    x, y, s = next(iter(make_loader(ds, batch=16, start_step=0, steps=4)))
    assert x.shape == y.shape == (16, 1, 24, 24)
    assert set(s.tolist()) == {2, 3, 4}
    for i in range(16):
        assert ds[i][2] == s[i].item()


def test_scale_augmentation(images):
    plain = PatchDataset(images, PatchSpec((2,), 16, "rgb", False), seed=0, length=20)
    aug = PatchDataset(images, PatchSpec((2,), 16, "rgb", False, scale_aug=(0.5,)), seed=0, length=20)
    assert [im.name for im in aug.images] == ["a", "b", "c"]  # crop 32 fits all three
    for i in range(4):
        x, y, _ = aug[i]
        assert x.shape == (3, 8, 8) and y.shape == (3, 16, 16)
        assert np.allclose(y.numpy() * 255, np.round(y.numpy() * 255), atol=1e-3)  # uint8 after resize
        assert not torch.equal(y, plain[i][1])
    # a factor whose crop (ceil(16 / 0.4) = 40) does not fit an image is never drawn for it
    mixed = PatchDataset(images, PatchSpec((2,), 16, "y", False, scale_aug=(0.4, 1.0)), seed=0, length=50)
    assert [im.name for im in mixed.images] == ["a", "b", "c"]
    assert all(mixed[i][1].shape == (1, 16, 16) for i in range(50))
    # images no factor fits are dropped; none left is an error naming the crop
    only = PatchDataset(images, PatchSpec((2,), 16, "y", False, scale_aug=(0.4,)), seed=0, length=5)
    assert [im.name for im in only.images] == ["a", "b"]
    assert "crop 54" in _one_line_error(PatchDataset, images, PatchSpec((2,), 16, "y", False, scale_aug=(0.3,)), 0, 5)


# --------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_loader_matches_uninterrupted(images, workers):
    ds = PatchDataset(images, PatchSpec((2,), 16, "y", True), seed=11, length=6 * 4)
    full = _batches(make_loader(ds, batch=4, start_step=0, steps=6))
    resumed = _batches(make_loader(ds, batch=4, start_step=3, steps=6, workers=workers))
    assert len(full) == 6 and len(resumed) == 3
    for a, b in zip(full[3:], resumed):
        assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_ranks_draw_disjoint_consecutive_samples(images):
    batch, world, steps = 3, 2, 4
    ds = PatchDataset(images, Y2, seed=2, length=steps * world * batch)
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


def test_step_sampler_indices_and_bounds(images):
    assert list(StepSampler(2, 4, batch=2, rank=1, world=3)) == [[14, 15], [20, 21]]
    assert len(StepSampler(2, 4, batch=2)) == 2
    ds = PatchDataset(images, Y2, seed=0, length=10)
    assert "need" in _one_line_error(make_loader, ds, batch=4, start_step=0, steps=3)
    _one_line_error(make_loader, ds, batch=2, start_step=0, steps=2, rank=2, world=2)
    _one_line_error(make_loader, ds, batch=2, start_step=3, steps=2)
