"""Real CAVE data: the reader on the shipped bit depths, drcnn_sam's bicubic row on
balloons against an independent NumPy/SciPy computation, and the CAVE reader's bad inputs
on small PNGs written here (byte by byte where Pillow would not write them).

The real-data tests read ``shared/data/cave_sample`` (balloons: 16-bit greyscale bands;
watercolors: 8-bit RGBA bands with R = G = B, alpha 255, as in the complete CAVE
download) and are skipped when it is absent.
"""

import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.io import KitError
from data_prep import readers
from data_prep.cube import HSCube

BANDS = 31


# ----------------------------------------------------------------------------- writers

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bytes(array, bit_depth=None, colour_type=None, rows=None, declared=None):
    """A non-interlaced PNG of ``array`` (H, W) or (H, W, C), filter 0 on every row.

    ``rows``: write only that many rows into the zlib stream (a complete, valid stream
    and a valid IEND: only the row count is wrong). ``declared``: (height, width) written
    into IHDR instead of the array's.
    """
    array = np.asarray(array)
    if bit_depth is None:
        bit_depth = 16 if array.dtype == np.uint16 else 8
    if colour_type is None:
        colour_type = {2: 0, 3: {2: 4, 3: 2, 4: 6}.get(array.shape[-1])}[array.ndim]
    height, width = array.shape[:2] if declared is None else declared
    stored = array.astype(">u2" if bit_depth == 16 else np.uint8)
    raw = b"".join(b"\x00" + stored[r].tobytes() for r in range(stored.shape[0] if rows is None else rows))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def band_path(root, scene, band):
    return Path(root) / f"{scene}_ms" / f"{scene}_ms" / f"{scene}_ms_{band:02d}.png"


def write_scene(root, scene="toy", planes=None, writer=None):
    """A complete scene in CAVE's nested layout, with its RGB .bmp and Thumbs.db.

    ``planes``: (H, W, 31) uint16 or uint8 values; ``writer(band, plane) -> bytes`` makes
    each band's file (default: Pillow's 16-bit or 8-bit greyscale PNG).
    """
    if planes is None:
        planes = np.random.default_rng(5).integers(0, 65536, (6, 9, BANDS)).astype(np.uint16)
    folder = band_path(root, scene, 1).parent
    folder.mkdir(parents=True, exist_ok=True)
    for band in range(1, BANDS + 1):
        path = band_path(root, scene, band)
        if writer is None:
            Image.fromarray(planes[..., band - 1]).save(path)
        else:
            path.write_bytes(writer(band, planes[..., band - 1]))
    Image.fromarray(np.zeros((planes.shape[0], planes.shape[1], 3), np.uint8)).save(folder / f"{scene}_RGB.bmp")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 not an image")
    return planes


def rgba(grey):
    return np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1)


def load_error(root, culprit, scene="toy"):
    """The single-line KitError of loading ``scene``; it must name ``culprit``."""
    with pytest.raises(KitError) as info:
        readers.open_dataset("cave", root).load(scene)
    message = str(info.value)
    assert str(culprit) in message and "\n" not in message, message
    return message


# ----------------------------------------------------------------------------- the shared sample

@pytest.fixture(scope="module")
def sample(shared_dir):
    root = Path(shared_dir) / "data" / "cave_sample"
    if not (root / "balloons_ms").is_dir() or not (root / "watercolors_ms").is_dir():
        pytest.skip(f"{root} (balloons_ms, watercolors_ms from the CAVE download) is absent")
    return root


def pillow_bands(root, scene):
    """The scene's 31 band files as Pillow decodes them, stacked (H, W, 31[, channels])."""
    folder = Path(root) / f"{scene}_ms" / f"{scene}_ms"
    return np.stack([np.asarray(Image.open(folder / f"{scene}_ms_{b:02d}.png")) for b in range(1, BANDS + 1)],
                    axis=2)


def test_the_sample_at_both_bit_depths(sample):
    dataset = readers.open_dataset("cave", sample)
    assert dataset.names == ["balloons", "watercolors"]
    text = dataset.describe()
    assert "16-bit greyscale / 65535 (balloons)" in text and "8-bit RGBA / 255 (watercolors)" in text, text

    water = dataset.load("watercolors")
    rgba = pillow_bands(sample, "watercolors")  # (512, 512, 31, 4) uint8
    assert rgba.shape == (512, 512, BANDS, 4) and rgba.dtype == np.uint8
    assert (rgba[..., 3] == 255).all() and (rgba[..., 0] == rgba[..., 2]).all()  # what the download holds
    assert (water.bit_depth, water.source_peak, water.data.shape) == (8, 255.0, (512, 512, BANDS))
    np.testing.assert_array_equal(water.data, (rgba[..., 1] / 255.0).astype(np.float32))

    balloons = dataset.load("balloons")
    grey = pillow_bands(sample, "balloons")
    assert grey.dtype == np.uint16 and grey.max() > 255  # really 16-bit values
    assert (balloons.bit_depth, balloons.source_peak) == (16, 65535.0)
    np.testing.assert_array_equal(balloons.data, (grey / 65535.0).astype(np.float32))


def keys(x):
    x = np.abs(x)
    return np.where(x <= 1, 1.5 * x ** 3 - 2.5 * x ** 2 + 1,
                    np.where(x < 2, -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2, 0.0))


def imresize_matrix(n_in, n_out):
    """MATLAB imresize(·, [n_out ...]) bicubic along one axis as a dense (n_out, n_in) matrix:
    output i at input (i + 0.5) n_in / n_out - 0.5, Keys a = -0.5, mirrored indices."""
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        x = (i + 0.5) * n_in / n_out - 0.5
        for tap in range(int(np.floor(x)) - 1, int(np.floor(x)) + 3):
            mirrored = -tap - 1 if tap < 0 else 2 * n_in - 1 - tap if tap >= n_in else tap
            matrix[i, mirrored] += keys(x - tap)
    return matrix


#: balloons alone (the paper averages 7 scenes: 31.73 / 31.58 / 30.14 dB, 6.00 / 5.99 / 6.36 deg;
#: this pipeline gives 31.69 / 31.50 / 30.09 dB, 5.96 / 5.99 / 6.36 deg on them).
BALLOONS_ROW = {2: (35.6635, 2.8714), 3: (35.2990, 2.8874), 4: (33.5072, 3.1160)}


@pytest.fixture(scope="module")
def balloons(sample):
    """(the 16-bit band values as Pillow reads them, the kit's cube)."""
    return (pillow_bands(sample, "balloons").astype(np.int64),
            readers.open_dataset("cave", sample).load("balloons"))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_balloons_bicubic_row_against_an_independent_computation(balloons, scale):
    """drcnn_sam's CAVE bicubic row (Table 1) as the kit reproduces it, recomputed here from
    the PNGs with integers, scipy.ndimage and a hand-built bicubic matrix."""
    from scipy import ndimage

    from common import metrics
    from data_prep import degrade

    raw, cube = balloons
    gt = ((2 * raw * 255 + 65535) // (2 * 65535)) / 255.0  # im2uint8: round(v / 257)
    blurred = ndimage.gaussian_filter(gt, (3, 3, 0), mode="reflect", truncate=4.0)
    lr = blurred[::scale, ::scale]  # blurred(1:s:end, 1:s:end)
    rows = imresize_matrix(lr.shape[0], 512)
    up = np.einsum("lk,ikb->ilb", rows, np.einsum("ij,jkb->ikb", rows, lr))  # imresize(lr, [512 512])
    up = np.floor(np.clip(up, 0, 1) * 255 + 0.5) / 255  # uint8
    psnr = 10 * np.log10(1.0 / np.mean((up - gt) ** 2))
    dot, norms = np.sum(up * gt, axis=2), np.linalg.norm(up, axis=2) * np.linalg.norm(gt, axis=2)
    valid = norms > 0
    sam = np.degrees(np.mean(np.arccos(np.clip(dot[valid] / norms[valid], -1, 1))))

    kit_gt = degrade.quantise(cube.data, 8)
    np.testing.assert_array_equal(kit_gt, gt.astype(np.float32))
    kit_up = degrade.degrade_sr(kit_gt, scale, 3.0, phase="corner", upsample="size", bits=8)
    assert np.mean(np.abs(kit_up - up) > 1e-6) < 1e-4  # a float32 rounding tie at most here and there
    assert metrics.psnr(kit_gt, kit_up, 1.0) == pytest.approx(psnr, abs=2e-3)
    assert metrics.sam(kit_gt, kit_up) == pytest.approx(sam, abs=2e-3)
    assert (psnr, sam) == pytest.approx(BALLOONS_ROW[scale], abs=2e-3)


# ----------------------------------------------------------------------------- good synthetic scenes

def test_8bit_rgba_and_16bit_scenes_side_by_side(tmp_path):
    grey8 = np.random.default_rng(1).integers(0, 256, (6, 9, BANDS)).astype(np.uint8)
    write_scene(tmp_path, "paint", grey8, writer=lambda band, plane: png_bytes(rgba(plane)))
    grey16 = write_scene(tmp_path, "toy")
    dataset = readers.open_dataset("cave", tmp_path)
    assert dataset.names == ["paint", "toy"]
    paint, toy = dataset.load("paint"), dataset.load("toy")
    assert (paint.bit_depth, paint.source_peak, toy.bit_depth, toy.source_peak) == (8, 255.0, 16, 65535.0)
    np.testing.assert_array_equal(paint.data, (grey8 / 255.0).astype(np.float32))
    np.testing.assert_array_equal(toy.data, (grey16 / 65535.0).astype(np.float32))
    text = dataset.describe()
    assert "1 scene(s) 16-bit greyscale / 65535 (toy)" in text, text
    assert "1 scene(s) 8-bit RGBA / 255 (paint)" in text, text
    assert readers.open_dataset("cave", tmp_path, peak=1000.0).load("paint").source_peak == 1000.0
    with pytest.raises(KitError, match="bit_depth must be an integer"):
        HSCube(np.zeros((2, 2, 1)), [500.0], bit_depth=2.5)


# ----------------------------------------------------------------------------- bad synthetic scenes

def test_rgba_band_whose_colour_channels_disagree(tmp_path):
    grey = np.full((6, 9, BANDS), 100, np.uint8)

    def writer(band, plane):
        image = rgba(plane)
        if band == 12:
            image[4, 7, 1] = 101  # G differs from R and B at one pixel
        return png_bytes(image)

    write_scene(tmp_path, "toy", grey, writer)
    message = load_error(tmp_path, band_path(tmp_path, "toy", 12))
    assert "colour channels differ at 1 of 54 pixels (first at row 4, column 7: R=100, G=101, B=100)" in message


def test_rgba_band_that_is_not_opaque(tmp_path):
    grey = np.full((6, 9, BANDS), 100, np.uint8)

    def writer(band, plane):
        image = rgba(plane)
        if band == 3:
            image[0, 0, 3] = 0
        return png_bytes(image)

    write_scene(tmp_path, "toy", grey, writer)
    assert "alpha below 255 at 1 of 54 pixels" in load_error(tmp_path, band_path(tmp_path, "toy", 3))


def test_mixed_bit_depths_name_the_odd_band(tmp_path):
    planes = write_scene(tmp_path, "toy")
    odd = band_path(tmp_path, "toy", 20)
    odd.write_bytes(png_bytes(rgba((planes[..., 19] >> 8).astype(np.uint8))))
    message = load_error(tmp_path, odd)
    assert "8-bit PNG, expected a 16-bit band image like 30 other band(s)" in message


def test_a_16bit_colour_band_is_refused(tmp_path):
    planes = write_scene(tmp_path, "toy")
    odd = band_path(tmp_path, "toy", 2)
    odd.write_bytes(png_bytes(np.repeat(planes[..., 1:2], 3, axis=-1), bit_depth=16, colour_type=2))
    assert "16-bit RGB PNG, expected a 16-bit greyscale band" in load_error(tmp_path, odd)


def test_data_stream_with_fewer_rows_than_the_header(tmp_path):
    """A complete zlib stream and a valid IEND, but 3 of the 6 declared rows: Pillow alone
    decodes it with the missing rows as zeros."""
    planes = write_scene(tmp_path, "toy")
    short = band_path(tmp_path, "toy", 9)
    short.write_bytes(png_bytes(planes[..., 8], rows=3))
    decoded = np.asarray(Image.open(short))
    assert decoded.shape == (6, 9) and not decoded[3:].any()  # what the reader must not accept
    assert "image data hold 3 of the 6 rows its header declares (9x6)" in load_error(tmp_path, short)


def test_file_cut_inside_its_image_data(tmp_path):
    write_scene(tmp_path, "toy")
    cut = band_path(tmp_path, "toy", 31)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) - 30])
    message = load_error(tmp_path, cut)
    assert "ends inside its IDAT chunk" in message and "truncated or corrupt" in message


def test_partial_scene_names_the_folder_and_the_missing_bands(tmp_path):
    write_scene(tmp_path, "toy")
    for band in (7, 8, 31):
        band_path(tmp_path, "toy", band).unlink()
    message = load_error(tmp_path, band_path(tmp_path, "toy", 1).parent)
    assert "missing [7, 8, 31]" in message
    # a scene folder holding only its RGB image (no band PNGs at all)
    empty = tmp_path / "empty" / "beads_ms"
    empty.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(empty / "beads_RGB.bmp")
    assert readers.open_dataset("cave", tmp_path).names == ["beads", "toy"]
    assert "missing [1, 2, 3" in load_error(tmp_path, empty, "beads")


def test_a_band_of_another_size(tmp_path):
    write_scene(tmp_path, "toy")
    odd = band_path(tmp_path, "toy", 1)
    Image.fromarray(np.zeros((6, 8), np.uint16)).save(odd)
    assert "band is 6x8 pixels, 30 other band(s) of the scene are 6x9" in load_error(tmp_path, odd)


def test_absurd_declared_size_is_refused_before_allocating(tmp_path):
    """31 PNGs of a few hundred bytes each whose headers declare 3000 x 3000: decoding
    them would allocate 31 x 18 MB (and 1.1 GB as float32)."""
    tiny = np.zeros((6, 9), np.uint16)
    write_scene(tmp_path, "toy", np.zeros((6, 9, BANDS), np.uint16),
                writer=lambda band, plane: png_bytes(tiny, declared=(3000, 3000)))
    tracemalloc.start()
    try:
        message = load_error(tmp_path, band_path(tmp_path, "toy", 1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "declares 3000x3000 pixels" in message and "too few for that size" in message
    assert peak < 5_000_000, peak
    huge = band_path(tmp_path, "toy", 1)
    huge.write_bytes(png_bytes(tiny, declared=(100_000, 100_000)))
    assert "more than the" in load_error(tmp_path, huge)
