"""Readers for the real hyperspectral datasets of the five papers, as they ship.

``open_dataset(name, root)`` finds a dataset's files under ``root`` (searching
subfolders, so the archives can be unpacked as they come), lists its images in sorted
order and reads one on demand with ``.load(name) -> HSCube``. Nothing is downloaded.
Any problem with the files raises one ``KitError`` that names the file.

Expected layouts. Only the file names matter: any folder names and any nesting under the
root work (the folder names below are examples, after the challenge archives);
hidden files and macOS ``__MACOSX`` folders are ignored; an image's name is its file
stem, or the CAVE scene. RGB files are matched to cubes by name anywhere under the root.

    icvl/        (Arad and Ben-Shahar, ECCV 2016; the 31-band 400-700 nm version)
        <name>.mat                      MATLAB v7.3: 'rad' (31 bands), 'bands' (optional)
    ntire2018/   (NTIRE 2018 spectral reconstruction, track 1 "clean")
        NTIRE2018_Train1_Spectral/BGU_HS_00001.mat ...   v7.3: 'rad', 'bands'
        NTIRE2018_Train1_Clean/BGU_HS_00001_clean.png ...  (optional RGB, 8-bit)
        NTIRE2018_Train2_Spectral/ ..., NTIRE2018_Validation_Spectral/BGU_HS_00257.mat ...
        (RealWorld track: <name>_camera.jpg)
    ntire2020/   (NTIRE 2020 / ARAD)
        NTIRE2020_Train_Spectral/ARAD_HS_0001.mat ...    v7.3: 'cube', 'bands'
        NTIRE2020_Train_Clean/ARAD_HS_0001_clean.png ...
        NTIRE2020_Train_RealWorld/ARAD_HS_0001_RealWorld.jpg ...
        NTIRE2020_Validation_Spectral/ARAD_HS_0451.mat ...  (+ _Clean, _RealWorld)
    cave/        (Yasuma et al., "complete_ms_data", 32 scenes of 512 x 512)
        balloons_ms/balloons_ms_01.png ... balloons_ms_31.png   16-bit greyscale
        (the download nests one level more: balloons_ms/balloons_ms/balloons_ms_01.png;
         the scene name is 'balloons'; the *_RGB.bmp and Thumbs.db files are not used.
         Every band of 'watercolors' is an 8-bit RGBA PNG with R = G = B and alpha 255:
         8-bit greyscale, RGB or RGBA bands whose colour channels agree are read too.)
    harvard/     (Chakrabarti and Zickler, CVPR 2011)
        CZ_hsdb/img1.mat ... (50 daylight)  CZ_hsdbi/imga1.mat ... (27 indoor)
        MATLAB v5: 'ref' (1040 x 1392 x 31, 420-720 nm), 'lbl' (valid-pixel mask)
    nus/         (Nguyen, Prasad and Brown, ECCV 2014)
        <any folders, e.g. train/ and test/>/<name>.mat   (v5 or v7.3)

Value scales (``HSCube.source_peak``): ICVL and NTIRE 2018 'rad' are 12-bit camera
counts, divided by 4095 (as unet_ms's released code); NTIRE 2020 'cube' is stored in
about [0, 1] (the organisers project it with a response summing to 255), 1.0; CAVE PNGs
are divided by their n-bit peak, 65535 for 16-bit scenes and 255 for 8-bit ones, and the
cube records the bit depth (``HSCube.bit_depth``; ``describe()`` lists it); Harvard
'ref' is stored as floating point with no documented absolute scale and is kept as
stored, 1.0; the NUS files carry no documented scale, so each image is divided by its
own maximum. ``open_dataset(..., peak=...)`` overrides this.

Wavelengths: the file's 'bands' variable when present, else 400-700 nm in 10 nm steps;
Harvard is 420-720 nm (it has no 'bands' variable, and it is not relabelled).

MATLAB v7.3 files are HDF5, and h5py sees MATLAB's column-major arrays with their axes
reversed: a MATLAB H x W x C array arrives as C x W x H and is transposed back.

PNG files are checked before they are decoded (``png_info``, ``read_png``): a file that
ends before its IEND chunk, a header declaring more pixels than ``MAX_PNG_PIXELS`` or
than its compressed data can hold, a failed CRC, or a data stream with fewer rows than
the header declares (Pillow would read the missing rows as zeros) is a KitError naming
the file. A CAVE scene's 31 headers are compared before any band is decoded: one bit
depth, one size, a kind of PNG a band can be.

NUS variable names are not documented with the data; the reader accepts the first of
``NUS_CUBE_KEYS`` present in the file for the cube and of ``NUS_WAVELENGTH_KEYS`` for
the band centres, and says which keys it found when none matches.
"""

import collections
import dataclasses
import io
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from common.io import KitError
from data_prep.cube import DEFAULT_WAVELENGTHS, HARVARD_WAVELENGTHS, HSCube

EXPECTED_BANDS = 31
NUS_CUBE_KEYS = ("hyperimg", "hyperImg", "hsi", "HSI", "cube", "rad", "ref", "img", "data")
NUS_WAVELENGTH_KEYS = ("wavelengths", "wavelength", "bands", "lambda", "wl")

_IGNORED_DIRS = {"__MACOSX"}


# ----------------------------------------------------------------------------- files

def _check_root(root, title):
    if root is None:
        raise KitError(f"{title}: no root folder given (use {title.lower()}=/path/to/data)")
    root = Path(root).expanduser()
    if not root.exists():
        raise KitError(f"{root}: {title} root folder does not exist")
    if not root.is_dir():
        raise KitError(f"{root}: {title} root must be a folder, not a file")
    if not os.access(root, os.R_OK | os.X_OK):
        raise KitError(f"{root}: permission denied (cannot list the {title} folder)")
    return root


def _cannot_list(error):
    """os.walk's onerror: a folder that cannot be listed is an error, not an empty folder."""
    if isinstance(error, PermissionError):
        raise KitError(f"{error.filename}: permission denied (cannot list the folder)")
    raise KitError(f"{error.filename}: cannot list the folder ({error.strerror})")


def _walk(root, suffixes):
    """Sorted paths under root whose name ends with one of ``suffixes`` (case-insensitive)."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True, onerror=_cannot_list):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _IGNORED_DIRS)
        for entry in files + dirs:
            if not entry.startswith(".") and entry.lower().endswith(suffixes):
                found.append(Path(folder) / entry)
    return sorted(found)


def _by_name(paths, title, name_of=lambda p: p.stem):
    """{image name: path}; a name found twice, or two names that differ only in case
    (``PRK_x`` beside ``prk_x``: one may land in training and the other in the test set),
    is an error naming both files."""
    index, folded = {}, {}
    for path in paths:
        name = name_of(path)
        if name in index:
            raise KitError(f"{path}: {title} image {name!r} found twice (also {index[name]})")
        if name.casefold() in folded:
            other = folded[name.casefold()]
            raise KitError(f"{path}: {title} image names {name!r} and {name_of(other)!r} differ only in case "
                           f"({other}); they are ambiguous, remove or rename one")
        index[name] = path
        folded[name.casefold()] = path
    return dict(sorted(index.items()))


def _peak_text(peak):
    return "each image / its maximum" if peak == "image_max" else f"/ {peak:g}"


def _check_file(path, what):
    path = Path(path)
    if path.is_dir():
        raise KitError(f"{path}: is a folder, expected a {what} file")
    if not path.exists():
        raise KitError(f"{path}: file not found")
    if not os.access(path, os.R_OK):
        raise KitError(f"{path}: permission denied")


def _unreadable(path, what, error):
    if isinstance(error, PermissionError):
        return KitError(f"{path}: permission denied")
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return KitError(f"{path}: cannot read the {what} ({detail}); the file may be truncated or corrupt")


# ----------------------------------------------------------------------------- MATLAB

def read_mat(path, names):
    """The variables ``names`` present in a MATLAB file (v5 via scipy, v7.3 via h5py).

    Returns (found, available): a dict name -> array for the names present (v7.3 arrays
    transposed back to MATLAB's axis order) and the list of every variable in the file.
    """
    import h5py

    _check_file(path, "MATLAB .mat")
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as handle:
                available = list(handle.keys())
                found = {n: np.asarray(handle[n][()]).T for n in names
                         if n in handle and isinstance(handle[n], h5py.Dataset)}
        else:
            from scipy import io as sio

            available = [entry[0] for entry in sio.whosmat(path)]
            wanted = [n for n in names if n in available]
            found = sio.loadmat(path, variable_names=wanted) if wanted else {}
            found = {n: np.asarray(found[n]) for n in wanted}
    except KitError:
        raise
    except Exception as error:  # h5py/scipy raise OSError, ValueError, TypeError, ... on bad files
        raise _unreadable(path, "MATLAB file", error) from None
    return found, available


def _cube_from_mat(path, key, peak, wavelength_keys=("bands",), default_wavelengths=None):
    found, available = read_mat(path, (key,) + tuple(wavelength_keys))
    if key not in found and key in available:
        raise KitError(f"{path}: {key!r} is not a numeric array (an HDF5 group or a MATLAB struct/cell); "
                       "expected the H x W x bands cube")
    if key not in found:
        raise KitError(f"{path}: no variable {key!r} in the file (found: {', '.join(available) or 'none'})")
    wavelengths = next((found[k] for k in wavelength_keys if k in found), None)
    return _make_cube(found[key], path, key, peak, wavelengths, default_wavelengths)


def _make_cube(array, path, key, peak, wavelengths=None, default_wavelengths=None, **extra):
    array = np.asarray(array)
    if array.ndim != 3:
        raise KitError(f"{path}: {key!r} has shape {array.shape}, expected H x W x bands")
    if np.iscomplexobj(array):
        raise KitError(f"{path}: {key!r} holds complex numbers; a radiance or reflectance cube is real")
    if not np.issubdtype(array.dtype, np.number):
        raise KitError(f"{path}: {key!r} holds {array.dtype} values, expected numbers")
    if min(array.shape[:2]) < MIN_SIDE:
        raise KitError(f"{path}: {key!r} is {array.shape[0]}x{array.shape[1]} pixels, too small to be an image "
                       f"(at least {MIN_SIDE}x{MIN_SIDE})")
    if array.shape[2] != EXPECTED_BANDS:
        raise KitError(
            f"{path}: {key!r} has {array.shape[2]} bands, expected {EXPECTED_BANDS} "
            "(the 31-band 400-700 nm version of the data)")
    finite = np.isfinite(array)
    if not finite.all():
        raise KitError(f"{path}: {key!r} contains {array.size - int(finite.sum())} NaN/Inf value(s)")
    documented = DEFAULT_WAVELENGTHS if default_wavelengths is None else default_wavelengths
    if wavelengths is not None:
        wavelengths = check_wavelengths(path, wavelengths, array.shape[2], documented)
    else:
        wavelengths = documented
    if peak == "image_max":
        peak = float(array.max())
        if not peak > 0:
            raise KitError(f"{path}: {key!r} is all zero or negative; it cannot be scaled by its maximum")
    data = array.astype(np.float32) / np.float32(peak)
    _check_values(path, key, data, peak)
    return HSCube(data=data, wavelengths=wavelengths, name=Path(path).stem, source=str(path),
                  source_peak=peak, **extra)


#: Smallest image side the readers accept (a 1 x 1 "scene" is a broken file).
MIN_SIDE = 4
#: Band centres are nanometres of the visible / near-infrared range.
WAVELENGTH_RANGE_NM = (300.0, 2600.0)
#: Values far outside [0, 1] after dividing by the dataset's nominal peak mean a wrong
#: scale (e.g. 16-bit counts divided by 255) or a broken file.
PLAUSIBLE_RANGE = (-0.05, 4.0)


def check_wavelengths(path, wavelengths, bands, documented=None, tolerance_nm=2.0):
    """The band centres of a file as float64 nm: finite, increasing, in nanometres, one per
    band and, where the dataset documents its grid, on that grid (within ``tolerance_nm``)."""
    wavelengths = np.asarray(wavelengths, dtype=np.float64).ravel()
    if wavelengths.size != bands:
        raise KitError(f"{path}: {wavelengths.size} band wavelengths for {bands} bands")
    if not np.all(np.isfinite(wavelengths)):
        raise KitError(f"{path}: the band wavelengths hold NaN or infinite values")
    low, high = WAVELENGTH_RANGE_NM
    if wavelengths.max() < 10.0:
        raise KitError(f"{path}: band wavelengths {wavelengths.min():g}-{wavelengths.max():g} look like "
                       "micrometres; the kit expects nanometres")
    if wavelengths.min() < low or wavelengths.max() > high or np.any(np.diff(wavelengths) <= 0):
        raise KitError(f"{path}: band wavelengths {wavelengths.min():g}-{wavelengths.max():g} nm are not an "
                       f"increasing grid of nanometres within {low:g}-{high:g}")
    if documented is not None and len(documented) == bands:
        off = float(np.max(np.abs(wavelengths - np.asarray(documented, dtype=np.float64))))
        if off > tolerance_nm:
            raise KitError(f"{path}: band wavelengths {wavelengths.min():g}-{wavelengths.max():g} nm differ from "
                           f"this dataset's documented {documented[0]:g}-{documented[-1]:g} nm (by up to "
                           f"{off:g} nm)")
    return wavelengths


def _check_values(path, key, data, peak):
    """Refuse a cube that is all zero, or far outside [0, 1] once divided by ``peak``."""
    low, high = float(data.min()), float(data.max())
    if not high > 0:
        raise KitError(f"{path}: {key!r} is all zero (or negative): no image to reconstruct")
    if low < PLAUSIBLE_RANGE[0] or high > PLAUSIBLE_RANGE[1]:
        raise KitError(f"{path}: {key!r} divided by its nominal peak {peak:g} spans [{low:.3g}, {high:.3g}], "
                       f"far outside [0, 1]: a wrong scale (a different bit depth?) or a broken file")


# ----------------------------------------------------------------------------- PNG / JPEG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_PIXELS = 4096 * 4096
"""Largest width x height the kit decodes from one PNG (CAVE bands are 512 x 512, NTIRE
RGB images 482 x 512); a larger declared size is refused before anything is allocated."""
DEFLATE_MAX_RATIO = 1032
"""Deflate cannot compress better than 1032:1 (one 258-byte match in two bits), so a PNG
whose header declares more pixel bytes than 1032 x its compressed data cannot hold them."""

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
PNG_COLOUR_NAMES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale+alpha", 6: "RGBA"}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


@dataclasses.dataclass(frozen=True)
class PngInfo:
    """What a PNG's chunks declare, found without decoding its pixels (``png_info``)."""

    path: Path
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int
    idat_bytes: int  # compressed image data, all IDAT chunks together

    @property
    def kind(self):
        """E.g. '16-bit greyscale', '8-bit RGBA'."""
        return f"{self.bit_depth}-bit {PNG_COLOUR_NAMES.get(self.colour_type, f'colour type {self.colour_type}')}"

    @property
    def row_bytes(self):
        """Bytes of one filtered row (filter byte included) of the non-interlaced image."""
        return 1 + (self.width * _PNG_CHANNELS[self.colour_type] * self.bit_depth + 7) // 8

    @property
    def raw_bytes(self):
        """Length of the decompressed image data the header declares (filter bytes included)."""
        bits = _PNG_CHANNELS[self.colour_type] * self.bit_depth
        if not self.interlace:
            return self.height * self.row_bytes
        total = 0
        for x0, y0, dx, dy in _ADAM7:
            w, h = (self.width - x0 + dx - 1) // dx, (self.height - y0 + dy - 1) // dy
            total += h * (1 + (w * bits + 7) // 8) if w > 0 and h > 0 else 0
        return total


def _corrupt_png(path, detail):
    return KitError(f"{path}: cannot read the PNG ({detail}); the file may be truncated or corrupt")


def png_info(path, max_pixels=MAX_PNG_PIXELS):
    """The IHDR fields and the compressed data size of a PNG, from its chunk headers only
    (nothing is decompressed or allocated).

    KitError naming the file if it is not a PNG, if it ends before its IEND chunk, if the
    header is invalid, if it declares more than ``max_pixels`` pixels, or if its compressed
    data are too short for the declared size even at deflate's best ratio (a header
    declaring 3000 x 3000 in a file of a few hundred bytes).
    """
    _check_file(path, "PNG")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            if handle.read(8) != PNG_SIGNATURE:
                raise KitError(f"{path}: not a PNG file (or truncated)")
            header, idat, position = None, 0, 8
            while True:
                head = handle.read(8)
                if len(head) < 8:
                    if header is None:
                        raise KitError(f"{path}: not a PNG file (or truncated)")
                    raise _corrupt_png(path, f"the file ends after {position} bytes, before its IEND chunk")
                length, kind = struct.unpack(">I4s", head)
                end = position + 8 + length + 4
                if end > size:
                    name = kind.decode("latin-1") if kind.isalpha() else repr(kind)
                    raise _corrupt_png(path, f"the file ends inside its {name} chunk, {end - size} bytes short")
                if header is None:
                    if kind != b"IHDR" or length != 13:
                        raise KitError(f"{path}: not a PNG file (no IHDR chunk first)")
                    header = struct.unpack(">IIBBBBB", handle.read(13))
                    handle.seek(4, os.SEEK_CUR)
                else:
                    if kind == b"IDAT":
                        idat += length
                    elif kind == b"IEND":
                        break
                    handle.seek(length + 4, os.SEEK_CUR)
                position = end
    except KitError:
        raise
    except OSError as error:
        raise _unreadable(path, "PNG", error) from None
    width, height, bit_depth, colour_type, _, _, interlace = header
    if colour_type not in _PNG_DEPTHS or bit_depth not in _PNG_DEPTHS[colour_type] or interlace > 1:
        raise _corrupt_png(path, f"invalid header: bit depth {bit_depth}, colour type {colour_type}, "
                                 f"interlace {interlace}")
    if width < 1 or height < 1:
        raise _corrupt_png(path, f"its header declares an empty {width}x{height} image")
    if width * height > max_pixels:
        raise KitError(f"{path}: the PNG header declares {width}x{height} pixels, more than the "
                       f"{max_pixels} the kit reads from one image; the header is probably wrong")
    info = PngInfo(Path(path), width, height, bit_depth, colour_type, interlace, idat)
    if info.raw_bytes > DEFLATE_MAX_RATIO * idat:
        raise _corrupt_png(
            path, f"its header declares {width}x{height} pixels ({info.raw_bytes} bytes of rows) but "
                  f"it holds only {idat} bytes of compressed image data, too few for that size")
    return info


def png_header(path):
    """(bit depth, colour type) from a PNG's IHDR chunk; KitError if it is not a PNG."""
    info = png_info(path)
    return info.bit_depth, info.colour_type


def _png_pixels(info, data):
    """Check the image data of PNG bytes ``data`` against ``info``: CRCs of IHDR and IDAT,
    and a zlib stream that holds exactly the rows the header declares (Pillow reads a
    stream that stops early as complete, the missing rows as zeros)."""
    path, position, stream = info.path, 8, []
    while True:
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind in (b"IHDR", b"IDAT"):
            crc = struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0]
            if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
                raise _corrupt_png(path, f"its {kind.decode()} chunk at byte {position} fails its CRC check")
            if kind == b"IDAT":
                stream.append(body)
        if kind == b"IEND":
            break
        position += 12 + length
    expected = info.raw_bytes
    inflate = zlib.decompressobj()
    try:
        pixels = inflate.decompress(b"".join(stream), expected + 1)
    except zlib.error as error:
        raise _corrupt_png(path, f"its compressed image data are invalid: {error}") from None
    if len(pixels) < expected:
        if info.interlace:
            held = f"{len(pixels)} of the {expected} bytes of interlaced image data"
        else:
            held = f"{len(pixels) // info.row_bytes} of the {info.height} rows"
        raise _corrupt_png(path, f"its image data hold {held} its header declares "
                                 f"({info.width}x{info.height})")
    if len(pixels) > expected or inflate.unconsumed_tail:
        raise _corrupt_png(path, f"its image data hold more than the {info.width}x{info.height} "
                                 "pixels its header declares")


def read_png(path, max_pixels=MAX_PNG_PIXELS):
    """(array, PngInfo) of a PNG, its structure checked before decoding (``png_info``,
    then CRCs and the number of rows in the data stream). The array is as Pillow decodes
    it: (H, W) for greyscale, (H, W, channels) otherwise; uint16 for 16-bit greyscale."""
    array, _, info = _read_png(path, max_pixels)
    return array, info


def _read_png(path, max_pixels=MAX_PNG_PIXELS):
    """(array, Pillow mode, PngInfo): ``read_png``."""
    info = png_info(path, max_pixels)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise _unreadable(path, "PNG", error) from None
    _png_pixels(info, data)
    array, mode = _decode(io.BytesIO(data), "PNG", path)
    expected = (info.height, info.width)
    if array.shape[:2] != expected:
        raise _corrupt_png(path, f"decoded {array.shape[:2]} pixels, header declares {expected}")
    return array, mode, info


def _decode(source, what, path=None):
    from PIL import Image

    path = source if path is None else path
    try:
        with Image.open(source) as image:
            image.load()
            return np.asarray(image), image.mode
    except Exception as error:  # Pillow raises OSError, ValueError, SyntaxError, ...
        raise _unreadable(path, what, error) from None


def read_png16(path):
    """A 16-bit greyscale PNG as uint16 (H, W)."""
    info = png_info(path)
    if info.bit_depth != 16:
        raise KitError(f"{path}: {info.bit_depth}-bit PNG, expected a 16-bit band image")
    if info.colour_type != 0:
        raise KitError(f"{path}: PNG colour type {info.colour_type}, expected greyscale (0)")
    array, _ = read_png(path)
    return array.astype(np.uint16)


CAVE_BAND_KINDS = {(16, 0), (8, 0), (8, 2), (8, 4), (8, 6)}
"""(bit depth, colour type) of the PNGs accepted as CAVE bands: 16-bit greyscale (31 of
the 32 scenes) and 8-bit greyscale, RGB or RGBA whose colour channels agree (every band
of 'watercolors' is 8-bit RGBA with R = G = B and alpha 255). Pillow reduces 16-bit
colour PNGs to 8 bits, so those are refused rather than read wrongly."""


def _check_cave_kind(info):
    if (info.bit_depth, info.colour_type) not in CAVE_BAND_KINDS:
        raise KitError(
            f"{info.path}: {info.kind} PNG, expected a 16-bit greyscale band image (or 8-bit "
            "greyscale/RGB/RGBA with equal colour channels)")


def read_cave_band(path, info=None):
    """One CAVE band PNG as (H, W) uint16 or uint8, and its ``PngInfo``.

    16-bit greyscale is returned as stored; 8-bit colour bands must be grey (R = G = B at
    every pixel) and opaque (alpha 255), and their first channel is returned. Anything
    else is one KitError naming the file and the problem.
    """
    info = png_info(path) if info is None else info
    _check_cave_kind(info)
    array, _ = read_png(path)
    if info.bit_depth == 16:
        return array.astype(np.uint16), info
    array = np.asarray(array, dtype=np.uint8)
    if array.ndim == 2:
        return array, info
    colours = 3 if info.colour_type in (2, 6) else 1
    if colours == 3:
        differ = (array[..., 1] != array[..., 0]) | (array[..., 2] != array[..., 0])
        if differ.any():
            row, col = (int(i[0]) for i in np.nonzero(differ))
            r, g, b = (int(v) for v in array[row, col, :3])
            raise KitError(
                f"{path}: {info.kind} band whose colour channels differ at {int(differ.sum())} of "
                f"{differ.size} pixels (first at row {row}, column {col}: R={r}, G={g}, B={b}); a "
                "CAVE band is grey (R = G = B)")
    if info.colour_type in (4, 6):
        alpha = array[..., -1]
        if (alpha != 255).any():
            raise KitError(
                f"{path}: {info.kind} band is not opaque: alpha below 255 at {int((alpha != 255).sum())} "
                f"of {alpha.size} pixels (minimum {int(alpha.min())}); a CAVE band has no transparency")
    return np.ascontiguousarray(array[..., 0]), info


def read_rgb8(path):
    """An 8-bit RGB PNG or JPEG (NTIRE's provided RGB) as float32 (H, W, 3) in [0, 1]."""
    if str(path).lower().endswith(".png"):
        info = png_info(path)
        if info.bit_depth != 8:
            raise KitError(f"{path}: {info.bit_depth}-bit PNG, expected an 8-bit RGB image")
        array, mode, _ = _read_png(path)
    else:
        _check_file(path, "JPEG")
        array, mode = _decode(path, "image")
    if mode != "RGB":
        raise KitError(f"{path}: image mode {mode}, expected 8-bit RGB")
    return array.astype(np.float32) / 255.0


# ----------------------------------------------------------------------------- datasets

class HSDataset:
    """A dataset on disk: sorted image ``names``, ``load(name) -> HSCube``, ``describe()``.

    Files are found when the dataset is opened and read only by ``load`` (``describe``
    may read headers: ``summary`` is a text, or a function giving it on first use).
    """

    def __init__(self, name, root, files, loader, summary):
        self.name = name
        self.root = Path(root)
        self._files = files
        self._loader = loader
        self._summary = summary

    @property
    def names(self):
        return list(self._files)

    def __len__(self):
        return len(self._files)

    def path(self, name):
        """The file (or CAVE scene folder) of an image."""
        if name not in self._files:
            close = [n for n in self._files if n.lower() == str(name).lower()]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KitError(f"{self.root}: no image named {name!r} in the {self.name} dataset{hint}")
        return self._files[name]

    def group(self, name):
        """The top-level folder of an image below the root ('' at the root), e.g.
        'CZ_hsdb' (Harvard daylight) or 'train' (NUS): splits use it."""
        parts = self.path(name).relative_to(self.root).parts
        return parts[0] if len(parts) > 1 else ""

    def load(self, name):
        cube = self._loader(self.path(name))
        cube.name = name
        return cube

    def describe(self):
        groups = collections.Counter(self.group(n) for n in self.names)
        if len(groups) > 6 and set(groups.values()) == {1}:  # e.g. CAVE: one folder a scene
            where = "one folder each"
        else:
            where = ", ".join(f"{g or '.'}: {c}" for g, c in sorted(groups.items()))
        if callable(self._summary):  # e.g. CAVE's bit depths, read from the PNG headers
            self._summary = self._summary()
        return f"{self.name}: {len(self)} image(s) under {self.root} ({where}); {self._summary}"

    def __repr__(self):
        return f"HSDataset({self.name!r}, {str(self.root)!r}, {len(self)} images)"


def _rgb_index(root):
    return {p.name.lower(): p for p in _walk(root, (".png", ".jpg", ".jpeg"))}


def _with_rgb(cube_loader, rgb_files, suffix):
    """Wrap a .mat loader to attach '<stem><suffix>' (e.g. '_clean.png') when present."""

    def load(path):
        cube = cube_loader(path)
        rgb_path = rgb_files.get((Path(path).stem + suffix).lower()) if suffix else None
        if rgb_path is not None:
            rgb = read_rgb8(rgb_path)
            if rgb.shape[:2] != cube.shape[:2]:
                raise KitError(
                    f"{rgb_path}: RGB is {rgb.shape[0]}x{rgb.shape[1]} but the cube {path} "
                    f"is {cube.shape[0]}x{cube.shape[1]}")
            cube.rgb = rgb
        return cube

    return load


def _mat_files(root, title):
    files = _by_name(_walk(root, (".mat",)), title)
    if not files:
        raise KitError(f"{root}: no .mat files found for {title} (see data_prep/readers.py for the layout)")
    return files


def _open_icvl(root, peak=None):
    root = _check_root(root, "ICVL")
    peak = 4095.0 if peak is None else peak
    files = _mat_files(root, "ICVL")
    return HSDataset("icvl", root, files, lambda p: _cube_from_mat(p, "rad", peak),
                     f"'rad' {_peak_text(peak)}, 31 bands 400-700 nm")


_NTIRE_RGB = {
    "ntire2018": {"clean": "_clean.png", "realworld": "_camera.jpg"},
    "ntire2020": {"clean": "_clean.png", "realworld": "_RealWorld.jpg"},
}


def _open_ntire(name, title, key, default_peak, root, peak=None, rgb="clean"):
    root = _check_root(root, title)
    peak = default_peak if peak is None else peak
    if rgb is not None and rgb not in _NTIRE_RGB[name]:
        raise KitError(f"{title}: rgb must be 'clean', 'realworld' or None, got {rgb!r}")
    suffix = _NTIRE_RGB[name][rgb] if rgb else None
    files = _mat_files(root, title)
    rgb_files = _rgb_index(root) if suffix else {}
    with_rgb = sum((n + suffix).lower() in rgb_files for n in files) if suffix else 0
    loader = _with_rgb(lambda p: _cube_from_mat(p, key, peak), rgb_files, suffix)
    note = (f"'{key}' {_peak_text(peak)}, 31 bands 400-700 nm; "
            f"{with_rgb} with provided RGB <name>{suffix or ''}")
    return HSDataset(name, root, files, loader, note)


_CAVE_BAND = re.compile(r"^(?P<scene>.+)_(?P<band>\d\d)\.png$", re.IGNORECASE)
_CAVE_RGB = re.compile(r"^(?P<scene>.+)_RGB\.bmp$", re.IGNORECASE)


def _cave_scenes(root):
    """scene name -> (folder, {band: path}), for folders holding '<folder>_NN.png' files.

    A folder '<scene>_ms' holding only its '<scene>_RGB.bmp' (a download whose band PNGs
    are missing) is a scene without bands, so that loading it says what is missing; the
    RGB image itself is not read.
    """
    bands = collections.defaultdict(dict)
    rgb_only = []
    for path in _walk(root, (".png", ".bmp")):
        if path.suffix.lower() == ".bmp":
            match = _CAVE_RGB.match(path.name)
            if match and f"{match['scene']}_ms".lower() == path.parent.name.lower():
                rgb_only.append(path.parent)
            continue
        match = _CAVE_BAND.match(path.name)
        if match and match["scene"].lower() == path.parent.name.lower():
            bands[path.parent][int(match["band"])] = path
    scenes = {}
    for folder, files in sorted(bands.items()):
        name = re.sub(r"_ms$", "", folder.name, flags=re.IGNORECASE)
        if name in scenes:
            raise KitError(f"{folder}: CAVE scene {name!r} found twice (also {scenes[name][0]})")
        twin = next((other for other in scenes if other.casefold() == name.casefold()), None)
        if twin is not None:
            raise KitError(f"{folder}: CAVE scene names {name!r} and {twin!r} differ only in case "
                           f"({scenes[twin][0]}); they are ambiguous, remove or rename one")
        scenes[name] = (folder, files)
    for folder in rgb_only:
        name = re.sub(r"_ms$", "", folder.name, flags=re.IGNORECASE)
        scenes.setdefault(name, (folder, {}))
    return dict(sorted(scenes.items()))


def _odd_one_out(values):
    """The most common value (ties: the first band's) of {band: value}."""
    counts = collections.Counter(values.values())
    first = values[min(values)]
    best = max(counts.values())
    return first if counts[first] == best else next(v for v, c in counts.items() if c == best)


def _cave_headers(folder, files):
    """{band: PngInfo} of a complete scene, checked against each other before any band
    is decoded: same bit depth, same size, a kind of PNG a CAVE band can be."""
    missing = [b for b in range(1, EXPECTED_BANDS + 1) if b not in files]
    extra = sorted(set(files) - set(range(1, EXPECTED_BANDS + 1)))
    if missing or extra:
        raise KitError(
            f"{folder}: CAVE scene has bands {sorted(files)}, expected 01..{EXPECTED_BANDS:02d}"
            + (f" (missing {missing})" if missing else "") + (f" (unexpected {extra})" if extra else ""))
    infos = {band: png_info(files[band]) for band in range(1, EXPECTED_BANDS + 1)}
    depths = {band: info.bit_depth for band, info in infos.items()}
    depth = _odd_one_out(depths)
    for band, info in infos.items():
        if info.bit_depth != depth:
            others = sum(d == depth for d in depths.values())
            raise KitError(
                f"{info.path}: {info.bit_depth}-bit PNG, expected a {depth}-bit band image like "
                f"{others} other band(s) of the scene (one scene's bands share one bit depth)")
        _check_cave_kind(info)
    sizes = {band: (info.height, info.width) for band, info in infos.items()}
    size = _odd_one_out(sizes)
    for band, info in infos.items():
        if sizes[band] != size:
            others = sum(s == size for s in sizes.values())
            raise KitError(
                f"{info.path}: band is {info.height}x{info.width} pixels, {others} other band(s) of "
                f"the scene are {size[0]}x{size[1]}")
    return infos


def _load_cave(folder, files, peak):
    infos = _cave_headers(folder, files)
    depth = infos[1].bit_depth
    height, width = infos[1].height, infos[1].width
    stored = np.empty((height, width, EXPECTED_BANDS), np.uint16 if depth == 16 else np.uint8)
    for band, info in infos.items():
        stored[..., band - 1], _ = read_cave_band(files[band], info)
    peak = float(2 ** depth - 1) if peak is None else peak
    return _make_cube(stored, folder, "PNG bands", peak, bit_depth=depth)


def _cave_summary(scenes, peak):
    """describe()'s text: each scene's PNG kind from the band headers (read when asked)."""
    kinds = collections.defaultdict(list)
    for name, (folder, files) in scenes.items():
        try:
            infos = _cave_headers(folder, files)
            kind = " + ".join(sorted({i.kind for i in infos.values()}))
            depth = infos[1].bit_depth
            scale = _peak_text(float(2 ** depth - 1) if peak is None else peak)
            kinds[f"{kind} {scale}"].append(name)
        except KitError:
            kinds["incomplete or inconsistent, see load()"].append(name)
    parts = []
    for kind, names in sorted(kinds.items(), key=lambda item: -len(item[1])):
        listed = f" ({', '.join(names)})" if len(names) <= 3 and len(kinds) > 1 else ""
        parts.append(f"{len(names)} scene(s) {kind}{listed}")
    return f"PNG bands: {'; '.join(parts)}; 31 bands 400-700 nm"


def _open_cave(root, peak=None):
    root = _check_root(root, "CAVE")
    scenes = _cave_scenes(root)
    if not scenes:
        raise KitError(f"{root}: no CAVE scene folders '<scene>_ms/<scene>_ms_01.png' found")
    files = {name: folder for name, (folder, _) in scenes.items()}
    bands = {folder: paths for folder, paths in scenes.values()}
    return HSDataset("cave", root, files, lambda folder: _load_cave(folder, bands[folder], peak),
                     lambda: _cave_summary(scenes, peak))


def _load_harvard(path, peak):
    found, available = read_mat(path, ("ref", "lbl"))
    if "ref" not in found:
        raise KitError(f"{path}: no variable 'ref' in the file (found: {', '.join(available) or 'none'})")
    mask = None
    if "lbl" in found:
        mask = np.asarray(found["lbl"])
        if mask.shape != found["ref"].shape[:2]:
            raise KitError(f"{path}: 'lbl' is {mask.shape} but 'ref' is {found['ref'].shape[:2]}")
        mask = mask != 0
    return _make_cube(found["ref"], path, "ref", peak, None, HARVARD_WAVELENGTHS, mask=mask)


def _open_harvard(root, peak=None):
    root = _check_root(root, "Harvard")
    peak = 1.0 if peak is None else peak
    files = _mat_files(root, "Harvard")
    return HSDataset("harvard", root, files, lambda p: _load_harvard(p, peak),
                     f"'ref' {_peak_text(peak)}, 31 bands 420-720 nm (not 400-700), mask from 'lbl'")


def _load_nus(path, peak):
    found, available = read_mat(path, NUS_CUBE_KEYS + NUS_WAVELENGTH_KEYS)
    key = next((k for k in NUS_CUBE_KEYS if k in found), None)
    if key is None:
        raise KitError(
            f"{path}: none of the NUS cube variables {', '.join(NUS_CUBE_KEYS)} is in the file "
            f"(found: {', '.join(available) or 'none'})")
    wavelengths = next((found[k] for k in NUS_WAVELENGTH_KEYS if k in found), None)
    return _make_cube(found[key], path, key, peak, wavelengths)


def _open_nus(root, peak=None):
    root = _check_root(root, "NUS")
    peak = "image_max" if peak is None else peak
    files = _mat_files(root, "NUS")
    return HSDataset("nus", root, files, lambda p: _load_nus(p, peak), f"{_peak_text(peak)}, 31 bands")


_OPENERS = {
    "icvl": _open_icvl,
    "ntire2018": lambda root, **kw: _open_ntire("ntire2018", "NTIRE2018", "rad", 4095.0, root, **kw),
    "ntire2020": lambda root, **kw: _open_ntire("ntire2020", "NTIRE2020", "cube", 1.0, root, **kw),
    "cave": _open_cave,
    "harvard": _open_harvard,
    "nus": _open_nus,
}
_ALIASES = {"arad": "ntire2020", "ntire_2020": "ntire2020", "ntire_2018": "ntire2018"}

# Folder names find_dataset looks for under a common data root (case-insensitive).
DATASET_FOLDERS = {
    "icvl": ("icvl",),
    "ntire2018": ("ntire2018", "ntire_2018"),
    "ntire2020": ("ntire2020", "ntire_2020", "arad"),
    "cave": ("cave", "complete_ms_data"),
    "harvard": ("harvard",),
    "nus": ("nus",),
}

DATASET_NAMES = ("synthetic",) + tuple(_OPENERS)


def _canonical(name):
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key != "synthetic" and key not in _OPENERS:
        raise KitError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    return key


def open_dataset(name, root=None, **options):
    """Open dataset ``name`` (icvl, ntire2018, ntire2020/arad, cave, harvard, nus, synthetic).

    Options: ``peak`` (divisor instead of the dataset's nominal peak), and for the NTIRE
    sets ``rgb`` ('clean' default, 'realworld' or None). 'synthetic' is the kit's own
    data set (``data_prep.synthetic.SyntheticDataset``); a root, if given, is its cache
    folder.
    """
    key = _canonical(name)
    if key == "synthetic":
        from data_prep.synthetic import SyntheticDataset

        return SyntheticDataset(**options) if root is None else SyntheticDataset(cache_dir=root, **options)
    allowed = {"peak", "rgb"} if key.startswith("ntire") else {"peak"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise KitError(
            f"{key}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    peak = options.get("peak")
    if peak is not None and peak != "image_max" and not (
            isinstance(peak, (int, float)) and np.isfinite(peak) and peak > 0):
        raise KitError(f"{key}: peak must be a positive number or 'image_max', got {peak!r}")
    return _OPENERS[key](root, **options)


def parse_data_spec(spec):
    """'synthetic' -> ('synthetic', None); 'cave=/data/CAVE' -> ('cave', '/data/CAVE')."""
    text = str(spec).strip()
    name, sep, root = text.partition("=")
    key = _canonical(name)
    if key == "synthetic":
        return key, (root.strip() or None) if sep else None
    if not sep or not root.strip():
        raise KitError(f"--data {text!r}: give the dataset root as {key}=/path/to/{key}")
    return key, root.strip()


def open_data_spec(spec):
    """``open_dataset(*parse_data_spec(spec))``."""
    name, root = parse_data_spec(spec)
    return open_dataset(name, root)


def find_dataset(name, data_root):
    """The dataset under ``data_root/<folder>`` (folder names in ``DATASET_FOLDERS``,
    any case), or None when no such folder exists. A folder that exists but does not
    hold the dataset raises KitError."""
    key = _canonical(name)
    if key == "synthetic":
        return open_dataset("synthetic")
    data_root = _check_root(data_root, "data")
    wanted = DATASET_FOLDERS[key]
    for entry in sorted(data_root.iterdir()):
        if entry.is_dir() and entry.name.lower() in wanted:
            return open_dataset(key, entry)
    return None
