"""drcnn_sam's data: which images, which degradation, which patches (Sec. 4, 4.1).

- Images: CAVE (512x512x31, 16-bit PNG divided by 65535) and Harvard (the top-left
  1024x1024 pixels of each 1040x1392x31 image, Sec. 4). Test images are the paper's named
  scenes (``PAPER_TEST``); "the rest 92 images were used for
  training": with both datasets available (``--data-root``) the training set is the union
  of both datasets' training images, as in the paper; with one dataset, its own.
  Without a real dataset the embedded synthetic scenes are used (train / val / test split
  by ``SyntheticDataset.split``).
- Harvard's 'ref' has no documented absolute scale; each cropped image is divided by its
  own maximum so that, like CAVE, it spans the n-bit range [0, 1] (choice, README; ms_ssfnet
  reads Harvard by the same rule). CAVE's bands are centred at 400-700 nm, Harvard's at
  420-720 nm: a network trained on both maps band index to band index (README).
- Validation (a choice: the paper names no validation set): 10 % of each dataset's training
  images are held out (``hold_out_images``) and give the validation patches; the synthetic
  data have their own validation scenes (``fit_and_validation_images``).
- Degradation (Sec. 4.1): ``data_prep.degrade.degrade_sr`` (Gaussian blur sigma 3,
  decimation by the scale, bicubic upsampling back to the original size), with the
  protocol choices of ``Degradation`` (config ``data.protocol``) that reproduce Table 1's
  bicubic rows on the real CAVE test scenes (README, "Bicubic rows"): the ground truth on
  the 8-bit grid (MATLAB's im2uint8 of the 16-bit PNGs), LR samples on the HR pixels
  ``s * i`` (MATLAB ``blurred(1:s:end, 1:s:end)``), bicubic upsampling to the HR size
  (``imresize(lr, [H W])``) and the result rounded to 8 bits. The ESPCN
  baseline works on the low-resolution grid itself: ``data_prep.degrade.downsample`` with
  the same Gaussian gives exactly the LR image that ``degrade_sr`` upsamples (for sides
  that are multiples of the scale; tested in tests/test_drcnn_sam_data.py).
- Patches (Sec. 4.1): 32x32x31 "cubic-patches randomly cropped from the training images",
  30,000 in total. Positions are drawn uniformly without replacement on the grid of
  multiples of the scale (``data_prep.patches.extract_patch_pairs``), so that the ESPCN
  baseline's LR patch is an exact slice of the LR image; every training image gives the
  same number of patches (choice: the paper does not say how patches spread over images).
"""

from dataclasses import dataclass, field

import numpy as np

from common.io import KitError
from data_prep import degrade, readers, splits
from data_prep.patches import extract_patch_pairs

#: The published table of each dataset (Table 1: CAVE, Table 2: Harvard).
TABLE_OF = {"cave": "table1", "harvard": "table2", "synthetic": "table1"}
#: Sec. 4: the test images. CAVE: balloons, chart and stuffed toy, faces, flowers, jelly
#: beans, real and fake apples, oil painting (the paper's "faces" is the scene folder
#: ``face_ms``); Harvard: img1-img6 and imga1-imga4. "The rest 92 images were used for
#: training."
PAPER_TEST = {
    "cave": ("balloons", "chart_and_stuffed_toy", "face", "flowers", "jelly_beans",
             "real_and_fake_apples", "oil_painting"),
    "harvard": ("img1", "img2", "img3", "img4", "img5", "img6", "imga1", "imga2", "imga3", "imga4"),
}


@dataclass(frozen=True)
class Degradation:
    """How an HR cube becomes the network's input (Sec. 4.1 and the protocol choices that
    reproduce the paper's bicubic rows; ``data_prep.degrade.degrade_sr`` documents each).

    ``bits``: None keeps the data as stored; 8 puts the ground truth on the 8-bit grid
    and rounds the degraded images to it, as MATLAB's uint8 images are."""

    sigma: float = 3.0
    phase: str = "centre"
    upsample: str = "factor"
    bits: int = None

    @classmethod
    def of(cls, config):
        data = config["data"]
        protocol = data.get("protocol") or {}
        return cls(sigma=float(data["blur_sigma"]), **protocol)

    def truth(self, hr):
        """The ground truth as the protocol sees it (on the ``bits`` grid)."""
        return hr if self.bits is None else degrade.quantise(hr, self.bits).astype(np.float32)

    def pair(self, hr, scale):
        """(interpolated LR at the HR size, LR at 1/scale) of a ground truth ``hr``."""
        up = degrade.degrade_sr(hr, scale, sigma=self.sigma, phase=self.phase, upsample=self.upsample,
                                bits=self.bits)
        lr = degrade.downsample(hr, scale, kernel="gaussian", sigma=self.sigma, phase=self.phase)
        if self.bits is not None:
            lr = degrade.quantise(lr, self.bits)
        return up.astype(np.float32), lr.astype(np.float32)


@dataclass
class Source:
    """One dataset of a run and its split into training, validation and test images."""

    dataset: object
    key: str
    train: list
    test: list
    val: list = field(default_factory=list)
    harvard_crop: int = 1024
    #: Share of the training images held out for the validation error when the dataset has
    #: no validation images of its own (``fit_and_validation_images``).
    val_fraction: float = 0.1
    #: The protocol's view of the ground truth (``Degradation.truth``).
    degradation: Degradation = field(default_factory=Degradation)

    @property
    def table(self):
        return TABLE_OF[self.key]

    def load(self, name):
        """The ground-truth cube as float32 H x W x C on [0, 1] (see the module docstring)."""
        cube = self.dataset.load(name)
        data = cube.data
        if self.key == "harvard":
            data = data[: self.harvard_crop, : self.harvard_crop]
            peak = float(data.max())
            if not peak > 0:
                raise KitError(f"{cube.source}: the image is all zero in its top-left crop")
            data = data / peak
        data = self.degradation.truth(np.ascontiguousarray(data, dtype=np.float32))
        return np.ascontiguousarray(data, dtype=np.float32), np.asarray(cube.wavelengths)


def hold_out_images(train, fraction):
    """(fit, val): ``fraction`` of the training images (at least 1, rounded) held out for
    the validation error, chosen by ``data_prep.splits.seeded_order`` with seed 0 (the
    same images for every run seed)."""
    if not fraction > 0:
        raise KitError("drcnn_sam: data.val_fraction must be positive (the schedule watches a validation error)")
    n_val = max(1, int(round(len(train) * fraction)))
    if n_val >= len(train):
        raise KitError(f"drcnn_sam: cannot hold out {n_val} of {len(train)} training images for validation")
    return splits.random_split(train, n_val, seed=0)


def _source_for(dataset, config):
    key = dataset.name
    protocol = Degradation.of(config)
    if key == "synthetic":
        return Source(dataset, key, dataset.split("train"), dataset.split("test"), dataset.split("val"),
                      degradation=protocol)
    if key not in PAPER_TEST:
        raise KitError(f"drcnn_sam uses CAVE and Harvard, not {key}")
    train, test = splits.named_split(dataset.names, PAPER_TEST[key])
    return Source(dataset, key, train, test, harvard_crop=config["data"]["harvard_crop"],
                  val_fraction=config["data"]["val_fraction"], degradation=protocol)


def open_sources(args, config):
    """The datasets of this run as ``Source`` objects, and one sentence saying why.

    ``--data cave=ROOT`` / ``harvard=ROOT``: that dataset. ``--data-root DIR``: CAVE and
    Harvard where found under DIR (training on the union, as the paper). Otherwise the
    synthetic scenes.
    """
    from common.cli import choose_dataset

    if args.data_root and not args.data:
        found = [readers.find_dataset(name, args.data_root) for name in ("cave", "harvard")]
        found = [d for d in found if d is not None]
        if found:
            names = " and ".join(d.name for d in found)
            return [_source_for(d, config) for d in found], f"{names} found under {args.data_root}"
    dataset, note = choose_dataset(args, ("cave", "harvard"), synthetic_kwargs=config["data"]["synthetic"])
    return [_source_for(dataset, config)], note


def fit_and_validation_images(source):
    """(images the network trains on, images of the validation error) of one source: its
    validation scenes where it has some (synthetic), else ``hold_out_images`` of its
    training images with ``source.val_fraction`` (CAVE, Harvard: the paper names no
    validation set)."""
    if source.val:
        return list(source.train), list(source.val)
    return hold_out_images(source.train, source.val_fraction)


def describe(sources):
    parts = []
    for s in sources:
        fit, val = fit_and_validation_images(s)
        held = "" if s.val else " held out of the training images"
        parts.append(f"{s.dataset.describe()} | train {len(fit)}, validation {len(val)}{held}, test "
                     f"{len(s.test)} ({', '.join(s.test)})")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- degradation

def crop_to_multiple(hr, scale):
    """The top-left part of ``hr`` whose sides are multiples of ``scale``."""
    h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
    if h == 0 or w == 0:
        raise KitError(f"image {hr.shape[:2]} is smaller than the scale factor {scale}")
    return hr[:h, :w]


def degrade_pair(hr, scale, sigma=3.0, protocol=None):
    """(interpolated LR at the HR size, LR at 1/scale) for one H x W x C image (Sec. 4.1),
    by ``protocol`` (a ``Degradation``; default: a Gaussian of ``sigma``, centred samples,
    float data).

    The LR image has floor(H / scale) x floor(W / scale) pixels; for sides that are
    multiples of the scale it is exactly the image ``degrade_sr`` upsamples.
    """
    return (protocol or Degradation(sigma=sigma)).pair(hr, scale)


# ----------------------------------------------------------------------------- patches

def patches_per_image(total, n_images):
    """``total`` patches spread as evenly as possible over ``n_images`` (first ones +1)."""
    if n_images < 1:
        raise KitError("drcnn_sam: no training images")
    base, extra = divmod(int(total), n_images)
    return [base + (i < extra) for i in range(n_images)]


def image_patches(hr, scale, sigma, count, patch_size, seed, protocol=None):
    """``count`` random aligned patches of one training image.

    Returns {'hr': (N, P, P, C) target, 'up': (N, P, P, C) interpolated LR input,
    'lr': (N, P//s, P//s, C) LR patch under the top-left (P//s)*s pixels of each 'hr'}.
    """
    hr = crop_to_multiple(hr, scale)
    up, lr = degrade_pair(hr, scale, sigma, protocol)
    sizes = {"hr": patch_size, "up": patch_size}
    strides = {"hr": scale, "up": scale}
    out, origins = extract_patch_pairs(
        [{"hr": hr, "up": up}], sizes, strides, max_patches=count, seed=seed, return_origins=True
    )
    lr_size = patch_size // scale
    rows, cols = origins[:, 1] // scale, origins[:, 2] // scale
    out["lr"] = np.stack([lr[r : r + lr_size, c : c + lr_size] for r, c in zip(rows, cols)])
    return out


def training_patches(source_images, scale, sigma, total, patch_size, seed, protocol=None):
    """Random patches over several images: ``source_images`` yields H x W x C arrays."""
    images = list(source_images)
    counts = patches_per_image(total, len(images))
    parts = [image_patches(img, scale, sigma, n, patch_size, seed=seed * 100003 + i, protocol=protocol)
             for i, (img, n) in enumerate(zip(images, counts)) if n > 0]
    return {key: np.concatenate([p[key] for p in parts]).astype(np.float32) for key in ("hr", "up", "lr")}


def grey_patches(patches, count, scale, seed):
    """Band-by-band grey patches for the baselines (Sec. 4.2).

    Draws ``count`` (patch, band) pairs without replacement (all when fewer exist) and
    returns {'up': (N, P, P, 1), 'hr': (N, P, P, 1), 'lr': (N, P//s, P//s, 1),
    'hr_sub': (N, (P//s)*s, (P//s)*s, 1)}; 'hr_sub' is the ESPCN target aligned with 'lr'.
    """
    n, p, _, c = patches["hr"].shape
    total = n * c
    rng = np.random.default_rng(seed)
    chosen = rng.choice(total, size=min(int(count), total), replace=False)
    index, band = np.divmod(chosen, c)
    sub = (p // scale) * scale
    return {
        "up": patches["up"][index, :, :, band][..., None],
        "hr": patches["hr"][index, :, :, band][..., None],
        "lr": patches["lr"][index, :, :, band][..., None],
        "hr_sub": patches["hr"][index, :sub, :sub, band][..., None],
    }
