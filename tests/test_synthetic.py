"""The embedded synthetic dataset: physics, statistics, determinism and the HDF5 cache.

References are independent of the generator: illuminant tables and colorimetry from
colour-science, closed-form distributions (power law, 1/f^beta spectrum), and the
principal-component statistics known for natural hyperspectral images.
"""

import h5py
import numpy as np
import pytest
from scipy import stats

import colour

from common.io import KitError
from data_prep import synthetic
from data_prep.cube import HSCube
from data_prep.render import cube_to_xyz
from data_prep.synthetic import SyntheticDataset, generate_scene

WL = np.arange(400, 701, 10)
CMFS_1964 = colour.MSDS_CMFS["CIE 1964 10 Degree Standard Observer"]
GREY = np.full((1, 31), 0.5)

# colour-science warns when it aligns a spectrum to the CMFs' shape: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::colour.utilities.ColourRuntimeWarning")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """4 scenes of 64x64 in a fresh cache."""
    return SyntheticDataset(n_scenes=4, size=64, seed=7, cache_dir=tmp_path_factory.mktemp("synth"))


def _xy(xyz):
    return np.asarray(xyz)[..., :2] / np.sum(xyz, axis=-1, keepdims=True)


@pytest.mark.parametrize("spec, table", [(6500, "D65"), (5000, "D50"), ("A", "A")])
def test_grey_surface_radiance_is_proportional_to_the_illuminant(spec, table):
    scene = generate_scene(3, 48, illuminant=spec, reflectances=GREY)
    reference = np.asarray(colour.SDS_ILLUMINANTS[table][WL])  # CIE tabulated SPD
    ratio = scene.radiance.reshape(-1, 31) / reference
    # one scalar per pixel (shading, texture, shadow) times the illuminant's spectrum
    spread = ratio.max(axis=1) / ratio.min(axis=1) - 1.0
    assert spread.max() < 1e-4
    assert scene.radiance.std() > 0.01  # shading and texture do vary across the scene


@pytest.mark.parametrize("spec, table", [(6500, "D65"), ("A", "A")])
def test_grey_surface_renders_to_the_illuminant_chromaticity(spec, table):
    scene = generate_scene(4, 48, illuminant=spec, reflectances=GREY)
    xy = _xy(cube_to_xyz(scene.radiance, WL)).reshape(-1, 2)
    light = colour.SDS_ILLUMINANTS[table]
    sampled = colour.SpectralDistribution(dict(zip(WL, np.asarray(light[WL]))))
    xy_31 = colour.XYZ_to_xy(colour.sd_to_XYZ(
        sampled, CMFS_1964, method="Integration", shape=colour.SpectralShape(400, 700, 10)))
    xy_full = colour.XYZ_to_xy(colour.sd_to_XYZ(light, CMFS_1964))
    np.testing.assert_allclose(xy, np.broadcast_to(xy_31, xy.shape), atol=2e-5)
    # the 400-700 nm truncation moves the white point only slightly
    np.testing.assert_allclose(xy, np.broadcast_to(xy_full, xy.shape), atol=5e-4)


def test_spectra_are_non_negative_bounded_and_smooth():
    for seed in range(3):
        scene = generate_scene(seed, 64)
        assert scene.radiance.dtype == np.float32 and scene.radiance.shape == (64, 64, 31)
        assert scene.radiance.min() >= 0.0
        assert 0.9 <= scene.radiance.max() <= 1.0
        # reflectances: mixtures of measured spectra (10 nm sampling) have small curvature
        assert scene.reflectance.min() >= 0.0 and scene.reflectance.max() <= 1.0
        assert np.abs(np.diff(scene.reflectance, n=2, axis=-1)).max() < 0.3
    # radiance under daylight: per-pixel curvature relative to the pixel's peak.
    # Uniform noise gives >= 0.8 on almost every pixel.
    for cct in (4000, 6500, 10000):
        spectra = generate_scene(11, 64, illuminant=cct).radiance.reshape(-1, 31)
        curvature = np.abs(np.diff(spectra, n=2, axis=1)).max(axis=1) / spectra.max(axis=1)
        assert curvature.max() < 0.3


def test_few_principal_components_explain_the_spectra():
    # Natural hyperspectral images: 3-8 components explain 99% of the variance.
    for seed in range(4):
        spectra = generate_scene([5, seed], 64).radiance.reshape(-1, 31).astype(np.float64)
        eigenvalues = np.linalg.eigvalsh(np.cov(spectra, rowvar=False))[::-1]
        explained = np.cumsum(eigenvalues) / eigenvalues.sum()
        assert explained[2] > 0.95, explained[:4]
        assert 2 <= np.searchsorted(explained, 0.99) + 1 <= 8


def test_generation_is_deterministic_for_a_seed():
    a, b = generate_scene([1, 2], 48), generate_scene([1, 2], 48)
    np.testing.assert_array_equal(a.radiance, b.radiance)
    assert a.info == b.info
    assert not np.array_equal(a.radiance, generate_scene([1, 3], 48).radiance)


def test_power_law_radii_follow_the_closed_form_cdf():
    rng = np.random.default_rng(0)
    r_min, r_max, alpha = 2.0, 64.0, 3.0
    radii = synthetic._power_law_radii(rng, 20000, r_min, r_max, alpha)

    def cdf(r):  # integral of r^-alpha from r_min, normalised
        return (r_min ** (1 - alpha) - r ** (1 - alpha)) / (r_min ** (1 - alpha) - r_max ** (1 - alpha))

    assert radii.min() >= r_min and radii.max() <= r_max
    assert stats.kstest(radii, cdf).pvalue > 0.01


def test_dead_leaves_cover_the_image_front_to_back():
    leaves = synthetic.dead_leaves(np.random.default_rng(3), 96, coverage=0.99)
    labels = leaves.labels
    assert labels.min() >= 0 and labels.max() == leaves.n_shapes - 1
    backdrop = np.count_nonzero(labels == leaves.n_shapes - 1)
    assert backdrop <= 0.01 * labels.size
    # occlusion keeps shapes whole or cut, never scattered: many distinct regions
    assert np.unique(labels).size > 50


def test_dead_leaves_batched_painting_matches_one_by_one():
    """A pixel belongs to the first (nearest) shape that covers it."""
    size = 40
    rng = np.random.default_rng(5)
    leaves = synthetic.dead_leaves(rng, size, r_min=2, r_max=30, coverage=0.9)
    rng = np.random.default_rng(5)  # redraw the same shapes and paint them naively
    r = synthetic._power_law_radii(rng, 512, 2, 30, 3.0)
    x, y = rng.uniform(-r, size + r), rng.uniform(-r, size + r)
    kind, aspect, theta = rng.integers(0, 3, 512), rng.uniform(0.3, 1.0, 512), rng.uniform(0, np.pi, 512)
    n = leaves.n_shapes - 1  # minus the backdrop
    assert n < 512
    centres = np.arange(size) + 0.5
    expected = np.full((size, size), n)
    for i in reversed(range(n)):  # back to front: nearer shapes overwrite farther ones
        a = r[i] / np.sqrt(1 + aspect[i] ** 2) if kind[i] == 2 else r[i]
        b = a if kind[i] == 0 else a * aspect[i]
        dx, dy = centres[None, :] - x[i], centres[:, None] - y[i]
        u = (dx * np.cos(theta[i]) + dy * np.sin(theta[i])) / a
        v = (dy * np.cos(theta[i]) - dx * np.sin(theta[i])) / b
        inside = (np.maximum(abs(u), abs(v)) <= 1) if kind[i] == 2 else (u**2 + v**2 <= 1)
        expected[inside] = i
    mismatch = np.count_nonzero(leaves.labels != expected)
    assert mismatch <= 2  # float32 vs float64 rounding on a boundary at most


def test_fractal_noise_has_the_requested_spectral_slope():
    field = synthetic.fractal_noise(np.random.default_rng(1), (128, 128), beta=2.0)
    assert abs(field.mean()) < 1e-5 and abs(field.std() - 1.0) < 1e-4
    power = np.abs(np.fft.fft2(field)) ** 2
    f = np.hypot(np.fft.fftfreq(128)[:, None], np.fft.fftfreq(128)[None, :])
    keep = (f > 0.02) & (f < 0.4)
    slope = np.polyfit(np.log(f[keep]), np.log(power[keep]), 1)[0]
    assert -2.3 < slope < -1.7


def test_band_average_of_a_line_spectrum_keeps_its_energy():
    line = colour.SpectralDistribution({400.0: 0.0, 540.0: 0.0, 545.0: 10.0, 550.0: 0.0, 700.0: 0.0})
    averaged = synthetic._band_average(line)
    # triangle of height 10, base 10 nm: area 50; the 540 and 550 bands share it
    assert np.isclose(averaged.sum() * 10.0, 50.0, rtol=1e-6)
    assert averaged[WL == 540] == averaged[WL == 550] > 0


def test_dataset_interface_and_splits(small):
    assert small.name == "synthetic" and small.root is None
    assert small.names == ["synth_000", "synth_001", "synth_002", "synth_003"]
    parts = [small.split(s) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [2, 1, 1]
    assert sorted(sum(parts, [])) == small.names
    assert [len(SyntheticDataset(n_scenes=32).split(s)) for s in ("train", "val", "test")] == [24, 4, 4]
    assert "4 scenes of 64x64x31" in small.describe()
    # More test scenes leave the training and validation scenes as they were: 36 scenes
    # with 8 test scenes train on synth_000-023 and validate on synth_024-027 like 32 do.
    default, more = SyntheticDataset(n_scenes=32), SyntheticDataset(n_scenes=36, n_test=8)
    assert more.split("train") == default.split("train") == [f"synth_{i:03d}" for i in range(24)]
    assert more.split("val") == default.split("val") == [f"synth_{i:03d}" for i in range(24, 28)]
    assert more.split("test") == [f"synth_{i:03d}" for i in range(28, 36)]
    assert "split train/val/test 24/4/8" in more.describe()
    with pytest.raises(KitError, match="cannot hold 1 validation and 3 test"):
        SyntheticDataset(n_scenes=4, n_test=3)
    with pytest.raises(KitError, match="synth_999"):
        small.load("synth_999")
    with pytest.raises(KitError, match="split"):
        small.split("validation")


def test_load_returns_the_generated_cube(small):
    cube = small.load("synth_002")
    assert isinstance(cube, HSCube)
    assert cube.data.dtype == np.float32 and cube.data.shape == (64, 64, 31)
    np.testing.assert_array_equal(cube.wavelengths, WL)
    assert cube.source == "synthetic:seed=7,scene=2" and cube.source_peak == 1.0
    expected = generate_scene(np.random.default_rng([7, 2]), 64).radiance
    np.testing.assert_array_equal(cube.data, expected)


def test_cache_is_rebuilt_when_incomplete_corrupt_or_stale(small):
    small.load("synth_000")
    path = small.cache_path
    with h5py.File(path, "r") as f:
        assert f.attrs["complete"] and f.attrs["seed"] == 7

    def rebuilt_after(damage):
        damage()
        assert not small.cache_is_valid()
        small.load("synth_001")
        assert small.cache_is_valid()

    def drop_marker():
        with h5py.File(path, "a") as f:
            del f.attrs["complete"]

    def stale_params():
        with h5py.File(path, "a") as f:
            f.attrs["generator_version"] = -1

    rebuilt_after(drop_marker)
    rebuilt_after(stale_params)
    rebuilt_after(lambda: path.write_bytes(b"not an HDF5 file"))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_open_dataset_delegates_to_synthetic():
    from data_prep.readers import open_dataset

    dataset = open_dataset("synthetic", None)
    assert isinstance(dataset, SyntheticDataset)
    assert dataset.name == "synthetic" and len(dataset.names) == 32
