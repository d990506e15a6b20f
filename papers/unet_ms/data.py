"""Data of unet_ms: which images train and test, their RGB inputs, and the training patches.

- Datasets (Sec. 4.1): NTIRE 2018 (ICVL extended), trained on BGU_HS_00001-00256 and
  tested on BGU_HS_00257, 259, 261, 263, 265 (``ntire2018_split``).
  ICVL alone is accepted too; it has no named test images, so 5 are held out by a seeded
  choice (said so in the run's notes). The complete CAVE set is accepted as real data
  the paper did not use (the kit's CAVE split, ``data_prep.splits.cave_split``). Without
  real data: the kit's synthetic scenes (``data_prep.synthetic``), split by scene.
- RGB input: NTIRE 2018's own ``*_clean.png`` renditions (Sec. 4.1: "the corresponding
  RGB rendition is also provided for each image"; the released ``dataset.py`` reads them).
  A NTIRE 2018 image without its PNG is an error naming it: the 2018 challenge rendered
  its RGB with a camera response the kit does not have, so any other rendition would make
  the run incomparable with Table 2. Datasets that ship no RGB (ICVL, CAVE, the
  synthetic scenes) are rendered with the NTIRE 2020 clean-track response (CIE 1964
  10-degree colour matching functions, columns summing to 255), quantised to 8 bits as
  the challenge PNGs are (``data_prep.render.render_ntire2020_clean``).
- Scaling (released code): HS / 4095 (the readers' ``source_peak`` for NTIRE 2018 / ICVL
  counts; the synthetic cubes are already on [0, 1]) and RGB / 255, both on [0, 1].
- Patches (Sec. 4.2): 64 x 64 with stride 40 on the valid grid, RGB and spectra cut at the
  same positions (``data_prep.patches``). No flips or rotations: the paper names the patch
  extraction itself as its data augmentation. When all patches fit in memory they are
  held as arrays; the full NTIRE 2018 set (> 267,000 patches, about 150 GB as float32) is
  streamed image by image through a shuffle buffer instead.
"""

import math
from pathlib import Path

import numpy as np

from common.io import KitError
from data_prep import splits
from data_prep.patches import extract_patch_pairs
from data_prep.render import render_ntire2020_clean

#: Sec. 4.1: the five NTIRE 2018 test images (Table 2 prints them as "BGU 00257" ...).
NTIRE2018_TEST = ("BGU_HS_00257", "BGU_HS_00259", "BGU_HS_00261", "BGU_HS_00263", "BGU_HS_00265")
#: Sec. 4.1: the 256 training images are BGU_HS_00001 .. BGU_HS_00256.
NTIRE2018_LAST_TRAIN = 256
#: Test images held out of ICVL when it is used instead of NTIRE 2018 (seeded choice).
ICVL_TEST_COUNT = 5
#: Above this many bytes of patches, stream them instead of holding them in memory.
IN_MEMORY_LIMIT_BYTES = 3 * 2**30


def paper_image_name(name):
    """Table 2 prints 'BGU 00257' for the NTIRE 2018 file BGU_HS_00257."""
    return str(name).replace("BGU_HS_", "BGU_")


def ntire2018_split(dataset):
    """{'train', 'val', 'test'} for NTIRE 2018 (Sec. 4.1): test the five named images, train
    on BGU_HS_00001-00256 (other validation images present under the root are left out)."""
    train, test = splits.named_split(dataset.names, NTIRE2018_TEST)
    return {"train": [n for n in train if _is_training_image(n)], "val": [], "test": test}


def check_ntire2018_rgb(dataset, names):
    """``KitError`` naming the NTIRE 2018 images of ``names`` that have no ``<name>_clean.png``
    under the dataset's root, before anything is read or trained (``rgb_input`` checks
    again when an image is loaded)."""
    root = getattr(dataset, "root", None)
    if root is None:
        return
    pngs = {p.name.lower() for p in Path(root).rglob("*") if p.suffix.lower() == ".png"}
    missing = [n for n in names if f"{n}_clean.png".lower() not in pngs]
    if missing:
        shown = ", ".join(f"{n}_clean.png" for n in missing[:5]) + (f" and {len(missing) - 5} more"
                                                                       if len(missing) > 5 else "")
        raise KitError(
            f"unet_ms: {len(missing)} NTIRE 2018 image(s) under {root} have no RGB rendition: {shown} "
            "missing. The paper uses the challenge's own PNGs (Sec. 4.1); rendering them with another "
            "camera response would not be comparable with Table 2: add the PNGs or leave those cubes out")


def _is_training_image(name):
    number = splits.trailing_number(name)
    return number is not None and number <= NTIRE2018_LAST_TRAIN


def make_splits(dataset, seed=0):
    """{'train', 'val', 'test'} image names, and a sentence describing the split."""
    if dataset.name == "synthetic":
        parts = {which: dataset.split(which) for which in ("train", "val", "test")}
        return parts, (f"synthetic scenes: {len(parts['train'])} train / {len(parts['val'])} "
                       f"validation / {len(parts['test'])} test")
    if dataset.name == "ntire2018":
        parts = ntire2018_split(dataset)
        check_ntire2018_rgb(dataset, parts["train"] + parts["test"])
        return parts, (f"NTIRE 2018: {len(parts['train'])} training images, test "
                       + ", ".join(parts["test"]) + " (Sec. 4.1)")
    if dataset.name == "cave":
        parts = splits.cave_split(dataset)
        return parts, (f"CAVE (not the paper's data): {len(parts['train'])} training scenes, test "
                       + ", ".join(parts["test"]) + " (the kit's CAVE split)")
    if dataset.name == "icvl":
        train, test = splits.random_split(dataset.names, ICVL_TEST_COUNT, seed=0)
        return {"train": train, "val": [], "test": test}, (
            f"ICVL: {len(train)} training images, {len(test)} test images chosen by a seeded "
            f"draw ({', '.join(test)}): not the paper's NTIRE 2018 test images")
    raise KitError(f"unet_ms: dataset {dataset.name!r} is not supported; use ntire2018, icvl, cave or synthetic")


def short_label(dataset, parts):
    """A few words naming the test data, for table headers."""
    if dataset.name == "ntire2018":
        return f"NTIRE 2018 test, {len(parts['test'])} images"
    if dataset.name == "synthetic":
        return (f"synthetic, {len(parts['train'])} train / {len(parts['test'])} test scenes "
                f"of {dataset.size}x{dataset.size}")
    return f"{dataset.name}, {len(parts['train'])} train / {len(parts['test'])} test images"


def rgb_input(cube, dataset_name=None):
    """The network input for a cube: its shipped RGB, or the clean-track rendition (8-bit).

    A cube of NTIRE 2018 (``dataset_name == "ntire2018"``) must ship its ``*_clean.png``:
    ``KitError`` naming the image otherwise.
    """
    if cube.rgb is not None:
        return np.asarray(cube.rgb, dtype=np.float32)
    if dataset_name == "ntire2018":
        raise KitError(
            f"unet_ms: NTIRE 2018 image {cube.name} has no RGB rendition ({cube.name}_clean.png beside the "
            "cubes, e.g. in NTIRE2018_Train1_Clean/ or NTIRE2018_Validation_Clean/): the paper uses the "
            "challenge's own PNGs (Sec. 4.1), and rendering them with another camera response would not be "
            "comparable with Table 2; add the PNG or leave the image out")
    return render_ntire2020_clean(cube.data, quantize=True)


def describe_rgb(dataset):
    if dataset.name == "ntire2018":
        return "RGB: the challenge's own *_clean.png renditions (Sec. 4.1)"
    if dataset.name == "synthetic":
        return ("RGB rendered with the NTIRE 2020 clean-track response (CIE 1964 10-degree CMFs, "
                "columns summing to 255), 8-bit quantised")
    return ("RGB: the dataset's own clean rendition where present, else the NTIRE 2020 "
            "clean-track response (CIE 1964), 8-bit quantised")


def load_pair(dataset, name):
    """(rgb (H, W, 3), spectra (H, W, 31), wavelengths) of one image, both on [0, 1]."""
    cube = dataset.load(name)
    return rgb_input(cube, dataset.name), cube.data, cube.wavelengths


def iter_pairs(dataset, names):
    """Yields (name, rgb, spectra, wavelengths), one image in memory at a time."""
    for name in names:
        rgb, hs, wavelengths = load_pair(dataset, name)
        yield name, rgb, hs, wavelengths


def _grid_count(height, width, size, stride):
    if height < size or width < size:
        return 0
    return ((height - size) // stride + 1) * ((width - size) // stride + 1)


def patch_arrays(dataset, names, size, stride, max_patches=None, seed=0):
    """All (or ``max_patches`` evenly drawn) aligned RGB / spectrum patches in memory.

    With ``max_patches`` each image contributes an equal share (drawn at random from its
    grid with ``seed``), so only one image is held at a time.
    Returns ``{'rgb': (N, s, s, 3), 'hs': (N, s, s, 31)}`` float32.
    """
    names = list(names)
    if not names:
        raise KitError("unet_ms: no training images")
    shares = [None] * len(names)
    if max_patches is not None:
        shares = [len(part) for part in np.array_split(np.arange(int(max_patches)), len(names))]
    rgbs, spectra = [], []
    for index, (name, share) in enumerate(zip(names, shares)):
        if share == 0:
            continue
        rgb, hs, _ = load_pair(dataset, name)
        pairs = extract_patch_pairs({"rgb": rgb, "hs": hs}, sizes={"rgb": size, "hs": size},
                                    strides={"rgb": stride, "hs": stride},
                                    max_patches=share, seed=seed + index)
        rgbs.append(pairs["rgb"].astype(np.float32))
        spectra.append(pairs["hs"].astype(np.float32))
    return {"rgb": np.concatenate(rgbs), "hs": np.concatenate(spectra)}


def estimate_patch_bytes(first_shape, n_images, size, stride, bands=31, max_patches=None):
    """float32 bytes of all patches, from the first image's shape (all NTIRE images share it)."""
    per_image = _grid_count(first_shape[0], first_shape[1], size, stride)
    count = per_image * n_images if max_patches is None else min(per_image * n_images, max_patches)
    return count * size * size * (3 + bands) * 4, count


def streamed_dataset(dataset, names, size, stride, batch_size, seed=0, buffer_images=8, bands=31):
    """tf.data pipeline over all patches of ``names``, read one image at a time.

    Each epoch visits the images in an order keyed by the epoch number (its
    ``epoch_clock``, started by ``common.training.fit``); a shuffle buffer of about
    ``buffer_images`` images' patches mixes patches across images. Returns
    ``(dataset, patches_per_epoch)``; the count assumes every image has the first one's
    size and is only used for progress display.
    """
    from common.distribute import has_tensorflow
    from data_prep.pipeline import EpochClock

    if not has_tensorflow():
        raise KitError(f"the {len(names)} training images' patches do not fit in memory, and streaming them "
                       f"image by image needs tf.data (TensorFlow is not installed here): install "
                       f"tensorflow-cpu beside JAX, or lower the profile's max_patches")
    import tensorflow as tf

    names = list(names)
    clock = EpochClock()

    def generate():
        order = np.random.default_rng([seed, clock.next_key()]).permutation(len(names))
        for i in order:
            rgb, hs, _ = load_pair(dataset, names[i])
            pairs = extract_patch_pairs({"rgb": rgb, "hs": hs}, sizes={"rgb": size, "hs": size},
                                        strides={"rgb": stride, "hs": stride})
            for r, h in zip(pairs["rgb"], pairs["hs"]):
                yield r.astype(np.float32), h.astype(np.float32)

    first_rgb, _, _ = load_pair(dataset, names[0])
    per_image = _grid_count(first_rgb.shape[0], first_rgb.shape[1], size, stride)
    signature = (tf.TensorSpec((size, size, 3), tf.float32), tf.TensorSpec((size, size, bands), tf.float32))
    data = tf.data.Dataset.from_generator(generate, output_signature=signature)
    # The buffer's shuffle is the same every pass; what it mixes differs with the epoch's
    # image order, so each epoch (and a resumed one alike) is determined by its number.
    data = data.shuffle(max(batch_size, per_image * buffer_images), seed=seed,
                        reshuffle_each_iteration=False)
    data = data.batch(batch_size).prefetch(2)
    data.epoch_clock = clock
    return data, per_image * len(names)


def steps_for(count, batch_size):
    return max(1, math.ceil(count / batch_size))
