"""Property-based tests (hypothesis) of the metrics and renderers on random shapes and values.

The example-based tests (test_metrics.py, test_render.py, test_degrade.py) pin the
numbers; these check the laws every output must obey whatever the input (issue 10):
ranges, zero/perfect values, symmetry, and the invariances the papers' definitions
imply. Shapes are 1..8 x 1..8 x 1..31 (at least 11 x 11 for SSIM); values are float32
numbers widened to float64, so that a difference between two inputs never underflows
when squared (an exact ``rmse == 0 iff equal`` needs that).
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from common import metrics
from data_prep import degrade, render
from data_prep.cube import DEFAULT_WAVELENGTHS

SETTINGS = settings(max_examples=25, deadline=None)
# colour-science warns each time it re-samples its tables onto the 10-nm grid
pytestmark = pytest.mark.filterwarnings("ignore::colour.utilities.ColourRuntimeWarning")

shapes = st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 31))


def values(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=32)


def cubes(shape, low=-1e3, high=1e3):
    return hnp.arrays(np.float64, shape, elements=values(low, high))


@st.composite
def pairs(draw, low=-1e3, high=1e3):
    """(gt, rec) of one random shape; rec is gt itself, gt with one element changed, or independent."""
    shape = draw(shapes)
    gt = draw(cubes(shape, low, high))
    how = draw(st.sampled_from(("same", "one_element", "independent")))
    if how == "same":
        return gt, gt.copy()
    if how == "one_element":
        rec = gt.copy()
        index = tuple(draw(st.integers(0, n - 1)) for n in shape)
        rec[index] = draw(values(low, high))
        return gt, rec
    return gt, draw(cubes(shape, low, high))


def defined_pixels(gt, rec):
    """True where both spectra are nonzero, i.e. where a spectral angle exists."""
    return np.any(gt != 0, axis=-1) & np.any(rec != 0, axis=-1)


# ----------------------------------------------------------------------------- metrics

@SETTINGS
@given(pairs())
def test_rmse_is_non_negative_and_zero_exactly_for_equal_inputs(pair):
    gt, rec = pair
    value = metrics.rmse(gt, rec)
    assert value >= 0.0
    assert (value == 0.0) == np.array_equal(gt, rec)


@SETTINGS
@given(pairs(), st.sampled_from((1.0, 255.0, 4095.0)))
def test_psnr_is_finite_for_distinct_inputs_and_inf_for_equal(pair, peak):
    gt, rec = pair
    value = metrics.psnr(gt, rec, peak=peak)
    if np.array_equal(gt, rec):
        assert value == math.inf
    else:
        assert math.isfinite(value)


@SETTINGS
@given(pairs(low=-1.0, high=1.0))
def test_sam_lies_in_0_180_degrees_and_is_symmetric(pair):
    gt, rec = pair
    assume(defined_pixels(gt, rec).any())
    forward, backward = metrics.sam(gt, rec), metrics.sam(rec, gt)
    assert 0.0 <= forward <= 180.0
    assert forward == pytest.approx(backward, abs=1e-9)
    assert metrics.sam(gt, rec, degrees=False) == pytest.approx(math.radians(forward), abs=1e-12)


@SETTINGS
@given(shapes.flatmap(lambda shape: cubes(shape, -1.0, 1.0)), st.floats(1e-3, 1e3))
def test_sam_ignores_intensity(gt, k):
    """A spectrum and the same spectrum k times brighter are parallel: angle 0."""
    assume(np.any(gt != 0, axis=-1).any())
    assert metrics.sam(gt, gt) == 0.0
    assert metrics.sam(gt, gt * k) == pytest.approx(0.0, abs=1e-6)


@SETTINGS
@given(st.tuples(st.integers(11, 16), st.integers(11, 16), st.integers(1, 4))
       .flatmap(lambda shape: cubes(shape, 0.0, 1.0)))
def test_ssim_of_an_image_with_itself_is_one(image):
    assert metrics.ssim(image, image.copy(), peak=1.0) == pytest.approx(1.0, abs=1e-12)


@SETTINGS
@given(pairs(low=0.0, high=1e3))
def test_mrae_is_non_negative(pair):
    gt, rec = pair
    assume(np.any(gt != 0))  # zeros in the truth are left out; all zeros leave nothing
    value = metrics.mrae(gt, rec)
    assert value >= 0.0
    assert metrics.mrae(gt, gt) == 0.0


@SETTINGS
@given(pairs(low=-1.0, high=1.0))
def test_gfc_lies_in_0_1(pair):
    gt, rec = pair
    assume(defined_pixels(gt, rec).any())
    assert 0.0 <= metrics.gfc(gt, rec) <= 1.0
    assert metrics.gfc(gt, gt) == pytest.approx(1.0, abs=1e-12)  # gt has a nonzero pixel (assumed above)


# ----------------------------------------------------------------------------- renderers

spectral_shapes = st.tuples(st.integers(1, 8), st.integers(1, 8), st.just(DEFAULT_WAVELENGTHS.size))


@SETTINGS
@given(spectral_shapes.flatmap(lambda shape: cubes(shape, -0.5, 2.0)), st.sampled_from((2.0, 4.0, 8.0)))
def test_ntire2020_clean_is_in_0_1_and_monotone_in_the_cube_scale(cube, k):
    """clip(S R / 255, 0, 1) with k = 2^n (exact in floating point): clip(k s) >= clip(s)
    for every projection s, negative (both 0) or not."""
    rgb = render.render_ntire2020_clean(cube)
    assert rgb.shape == cube.shape[:2] + (3,)
    assert np.all((rgb >= 0.0) & (rgb <= 1.0))
    assert np.all(render.render_ntire2020_clean(cube * k) >= rgb)


@SETTINGS
@given(spectral_shapes.flatmap(lambda shape: cubes(shape)))
def test_srgb_alvarez_gila_is_in_0_1(cube):
    rgb = render.render_srgb_alvarez_gila(cube, DEFAULT_WAVELENGTHS)
    assert rgb.shape == cube.shape[:2] + (3,)
    assert np.all((rgb >= 0.0) & (rgb <= 1.0))


@SETTINGS
@given(spectral_shapes.flatmap(lambda shape: cubes(shape, 0.0, 1.0)), st.floats(1e-3, 1e3), st.floats(-10.0, 10.0))
def test_srgb_alvarez_gila_ignores_scale_and_offset(cube, k, offset):
    """Step 1 of Sec. 3.2 (S - min, then / max) removes any positive gain and any offset."""
    # a cube flat to within rounding is black, yet its rescaled copy may not be: keep a real range
    assume(np.ptp(cube) == 0 or np.ptp(cube) > 1e-3 * np.abs(cube).max())
    rgb = render.render_srgb_alvarez_gila(cube, DEFAULT_WAVELENGTHS)
    np.testing.assert_allclose(render.render_srgb_alvarez_gila(cube * k, DEFAULT_WAVELENGTHS), rgb, atol=1e-6)
    np.testing.assert_allclose(render.render_srgb_alvarez_gila(cube + offset, DEFAULT_WAVELENGTHS), rgb, atol=1e-6)


# ----------------------------------------------------------------------------- degradation

@SETTINGS
@given(st.tuples(st.integers(1, 16), st.integers(1, 16), st.integers(1, 31)), st.integers(1, 4),
       st.sampled_from(("gaussian", "box", "bicubic")), values(-1e3, 1e3))
def test_downsample_of_a_constant_cube_is_that_constant(shape, factor, kernel, level):
    assume(shape[0] >= factor and shape[1] >= factor)
    low = degrade.downsample(np.full(shape, level), factor, kernel=kernel)
    assert low.shape == (shape[0] // factor, shape[1] // factor, shape[2])
    np.testing.assert_allclose(low, level, rtol=1e-6, atol=1e-30)
