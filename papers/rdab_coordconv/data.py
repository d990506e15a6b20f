"""Data for rdab_coordconv: NTIRE 2020 clean-track pairs, or the synthetic stand-in.

* Dataset: NTIRE 2020 (ARAD, 482x512x31, 400-700 nm) when ``--data ntire2020=<root>``
  or ``--data-root`` holds it, with the organisers' clean-track RGB (``*_clean.png``, 8
  bit). Split (Sec. 3.1): 400 training / 50 validation images of the 450 official
  training images (``ntire2020_split``, seeded); the 10 official validation images are
  the test set (the challenge's test cubes were never released). The complete CAVE set is
  accepted as real data the paper did not use (the kit's CAVE split, RGB rendered with
  the clean-track response).
* Otherwise the embedded synthetic scenes (``data_prep.synthetic``), rendered to RGB with
  the same clean-track response (CIE 1964 CMFs scaled to sum to 255, then / 255,
  clipped, and floored to 8 bits as the organisers' PNGs).
* Training pairs (Sec. 3.1: "8000 training patches and 1000 validation patches"): a fixed
  number of random patches per image (20 in the paper profile: 400 x 20 = 8000,
  50 x 20 = 1000), drawn once with a seeded generator from a grid of stride patch/4 and
  cached in HDF5 (``data_prep.patches.PatchCache``), so a resumed run trains on the same
  patches. The network sees RGB in [0, 1] and predicts the cube on its stored scale.
"""

from pathlib import Path

import numpy as np

from common.cli import REPO_ROOT, choose_dataset, synthetic_options
from common.io import KitError
from data_prep.patches import PatchCache, extract_patch_pairs, provenance_digest
from data_prep.render import render_ntire2020_clean
from data_prep import splits as S

CACHE_DIR = REPO_ROOT / "cache" / "rdab_coordconv"


def ntire2020_split(dataset, seed=0):
    """{'train', 'val', 'test'} (Sec. 3.1): the official training images ARAD_HS_0001-0450
    present under the root split 400 / 50 with ``seeded_order`` (the paper's 400 / 50),
    and the official validation images as the test set."""
    official = set(S.NTIRE2020_TRAIN)
    pool = [n for n in sorted(dataset.names) if n in official]
    if len(pool) < 2:
        raise KitError(f"{dataset.root}: fewer than 2 NTIRE 2020 training images (ARAD_HS_0001-0450)")
    n_val = 50 if len(pool) > 50 else max(1, len(pool) // 9)
    train, val = S.random_split(pool, n_val, seed)
    test = [n for n in sorted(dataset.names) if n in set(S.NTIRE2020_VALIDATION)]
    return {"train": train, "val": val, "test": test or list(val)}


def open_data(args, config, datasets=("ntire2020",)):
    """(dataset, why, {'train', 'val', 'test'} name lists) for a run's arguments."""
    dataset, why = choose_dataset(args, datasets, synthetic_kwargs=synthetic_options(config["data"]))
    if dataset.name == "synthetic":
        splits = {which: dataset.split(which) for which in ("train", "val", "test")}
    elif dataset.name == "cave":
        splits = S.cave_split(dataset)
        # 3 of the training scenes hold the validation patches (Table 1 reports a
        # validation column; the paper's is 50 ARAD images).
        splits["train"], splits["val"] = S.random_split(splits["train"], 3, seed=0)
    else:
        splits = ntire2020_split(dataset)
    return dataset, why, splits


def short_description(dataset, splits, max_test=None):
    """A few words for table headers, e.g. 'synthetic 128px, train/val/test 17/4/8'."""
    n_test = len(splits["test"][:max_test] if max_test else splits["test"])
    counts = f"train/val/test {len(splits['train'])}/{len(splits['val'])}/{n_test}"
    if dataset.name == "synthetic":
        return f"synthetic {dataset.size}px, {counts}"
    return f"{dataset.name}, {counts}"


def dataset_key(dataset):
    """'ntire2020_clean' when the run used ARAD with the clean-track RGB (the paper's data)."""
    return "ntire2020_clean" if dataset.name == "ntire2020" else dataset.name


def rgb_of(cube):
    """The clean-track RGB input of a cube: the dataset's own PNG when it ships one,
    else rendered with the NTIRE 2020 clean response and floored to 8 bits."""
    if cube.rgb is not None:
        return np.asarray(cube.rgb, dtype=np.float32)
    return render_ntire2020_clean(cube.data, quantize=True)


def load_pair(dataset, name):
    """(rgb H x W x 3, cube H x W x 31) float32 of one image."""
    cube = dataset.load(name)
    if cube.data.shape[-1] != 31:
        raise KitError(f"{cube.source}: rdab_coordconv needs 31 bands (400-700 nm), got {cube.data.shape[-1]}")
    return rgb_of(cube), np.asarray(cube.data, dtype=np.float32)


def _patches_of(dataset, names, size, per_image, seed):
    """One dict {'rgb', 'hs'} of ``per_image`` random patches per image, image by image."""
    stride = max(size // 4, 1)
    for index, name in enumerate(names):
        rgb, cube = load_pair(dataset, name)
        if min(cube.shape[:2]) < size:
            raise KitError(f"{name}: image {cube.shape[0]}x{cube.shape[1]} is smaller than the {size}px patch")
        yield extract_patch_pairs(
            {"rgb": rgb, "hs": cube}, {"rgb": size, "hs": size}, {"rgb": stride, "hs": stride},
            max_patches=per_image, seed=seed * 1_000_003 + index,
        )


def patch_cache(dataset, description, names, which, config, seed=0):
    """The ``PatchCache`` of the ``which`` split ('train' or 'val'), built on first use."""
    data = config["data"]
    per_image = data["patches_per_image"] if which == "train" else data["val_patches_per_image"]
    provenance = {
        "paper": "rdab_coordconv",
        "dataset": dataset.name,
        "root": str(getattr(dataset, "root", None)),
        "description": description,
        "split": which,
        "images": list(names),
        "renderer": "ntire2020 clean (8-bit)",
        "patch_size": data["patch_size"],
        "patches_per_image": per_image,
        "seed": seed,
    }
    digest = provenance_digest(provenance)
    path = Path(CACHE_DIR) / f"{dataset.name}_{which}_{data['patch_size']}px_{digest}.h5"
    return PatchCache.build(
        path, provenance, lambda: _patches_of(dataset, names, data["patch_size"], per_image, seed)
    )


def training_data(dataset, description, splits, config, seed=0):
    """(train dataset, val dataset, steps per epoch, n train patches) for ``model.fit``."""
    from data_prep.pipeline import make_dataset

    batch = int(config["train"]["batch_size"])
    train = patch_cache(dataset, description, splits["train"], "train", config, seed)
    val = patch_cache(dataset, description, splits["val"], "val", config, seed)
    train_ds = make_dataset(train["rgb"], train["hs"], batch, shuffle=True,
                            augment=config["train"]["augment"], seed=seed, repeat=True)
    val_ds = make_dataset(val["rgb"], val["hs"], batch, shuffle=False, augment=False)
    steps = int(np.ceil(len(train) / batch))
    return train_ds, val_ds, steps, len(train)
