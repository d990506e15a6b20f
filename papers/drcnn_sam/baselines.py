"""The baselines of drcnn_sam Tables 1-2, run band by band as grey images (Sec. 4.2).

Sec. 4.2: "We considered hyperspectral images as a series of independent gray-level images
and used these images to train and test the neural networks [...] we followed the network
settings in their original paper for each method being compared." Every network here is
therefore single-channel: a (B, H, W, C) cube batch becomes B*C grey images
(``bands_to_grey``) and back (``grey_to_bands``).

- Bicubic: the interpolated low-resolution input itself (the degradation's last step).
- Dong [4], SRCNN (Dong et al., ECCV 2014 / TPAMI 2016), the 9-1-5 network: conv 9x9/64
  ReLU, conv 1x1/32 ReLU, conv 5x5/1, on the bicubic-upsampled image, predicting the
  high-resolution image directly (no residual). Zero padding instead of SRCNN's valid
  convolutions, so that whole images keep their size (as the proposed network does).
- Shi [18], ESPCN (Shi et al., CVPR 2016): conv 5x5/64 tanh, conv 3x3/32 tanh, conv 3x3/r^2,
  then the sub-pixel shuffle to r times the size. It works on the *low-resolution* grid (its
  point), so it is fed the blurred, decimated image before bicubic interpolation.
- Kim [11], VDSR (Kim et al., CVPR 2016): 20 conv 3x3 layers of 64 filters (ReLU after all
  but the last, which outputs 1 channel), the output added to the bicubic input (residual
  learning), He initialisation.

Each network's last layer computes in float32, so its output is float32 under
``--mixed-precision bf16`` (no change in float32).
"""

import keras
import numpy as np
from keras import layers

from common.io import KitError
from common.layers import PixelShuffle
from papers.drcnn_sam.config import ESPCN_ARCHITECTURE, SRCNN_ARCHITECTURE, VDSR_ARCHITECTURE

BASELINE_METHODS = {
    "bicubic": "Bicubic",
    "srcnn": "Dong[4]",
    "espcn": "Shi[18]",
    "vdsr": "Kim[11]",
}


def bands_to_grey(x):
    """(B, H, W, C) -> (B*C, H, W, 1): every band of every cube becomes one grey image.

    Images are ordered cube by cube, band by band (index = b * C + c).
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise KitError(f"bands_to_grey: expected (B, H, W, C), got shape {x.shape}")
    b, h, w, c = x.shape
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)).reshape(b * c, h, w, 1))


def grey_to_bands(x, bands):
    """(B*C, H, W, 1) -> (B, H, W, C), the inverse of ``bands_to_grey``."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 1 or x.shape[0] % bands:
        raise KitError(f"grey_to_bands: expected (B*{bands}, H, W, 1), got shape {x.shape}")
    n, h, w, _ = x.shape
    return np.ascontiguousarray(np.transpose(x.reshape(n // bands, bands, h, w), (0, 2, 3, 1)))


def build_srcnn(arch=None, name="srcnn"):
    """SRCNN 9-1-5 (64/32) on one grey band at high-resolution size."""
    arch = dict(SRCNN_ARCHITECTURE if arch is None else arch)
    inputs = keras.Input(shape=(None, None, 1), name="interpolated_lr")
    init = keras.initializers.RandomNormal(stddev=1e-3)
    h = layers.Conv2D(arch["n1"], arch["f1"], padding="same", activation="relu",
                      kernel_initializer="he_normal", name="patch_extraction")(inputs)
    h = layers.Conv2D(arch["n2"], arch["f2"], padding="same", activation="relu",
                      kernel_initializer="he_normal", name="nonlinear_mapping")(h)
    out = layers.Conv2D(1, arch["f3"], padding="same", kernel_initializer=init,
                        name="reconstruction", dtype="float32")(h)
    return keras.Model(inputs, out, name=name)


def build_espcn(scale, arch=None, name="espcn"):
    """ESPCN on one grey band at low-resolution size; output ``scale`` times larger."""
    if int(scale) < 1:
        raise KitError(f"ESPCN: scale must be a positive integer, got {scale}")
    arch = dict(ESPCN_ARCHITECTURE if arch is None else arch)
    inputs = keras.Input(shape=(None, None, 1), name="lr")
    h = layers.Conv2D(arch["n1"], arch["f1"], padding="same", activation="tanh",
                      kernel_initializer="glorot_uniform", name="conv1")(inputs)
    h = layers.Conv2D(arch["n2"], arch["f2"], padding="same", activation="tanh",
                      kernel_initializer="glorot_uniform", name="conv2")(h)
    h = layers.Conv2D(int(scale) ** 2, arch["f3"], padding="same",
                      kernel_initializer="glorot_uniform", name="conv3")(h)
    out = PixelShuffle(int(scale), name="sub_pixel", dtype="float32")(h)
    return keras.Model(inputs, out, name=name)


def build_vdsr(arch=None, name="vdsr"):
    """VDSR: ``depth`` 3x3 convolutions, the last one giving the residual to the input."""
    arch = dict(VDSR_ARCHITECTURE if arch is None else arch)
    if arch["depth"] < 2:
        raise KitError(f"VDSR: depth must be >= 2, got {arch['depth']}")
    inputs = keras.Input(shape=(None, None, 1), name="interpolated_lr")
    h = inputs
    for k in range(1, arch["depth"]):
        h = layers.Conv2D(arch["width"], arch["kernel"], padding="same", activation="relu",
                          kernel_initializer="he_normal", name=f"conv{k}")(h)
    residual = layers.Conv2D(1, arch["kernel"], padding="same", kernel_initializer="he_normal",
                             name=f"conv{arch['depth']}")(h)
    out = layers.Add(name="output", dtype="float32")([inputs, residual])
    return keras.Model(inputs, out, name=name)
