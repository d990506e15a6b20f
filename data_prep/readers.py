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
    cave/        (Yasuma et al., "complete_ms_data")
        balloons_ms/balloons_ms_01.png ... balloons_ms_31.png   16-bit greyscale
        (some copies nest one level more: balloons_ms/balloons_ms/balloons_ms_01.png;
         the scene name is 'balloons'; the *_RGB.bmp files are not used)
    harvard/     (Chakrabarti and Zickler, CVPR 2011)
        CZ_hsdb/img1.mat ... (50 daylight)  CZ_hsdbi/imga1.mat ... (27 indoor)
        MATLAB v5: 'ref' (1040 x 1392 x 31, 420-720 nm), 'lbl' (valid-pixel mask)
    nus/         (Nguyen, Prasad and Brown, ECCV 2014)
        <any folders, e.g. train/ and test/>/<name>.mat   (v5 or v7.3)

Value scales (``HSCube.source_peak``): ICVL and NTIRE 2018 'rad' are 12-bit camera
counts, divided by 4095 (as unet_ms's released code); NTIRE 2020 'cube' is stored in
about [0, 1] (the organisers project it with a response summing to 255), 1.0; CAVE PNGs
are 16-bit, 65535; Harvard 'ref' is stored as floating point with no documented absolute
scale and is kept as stored, 1.0; the NUS files carry no documented scale, so each
image is divided by its own maximum. ``open_dataset(..., peak=...)`` overrides this.

Wavelengths: the file's 'bands' variable when present, else 400-700 nm in 10 nm steps;
Harvard is 420-720 nm (it has no 'bands' variable, and it is not relabelled).

MATLAB v7.3 files are HDF5, and h5py sees MATLAB's column-major arrays with their axes
reversed: a MATLAB H x W x C array arrives as C x W x H and is transposed back.

NUS variable names are not documented with the data; the reader accepts the first of
``NUS_CUBE_KEYS`` present in the file for the cube and of ``NUS_WAVELENGTH_KEYS`` for
the band centres, and says which keys it found when none matches.
"""

import collections
import os
import re
import struct
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
    index = {}
    for path in paths:
        name = name_of(path)
        if name in index:
            raise KitError(f"{path}: {title} image {name!r} found twice (also {index[name]})")
        index[name] = path
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
    if key not in found:
        raise KitError(f"{path}: no variable {key!r} in the file (found: {', '.join(available) or 'none'})")
    wavelengths = next((found[k] for k in wavelength_keys if k in found), None)
    return _make_cube(found[key], path, key, peak, wavelengths, default_wavelengths)


def _make_cube(array, path, key, peak, wavelengths=None, default_wavelengths=None, **extra):
    array = np.asarray(array)
    if array.ndim != 3:
        raise KitError(f"{path}: {key!r} has shape {array.shape}, expected H x W x bands")
    if not np.issubdtype(array.dtype, np.number):
        raise KitError(f"{path}: {key!r} holds {array.dtype} values, expected numbers")
    if array.shape[2] != EXPECTED_BANDS:
        raise KitError(
            f"{path}: {key!r} has {array.shape[2]} bands, expected {EXPECTED_BANDS} "
            "(the 31-band 400-700 nm version of the data)")
    finite = np.isfinite(array)
    if not finite.all():
        raise KitError(f"{path}: {key!r} contains {array.size - int(finite.sum())} NaN/Inf value(s)")
    if wavelengths is not None:
        wavelengths = np.asarray(wavelengths, dtype=np.float64).ravel()
        if wavelengths.size != array.shape[2]:
            raise KitError(f"{path}: {wavelengths.size} band wavelengths for {array.shape[2]} bands")
    else:
        wavelengths = DEFAULT_WAVELENGTHS if default_wavelengths is None else default_wavelengths
    if peak == "image_max":
        peak = float(array.max())
        if not peak > 0:
            raise KitError(f"{path}: {key!r} is all zero or negative; it cannot be scaled by its maximum")
    data = array.astype(np.float32) / np.float32(peak)
    return HSCube(data=data, wavelengths=wavelengths, name=Path(path).stem, source=str(path),
                  source_peak=peak, **extra)


# ----------------------------------------------------------------------------- PNG / JPEG

def png_header(path):
    """(bit depth, colour type) from a PNG's IHDR chunk; KitError if it is not a PNG."""
    _check_file(path, "PNG")
    try:
        with open(path, "rb") as handle:
            head = handle.read(29)
    except OSError as error:
        raise _unreadable(path, "PNG", error) from None
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise KitError(f"{path}: not a PNG file (or truncated)")
    bit_depth, colour_type = struct.unpack(">BB", head[24:26])
    return bit_depth, colour_type


def _decode(path, what):
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image), image.mode
    except Exception as error:  # Pillow raises OSError, ValueError, SyntaxError, ...
        raise _unreadable(path, what, error) from None


def read_png16(path):
    """A 16-bit greyscale PNG (one CAVE band) as uint16 (H, W)."""
    bit_depth, colour_type = png_header(path)
    if bit_depth != 16:
        raise KitError(f"{path}: {bit_depth}-bit PNG, expected a 16-bit band image")
    if colour_type != 0:
        raise KitError(f"{path}: PNG colour type {colour_type}, expected greyscale (0)")
    array, _ = _decode(path, "PNG")
    return array.astype(np.uint16)


def read_rgb8(path):
    """An 8-bit RGB PNG or JPEG (NTIRE's provided RGB) as float32 (H, W, 3) in [0, 1]."""
    if str(path).lower().endswith(".png"):
        bit_depth, _ = png_header(path)
        if bit_depth != 8:
            raise KitError(f"{path}: {bit_depth}-bit PNG, expected an 8-bit RGB image")
    else:
        _check_file(path, "JPEG")
    array, mode = _decode(path, "image")
    if mode != "RGB":
        raise KitError(f"{path}: image mode {mode}, expected 8-bit RGB")
    return array.astype(np.float32) / 255.0


# ----------------------------------------------------------------------------- datasets

class HSDataset:
    """A dataset on disk: sorted image ``names``, ``load(name) -> HSCube``, ``describe()``.

    Files are found when the dataset is opened and read only by ``load``.
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
        where = ", ".join(f"{g or '.'}: {c}" for g, c in sorted(groups.items()))
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


def _cave_scenes(root):
    """scene name -> folder, for folders holding '<folder>_NN.png' files."""
    bands = collections.defaultdict(dict)
    for path in _walk(root, (".png",)):
        match = _CAVE_BAND.match(path.name)
        if match and match["scene"].lower() == path.parent.name.lower():
            bands[path.parent][int(match["band"])] = path
    scenes = {}
    for folder, files in sorted(bands.items()):
        name = re.sub(r"_ms$", "", folder.name, flags=re.IGNORECASE)
        if name in scenes:
            raise KitError(f"{folder}: CAVE scene {name!r} found twice (also {scenes[name][0]})")
        scenes[name] = (folder, files)
    return scenes


def _load_cave(folder, files, peak):
    missing = [b for b in range(1, EXPECTED_BANDS + 1) if b not in files]
    extra = sorted(set(files) - set(range(1, EXPECTED_BANDS + 1)))
    if missing or extra:
        raise KitError(
            f"{folder}: CAVE scene has bands {sorted(files)}, expected 01..{EXPECTED_BANDS:02d}"
            + (f" (missing {missing})" if missing else "") + (f" (unexpected {extra})" if extra else ""))
    planes = []
    for band in range(1, EXPECTED_BANDS + 1):
        plane = read_png16(files[band])
        if planes and plane.shape != planes[0].shape:
            raise KitError(f"{files[band]}: band is {plane.shape}, band 01 is {planes[0].shape}")
        planes.append(plane)
    return _make_cube(np.stack(planes, axis=-1), folder, "PNG bands", peak)


def _open_cave(root, peak=None):
    root = _check_root(root, "CAVE")
    peak = 65535.0 if peak is None else peak
    scenes = _cave_scenes(root)
    if not scenes:
        raise KitError(f"{root}: no CAVE scene folders '<scene>_ms/<scene>_ms_01.png' found")
    files = {name: folder for name, (folder, _) in scenes.items()}
    bands = {folder: paths for folder, paths in scenes.values()}
    return HSDataset("cave", root, files, lambda folder: _load_cave(folder, bands[folder], peak),
                     f"16-bit PNG {_peak_text(peak)}, 31 bands 400-700 nm")


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
