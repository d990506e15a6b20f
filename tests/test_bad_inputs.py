"""The bad-input corpus: broken files for every reader, broken command lines
for every paper, each ending in one clear error and no output.

Part 1 is a table over (dataset, breakage). Each row starts from a small valid copy of
the dataset's shipped layout (the ``test_good_layout_loads`` control proves it loads),
breaks one thing, and requires ``open_dataset(...).load(...)`` to raise one ``KitError``
whose single-line message names the offending file or folder and the problem, without
writing anything. Breakages that do not exist for a format are left out of the table
(a CAVE band PNG holds no MATLAB key; only the NTIRE sets ship an RGB image).

Part 2 runs each paper's real entry point in this process, exactly as
``python -m papers.<name> ...`` (``runpy`` executes ``papers/<name>/__main__.py`` as
``__main__``, which hands ``main`` to ``common.cli.run_main``), with broken arguments:
exit code 2, stderr holding one ``error:`` line (argparse's usage lines before it are
accepted), and no ``--out`` folder. TensorFlow is imported once for the whole file.
"""

import errno
import importlib
import os
import re
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy import io as sio

from common.io import KitError
from data_prep import readers

H, W = 6, 8  # H != W, so that a size mismatch or a missed transpose shows
BANDS = 31
MATLAB_73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_non_root = pytest.mark.skipif(AS_ROOT, reason="root reads every file whatever its permissions")


# ----------------------------------------------------------------------------- writers

def write_mat73(path, **arrays):
    """A MATLAB v7.3 file: HDF5 behind MATLAB's 512-byte header, arrays column-major."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=np.asarray(value).T)
    with open(path, "r+b") as handle:
        handle.write(MATLAB_73_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM")


def write_mat5(path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.savemat(path, arrays)


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def cube(bands=BANDS, seed=0):
    return np.random.default_rng(seed).uniform(0.05, 1.0, (H, W, bands))


def rgb8(height=H, width=W):
    return np.random.default_rng(1).integers(0, 256, (height, width, 3)).astype(np.uint8)


# ----------------------------------------------------------------------------- layouts

@dataclass(frozen=True)
class MatLayout:
    """Where a .mat dataset keeps one image, as shipped (see data_prep/readers.py)."""

    key: str  # the cube variable
    mat: str  # the cube file, relative to the root
    v73: bool  # the MATLAB format the dataset ships in
    clean: str = None  # the provided 8-bit RGB (NTIRE "clean" track)
    extra: dict = field(default_factory=dict)  # other variables of a good file

    @property
    def image(self):
        return Path(self.mat).stem

    def write(self, path, **arrays):
        (write_mat73 if self.v73 else write_mat5)(path, **arrays)


MAT = {
    "icvl": MatLayout("rad", "prk_0328-1025.mat", True),
    "ntire2018": MatLayout("rad", "NTIRE2018_Train1_Spectral/BGU_HS_00001.mat", True,
                           "NTIRE2018_Train1_Clean/BGU_HS_00001_clean.png"),
    "ntire2020": MatLayout("cube", "NTIRE2020_Train_Spectral/ARAD_HS_0001.mat", True,
                           "NTIRE2020_Train_Clean/ARAD_HS_0001_clean.png"),
    "harvard": MatLayout("ref", "CZ_hsdb/img1.mat", False, extra={"lbl": np.ones((H, W), np.uint8)}),
    "nus": MatLayout("hyperimg", "train/scene_a.mat", False),
}
CAVE_SCENE = "toy"
DATASETS = tuple(MAT) + ("cave",)


def cave_band(root, band):
    return root / f"{CAVE_SCENE}_ms" / f"{CAVE_SCENE}_ms_{band:02d}.png"


def write_good(root, dataset):
    """A valid one-image copy of the dataset's layout under ``root``; returns the image name."""
    if dataset == "cave":
        planes = np.random.default_rng(2).integers(0, 65536, (H, W, BANDS)).astype(np.uint16)
        for band in range(1, BANDS + 1):
            write_png(cave_band(root, band), planes[..., band - 1])
        return CAVE_SCENE
    layout = MAT[dataset]
    layout.write(root / layout.mat, **{layout.key: cube()}, **layout.extra)
    if layout.clean:
        write_png(root / layout.clean, rgb8())
    return layout.image


# ----------------------------------------------------------------------------- breakages

@dataclass
class Case:
    """What a breakage left: the root to open, the culprit the message must name, a regex
    for the problem, and a path to make unreadable during the call: for real (``chmod``
    0) or simulated for root (``deny``: os.access refuses it; ``deny_listing``: listing
    the folder raises PermissionError, as opendir does on a folder without r/x)."""

    root: Path
    culprit: Path
    problem: str
    chmod: Path = None
    deny: Path = None
    deny_listing: Path = None


def _the_file(root, dataset):
    """The one file of the image that a per-file breakage damages."""
    if dataset == "cave":
        return cave_band(root, 5)
    return root / MAT[dataset].mat


def truncated_hdf5(root, dataset):
    layout = MAT[dataset]
    path = root / layout.mat
    path.unlink()
    write_mat73(path, **{layout.key: cube()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return Case(root, path, r"cannot read .*truncated or corrupt")


def truncated_png(root, dataset):
    path = cave_band(root, 5) if dataset == "cave" else root / MAT[dataset].clean
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return Case(root, path, r"cannot read .*truncated or corrupt")


def v73_without_the_key(root, dataset):
    layout = MAT[dataset]
    path = root / layout.mat
    path.unlink()
    write_mat73(path, radiance=cube())
    if dataset == "nus":
        return Case(root, path, r"none of the NUS cube variables .* \(found: radiance\)")
    return Case(root, path, rf"no variable '{layout.key}' .*\(found: radiance\)")


def v5_with_a_2d_array(root, dataset):
    layout = MAT[dataset]
    path = root / layout.mat
    path.unlink()
    write_mat5(path, **{layout.key: cube()[..., 0]})
    return Case(root, path, rf"'{layout.key}' has shape \({H}, {W}\), expected H x W x bands")


def thirty_bands(root, dataset):
    if dataset == "cave":
        cave_band(root, 31).unlink()
        return Case(root, cave_band(root, 1).parent, r"CAVE scene has bands .*missing \[31\]")
    layout = MAT[dataset]
    path = root / layout.mat
    path.unlink()
    layout.write(path, **{layout.key: cube(bands=30)})
    return Case(root, path, r"30 bands, expected 31")


def rgb_of_another_size(root, dataset):
    path = root / MAT[dataset].clean
    write_png(path, rgb8(width=W + 1))
    return Case(root, path, rf"RGB is {H}x{W + 1} but the cube .*{re.escape(MAT[dataset].mat)} is {H}x{W}")


def mask_of_another_size(root, dataset):
    layout = MAT[dataset]
    path = root / layout.mat
    layout.write(path, **{layout.key: cube(), "lbl": np.ones((H, W + 1), np.uint8)})
    return Case(root, path, rf"'lbl' is \({H}, {W + 1}\) but 'ref' is \({H}, {W}\)")


def nan_cube(root, dataset):
    layout = MAT[dataset]
    values = cube()
    values[1, 2, 3] = np.nan
    layout.write(root / layout.mat, **{layout.key: values}, **layout.extra)
    return Case(root, root / layout.mat, rf"'{layout.key}' contains 1 NaN/Inf value")


def empty_folder(root, dataset):
    empty = root.parent / "empty"
    empty.mkdir()
    return Case(empty, empty, r"no CAVE scene folders" if dataset == "cave" else r"no \.mat files found")


def png_of_the_wrong_bit_depth(root, dataset):
    if dataset == "cave":
        path = cave_band(root, 1)
        write_png(path, np.full((H, W), 200, np.uint8))
        return Case(root, path, r"8-bit PNG, expected a 16-bit band image")
    path = root / MAT[dataset].clean
    write_png(path, np.full((H, W), 1000, np.uint16))
    return Case(root, path, r"16-bit PNG, expected an 8-bit RGB image")


def grey_png_for_rgb(root, dataset):
    path = root / MAT[dataset].clean
    write_png(path, np.full((H, W), 100, np.uint8))
    return Case(root, path, r"image mode L, expected 8-bit RGB")


def folder_where_a_file_is_expected(root, dataset):
    path = _the_file(root, dataset)
    path.unlink()
    path.mkdir()
    return Case(root, path, r"is a folder, expected a (MATLAB \.mat|PNG) file")


def folder_where_the_rgb_is_expected(root, dataset):
    path = root / MAT[dataset].clean
    path.unlink()
    path.mkdir()
    return Case(root, path, r"is a folder, expected a PNG file")


def root_is_a_file(root, dataset):
    a_file = root.parent / "data.tar"
    a_file.write_bytes(b"not a folder")
    return Case(a_file, a_file, r"root must be a folder, not a file")


def root_does_not_exist(root, dataset):
    missing = root.parent / "nonexistent"
    return Case(missing, missing, r"root folder does not exist")


def unreadable_file(root, dataset):
    path = _the_file(root, dataset)
    return Case(root, path, r"permission denied", chmod=path)


def unreadable_folder(root, dataset):
    return Case(root, root, r"permission denied \(cannot list", chmod=root)


def access_denied(root, dataset):
    """The same refusal simulated (os.access says no), so that it also runs as root."""
    path = _the_file(root, dataset)
    return Case(root, path, r"permission denied", deny=path)


def _cube_folder(root, dataset):
    return _the_file(root, dataset).parent


def _rgb_folder(root, dataset):
    return (root / MAT[dataset].clean).parent


def unreadable_subfolder(root, dataset):
    """A folder below the root without permissions: its images must not silently vanish."""
    folder = _cube_folder(root, dataset)
    return Case(root, folder, r"permission denied", chmod=folder)


def unreadable_rgb_folder(root, dataset):
    """The NTIRE *_Clean folder without permissions: the provided RGB must not silently vanish."""
    folder = _rgb_folder(root, dataset)
    return Case(root, folder, r"permission denied", chmod=folder)


def unlisted_subfolder(root, dataset):
    folder = _cube_folder(root, dataset)
    return Case(root, folder, r"permission denied", deny_listing=folder)


def unlisted_rgb_folder(root, dataset):
    folder = _rgb_folder(root, dataset)
    return Case(root, folder, r"permission denied", deny_listing=folder)


def _rewrite(root, dataset, values, **more):
    layout = MAT[dataset]
    path = root / layout.mat
    path.unlink()
    layout.write(path, **{layout.key: values}, **{**layout.extra, **more})
    return path


def complex_cube(root, dataset):
    """h5py and scipy both store complex arrays; the imaginary part must not be dropped silently."""
    path = _rewrite(root, dataset, cube() + 1j * cube(seed=1))
    return Case(root, path, rf"'{MAT[dataset].key}' holds complex numbers")


def cube_as_a_group(root, dataset):
    layout = MAT[dataset]
    path = root / layout.mat
    path.unlink()
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle.create_group(layout.key).create_dataset("data", data=cube().T)
    return Case(root, path, rf"'{layout.key}' is not a numeric array \(an HDF5 group")


def all_zero_cube(root, dataset):
    path = _rewrite(root, dataset, np.zeros((H, W, BANDS)))
    return Case(root, path, r"is all zero")


def negative_cube(root, dataset):
    values = cube() * PEAKS[dataset]
    values[:2] = -2.0 * PEAKS[dataset]  # two rows far below zero
    path = _rewrite(root, dataset, values)
    return Case(root, path, r"far outside \[0, 1\]")


def cube_far_above_its_peak(root, dataset):
    """16-bit counts in a dataset whose files hold 12-bit counts (or values on [0, 1])."""
    path = _rewrite(root, dataset, cube() * PEAKS[dataset] * 16)
    return Case(root, path, r"far outside \[0, 1\]: a wrong scale")


def _bands(root, dataset, bands):
    key = {"nus": "wavelengths"}.get(dataset, "bands")
    return _rewrite(root, dataset, cube() * PEAKS[dataset], **{key: np.asarray(bands, dtype=float)[None, :]})


def bands_with_nan(root, dataset):
    bands = np.arange(400.0, 701.0, 10.0)
    bands[5] = np.nan
    return Case(root, _bands(root, dataset, bands), r"band wavelengths hold NaN")


def bands_in_micrometres(root, dataset):
    return Case(root, _bands(root, dataset, np.arange(0.4, 0.701, 0.01)), r"look like micrometres")


def bands_off_the_documented_grid(root, dataset):
    return Case(root, _bands(root, dataset, np.arange(420.0, 721.0, 10.0)),
                r"420-720 nm differ from this dataset's documented 400-700 nm")


def names_differing_only_in_case(root, dataset):
    """PRK_x beside prk_x: one could train and the other test."""
    if dataset == "cave":
        twin = root / f"{CAVE_SCENE.upper()}_ms"
        twin.mkdir()
        for band in range(1, BANDS + 1):
            source = cave_band(root, band)
            (twin / source.name.replace(CAVE_SCENE, CAVE_SCENE.upper())).write_bytes(source.read_bytes())
        return Case(root, twin, r"differ only in case")
    original = root / MAT[dataset].mat
    twin = original.with_name(original.stem.upper() + original.suffix)
    twin.write_bytes(original.read_bytes())
    return Case(root, original.parent, r"differ only in case")


def one_pixel_scene(root, dataset):
    for band in range(1, BANDS + 1):
        write_png(cave_band(root, band), np.full((1, 1), 1000, np.uint16))
    return Case(root, cave_band(root, 1).parent, r"is 1x1 pixels, too small to be an image")


#: The nominal peak each reader divides by (ICVL and NTIRE 2018: 12-bit counts; NTIRE
#: 2020: about [0, 1]; NUS: each image's maximum, so only a negative cube is implausible).
PEAKS = {"icvl": 4095.0, "ntire2018": 4095.0, "ntire2020": 1.0, "harvard": 1.0, "nus": 1.0}
MAT_DATASETS = tuple(MAT)
NTIRE = ("ntire2018", "ntire2020")
V73 = ("icvl", "ntire2018", "ntire2020")
WITH_BANDS = ("icvl", "ntire2018", "ntire2020", "nus")  # the readers read their band centres
NESTED = ("ntire2018", "ntire2020", "harvard", "nus", "cave")  # the image sits in a subfolder
TABLE = {
    # breakage: (builder, datasets it applies to, marks)
    "truncated_hdf5": (truncated_hdf5, MAT_DATASETS, ()),
    "truncated_png": (truncated_png, NTIRE + ("cave",), ()),
    "v73_without_the_key": (v73_without_the_key, MAT_DATASETS, ()),
    "v5_with_a_2d_array": (v5_with_a_2d_array, MAT_DATASETS, ()),
    "thirty_bands": (thirty_bands, DATASETS, ()),
    "rgb_of_another_size": (rgb_of_another_size, NTIRE, ()),
    "mask_of_another_size": (mask_of_another_size, ("harvard",), ()),
    "nan_cube": (nan_cube, MAT_DATASETS, ()),
    "empty_folder": (empty_folder, DATASETS, ()),
    "png_of_the_wrong_bit_depth": (png_of_the_wrong_bit_depth, NTIRE + ("cave",), ()),
    "grey_png_for_rgb": (grey_png_for_rgb, NTIRE, ()),
    "folder_where_a_file_is_expected": (folder_where_a_file_is_expected, DATASETS, ()),
    "folder_where_the_rgb_is_expected": (folder_where_the_rgb_is_expected, NTIRE, ()),
    "root_is_a_file": (root_is_a_file, DATASETS, ()),
    "root_does_not_exist": (root_does_not_exist, DATASETS, ()),
    "unreadable_file": (unreadable_file, DATASETS, (needs_non_root,)),
    "unreadable_folder": (unreadable_folder, DATASETS, (needs_non_root,)),
    "access_denied": (access_denied, DATASETS, ()),
    "unreadable_subfolder": (unreadable_subfolder, NESTED, (needs_non_root,)),
    "unreadable_rgb_folder": (unreadable_rgb_folder, NTIRE, (needs_non_root,)),
    "unlisted_subfolder": (unlisted_subfolder, NESTED, ()),
    "unlisted_rgb_folder": (unlisted_rgb_folder, NTIRE, ()),
    "complex_cube": (complex_cube, MAT_DATASETS, ()),
    "cube_as_a_group": (cube_as_a_group, V73, ()),
    "all_zero_cube": (all_zero_cube, ("icvl", "ntire2018", "ntire2020", "harvard", "nus"), ()),
    "negative_cube": (negative_cube, ("icvl", "ntire2018", "ntire2020", "harvard"), ()),
    "cube_far_above_its_peak": (cube_far_above_its_peak, ("icvl", "ntire2018", "ntire2020", "harvard"), ()),
    "bands_with_nan": (bands_with_nan, WITH_BANDS, ()),
    "bands_in_micrometres": (bands_in_micrometres, WITH_BANDS, ()),
    "bands_off_the_documented_grid": (bands_off_the_documented_grid, ("icvl", "ntire2018", "ntire2020"), ()),
    "names_differing_only_in_case": (names_differing_only_in_case, ("icvl", "cave"), ()),
    "one_pixel_scene": (one_pixel_scene, ("cave",), ()),
}
CORPUS = [pytest.param(dataset, breakage, marks=marks, id=f"{dataset}-{breakage}")
          for breakage, (_, datasets, marks) in TABLE.items() for dataset in datasets]


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _simulate_refusals(patch, case):
    if case.deny is not None:
        real_access = os.access
        patch.setattr(os, "access", lambda p, mode, **kw: Path(p) != case.deny and real_access(p, mode, **kw))
    if case.deny_listing is not None:
        real_scandir = os.scandir

        def scandir(path="."):
            if Path(path) == case.deny_listing:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_scandir(path)

        patch.setattr(os, "scandir", scandir)


def _open_and_load(dataset, root, image):
    readers.open_dataset(dataset, root).load(image)


@pytest.mark.parametrize("dataset", DATASETS)
def test_good_layout_loads(tmp_path, dataset):
    """The control: every breakage below starts from this layout, which loads."""
    root = tmp_path / dataset
    image = write_good(root, dataset)
    loaded = readers.open_dataset(dataset, root).load(image)
    assert loaded.data.shape == (H, W, BANDS)
    assert (loaded.rgb is not None) == (dataset in NTIRE)


@pytest.mark.parametrize("dataset, breakage", CORPUS)
def test_bad_input_is_one_kit_error_naming_the_file(tmp_path, monkeypatch, dataset, breakage):
    root = tmp_path / dataset
    image = write_good(root, dataset)
    case = TABLE[breakage][0](root, dataset)
    before = _tree(tmp_path)
    if case.chmod is not None:
        mode = case.chmod.stat().st_mode
        case.chmod.chmod(0)
    try:
        with monkeypatch.context() as patch, pytest.raises(KitError) as info:
            _simulate_refusals(patch, case)
            _open_and_load(dataset, case.root, image)
    finally:
        if case.chmod is not None:
            case.chmod.chmod(mode)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(case.culprit) in message, message
    assert re.search(case.problem, message), message
    assert _tree(tmp_path) == before  # a reader never writes


# ----------------------------------------------------------------------------- command lines

PAPERS = {  # paper: the real dataset its --data accepts
    "drcnn_sam": "cave",
    "ms_ssfnet": "harvard",
    "pix2pix_hs": "icvl",
    "rdab_coordconv": "ntire2020",
    "unet_ms": "ntire2018",
}


def run_entry_point(paper, argv, monkeypatch):
    """``python -m papers.<paper> *argv`` in this process -> the SystemExit code."""
    monkeypatch.setattr(sys, "argv", [f"python -m papers.{paper}", *argv])
    with pytest.raises(SystemExit) as stop:
        runpy.run_module(f"papers.{paper}", run_name="__main__")
    return stop.value.code


def assert_one_error_line(stderr, paper):
    """The one line on stderr: ``error: ...`` (a ``KitError``, or a usage error of the
    parser: ``error: python -m papers.<paper>: ...``)."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def cli_case(name, tmp_path, own):
    """(argv, regex the error line must match) for one broken command line."""
    missing, empty = tmp_path / "nonexistent", tmp_path / "empty"
    empty.mkdir()
    assert not os.path.exists("/nonexistent")
    cases = {
        "data_cave_nonexistent": (["train", "--data", "cave=/nonexistent"],
                                  r"/nonexistent: CAVE root folder does not exist"),
        "data_own_nonexistent": (["train", "--data", f"{own}={missing}"],
                                 rf"{re.escape(str(missing))}: .* root folder does not exist"),
        "data_unknown_dataset": (["train", "--data", f"nosuchdataset={tmp_path}"],
                                 r"unknown dataset 'nosuchdataset'"),
        "data_empty_folder": (["reproduce", "--data", f"{own}={empty}"],
                              rf"{re.escape(str(empty))}: no (\.mat files|CAVE scene folders)"),
        "epochs_zero": (["train", "--epochs", "0"], r"--epochs: expected a positive integer, got 0"),
        "profile_unknown": (["train", "--profile", "nope"], r"--profile: invalid choice: 'nope'"),
        "data_root_nonexistent": (["reproduce", "--data-root", str(missing)],
                                  rf"{re.escape(str(missing))}(: no such folder|: data root folder does not exist)"),
        "unknown_command": (["frobnicate"], r"invalid choice: 'frobnicate'"),
    }
    return cases[name]


CLI_CASES = ("data_cave_nonexistent", "data_own_nonexistent", "data_unknown_dataset", "data_empty_folder",
             "epochs_zero", "profile_unknown", "data_root_nonexistent", "unknown_command")


@pytest.mark.parametrize("case", CLI_CASES)
@pytest.mark.parametrize("paper", PAPERS)
def test_broken_command_line_fails_cleanly(tmp_path, monkeypatch, capsys, paper, case):
    argv, problem = cli_case(case, tmp_path, PAPERS[paper])
    out = tmp_path / "out"
    before = _tree(tmp_path)
    code = run_entry_point(paper, argv + ["--out", str(out)], monkeypatch)
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    line = assert_one_error_line(stderr, paper)
    assert re.search(problem, line), line
    assert not out.exists()
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("paper", PAPERS)
def test_entry_module_imports_without_running(monkeypatch, capsys, paper):
    """``papers.<name>.__main__`` can be imported without running a command."""
    name = f"papers.{paper}.__main__"
    monkeypatch.setattr(sys, "argv", ["pytest"])  # a command run at import would fail on these
    sys.modules.pop(name, None)
    try:
        module = importlib.import_module(name)
    except SystemExit:
        pytest.fail(f"importing {name} ran the command line: {capsys.readouterr().err.strip()}")
    finally:
        sys.modules.pop(name, None)  # runpy above wants to execute it fresh
    assert callable(module.paper_main)
