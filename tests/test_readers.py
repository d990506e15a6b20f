"""Readers on tiny files written in each dataset's real format, and the bad cases."""

import os
import sys
import types
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy import io as sio

from common.io import KitError
from data_prep import readers
from data_prep.cube import DEFAULT_WAVELENGTHS, HARVARD_WAVELENGTHS

H, W = 5, 7  # H != W so that a missed transpose cannot pass


# ----------------------------------------------------------------------------- writers

def write_mat73(path, **arrays):
    """A MATLAB v7.3 file: HDF5 with MATLAB's 512-byte header, arrays stored column-major
    (h5py must see a MATLAB H x W x C array as C x W x H)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=np.asarray(value).T)
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    with open(path, "r+b") as handle:
        handle.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM")


def write_mat5(path, **arrays):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.savemat(path, arrays)


def write_png(path, array):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def cube_values(seed, peak, bands=31, shape=(H, W)):
    return np.random.default_rng(seed).integers(0, int(peak) + 1, size=shape + (bands,)).astype(np.float64)


def bands_row():
    return DEFAULT_WAVELENGTHS.astype(np.float64)[None, :]  # MATLAB 1 x 31


def write_cave_scene(root, scene, seed, nested=False, bands=31, bit16=True):
    folder = Path(root) / f"{scene}_ms"
    if nested:
        folder = folder / f"{scene}_ms"
    values = np.random.default_rng(seed).integers(0, 65536, size=(H, W, bands))
    for b in range(bands):
        plane = values[..., b].astype(np.uint16) if bit16 else (values[..., b] // 257).astype(np.uint8)
        write_png(folder / f"{scene}_ms_{b + 1:02d}.png", plane)
    return values


# ----------------------------------------------------------------------------- round trips

def test_icvl_v73_round_trip_with_transpose_scale_and_sorting(tmp_path):
    rad_b = cube_values(1, 4095)
    rad_a = cube_values(2, 4095)
    write_mat73(tmp_path / "set2" / "b_0101-1200.mat", rad=rad_b, bands=bands_row())
    write_mat73(tmp_path / "set1" / "a_0403-1459.mat", rad=rad_a, bands=bands_row())
    dataset = readers.open_dataset("icvl", tmp_path)
    assert dataset.names == ["a_0403-1459", "b_0101-1200"]
    cube = dataset.load("b_0101-1200")
    assert cube.data.shape == (H, W, 31) and cube.data.dtype == np.float32
    np.testing.assert_allclose(cube.data, rad_b / 4095.0, rtol=1e-6)
    np.testing.assert_array_equal(cube.wavelengths, DEFAULT_WAVELENGTHS)
    assert cube.source_peak == 4095.0 and cube.name == "b_0101-1200"
    assert cube.source.endswith("b_0101-1200.mat") and cube.rgb is None
    assert "2 image(s)" in dataset.describe() and dataset.group("a_0403-1459") == "set1"


def test_ntire2018_reads_rad_and_the_provided_clean_png(tmp_path):
    rad = cube_values(3, 4095)
    rgb = np.random.default_rng(4).integers(0, 256, size=(H, W, 3)).astype(np.uint8)
    write_mat73(tmp_path / "NTIRE2018_Validation_Spectral" / "BGU_HS_00257.mat", rad=rad, bands=bands_row())
    write_png(tmp_path / "NTIRE2018_Validation_Clean" / "BGU_HS_00257_clean.png", rgb)
    write_mat73(tmp_path / "NTIRE2018_Train1_Spectral" / "BGU_HS_00001.mat", rad=rad)
    dataset = readers.open_dataset("ntire2018", tmp_path)
    assert dataset.names == ["BGU_HS_00001", "BGU_HS_00257"]
    cube = dataset.load("BGU_HS_00257")
    np.testing.assert_allclose(cube.data, rad / 4095.0, rtol=1e-6)
    np.testing.assert_allclose(cube.rgb, rgb / 255.0, atol=1e-7)
    assert dataset.load("BGU_HS_00001").rgb is None  # no PNG shipped for it here
    assert "1 with provided RGB" in dataset.describe()


def test_ntire2020_reads_cube_clean_and_realworld(tmp_path):
    cube_in = np.random.default_rng(5).random((H, W, 31))
    rgb = np.random.default_rng(6).integers(0, 256, size=(H, W, 3)).astype(np.uint8)
    write_mat73(tmp_path / "NTIRE2020_Train_Spectral" / "ARAD_HS_0001.mat", cube=cube_in, bands=bands_row())
    write_png(tmp_path / "NTIRE2020_Train_Clean" / "ARAD_HS_0001_clean.png", rgb)
    flat = np.zeros((H, W, 3), np.uint8) + np.array([120, 60, 200], np.uint8)
    Image.fromarray(flat).save(tmp_path / "ARAD_HS_0001_RealWorld.jpg", quality=95)
    cube = readers.open_dataset("arad", tmp_path).load("ARAD_HS_0001")
    np.testing.assert_allclose(cube.data, cube_in, rtol=1e-6)
    assert cube.source_peak == 1.0
    np.testing.assert_allclose(cube.rgb, rgb / 255.0, atol=1e-7)
    real = readers.open_dataset("ntire2020", tmp_path, rgb="realworld").load("ARAD_HS_0001")
    assert real.rgb.shape == (H, W, 3)
    np.testing.assert_allclose(real.rgb, flat / 255.0, atol=0.02)  # JPEG is lossy
    assert readers.open_dataset("ntire2020", tmp_path, rgb=None).load("ARAD_HS_0001").rgb is None


def test_cave_png_scenes_flat_nested_and_macos_junk(tmp_path):
    balloons = write_cave_scene(tmp_path, "balloons", 7)
    face = write_cave_scene(tmp_path / "complete_ms_data", "face", 8, nested=True)
    junk = tmp_path / "__MACOSX" / "balloons_ms"
    junk.mkdir(parents=True)
    (junk / "._balloons_ms_01.png").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "balloons_ms" / "balloons_RGB.bmp").write_bytes(b"BM")
    dataset = readers.open_dataset("cave", tmp_path)
    assert dataset.names == ["balloons", "face"]
    np.testing.assert_allclose(dataset.load("balloons").data, balloons / 65535.0, rtol=1e-6)
    cube = dataset.load("face")
    np.testing.assert_allclose(cube.data, face / 65535.0, rtol=1e-6)
    assert cube.source_peak == 65535.0 and cube.name == "face" and cube.bit_depth == 16
    np.testing.assert_array_equal(cube.wavelengths, DEFAULT_WAVELENGTHS)
    assert "2 scene(s) 16-bit greyscale / 65535" in dataset.describe()


def test_harvard_v5_ref_lbl_and_its_420_720_grid(tmp_path):
    ref = np.random.default_rng(9).random((H, W, 31)) * 0.3
    lbl = np.zeros((H, W), np.uint8)
    lbl[1:4, 2:6] = 1
    write_mat5(tmp_path / "CZ_hsdb" / "img1.mat", ref=ref, lbl=lbl)
    write_mat5(tmp_path / "CZ_hsdbi" / "imga1.mat", ref=ref, lbl=lbl)
    dataset = readers.open_dataset("harvard", tmp_path)
    cube = dataset.load("img1")
    np.testing.assert_allclose(cube.data, ref, rtol=1e-6)
    np.testing.assert_array_equal(cube.wavelengths, HARVARD_WAVELENGTHS)
    np.testing.assert_array_equal(cube.mask, lbl != 0)
    assert dataset.group("img1") == "CZ_hsdb" and dataset.group("imga1") == "CZ_hsdbi"
    assert "420-720" in dataset.describe()


def test_nus_accepts_alternative_keys_in_v5_and_v73(tmp_path):
    data = np.random.default_rng(10).random((H, W, 31)) * 3000
    write_mat5(tmp_path / "train" / "scene_a.mat", hyperimg=data,
               wavelength=np.arange(400, 701, 10, dtype=float)[:, None])
    write_mat73(tmp_path / "test" / "scene_b.mat", cube=data * 2)
    dataset = readers.open_dataset("nus", tmp_path)
    a, b = dataset.load("scene_a"), dataset.load("scene_b")
    np.testing.assert_allclose(a.data, data / data.max(), rtol=1e-6)
    np.testing.assert_allclose(b.data, data / data.max(), rtol=1e-6)
    assert a.source_peak == pytest.approx(data.max())
    np.testing.assert_array_equal(a.wavelengths, DEFAULT_WAVELENGTHS)
    fixed = readers.open_dataset("nus", tmp_path, peak=4095.0).load("scene_a")
    np.testing.assert_allclose(fixed.data, data / 4095.0, rtol=1e-6)


# ----------------------------------------------------------------------------- bad cases

def _raises_naming(path, call):
    with pytest.raises(KitError) as info:
        call()
    assert str(path) in str(info.value), str(info.value)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_root_file_root_and_empty_root(tmp_path):
    missing = tmp_path / "nowhere"
    assert "does not exist" in _raises_naming(missing, lambda: readers.open_dataset("icvl", missing))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "folder" in _raises_naming(a_file, lambda: readers.open_dataset("cave", a_file))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .mat files" in _raises_naming(empty, lambda: readers.open_dataset("harvard", empty))
    assert "no CAVE scene" in _raises_naming(empty, lambda: readers.open_dataset("cave", empty))
    with pytest.raises(KitError, match="no root"):
        readers.open_dataset("icvl", None)


def test_missing_key(tmp_path):
    path = tmp_path / "x.mat"
    write_mat73(path, radiance=cube_values(0, 4095))
    message = _raises_naming(path, lambda: readers.open_dataset("icvl", tmp_path).load("x"))
    assert "'rad'" in message and "radiance" in message
    write_mat5(tmp_path / "h" / "img1.mat", lbl=np.ones((H, W)))
    _raises_naming(tmp_path / "h" / "img1.mat", lambda: readers.open_dataset("harvard", tmp_path / "h").load("img1"))
    write_mat5(tmp_path / "n" / "s.mat", spectra=np.ones((H, W, 31)))
    assert "hyperimg" in _raises_naming(
        tmp_path / "n" / "s.mat", lambda: readers.open_dataset("nus", tmp_path / "n").load("s"))


def test_wrong_band_count(tmp_path):
    path = tmp_path / "x.mat"
    write_mat73(path, rad=cube_values(0, 4095, bands=30))
    assert "30 bands" in _raises_naming(path, lambda: readers.open_dataset("icvl", tmp_path).load("x"))
    write_mat73(path, rad=cube_values(0, 4095), bands=np.arange(400, 691, 10)[None, :])
    assert "wavelengths" in _raises_naming(path, lambda: readers.open_dataset("icvl", tmp_path).load("x"))
    scene = tmp_path / "cave"
    write_cave_scene(scene, "toy", 1, bands=30)
    assert "missing [31]" in _raises_naming(scene / "toy_ms", lambda: readers.open_dataset("cave", scene).load("toy"))


def test_rgb_and_cube_shape_mismatch(tmp_path):
    write_mat73(tmp_path / "ARAD_HS_0001.mat", cube=np.random.default_rng(0).random((H, W, 31)))
    png = tmp_path / "ARAD_HS_0001_clean.png"
    write_png(png, np.zeros((H, W + 1, 3), np.uint8))
    message = _raises_naming(png, lambda: readers.open_dataset("ntire2020", tmp_path).load("ARAD_HS_0001"))
    assert "ARAD_HS_0001.mat" in message


def test_nan_and_inf(tmp_path):
    rad = cube_values(0, 4095)
    rad[2, 3, 4] = np.nan
    rad[0, 0, 0] = np.inf
    path = tmp_path / "x.mat"
    write_mat73(path, rad=rad)
    assert "2 NaN/Inf" in _raises_naming(path, lambda: readers.open_dataset("icvl", tmp_path).load("x"))


def test_truncated_and_corrupt_files(tmp_path):
    good = tmp_path / "v73" / "x.mat"
    write_mat73(good, rad=cube_values(0, 4095, shape=(40, 40)))
    good.write_bytes(good.read_bytes()[:3000])
    assert "truncated or corrupt" in _raises_naming(good, lambda: readers.open_dataset("icvl", good.parent).load("x"))
    v5 = tmp_path / "v5" / "img1.mat"
    write_mat5(v5, ref=np.ones((20, 20, 31)), lbl=np.ones((20, 20)))
    v5.write_bytes(v5.read_bytes()[:1000])
    _raises_naming(v5, lambda: readers.open_dataset("harvard", v5.parent).load("img1"))
    garbage = tmp_path / "g" / "img2.mat"
    garbage.parent.mkdir()
    garbage.write_bytes(b"this is not a MATLAB file at all" * 10)
    _raises_naming(garbage, lambda: readers.open_dataset("harvard", garbage.parent).load("img2"))
    scene = tmp_path / "cave"
    write_cave_scene(scene, "toy", 1)
    band = scene / "toy_ms" / "toy_ms_05.png"
    band.write_bytes(band.read_bytes()[:60])
    _raises_naming(band, lambda: readers.open_dataset("cave", scene).load("toy"))


def test_png_of_the_wrong_bit_depth(tmp_path):
    values = write_cave_scene(tmp_path, "toy", 1, bit16=False)  # an 8-bit scene is valid: / 255
    cube = readers.open_dataset("cave", tmp_path).load("toy")
    assert cube.bit_depth == 8 and cube.source_peak == 255.0
    np.testing.assert_allclose(cube.data, (values // 257) / 255.0, rtol=1e-6)
    band = tmp_path / "toy_ms" / "toy_ms_01.png"
    write_png(band, np.zeros((H, W), bool))  # 1-bit
    message = _raises_naming(band, lambda: readers.open_dataset("cave", tmp_path).load("toy"))
    assert "1-bit PNG, expected a 8-bit band image like 30 other band(s)" in message
    write_mat73(tmp_path / "n" / "ARAD_HS_0002.mat", cube=np.full((H, W, 31), 0.5))
    rgb16 = tmp_path / "n" / "ARAD_HS_0002_clean.png"
    write_png(rgb16, np.zeros((H, W), np.uint16))
    assert "16-bit" in _raises_naming(rgb16, lambda: readers.open_dataset("ntire2020", tmp_path / "n").load("ARAD_HS_0002"))


def test_a_folder_where_a_file_is_expected(tmp_path):
    (tmp_path / "x.mat").mkdir()
    assert "folder" in _raises_naming(tmp_path / "x.mat", lambda: readers.open_dataset("icvl", tmp_path).load("x"))
    scene = tmp_path / "cave"
    write_cave_scene(scene, "toy", 1)
    band = scene / "toy_ms" / "toy_ms_07.png"
    band.unlink()
    band.mkdir()
    _raises_naming(band, lambda: readers.open_dataset("cave", scene).load("toy"))


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "x.mat"
    write_mat73(path, rad=cube_values(0, 4095))
    dataset = readers.open_dataset("icvl", tmp_path)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == path else real_access(p, mode))
    assert "permission denied" in _raises_naming(path, lambda: dataset.load("x"))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_for_real(tmp_path):
    path = tmp_path / "x.mat"
    write_mat73(path, rad=cube_values(0, 4095))
    path.chmod(0)
    try:
        _raises_naming(path, lambda: readers.open_dataset("icvl", tmp_path).load("x"))
    finally:
        path.chmod(0o600)


def test_duplicate_and_unknown_names(tmp_path):
    write_mat73(tmp_path / "a" / "x.mat", rad=cube_values(0, 4095))
    write_mat73(tmp_path / "b" / "x.mat", rad=cube_values(0, 4095))
    assert "found twice" in _raises_naming(tmp_path / "b" / "x.mat", lambda: readers.open_dataset("icvl", tmp_path))
    (tmp_path / "b" / "x.mat").unlink()
    dataset = readers.open_dataset("icvl", tmp_path)
    with pytest.raises(KitError, match="did you mean 'x'"):
        dataset.load("X")
    with pytest.raises(KitError, match="unknown dataset"):
        readers.open_dataset("pavia", tmp_path)


# ----------------------------------------------------------------------------- specs

def test_parse_data_spec():
    assert readers.parse_data_spec("synthetic") == ("synthetic", None)
    assert readers.parse_data_spec("CAVE=/data/CAVE") == ("cave", "/data/CAVE")
    assert readers.parse_data_spec("arad=/d") == ("ntire2020", "/d")
    with pytest.raises(KitError, match="cave=/path"):
        readers.parse_data_spec("cave")
    with pytest.raises(KitError, match="unknown dataset"):
        readers.parse_data_spec("kodak=/x")


def test_synthetic_is_delegated_lazily(monkeypatch):
    calls = []

    class FakeSynthetic:
        def __init__(self, **kwargs):
            calls.append(kwargs)

    module = types.ModuleType("data_prep.synthetic")
    module.SyntheticDataset = FakeSynthetic
    monkeypatch.setitem(sys.modules, "data_prep.synthetic", module)
    assert isinstance(readers.open_dataset("synthetic"), FakeSynthetic)
    assert isinstance(readers.open_data_spec("synthetic"), FakeSynthetic)
    readers.open_dataset("synthetic", "/tmp/cache")
    assert calls == [{}, {}, {"cache_dir": "/tmp/cache"}]


def test_find_dataset_under_a_common_root(tmp_path):
    write_cave_scene(tmp_path / "CAVE", "toy", 1)
    assert readers.find_dataset("cave", tmp_path).names == ["toy"]
    assert readers.find_dataset("harvard", tmp_path) is None
    (tmp_path / "icvl").mkdir()
    _raises_naming(tmp_path / "icvl", lambda: readers.find_dataset("icvl", tmp_path))
    _raises_naming(tmp_path / "none", lambda: readers.find_dataset("icvl", tmp_path / "none"))
