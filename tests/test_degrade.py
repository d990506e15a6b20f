"""Degradations checked against closed forms, scipy.ndimage and Pillow."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from common.io import KitError
from data_prep import degrade
from data_prep.cube import DEFAULT_WAVELENGTHS, HSCube


def _smooth_image(shape, seed=0):
    """A positive image with natural-looking spatial correlation."""
    noise = np.random.default_rng(seed).random(shape)
    return 0.2 + ndimage.gaussian_filter(noise, (2, 2, 0), mode="wrap")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_degrade_sr_keeps_a_constant_image_and_the_size(scale):
    hr = np.full((26, 19, 3), 0.37, np.float32)
    lr = degrade.degrade_sr(hr, scale)
    assert lr.shape == hr.shape and lr.dtype == np.float32
    np.testing.assert_allclose(lr, 0.37, atol=1e-6)


@pytest.mark.parametrize("kernel", ["gaussian", "box", "bicubic"])
def test_downsample_constant_sizes_and_mean(kernel):
    np.testing.assert_allclose(degrade.downsample(np.full((64, 48, 2), 0.8), 16, kernel), 0.8, atol=1e-6)
    hr = _smooth_image((64, 48, 3))
    x16 = degrade.downsample(hr, 16, kernel)
    x4 = degrade.downsample(hr, 4, kernel)
    assert x16.shape == (4, 3, 3) and x4.shape == (16, 12, 3)
    np.testing.assert_allclose(x4.mean(axis=(0, 1)), hr.mean(axis=(0, 1)), rtol=0.01)
    np.testing.assert_allclose(x16.mean(axis=(0, 1)), hr.mean(axis=(0, 1)), rtol=0.03)


def test_downsample_drops_incomplete_blocks():
    assert degrade.downsample(np.ones((35, 20)), 16).shape == (2, 1)
    with pytest.raises(KitError, match="smaller"):
        degrade.downsample(np.ones((10, 20)), 16)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_degrade_sr_preserves_the_mean(scale):
    hr = _smooth_image((48, 36, 4), seed=scale)
    lr = degrade.degrade_sr(hr, scale)
    np.testing.assert_allclose(lr.mean(axis=(0, 1)), hr.mean(axis=(0, 1)), rtol=0.01)
    assert np.abs(lr - hr).mean() > 1e-3  # it did lose detail


def test_gaussian_blur_of_a_delta_is_the_truncated_gaussian():
    sigma, radius = 3.0, 12  # radius int(4 sigma + 0.5)
    image = np.zeros((41, 41, 1))
    image[20, 20, 0] = 1.0
    offsets = np.arange(41) - 20
    g = np.where(np.abs(offsets) <= radius, np.exp(-offsets ** 2 / (2 * sigma ** 2)), 0.0)
    g /= g.sum()
    np.testing.assert_allclose(degrade.gaussian_blur(image, sigma)[..., 0], np.outer(g, g), atol=1e-8)


def test_gaussian_blur_equals_scipy_with_reflected_borders():
    image = np.random.default_rng(1).random((30, 23, 2))
    expected = ndimage.gaussian_filter(image, (3, 3, 0), mode="reflect", truncate=4.0)
    np.testing.assert_allclose(degrade.gaussian_blur(image, 3.0), expected, atol=1e-6)


def test_odd_scale_blur_and_decimation_equals_scipy_then_every_third_pixel():
    """For s = 3 the LR pixels sit on HR pixels 1, 4, 7, ...; the upsampling is Keys
    bicubic (checked against Pillow away from the borders, where Pillow re-normalises
    the kernel instead of mirroring)."""
    hr = np.random.default_rng(2).random((24, 24, 2)).astype(np.float32)
    lr = ndimage.gaussian_filter(hr.astype(np.float64), (3, 3, 0), mode="reflect")[1::3, 1::3]
    up = np.stack([np.asarray(Image.fromarray(lr[..., b].astype(np.float32), "F")
                              .resize((24, 24), Image.BICUBIC)) for b in range(2)], axis=-1)
    got = degrade.degrade_sr(hr, 3)
    np.testing.assert_allclose(got[6:-6, 6:-6], up[6:-6, 6:-6], atol=1e-5)


def test_box_downsample_is_the_block_mean():
    hr = np.random.default_rng(3).random((32, 16, 3))
    expected = hr.reshape(8, 4, 4, 4, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(degrade.downsample(hr, 4, "box"), expected, atol=1e-6)


def test_gaussian_downsample_of_a_delta_with_an_even_factor():
    """Factor 2, sigma 1: LR pixel (i, j) is centred on HR (2i + 0.5, 2j + 0.5); its weight
    for HR sample k is exp(-(k - c)^2 / 2) normalised over |k - c| <= 4."""
    image = np.zeros((16, 16))
    image[6, 9] = 1.0
    lr = degrade.downsample(image, 2, sigma=1.0)

    def weight(k, i):
        c = 2 * i + 0.5
        taps = np.arange(int(np.floor(c)) - 4, int(np.floor(c)) + 6)
        w = np.where(np.abs(taps - c) <= 4, np.exp(-(taps - c) ** 2 / 2), 0.0)
        return np.exp(-(k - c) ** 2 / 2) / w.sum() if abs(k - c) <= 4 else 0.0

    expected = np.array([[weight(6, i) * weight(9, j) for j in range(8)] for i in range(8)])
    np.testing.assert_allclose(lr, expected, atol=1e-8)


def test_bicubic_resize_matches_pillow_inside_and_reproduces_ramps():
    image = np.random.default_rng(4).random((12, 10)).astype(np.float32)
    expected = np.asarray(Image.fromarray(image, "F").resize((20, 36), Image.BICUBIC))
    got = degrade.bicubic_resize(image, (36, 20))
    np.testing.assert_allclose(got[6:-6, 4:-4], expected[6:-6, 4:-4], atol=1e-5)
    # Keys' kernel reproduces linear functions exactly: f(y, x) = 2y + 3x at the mapped centres
    y, x = np.mgrid[0:16, 0:16]
    ramp = (2.0 * y + 3.0 * x)[..., None]
    up = degrade.bicubic_resize(ramp, (32, 32))[..., 0]
    cy = (np.arange(32) + 0.5) / 2 - 0.5
    np.testing.assert_allclose(up[4:-4, 4:-4], (2 * cy[:, None] + 3 * cy[None, :])[4:-4, 4:-4], atol=1e-4)


def test_accepts_hscube_and_rejects_bad_arguments():
    cube = HSCube(np.full((8, 8, 31), 0.5), DEFAULT_WAVELENGTHS)
    assert degrade.downsample(cube, 4).shape == (2, 2, 31)
    with pytest.raises(KitError):
        degrade.degrade_sr(np.ones((8, 8)), 2.5)
    with pytest.raises(KitError):
        degrade.downsample(np.ones((8, 8)), 2, kernel="lanczos")
    with pytest.raises(KitError):
        degrade.downsample(np.ones((8, 8)), 2, sigma=0)
    with pytest.raises(KitError):
        degrade.bicubic_resize(np.ones((2, 2, 2, 2)), (4, 4))


# ----------------------------------------------------------------------------- drcnn_sam's CAVE options

@pytest.mark.parametrize("scale", [2, 3, 4])
def test_corner_phase_is_scipy_blur_then_every_scale_th_pixel_from_the_first(scale):
    """MATLAB blurred(1:s:end, 1:s:end): LR pixel i is the blurred HR pixel s * i."""
    hr = np.random.default_rng(scale).random((26, 21, 2))
    blurred = ndimage.gaussian_filter(hr, (3, 3, 0), mode="reflect", truncate=4.0)
    lr = blurred[::scale, ::scale]
    np.testing.assert_allclose(degrade.downsample(hr, scale, sigma=3.0, phase="corner"),
                               lr[: 26 // scale, : 21 // scale], atol=1e-6)
    expected = degrade.bicubic_resize(lr, (26, 21), scale=scale)
    np.testing.assert_allclose(degrade.degrade_sr(hr, scale, phase="corner"), expected, atol=1e-6)
    sized = degrade.bicubic_resize(lr, (26, 21))  # imresize(lr, [H W])
    np.testing.assert_allclose(degrade.degrade_sr(hr, scale, phase="corner", upsample="size"), sized, atol=1e-6)


def test_the_defaults_are_the_centre_phase_and_the_factor_mapping():
    hr = _smooth_image((25, 20, 3), seed=9)
    for scale in (2, 3):
        default = degrade.degrade_sr(hr, scale)
        np.testing.assert_array_equal(default, degrade.degrade_sr(hr, scale, 3.0, "centre", "factor", None))
        assert np.abs(default - degrade.degrade_sr(hr, scale, phase="corner")).max() > 1e-3
    # 'size' and 'factor' differ only when a side is not a multiple of the scale
    square = hr[:24, :20]
    np.testing.assert_allclose(degrade.degrade_sr(square, 4, upsample="size"), degrade.degrade_sr(square, 4), atol=1e-7)
    assert np.abs(degrade.degrade_sr(hr, 3, upsample="size") - degrade.degrade_sr(hr, 3)).max() > 1e-3


def test_quantise_is_matlab_im2uint8_of_16bit_values():
    values = np.arange(65536, dtype=np.int64)
    expected = (2 * values * 255 + 65535) // (2 * 65535)  # round(v / 257), integers only
    got = degrade.quantise((values / 65535.0).reshape(256, 256), 8)
    np.testing.assert_array_equal(np.rint(got.ravel() * 255).astype(np.int64), expected)
    np.testing.assert_allclose(degrade.quantise(np.array([[-0.2, 0.5 / 255, 1.3]]), 8) * 255, [[0, 1, 255]], atol=1e-4)
    hr = _smooth_image((12, 12, 2), seed=4)
    out = degrade.degrade_sr(hr, 2, bits=8)
    np.testing.assert_array_equal(out, degrade.quantise(degrade.degrade_sr(hr, 2), 8))
    assert np.allclose(out * 255, np.rint(out * 255), atol=1e-4)


def test_degrade_options_reject_bad_values():
    for kwargs in ({"phase": "middle"}, {"upsample": "both"}, {"bits": 0}, {"bits": 2.5}):
        with pytest.raises(KitError):
            degrade.degrade_sr(np.ones((8, 8)), 2, **kwargs)
    with pytest.raises(KitError, match="phase"):
        degrade.downsample(np.ones((8, 8)), 2, phase="left")
    with pytest.raises(KitError, match="bits"):
        degrade.quantise(np.ones((2, 2)), None)
