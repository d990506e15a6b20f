"""Renderers checked against the organisers' CSV files, colour-science and closed forms."""

from pathlib import Path

import colour
import numpy as np
import pytest

from common.io import KitError
from data_prep import render
from data_prep.cube import DEFAULT_WAVELENGTHS, HARVARD_WAVELENGTHS, HSCube

RESPONSES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "responses"
NTIRE_CSV = RESPONSES / "ntire2020_clean_cie1964_w_gain.csv"
NIKON_CSV = RESPONSES / "nikon_d700_jiang2013_400-720nm.csv"
CMFS = colour.MSDS_CMFS["CIE 1964 10 Degree Standard Observer"]

# colour-science warns each time it re-samples its tables onto the 10-nm grid
pytestmark = pytest.mark.filterwarnings("ignore::colour.utilities.ColourRuntimeWarning")


def _csv(path):
    if not path.exists():
        pytest.skip(f"{path} not available (the shared folder is not beside the repo)")
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    return table[:, 0], table[:, 1:]


def _shape(wavelengths):
    return colour.SpectralShape(wavelengths[0], wavelengths[-1], wavelengths[1] - wavelengths[0])


def _colour_xyz(spectra, wavelengths, illuminant):
    """colour-science's own integration (XYZ on the 0-100 scale)."""
    shape = _shape(wavelengths)
    return colour.colorimetry.sd_to_XYZ_integration(
        spectra, cmfs=CMFS, illuminant=illuminant, shape=shape)


def _checker_radiance(wavelengths=DEFAULT_WAVELENGTHS):
    """The 24 BabelColor ColorChecker reflectances under CIE D65, as a 4 x 6 cube."""
    checker = colour.SDS_COLOURCHECKERS["BabelColor Average"]
    reflectance = np.array([np.asarray(sd[wavelengths]) for sd in checker.values()])
    d65 = np.asarray(colour.SDS_ILLUMINANTS["D65"][wavelengths])
    return (reflectance * d65).reshape(4, 6, -1), reflectance


def test_ntire2020_response_derivation_matches_the_organisers_csv():
    wavelengths, table = _csv(NTIRE_CSV)
    np.testing.assert_array_equal(wavelengths, DEFAULT_WAVELENGTHS)
    derived = render.ntire2020_clean_response()
    # the CSV columns R, G, B are xbar, ybar, zbar; zbar is 0 beyond 650 nm
    np.testing.assert_allclose(derived, table, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(derived.sum(axis=0), 255.0, rtol=1e-12)


def test_render_ntire2020_clean_against_the_csv_projection():
    _, table = _csv(NTIRE_CSV)
    rng = np.random.default_rng(1)
    cube = rng.random((3, 5, 31)) * 1.3  # some pixels saturate
    expected = np.clip(cube @ table / 255.0, 0, 1)
    np.testing.assert_allclose(render.render_ntire2020_clean(cube), expected, atol=2e-6)


def test_ntire2020_quantisation_floors_like_the_organisers_savepng():
    # columns sum to 255, so a flat spectrum v renders to (v, v, v); uint8 cast floors
    cube = np.full((1, 2, 31), 0.5)
    cube[0, 1] = 0.9999
    rgb = render.render_ntire2020_clean(cube, quantize=True)
    np.testing.assert_allclose(rgb[0, 0], 127 / 255, atol=1e-7)
    np.testing.assert_allclose(rgb[0, 1], 254 / 255, atol=1e-7)


def test_ntire2020_rejects_other_band_grids():
    cube = HSCube(np.zeros((2, 2, 31)), HARVARD_WAVELENGTHS, source="harvard.mat")
    with pytest.raises(KitError, match="400-700"):
        render.render_ntire2020_clean(cube)


def test_cube_to_xyz_matches_colour_science_for_reflectance_and_radiance():
    radiance, reflectance = _checker_radiance()
    d65 = colour.SDS_ILLUMINANTS["D65"]
    expected = _colour_xyz(reflectance, DEFAULT_WAVELENGTHS, d65) / 100
    got = render.cube_to_xyz(reflectance, illuminant="D65")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # radiance: equal-energy normalisation (colour-science's default illuminant E)
    expected = _colour_xyz(radiance.reshape(24, 31), DEFAULT_WAVELENGTHS, None) / 100
    np.testing.assert_allclose(render.cube_to_xyz(radiance).reshape(24, 3), expected, rtol=1e-10)


def test_cube_to_xyz_on_the_harvard_grid_uses_the_cmfs_at_420_720():
    _, reflectance = _checker_radiance(HARVARD_WAVELENGTHS)
    d65 = colour.SDS_ILLUMINANTS["D65"]
    expected = _colour_xyz(reflectance, HARVARD_WAVELENGTHS, d65) / 100
    got = render.cube_to_xyz(reflectance, HARVARD_WAVELENGTHS, illuminant="D65")
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_cie1964_cmfs_on_and_off_the_1nm_grid():
    from scipy.interpolate import CubicSpline

    np.testing.assert_array_equal(render.cie1964_cmfs(), np.asarray(CMFS[DEFAULT_WAVELENGTHS]))
    grid = np.array([400.5, 555.5, 612.25, 699.5])
    spline = CubicSpline(CMFS.wavelengths, CMFS.values)(grid)  # an independent interpolant
    np.testing.assert_allclose(render.cie1964_cmfs(grid), spline, atol=1e-5)
    with pytest.raises(KitError, match="outside"):
        render.cie1964_cmfs(np.array([300.0, 310.0]))


def test_alvarez_gila_srgb_matches_colour_science_path():
    """pix2pix_hs eqs. 8-9 vs colour-science: min/max, XYZ (1964 10 deg, K with L = E),
    colour.XYZ_to_sRGB. The difference is float32 output rounding only."""
    radiance, _ = _checker_radiance()
    cube = radiance * 37.0 + 5.0  # arbitrary camera scale and offset: undone by min/max
    normalised = (cube - cube.min()) / (cube - cube.min()).max()
    xyz = _colour_xyz(normalised.reshape(24, 31), DEFAULT_WAVELENGTHS, None) / 100
    expected = np.clip(colour.XYZ_to_sRGB(xyz, apply_cctf_encoding=False), 0, 1)
    expected = colour.cctf_encoding(expected, function="sRGB").reshape(4, 6, 3)
    got = render.render_srgb_alvarez_gila(HSCube(cube, DEFAULT_WAVELENGTHS))
    assert got.dtype == np.float32 and got.shape == (4, 6, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_srgb_constants_against_the_standard():
    # the IEC matrix sends the D65 white (x, y = 0.3127, 0.3290, Y = 1) to RGB = 1
    white = np.array([0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290])
    np.testing.assert_allclose(render.XYZ_TO_SRGB @ white, 1.0, atol=1e-3)
    x = np.array([0.0, 0.001, 0.0031308, 0.2, 0.5, 1.0])
    expected = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    np.testing.assert_allclose(render.srgb_encode(x), expected, rtol=1e-12)
    np.testing.assert_allclose(render.srgb_encode(x), colour.cctf_encoding(x, "sRGB"), rtol=1e-10)


def test_xyz_to_lab_matches_colour_science_with_the_10_degree_d65_white():
    rng = np.random.default_rng(2)
    xyz = rng.random((10, 3)) * 0.9 + 0.005
    xyz[0] = 0.001  # the linear branch below (6/29)^3
    white = colour.CCS_ILLUMINANTS["CIE 1964 10 Degree Standard Observer"]["D65"]
    expected = colour.XYZ_to_Lab(xyz, illuminant=white)
    np.testing.assert_allclose(render.xyz_to_lab(xyz), expected, atol=1e-9)


def test_bradford_adaptation_matches_colour_science():
    rng = np.random.default_rng(3)
    xyz = rng.random((5, 3))
    source, target = np.array([0.95, 1.0, 1.09]), np.array([1.1, 1.0, 0.35])
    expected = colour.adaptation.chromatic_adaptation_VonKries(xyz, source, target, transform="Bradford")
    np.testing.assert_allclose(render.bradford_adapt(xyz, source, target), expected, atol=1e-6)


@pytest.mark.parametrize("wavelengths", [DEFAULT_WAVELENGTHS, HARVARD_WAVELENGTHS])
def test_grey_under_d65_displays_neutral(wavelengths):
    d65 = np.asarray(colour.SDS_ILLUMINANTS["D65"][wavelengths])
    greys = np.array([0.05, 0.2, 0.5, 0.9])[:, None] * d65 / d65.max()
    rgb = render.display_srgb(HSCube(greys[None], wavelengths), peak=1.0)[0]
    assert np.ptp(rgb, axis=-1).max() < 1e-3  # R = G = B
    assert np.all(np.diff(rgb[:, 1]) > 0)  # brighter grey, brighter pixel


def test_flat_reflectance_displays_neutral_with_white_e():
    rgb = render.display_srgb(np.full((2, 2, 31), 0.4), white="E", peak=1.0)
    assert np.ptp(rgb, axis=-1).max() < 1e-3
    # Y = 0.4 -> sRGB encoding of 0.4
    np.testing.assert_allclose(rgb[..., 1], 1.055 * 0.4 ** (1 / 2.4) - 0.055, atol=1e-3)


def test_display_default_exposure_maps_the_99th_percentile_to_white():
    cube = np.full((20, 20, 31), 0.2)
    cube[0, 0] = 50.0  # one specular highlight does not darken the picture
    rgb = render.display_srgb(cube, white="E")
    assert rgb[5, 5].min() > 0.99


def test_nikon_d700_embedded_table_equals_the_csv():
    wavelengths, table = _csv(NIKON_CSV)
    np.testing.assert_array_equal(render.nikon_d700_response(), table[:31])
    np.testing.assert_array_equal(render.nikon_d700_response(HARVARD_WAVELENGTHS), table[2:33])
    np.testing.assert_array_equal(wavelengths[:31], DEFAULT_WAVELENGTHS)
    with pytest.raises(KitError, match="400-720"):
        render.nikon_d700_response(np.arange(380, 681, 10))


def test_render_camera_normalisations():
    _, table = _csv(NIKON_CSV)
    response = table[:31]
    rng = np.random.default_rng(4)
    cube = rng.random((4, 3, 31))
    np.testing.assert_allclose(render.render_camera(cube, response, normalise=None),
                               np.einsum("hwc,ck->hwk", cube, response), rtol=1e-5)
    white = render.render_camera(cube, response)
    np.testing.assert_allclose(white, np.einsum("hwc,ck->hwk", cube, response / response.sum(0)), rtol=1e-5)
    flat = render.render_camera(np.full((1, 1, 31), 0.7), response)
    np.testing.assert_allclose(flat, 0.7, rtol=1e-6)  # white balanced for equal energy
    peak = render.render_camera(np.ones((1, 1, 31)), response, normalise="peak")[0, 0]
    np.testing.assert_allclose(peak, response.sum(0) / response.sum(0).max(), rtol=1e-6)
    with pytest.raises(KitError):
        render.render_camera(cube, response[:30])


def test_sensor_noise_statistics():
    rgb = np.full((200, 200, 3), 0.5)
    noisy = render.add_sensor_noise(rgb, np.random.default_rng(0), shot=1000, read=0, quantize=False)
    # Poisson: variance of electrons = mean = 500 -> std of the signal sqrt(500) / 1000
    assert abs(noisy.mean() - 0.5) < 1e-3
    assert abs(noisy.std() / (np.sqrt(500) / 1000) - 1) < 0.03
    read_only = render.add_sensor_noise(rgb, np.random.default_rng(0), shot=None, read=2.0, quantize=False)
    assert abs(read_only.std() / (2.0 / 255) - 1) < 0.03
    quantised = render.add_sensor_noise(rgb, 5)
    np.testing.assert_allclose(quantised * 255, np.round(quantised * 255), atol=1e-4)
    np.testing.assert_array_equal(quantised, render.add_sensor_noise(rgb, 5))
    assert quantised.min() >= 0 and quantised.max() <= 1
