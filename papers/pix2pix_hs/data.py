"""pix2pix_hs data: (sRGB, spectral) image pairs, random training crops, test tiles.

- Preparation (Sec. 3.2): each cube is min-subtracted and max-scaled over the whole image
  (``normalise_cube``); that normalised cube S is the target (scaled by 255 for the
  metrics, Table 1) and its sRGB rendition by ``data_prep.render.render_srgb_alvarez_gila``
  (CIE 1964 10-degree XYZ with eqs. 8-9, sRGB matrix and gamma) is the input. Pixels whose
  original spectrum is all zero (the black borders of ICVL's variable image width) are
  masked out of the evaluation (Table 1 caption).
- ``PairStore``: the prepared pairs of a list of images in one HDF5 file (uint16 on
  [0, 1], chunked 64 x 64 so that a random crop reads only the chunks it touches), built
  once per dataset and reused by every fold and run. ICVL images are 1392 x 1300 x 31:
  200 of them take about 25 GB; the synthetic set about 140 MB.
- ``RandomCrops``: one random crop per image per epoch (Sec. 2.3), scaled to tanh's
  range [-1, 1], as a ``keras.utils.PyDataset`` (works on the TensorFlow and JAX
  backends alike, no TensorFlow needed).
- Splits (Sec. 3.3): ICVL's two folds of 100 images, the authors' published lists
  (``split_lists/icvl_test0.txt`` and ``icvl_test1.txt`` in this folder: fold k tests on
  list k and trains on the other list); CAVE (not the paper's data) is one fold, the kit's
  CAVE split; the synthetic set uses its own train / val / test split.
- Test tiles (Sec. 2.3): non-overlapping ``tile`` x ``tile`` tiles over the top-left
  region whose sides are the largest multiples of the tile (1280 x 1280 for ICVL's
  1392 x 1300 at 256), predicted independently and stitched back.
"""

import math
from pathlib import Path

import numpy as np

import keras

from common import distribute
from common.io import KitError, atomic_path
from data_prep.patches import provenance_digest

HERE = Path(__file__).resolve().parent
#: Sec. 3.3: the authors' published fold lists (test0.csv and test1.csv at
#: https://aitorshuffle.github.io/files/pbdl2017data/); one of the 201 images is in neither.
ICVL_FOLD_FILES = (HERE / "split_lists" / "icvl_test0.txt", HERE / "split_lists" / "icvl_test1.txt")
CACHE_DIR = HERE.parents[1] / "cache" / "pix2pix_hs"
STORE_FORMAT = 1  # bump when the stored layout or the preparation changes
UINT16_PEAK = 65535.0
CHUNK = 64


# ----------------------------------------------------------------------------- preparation
def normalise_cube(data):
    """Sec. 3.2: S = (S' - min S') / (max S' - min S') over the whole image -> float32 [0, 1]."""
    data = np.asarray(data, dtype=np.float64)
    shifted = data - data.min()
    peak = shifted.max()
    return (shifted / peak if peak > 0 else shifted).astype(np.float32)


def prepare_pair(cube):
    """(rgb, hs, mask) of an ``HSCube``: sRGB input and normalised target in [0, 1], and
    the valid-pixel mask (False where the original spectrum is all zero)."""
    from data_prep.render import render_srgb_alvarez_gila

    hs = normalise_cube(cube.data)
    rgb = render_srgb_alvarez_gila(hs, cube.wavelengths)
    mask = np.any(cube.data != 0, axis=-1)
    if cube.mask is not None:
        mask &= cube.mask
    return rgb.astype(np.float32), hs, mask


# ----------------------------------------------------------------------------- splits
def icvl_folds(names, fold_files=ICVL_FOLD_FILES):
    """The two ICVL folds, ``[{'train': list 1, 'test': list 0}, {'train': list 0, 'test':
    list 1}]``, from the two list files (the authors' by default). A listed image missing
    from ``names`` raises a ``KitError`` naming the list and the image."""
    from data_prep.splits import named_split, read_name_list

    folds = []
    for path in fold_files:
        _, listed = named_split(names, read_name_list(path), what=f"ICVL fold list {path}:")
        folds.append(listed)
    return [{"train": folds[1], "test": folds[0]}, {"train": folds[0], "test": folds[1]}]


def make_folds(dataset):
    """The train / test folds of a run, and a sentence describing them.

    ICVL: the paper's two folds (Sec. 3.3) from the authors' lists (``icvl_folds``); fold
    k tests on list k and trains on the other list. CAVE: one fold, the kit's CAVE split.
    Synthetic: one fold, its own train / val / test split.
    """
    from data_prep.splits import cave_split

    if dataset.name == "cave":
        fold = {"id": "cave", **cave_split(dataset)}
        return [fold], (f"CAVE (not the paper's data), one fold: train/test {len(fold['train'])}/"
                        f"{len(fold['test'])} scenes (the kit's CAVE split)")
    if dataset.name == "icvl":
        folds = [{"id": k, "val": [], **fold} for k, fold in enumerate(icvl_folds(dataset.names))]
        text = (f"ICVL folds of Alvarez-Gila et al. (train/test {len(folds[0]['train'])}/"
                f"{len(folds[0]['test'])} and {len(folds[1]['train'])}/{len(folds[1]['test'])})")
        return folds, text
    if hasattr(dataset, "split"):
        fold = {"id": "synthetic", "train": dataset.split("train"), "val": dataset.split("val"),
                "test": dataset.split("test")}
        text = f"one fold: train/val/test {len(fold['train'])}/{len(fold['val'])}/{len(fold['test'])} scenes"
        return [fold], text
    raise KitError(f"pix2pix_hs uses ICVL (or the synthetic set), not {dataset.name}")


# ----------------------------------------------------------------------------- the store
def _store_key(dataset, names):
    identity = {"format": STORE_FORMAT, "dataset": dataset.name, "names": sorted(names),
                "about": dataset.describe() if dataset.name == "synthetic" else str(dataset.root)}
    return provenance_digest(identity, length=16)


class PairStore:
    """Prepared (rgb, hs, mask) of ``names`` in an HDF5 file under ``cache_dir``.

    Built on first use (one image in memory at a time, written through a temporary file,
    marked complete last); a file that is incomplete or made from other images is rebuilt.
    """

    def __init__(self, dataset, names, cache_dir=None, stage=print):
        self.dataset = dataset
        self.names = sorted(set(names))
        key = _store_key(dataset, self.names)
        self.path = Path(cache_dir or CACHE_DIR) / f"{dataset.name}_{key}.h5"
        self._stage = stage
        self._file = None
        self.wavelengths = None
        self._ensure()

    def _valid(self):
        import h5py

        try:
            with h5py.File(self.path, "r") as f:
                return bool(f.attrs.get("complete")) and f.attrs.get("format") == STORE_FORMAT and all(
                    name in f for name in self.names)
        except OSError:
            return False

    def _ensure(self):
        import h5py

        if not self._valid():
            self._stage(f"preparing {len(self.names)} {self.dataset.name} image pairs (sRGB rendering, "
                        f"normalisation) into {self.path}")
            with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as f:
                for name in self.names:
                    cube = self.dataset.load(name)
                    rgb, hs, mask = prepare_pair(cube)
                    group = f.create_group(name)
                    for key, value in (("rgb", rgb), ("hs", hs)):
                        chunks = (min(CHUNK, value.shape[0]), min(CHUNK, value.shape[1]), value.shape[2])
                        group.create_dataset(key, data=np.round(np.clip(value, 0, 1) * UINT16_PEAK).astype(
                            np.uint16), chunks=chunks)
                    group.create_dataset("mask", data=mask)
                    f.attrs["wavelengths"] = cube.wavelengths
                f.attrs["format"] = STORE_FORMAT
                f.attrs["complete"] = True
        with h5py.File(self.path, "r") as f:
            self.wavelengths = np.array(f.attrs["wavelengths"], dtype=np.float64)

    def _h5(self):
        if self._file is None:
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file

    def shape(self, name):
        return self._h5()[name]["hs"].shape

    def window(self, name, top, left, height, width):
        """(rgb, hs, mask) of a window, float32 in [0, 1]."""
        group = self._h5()[name]
        rows, cols = slice(top, top + height), slice(left, left + width)
        rgb = group["rgb"][rows, cols].astype(np.float32) / UINT16_PEAK
        hs = group["hs"][rows, cols].astype(np.float32) / UINT16_PEAK
        return rgb, hs, group["mask"][rows, cols]

    def full(self, name):
        height, width = self.shape(name)[:2]
        return self.window(name, 0, 0, height, width)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def to_tanh(x):
    return x * 2.0 - 1.0


# ----------------------------------------------------------------------------- training
class RandomCrops(keras.utils.PyDataset):
    """Sec. 2.3: one random ``crop`` x ``crop`` crop per image and epoch, as (rgb, hs) in [-1, 1].

    The crops of epoch e come from ``numpy.random.default_rng([seed, e])``. The object is
    its own ``epoch_clock``: ``common.training.fit`` calls ``start(first_epoch)`` before
    training, so a run resumed after epoch 12 draws in epoch 13 the crops an uninterrupted
    run draws; Keras' ``on_epoch_end`` moves it on by one epoch.
    """

    def __init__(self, store, names, crop, batch_size=1, crops_per_image=1, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.store, self.names, self.crop = store, list(names), int(crop)
        self.batch_size, self.crops_per_image, self.seed = int(batch_size), int(crops_per_image), int(seed)
        for name in self.names:
            height, width = store.shape(name)[:2]
            if height < self.crop or width < self.crop:
                raise KitError(f"{store.path}: image {name} ({height}x{width}) is smaller than the "
                               f"{self.crop}x{self.crop} training crop")
        distribute.check_batch_size(self.batch_size)
        if distribute.active().replicas > 1 and len(self.names) * self.crops_per_image < self.batch_size:
            raise KitError(f"{len(self.names)} training image(s) x {self.crops_per_image} crop(s) make no "
                           f"batch of {self.batch_size}")
        self.epoch = 0
        self._plan = self._make_plan()

    def _make_plan(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        plan = []
        for name in self.names * self.crops_per_image:
            height, width = self.store.shape(name)[:2]
            plan.append((name, int(rng.integers(0, height - self.crop + 1)),
                         int(rng.integers(0, width - self.crop + 1))))
        order = rng.permutation(len(plan))
        return [plan[i] for i in order]

    @property
    def epoch_clock(self):
        return self

    def start(self, first_epoch):
        self.epoch = int(first_epoch)
        self._plan = self._make_plan()

    def __len__(self):
        if distribute.active().replicas > 1:  # every batch must split evenly: drop a smaller last one
            return len(self._plan) // self.batch_size
        return math.ceil(len(self._plan) / self.batch_size)

    def __getitem__(self, index):
        rgbs, hss = [], []
        for name, top, left in self._plan[index * self.batch_size:(index + 1) * self.batch_size]:
            rgb, hs, _ = self.store.window(name, top, left, self.crop, self.crop)
            rgbs.append(to_tanh(rgb))
            hss.append(to_tanh(hs))
        return np.stack(rgbs), np.stack(hss)

    def on_epoch_end(self):
        self.epoch += 1
        self._plan = self._make_plan()


def centre_crops(store, names, crop):
    """Fixed centre crops of ``names`` as (rgb, hs) arrays in [-1, 1] (validation logs).

    Under ``--distribute`` only the first multiple of the replica count is kept (every
    batch must split evenly); None when that leaves none."""
    names = list(names)[:distribute.even_count(len(names))]
    if not names:
        return None
    rgbs, hss = [], []
    for name in names:
        height, width = store.shape(name)[:2]
        rgb, hs, _ = store.window(name, (height - crop) // 2, (width - crop) // 2, crop, crop)
        rgbs.append(to_tanh(rgb))
        hss.append(to_tanh(hs))
    return np.stack(rgbs), np.stack(hss)


# ----------------------------------------------------------------------------- testing
def tiled_region(shape, tile):
    """(height, width) of the top-left region covered by whole ``tile`` x ``tile`` tiles."""
    height, width = (shape[0] // tile) * tile, (shape[1] // tile) * tile
    if height == 0 or width == 0:
        raise KitError(f"a {shape[0]}x{shape[1]} test image holds no whole {tile}x{tile} tile")
    return height, width


def test_pair(store, name, tile):
    """(rgb, hs, mask) of a test image cropped to its tiled region (Sec. 2.3)."""
    height, width = tiled_region(store.shape(name), tile)
    return store.window(name, 0, 0, height, width)


def sample_pixels(store, names, total, seed=0):
    """Random valid (rgb, spectrum) pixels, about ``total`` in all, spread over ``names``."""
    rng = np.random.default_rng(seed)
    per_image = max(1, total // max(len(names), 1))
    rgbs, spectra = [], []
    for name in names:
        rgb, hs, mask = store.full(name)
        index = np.flatnonzero(mask.ravel())
        index = rng.choice(index, size=min(per_image, index.size), replace=False)
        rgbs.append(rgb.reshape(-1, 3)[index])
        spectra.append(hs.reshape(-1, hs.shape[-1])[index])
    return np.concatenate(rgbs), np.concatenate(spectra)
