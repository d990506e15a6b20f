"""Data for MS-SSFNet: the x16 fusion observations of Section 4.1 and the training patches
of Section 4.2, assembled from ``data_prep``.

For every ground-truth cube Z (an ``HSCube`` on [0, 1]):

* HR-RGB Y = Z R with R the Nikon D700 response (eq. 2; ``render_camera`` with the
  response rows normalised to sum to 1, the CSU/NNSR/DHSIS simulation protocol), on the
  cube's own band grid (420-720 nm for Harvard);
* LR-HS X = (Z * D) down-sampled x2^S (eq. 1; ``data_prep.degrade.downsample``; the paper
  does not give D, the kit's default is a Gaussian of sigma = factor / 2);
* the intermediate target Z^1 = (Z * D) down-sampled x4 (eq. 8; x4 for the 2-level x16
  model of Section 4.2);
* for the baselines, the LR-HS image bicubic up-sampled to the HR size (SSF-CNN [20]
  "simply upsamples the LR-HS image to the same spatial size of the HR-RGB image").

Sides that are not multiples of 2^S are padded (reflect) before the simulation and the
predictions are cropped back: the network sees an LR image of ceil(H / 2^S) rows.

Harvard's 'ref' has no documented absolute scale: each image is divided by its own
maximum (``load_cube``), so that like the other datasets it spans [0, 1] and Table 1's
0-255 scale is 255 times it. drcnn_sam reads Harvard by the same rule.

Training patches (Section 4.2): 8x8 LR patches with stride 2 and the aligned 128x128 RGB
and HR-HS patches and 32x32 intermediate patches (the printed 127 and 31 are read as
128 and 32, the sizes that 8 x 16 and 128 / 4 give).
"""

import dataclasses

import numpy as np

from common.inference import pad_to_multiple
from common.io import KitError
from data_prep.degrade import bicubic_resize, downsample
from data_prep.patches import extract_patch_pairs
from data_prep.render import nikon_d700_response, render_camera

#: The datasets of Table 1, in the order ``--data-root`` looks for them.
PAPER_DATASETS = ("harvard", "icvl", "nus")


#: How each dataset's values are put on [0, 1] beyond the reader's nominal peak.
HARVARD_SCALING = "each image divided by its own maximum"


def load_cube(dataset, name):
    """Image ``name`` of ``dataset`` as an ``HSCube`` on [0, 1]: Harvard divided by its own
    maximum (``HARVARD_SCALING``; ``source_peak`` records the divisor), the others as
    the reader scales them."""
    cube = dataset.load(name)
    if dataset.name != "harvard":
        return cube
    peak = float(np.max(cube.data))
    if not peak > 0:
        raise KitError(f"{cube.source}: the image is all zero")
    return dataclasses.replace(cube, data=cube.data / peak, source_peak=cube.source_peak * peak)


def observations(cube, config, with_upsampled=True):
    """The fusion inputs and targets of one cube as a dict of float32 arrays.

    Keys: ``lr`` (h x w x C), ``rgb`` (H' x W' x 3), ``hs`` (H' x W' x C, the padded truth),
    ``mid`` (H'/f x W'/f x C, f = ``mid_factor``) and, with ``with_upsampled``, ``up``
    (the bicubic-up-sampled ``lr``, H' x W' x C); H', W' are H, W padded to multiples
    of 2^S.
    """
    factor = 2 ** config["model"]["scales"]
    data = np.asarray(cube.data, dtype=np.float32)
    if min(data.shape[:2]) < factor:
        raise KitError(f"{cube.source}: image {data.shape[:2]} is smaller than the x{factor} factor")
    hs = pad_to_multiple(data, factor)
    kernel = config["data"]["degradation_kernel"]
    response = nikon_d700_response(cube.wavelengths)
    obs = {
        "lr": downsample(hs, factor, kernel=kernel),
        "rgb": render_camera(hs, response, cube.wavelengths),
        "hs": hs,
        "mid": downsample(hs, config["data"]["mid_factor"], kernel=kernel),
    }
    if with_upsampled:
        obs["up"] = bicubic_resize(obs["lr"], hs.shape[:2])
    return obs


def patch_geometry(config):
    """Patch sizes and strides per key, proportional to each array's resolution."""
    factor = 2 ** config["model"]["scales"]
    lr_size, lr_stride = config["data"]["lr_patch"], config["data"]["lr_stride"]
    hr_size, hr_stride = lr_size * factor, lr_stride * factor
    mid = config["data"]["mid_factor"]
    if hr_size % mid or hr_stride % mid:
        raise KitError(f"HR patch {hr_size} (stride {hr_stride}) is not divisible by mid_factor {mid}")
    sizes = {"lr": lr_size, "rgb": hr_size, "hs": hr_size, "mid": hr_size // mid, "up": hr_size}
    strides = {"lr": lr_stride, "rgb": hr_stride, "hs": hr_stride, "mid": hr_stride // mid, "up": hr_stride}
    return sizes, strides


def training_patches(dataset, names, config, seed=0, max_patches=None):
    """Aligned patch arrays over the images ``names`` (all of them, or ``max_patches``
    drawn uniformly over all positions of all images with ``seed``)."""
    sizes, strides = patch_geometry(config)
    if not names:
        raise KitError(f"{dataset.name}: no training images")
    images = [observations(load_cube(dataset, name), config) for name in names]
    return extract_patch_pairs(images, sizes, strides, max_patches=max_patches, seed=seed)


def center_crop(patches, keys, size):
    """Central ``size`` x ``size`` crops of the HR-sized patch arrays ``keys``."""
    out = {}
    for key in keys:
        start = (patches[key].shape[1] - size) // 2
        out[key] = patches[key][:, start : start + size, start : start + size]
    return out
