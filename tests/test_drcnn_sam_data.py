"""drcnn_sam data assembly: degradation pairs, aligned random patches, grey patches.

References: scipy.ndimage's Gaussian filter for the LR grid, plain slicing of the images
for patch contents, counts by hand.
"""

import numpy as np
import pytest
from scipy import ndimage

from data_prep.cube import HSCube
from data_prep.degrade import bicubic_resize
from papers.drcnn_sam import data as D


def _image(h=24, w=30, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random((h, w, c)), (1, 1, 0)).astype(np.float32)


@pytest.mark.parametrize("scale", [2, 3])
def test_lr_grid_is_the_image_degrade_sr_upsamples(scale):
    hr = _image(24, 30)
    up, lr = D.degrade_pair(hr, scale, sigma=3.0)
    assert lr.shape == (24 // scale, 30 // scale, 4) and up.shape == hr.shape
    np.testing.assert_allclose(bicubic_resize(lr, hr.shape[:2], scale=scale), up, atol=1e-5)


def test_lr_grid_matches_scipy_blur_then_decimate_for_odd_scale():
    # For odd s, the LR pixel i sits on HR pixel i*s + (s-1)/2 of the blurred image.
    hr = _image(27, 21)
    _, lr = D.degrade_pair(hr, 3, sigma=3.0)
    blurred = ndimage.gaussian_filter(hr.astype(np.float64), (3, 3, 0), mode="reflect", truncate=4.0)
    np.testing.assert_allclose(lr, blurred[1::3, 1::3], atol=1e-5)


def test_image_patches_are_aligned_crops():
    hr = _image(27, 21)
    scale, size = 3, 9
    out = D.image_patches(hr, scale, 3.0, count=7, patch_size=size, seed=1)
    up, lr = D.degrade_pair(hr, scale, 3.0)
    blurred = ndimage.gaussian_filter(hr.astype(np.float64), (3, 3, 0), mode="reflect", truncate=4.0)
    assert out["hr"].shape == (7, 9, 9, 4) and out["lr"].shape == (7, 3, 3, 4)
    for k in range(7):
        # find the crop position by matching the HR patch against the image
        hits = [(r, c) for r in range(0, 27 - size + 1) for c in range(0, 21 - size + 1)
                if np.array_equal(hr[r : r + size, c : c + size], out["hr"][k])]
        assert len(hits) == 1
        r, c = hits[0]
        assert r % scale == 0 and c % scale == 0  # positions on the scale grid
        np.testing.assert_array_equal(out["up"][k], up[r : r + size, c : c + size])
        np.testing.assert_allclose(out["lr"][k], blurred[r + 1 : r + size : 3, c + 1 : c + size : 3], atol=1e-5)


def test_patch_counts():
    assert D.patches_per_image(10, 4) == [3, 3, 2, 2]
    images = [_image(seed=i) for i in range(3)]
    patches = D.training_patches(images, 2, 3.0, total=20, patch_size=8, seed=0)
    assert patches["hr"].shape == (20, 8, 8, 4) and patches["lr"].shape == (20, 4, 4, 4)
    # The validation patches come from held-out images: tests/test_drcnn_sam_paper_facts.py.


def test_grey_patches_are_single_bands():
    images = [_image(seed=i) for i in range(2)]
    patches = D.training_patches(images, 3, 3.0, total=6, patch_size=8, seed=0)
    grey = D.grey_patches(patches, count=10, scale=3, seed=0)
    assert grey["up"].shape == (10, 8, 8, 1) and grey["lr"].shape == (10, 2, 2, 1)
    assert grey["hr_sub"].shape == (10, 6, 6, 1)
    bands = {patches["hr"][n, :, :, c].tobytes(): (n, c) for n in range(6) for c in range(4)}
    for k in range(10):
        n, c = bands[grey["hr"][k, :, :, 0].tobytes()]
        np.testing.assert_array_equal(grey["up"][k, :, :, 0], patches["up"][n, :, :, c])
        np.testing.assert_array_equal(grey["lr"][k, :, :, 0], patches["lr"][n, :, :, c])
        np.testing.assert_array_equal(grey["hr_sub"][k, :, :, 0], patches["hr"][n, :6, :6, c])
    assert len(D.grey_patches(patches, count=1000, scale=3, seed=0)["hr"]) == 6 * 4


class _FakeHarvard:
    name = "harvard"

    def load(self, name):
        data = np.zeros((10, 12, 31), np.float32)
        data[:8, :8] = 0.25
        data[2, 3, 5] = 0.5  # the crop's maximum
        data[9, 11] = 7.0  # outside the crop: must not set the scale
        return HSCube(data, np.arange(420, 721, 10), name=name, source="fake.mat")


def test_harvard_top_left_crop_divided_by_its_maximum():
    source = D.Source(_FakeHarvard(), "harvard", train=["a"], test=["b"], harvard_crop=8)
    cube, wavelengths = source.load("b")
    assert cube.shape == (8, 8, 31)
    assert cube.max() == 1.0 and cube[0, 0, 0] == 0.5
    assert wavelengths[0] == 420
    assert source.table == "table2"
