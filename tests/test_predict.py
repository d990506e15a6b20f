"""``predict``: a trained run applied to a user's own files, and the file readers it uses.

References: images and cubes written here with independent encoders (a PNG encoder with
each of the five row filters of the PNG specification, Pillow, tifffile, SciPy, h5py),
and the network applied by plain Keras to the array the test itself scaled.
"""

import json
import struct
import zlib

import numpy as np
import pytest

from common.io import KitError
from data_prep.userfiles import read_cube_file, read_rgb_image, write_cube
from tests.conftest import paper_command


# ----------------------------------------------------------------------------- PNG encoder
def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_row(kind, row, prev, bpp):
    """PNG spec Sec. 9.2, written byte by byte (the test's own encoder)."""
    out = bytearray(len(row))
    for x in range(len(row)):
        a = row[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        predictor = {0: 0, 1: a, 2: b, 3: (a + b) // 2, 4: _paeth(a, b, c)}[kind]
        out[x] = (row[x] - predictor) % 256
    return bytes([kind]) + bytes(out)


def write_png16(path, pixels, filters=(0, 1, 2, 3, 4)):
    """A 16-bit RGB PNG of ``pixels`` (H, W, 3) uint16, cycling the row filters."""
    height, width, _ = pixels.shape
    rows = pixels.astype(">u2").reshape(height, -1).view(np.uint8)
    prev, raw = bytes(width * 6), b""
    for y in range(height):
        row = rows[y].tobytes()
        raw += _filter_row(filters[y % len(filters)], row, prev, 6)
        prev = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------- readers
def test_16_bit_png_with_every_row_filter_decodes_exactly(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65536, (7, 9, 3), dtype=np.uint16)
    write_png16(tmp_path / "x.png", pixels)
    rgb, depth = read_rgb_image(tmp_path / "x.png")
    assert depth == 16
    np.testing.assert_array_equal(rgb, pixels.astype(np.float32) / 65535)


def test_8_bit_png_jpeg_and_16_bit_tiff(tmp_path):
    from PIL import Image
    import tifffile

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    rgb, depth = read_rgb_image(tmp_path / "a.png")
    assert depth == 8 and np.array_equal(rgb, pixels / np.float32(255))
    wide = rng.integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "b.tif", wide)
    rgb, depth = read_rgb_image(tmp_path / "b.tif")
    assert depth == 16 and np.array_equal(rgb, wide / np.float32(65535))
    Image.fromarray(pixels).save(tmp_path / "c.jpg", quality=95)
    assert read_rgb_image(tmp_path / "c.jpg")[0].shape == (6, 5, 3)


def test_bad_images_name_the_file(tmp_path):
    from PIL import Image

    cases = {}
    cases["missing.png"] = None
    (tmp_path / "text.png").write_text("not an image")
    cases["text.png"] = "not a PNG|cannot read"
    transparent = np.zeros((4, 4, 4), dtype=np.uint8)
    Image.fromarray(transparent, "RGBA").save(tmp_path / "transparent.png")
    cases["transparent.png"] = "alpha channel is not opaque"
    (tmp_path / "cube.bmpx").write_text("")
    cases["cube.bmpx"] = "expected an image"
    pixels = np.random.default_rng(2).integers(0, 65536, (8, 8, 3), dtype=np.uint16)
    write_png16(tmp_path / "whole.png", pixels)
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    cases["truncated.png"] = "truncated"
    for name, problem in cases.items():
        with pytest.raises(KitError) as error:
            read_rgb_image(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)
        if problem:
            assert any(p in str(error.value) for p in problem.split("|")), str(error.value)


def test_cubes_in_every_format_round_trip_with_their_band_centres(tmp_path):
    import h5py
    from scipy.io import loadmat

    cube = np.random.default_rng(3).random((5, 4, 31)).astype(np.float32)
    bands = np.arange(400.0, 701.0, 10.0)
    for fmt in ("mat", "h5", "npy"):
        path = write_cube(tmp_path / f"out.{fmt}", cube, bands, fmt)
        back, wavelengths, _ = read_cube_file(path)
        np.testing.assert_array_equal(back, cube)
        np.testing.assert_array_equal(wavelengths, bands)
    # written in the documented layouts, read back by SciPy and h5py themselves
    assert loadmat(tmp_path / "out.mat")["cube"].shape == (5, 4, 31)
    with h5py.File(tmp_path / "out.h5") as handle:
        assert handle["cube"].shape == (5, 4, 31) and handle["bands"][0] == 400.0


def test_cube_scaling_and_bad_cubes(tmp_path):
    counts = np.full((3, 3, 31), 65535, dtype=np.uint16)
    np.save(tmp_path / "counts.npy", counts)
    cube, _, note = read_cube_file(tmp_path / "counts.npy")
    assert cube.max() == 1.0 and "65535" in note
    bad = {
        "complex.npy": np.ones((3, 3, 31), dtype=np.complex64),
        "flat.npy": np.ones((3, 31), dtype=np.float32),
        "nan.npy": np.full((3, 3, 31), np.nan, dtype=np.float32),
        "counts4095.npy": np.full((3, 3, 31), 4095.0, dtype=np.float32),
    }
    problems = {"complex.npy": "holds complex numbers", "flat.npy": "shape", "nan.npy": "NaN",
                "counts4095.npy": "divide it by its full scale"}
    for name, array in bad.items():
        np.save(tmp_path / name, array)
        with pytest.raises(KitError, match=problems[name]) as error:
            read_cube_file(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)


# ----------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def unet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("unet") / "run"
    assert paper_command("unet_ms")(["train", "--profile", "smoke", "--out", str(out)]) == 0
    return out


def test_predict_from_a_run_on_8_and_16_bit_images(tmp_path, unet_run):
    import keras
    from PIL import Image

    import common.saving  # noqa: F401

    rng = np.random.default_rng(4)
    narrow = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    wide = rng.integers(0, 65536, (16, 16, 3), dtype=np.uint16)
    Image.fromarray(narrow).save(tmp_path / "narrow.png")
    write_png16(tmp_path / "wide.png", wide)
    out = tmp_path / "predicted"
    argv = ["predict", "--run", str(unet_run), "--rgb", str(tmp_path / "narrow.png"), str(tmp_path / "wide.png"),
            "--out", str(out)]
    assert paper_command("unet_ms")(argv) == 0
    model = keras.saving.load_model(unet_run / "unet_ms.keras")
    from scipy.io import loadmat

    got = loadmat(out / "wide.mat")["cube"]
    expected = keras.ops.convert_to_numpy(model(wide[None].astype(np.float32) / 65535, training=False))[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    got = loadmat(out / "narrow.mat")["cube"]
    assert got.shape == (20, 24, 31)  # 20 x 24 is padded to 32 x 32 for the U-Net and cropped back
    for name in ("narrow", "wide"):
        assert (out / f"{name}_srgb.png").is_file() and (out / f"{name}_spectra.png").is_file()
    record = json.loads((out / "predict.json").read_text())
    assert record["outputs"][1]["input_scaling"]["rgb"] == "16-bit, divided by 65535"
    assert "bit depth" in record["scaling"] and record["settings"]["profile"] == "smoke"


def test_predict_checks_every_input_before_writing(tmp_path, unet_run):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "predicted"
    argv = ["predict", "--run", str(unet_run), "--rgb", str(tmp_path / "good.png"), str(tmp_path / "broken.png"),
            "--out", str(out)]
    with pytest.raises(KitError, match="broken.png"):
        paper_command("unet_ms")(argv)
    assert not out.exists()
    with pytest.raises(KitError, match="reads rgb inputs, not --cube"):
        paper_command("unet_ms")(["predict", "--run", str(unet_run), "--cube", str(tmp_path / "x.npy")])
    with pytest.raises(KitError, match="either --run"):
        paper_command("unet_ms")(["predict", "--rgb", str(tmp_path / "good.png")])
    with pytest.raises(KitError, match="not a run folder"):
        paper_command("unet_ms")(["predict", "--run", str(tmp_path), "--rgb", str(tmp_path / "good.png")])


def test_a_saved_model_loads_with_plain_keras_after_one_import(unet_run):
    """In a fresh interpreter: ``import common.saving`` is all ``load_model`` needs."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    code = ("import keras, common.saving; m = keras.saving.load_model(%r); "
            "print(m.count_params())" % str(unet_run / "unet_ms.keras"))
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 0


def test_help_answers_without_importing_keras():
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    code = ("import sys; from common.cli import paper_main\n"
            "try:\n    paper_main('unet_ms', ['--help'])\nexcept SystemExit:\n    pass\n"
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "default: quick" in " ".join(done.stdout.split())
    assert done.stdout.strip().splitlines()[-1] == "False False"
