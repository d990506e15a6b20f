"""A user's own files in and out of ``predict``: RGB images, cubes, and what is written.

Read:

- ``read_rgb_image``: PNG (8 or 16 bit per channel), JPEG (8 bit), TIFF (8 or 16 bit),
  greyscale or RGB(A); returns float32 (H, W, 3) on [0, 1], each value divided by the
  full scale of the file's bit depth (255 or 65535), and that bit depth. An alpha
  channel must be opaque (a transparent pixel has no colour to reconstruct from).
  Pillow reduces 16-bit RGB PNGs to 8 bits, so those are decoded here; TIFFs are read
  with ``tifffile``.
- ``read_cube_file``: ``.mat`` (MATLAB v5 via SciPy, v7.3 via h5py), ``.h5``/``.hdf5``
  or ``.npy``; the cube is the variable ``key`` or the only 3-D array of the file, its
  band centres the variable ``bands`` / ``wavelengths`` where present. Returns float32
  (H, W, C) divided by the full scale of an integer dtype (uint8 255, uint16 65535) or
  as stored for floating-point data, and the wavelengths (or None).

Write (``write_cube``): ``.mat`` v5 (variables ``cube`` and ``bands``), ``.h5``
(datasets ``cube`` and ``bands``, H x W x C as stored, no transposition) or ``.npy``
(the cube; the band centres in ``<name>_bands.npy`` beside it), always through a
temporary file renamed into place.

Every problem with a file is one ``KitError`` naming it.
"""

import struct
import zlib
from pathlib import Path

import numpy as np

from common.io import KitError, atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
CUBE_SUFFIXES = (".mat", ".h5", ".hdf5", ".npy")
CUBE_FORMATS = ("mat", "h5", "npy")
WAVELENGTH_KEYS = ("bands", "wavelengths", "wavelength", "lambda")
MAX_PIXELS = 2**28  # 268 Mpixel: a header that declares more is refused before decoding


def _check_file(path, kinds, suffixes):
    path = Path(path)
    if not path.exists():
        raise KitError(f"{path}: no such file")
    if not path.is_file():
        raise KitError(f"{path}: not a file")
    if path.suffix.lower() not in suffixes:
        raise KitError(f"{path}: expected {kinds} ({', '.join(suffixes)}), got '{path.suffix or 'no extension'}'")
    return path


# ============================================================================ images
def read_rgb_image(path):
    """(float32 (H, W, 3) on [0, 1], bit depth) of an RGB (or greyscale) image file."""
    path = _check_file(path, "an image", IMAGE_SUFFIXES)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        array = _read_tiff(path)
    elif suffix == ".png" and _png_bit_depth(path) == 16:
        array = _read_png16(path)
    else:
        array = _read_pillow(path)
    return _to_rgb(path, array)


def _to_rgb(path, array):
    if array.dtype == np.uint8:
        depth = 8
    elif array.dtype == np.uint16:
        depth = 16
    else:
        raise KitError(f"{path}: {array.dtype} pixels; expected 8- or 16-bit integers")
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise KitError(f"{path}: image of shape {array.shape}; expected RGB or RGBA")
    full = float(2**depth - 1)
    if array.shape[-1] == 4:
        if np.any(array[..., 3] != full):
            raise KitError(f"{path}: the alpha channel is not opaque everywhere; save the image without "
                           "transparency")
        array = array[..., :3]
    if min(array.shape[:2]) < 1:
        raise KitError(f"{path}: empty image {array.shape[:2]}")
    return (array.astype(np.float32) / full), depth


def _read_pillow(path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise KitError(f"{path}: {image.width}x{image.height} pixels, more than the kit reads")
            image.load()
            mode = image.mode
            if mode in ("P", "PA", "LA", "CMYK", "YCbCr", "1"):
                image = image.convert("RGBA" if "A" in mode or mode == "P" else "RGB")
            array = np.asarray(image)
            if mode.startswith("I;16"):
                array = array.astype(np.uint16)
            return array
    except KitError:
        raise
    except Exception as error:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError, ...
        raise KitError(f"{path}: cannot read the image ({error})") from None


def _read_tiff(path):
    try:
        import tifffile
    except ImportError:  # pragma: no cover - in requirements.txt
        raise KitError(f"{path}: reading TIFF needs the tifffile package (pip install tifffile)") from None
    try:
        array = tifffile.imread(path)
    except Exception as error:  # noqa: BLE001 - tifffile raises many types
        raise KitError(f"{path}: cannot read the TIFF ({error})") from None
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar configuration
    return array


def _png_bit_depth(path):
    with open(path, "rb") as handle:
        head = handle.read(29)
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise KitError(f"{path}: not a PNG file (or truncated)")
    return head[24]


def _read_png16(path):
    """A non-interlaced 16-bit greyscale, RGB or RGBA PNG as uint16 (H, W[, C])."""
    data = Path(path).read_bytes()
    position, chunks, header = 8, [], None
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if len(body) < length:
            raise KitError(f"{path}: the PNG ends inside its {kind.decode('latin-1')} chunk (truncated)")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
        position += 12 + length
    else:
        raise KitError(f"{path}: the PNG ends before its IEND chunk (truncated)")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if channels is None or interlace:
        raise KitError(f"{path}: 16-bit PNG of colour type {colour}{' (interlaced)' if interlace else ''}; "
                       "save it as a non-interlaced RGB PNG or a TIFF")
    if width * height > MAX_PIXELS:
        raise KitError(f"{path}: {width}x{height} pixels, more than the kit reads")
    bpp = 2 * channels
    stride = width * bpp
    try:
        raw = zlib.decompress(b"".join(chunks))
    except zlib.error as error:
        raise KitError(f"{path}: invalid PNG image data ({error})") from None
    if len(raw) != height * (stride + 1):
        raise KitError(f"{path}: the PNG's image data hold {len(raw)} bytes, its header declares "
                       f"{height * (stride + 1)} ({width}x{height}): truncated or corrupt")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        out[y] = _unfilter(path, kind, line, previous, bpp)
        previous = out[y]
    pixels = out.view(">u2").reshape(height, width, channels).astype(np.uint16)
    return pixels[..., 0] if channels == 1 else (np.repeat(pixels[..., :1], 3, -1) if channels == 2 else pixels)


def _unfilter(path, kind, line, previous, bpp):
    """One PNG row with its filter undone (PNG spec, Sec. 9)."""
    if kind == 0:
        return line
    if kind == 2:
        return line + previous  # uint8 arithmetic wraps modulo 256, as the filter does
    if kind == 1:
        return np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
    if kind not in (3, 4):
        raise KitError(f"{path}: invalid PNG row filter {kind} (corrupt file)")
    out = line.astype(np.int32)
    prev = previous.astype(np.int32)
    for x in range(0, len(line), bpp):
        left = out[x - bpp:x] if x else np.zeros(bpp, dtype=np.int32)
        up = prev[x:x + bpp]
        if kind == 3:
            out[x:x + bpp] = (out[x:x + bpp] + (left + up) // 2) % 256
        else:
            corner = prev[x - bpp:x] if x else np.zeros(bpp, dtype=np.int32)
            estimate = left + up - corner
            pa, pb, pc = np.abs(estimate - left), np.abs(estimate - up), np.abs(estimate - corner)
            predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, corner))
            out[x:x + bpp] = (out[x:x + bpp] + predictor) % 256
    return out.astype(np.uint8)


# ============================================================================ cubes
def read_cube_file(path, key=None):
    """(float32 (H, W, C), wavelengths or None, note on the scaling) of a cube file."""
    path = _check_file(path, "a cube", CUBE_SUFFIXES)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise KitError(f"{path}: cannot read the .npy file ({error})") from None
        wavelengths = _sidecar_wavelengths(path)
    else:
        arrays = _read_arrays(path, suffix)
        array = _pick_cube(path, arrays, key)
        wavelengths = next((np.asarray(arrays[k]).ravel() for k in WAVELENGTH_KEYS if k in arrays), None)
    return _scale_cube(path, array, wavelengths)


def _read_arrays(path, suffix):
    if suffix == ".mat":
        from data_prep.readers import read_mat

        found, _ = read_mat(path, _mat_variables(path))
        return found
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return {name: handle[name][()] for name in handle if isinstance(handle[name], h5py.Dataset)}
    except OSError as error:
        raise KitError(f"{path}: cannot read the HDF5 file ({error})") from None


def _mat_variables(path):
    """The names of every variable in a MATLAB file (v7.3 = HDF5, or v5)."""
    import h5py
    from scipy import io as sio

    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as handle:
                return [name for name in handle if not name.startswith("#")]
        return [entry[0] for entry in sio.whosmat(path)]
    except Exception as error:  # noqa: BLE001 - h5py/scipy raise many types on bad files
        raise KitError(f"{path}: cannot read the MATLAB file ({error})") from None


def _pick_cube(path, arrays, key):
    if key is not None:
        if key not in arrays:
            raise KitError(f"{path}: no variable {key!r} (found: {', '.join(sorted(arrays)) or 'none'})")
        return arrays[key]
    cubes = {name: a for name, a in arrays.items() if np.ndim(a) == 3}
    if len(cubes) != 1:
        found = ", ".join(f"{n} {np.shape(a)}" for n, a in arrays.items()) or "none"
        raise KitError(f"{path}: expected exactly one 3-D array (the cube), found: {found}")
    return next(iter(cubes.values()))


def _sidecar_wavelengths(path):
    sidecar = path.with_name(path.stem + "_bands.npy")
    if not sidecar.is_file():
        return None
    try:
        return np.load(sidecar, allow_pickle=False).ravel()
    except (OSError, ValueError) as error:
        raise KitError(f"{sidecar}: cannot read the band centres ({error})") from None


def _scale_cube(path, array, wavelengths):
    array = np.asarray(array)
    if np.iscomplexobj(array):
        raise KitError(f"{path}: the cube holds complex numbers; expected real values")
    if array.ndim != 3 or min(array.shape) < 1:
        raise KitError(f"{path}: the cube has shape {array.shape}; expected height x width x bands")
    if array.dtype.kind in "ui":
        full = float(np.iinfo(array.dtype).max)
        note = f"{array.dtype} divided by {full:g}"
        cube = array.astype(np.float32) / full
    elif array.dtype.kind == "f":
        cube = array.astype(np.float32)
        note = "floating point, used as stored (expected on [0, 1])"
    else:
        raise KitError(f"{path}: cube of dtype {array.dtype}; expected numbers")
    if not np.all(np.isfinite(cube)):
        raise KitError(f"{path}: the cube holds NaN or infinite values")
    peak = float(cube.max())
    if cube.min() < -1e-3 or peak > 1.5:
        raise KitError(f"{path}: values span [{float(cube.min()):g}, {peak:g}]; the network expects a cube "
                       "on [0, 1]: divide it by its full scale (e.g. 4095 for 12-bit counts) first")
    if wavelengths is not None:
        wavelengths = np.asarray(wavelengths, dtype=np.float64).ravel()
        if len(wavelengths) != cube.shape[-1] or not np.all(np.isfinite(wavelengths)):
            raise KitError(f"{path}: {len(wavelengths)} band centres for {cube.shape[-1]} bands (or non-finite)")
    return cube, wavelengths, note


def write_cube(path, cube, wavelengths, fmt):
    """Write ``cube`` (H, W, C) and its band centres as ``fmt`` ('mat', 'h5' or 'npy')."""
    path = Path(path)
    cube = np.asarray(cube, dtype=np.float32)
    bands = np.asarray(wavelengths, dtype=np.float64)
    if fmt == "mat":
        from scipy.io import savemat

        with atomic_path(path) as tmp:
            savemat(tmp, {"cube": cube, "bands": bands[None, :]}, do_compression=True)
    elif fmt == "h5":
        import h5py

        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as handle:
                handle.create_dataset("cube", data=cube, compression="gzip")
                handle.create_dataset("bands", data=bands)
    elif fmt == "npy":
        with atomic_path(path.with_name(path.stem + "_bands.npy")) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, bands)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, cube)
    else:
        raise KitError(f"--format {fmt}: choose one of {', '.join(CUBE_FORMATS)}")
    return path
