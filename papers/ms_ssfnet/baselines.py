"""The baselines of Table 1 that the paper itself trains (Section 4.3), plus bicubic.

* **Bicubic**: the LR hyperspectral image up-sampled x2^S by bicubic interpolation
  (``data_prep.degrade.bicubic_resize``); not in Table 1, it is the kit's floor.
* **SSF-CNN** (Han, Shi, Zheng, ICIP 2018, ref. [20]): "3 convolutional layers based on
  the well known SRCNN" on the stack of the up-sampled LR-HS image and the HR-RGB image.
  The ICIP paper is not in the kit, so its layers are SRCNN's own (Dong et al., TPAMI
  2016, ref. [12]): 9x9 / 64, ReLU, 1x1 / 32, ReLU, 5x5 / C.
* **SSF-ResNet**: "five blocks of residual connection structure with two convolutional
  layers in each block", one pathway on the same stack.
* **Spectral-ResNet**: the same ResNet on the HR-RGB image only (RGB-to-spectrum).

The network baselines take named inputs like MS-SSFNet: ``"up"`` (the LR-HS image
bicubic up-sampled to the HR size, computed on the whole image by ``papers.ms_ssfnet.data``
so that training patches and full test images see the same up-sampling) and ``"rgb"``.
``INPUTS`` lists the inputs each network uses. Their reconstruction layers compute in
float32 (float32 outputs under ``--mixed-precision bf16``; no change otherwise).
"""

import keras
from keras import layers

from papers.ms_ssfnet.model import INPUT_RGB, OUTPUT_HR, prelu


INPUT_UP = "up"


def _inputs(bands, rgb_channels):
    up = keras.Input((None, None, bands), name=INPUT_UP)
    rgb = keras.Input((None, None, rgb_channels), name=INPUT_RGB)
    return up, rgb


def build_ssf_cnn(bands=31, rgb_channels=3, widths=(64, 32), kernel_sizes=(9, 1, 5)):
    """SSF-CNN [20]: conv-ReLU, conv-ReLU, conv on concat[bicubic(LR-HS), HR-RGB]."""
    up, rgb = _inputs(bands, rgb_channels)
    x = layers.Concatenate(name="stack")([up, rgb])
    for i, (width, k) in enumerate(zip(widths, kernel_sizes[:2]), start=1):
        x = layers.Conv2D(width, k, padding="same", activation="relu", name=f"conv{i}")(x)
    z = layers.Conv2D(bands, kernel_sizes[2], padding="same", name=OUTPUT_HR, dtype="float32")(x)
    return keras.Model({INPUT_UP: up, INPUT_RGB: rgb}, z, name="ssf_cnn")


def _resnet(x, bands, width, n_blocks, kernel_size):
    """Head conv, ``n_blocks`` x (conv-PReLU-conv + identity), reconstruction conv."""
    x = layers.Conv2D(width, kernel_size, padding="same", name="head")(x)
    x = prelu("head_prelu")(x)
    for b in range(1, n_blocks + 1):
        r = layers.Conv2D(width, kernel_size, padding="same", name=f"res{b}_conv1")(x)
        r = prelu(f"res{b}_prelu")(r)
        r = layers.Conv2D(width, kernel_size, padding="same", name=f"res{b}_conv2")(r)
        x = layers.Add(name=f"res{b}_add")([x, r])
    return layers.Conv2D(bands, kernel_size, padding="same", name=OUTPUT_HR, dtype="float32")(x)


def build_ssf_resnet(bands=31, rgb_channels=3, width=64, n_blocks=5, kernel_size=3):
    """SSF-ResNet: the 5-block ResNet on concat[bicubic(LR-HS), HR-RGB]."""
    up, rgb = _inputs(bands, rgb_channels)
    x = layers.Concatenate(name="stack")([up, rgb])
    z = _resnet(x, bands, width, n_blocks, kernel_size)
    return keras.Model({INPUT_UP: up, INPUT_RGB: rgb}, z, name="ssf_resnet")


def build_spectral_resnet(bands=31, rgb_channels=3, width=64, n_blocks=5, kernel_size=3):
    """Spectral-ResNet: the same ResNet on the HR-RGB image only."""
    rgb = keras.Input((None, None, rgb_channels), name=INPUT_RGB)
    z = _resnet(rgb, bands, width, n_blocks, kernel_size)
    return keras.Model({INPUT_RGB: rgb}, z, name="spectral_resnet")


NETWORK_BASELINES = {
    "SSF-CNN": lambda cfg: build_ssf_cnn(cfg["model"]["bands"], widths=cfg["baselines"]["ssf_cnn_widths"],
                                         kernel_sizes=cfg["baselines"]["ssf_cnn_kernels"]),
    "SSF-ResNet": lambda cfg: build_ssf_resnet(
        cfg["model"]["bands"], width=cfg["baselines"]["resnet_width"], n_blocks=cfg["baselines"]["resnet_blocks"]
    ),
    "Spectral-ResNet": lambda cfg: build_spectral_resnet(
        cfg["model"]["bands"], width=cfg["baselines"]["resnet_width"], n_blocks=cfg["baselines"]["resnet_blocks"]
    ),
}

#: The named inputs each network baseline reads.
INPUTS = {"SSF-CNN": (INPUT_UP, INPUT_RGB), "SSF-ResNet": (INPUT_UP, INPUT_RGB), "Spectral-ResNet": (INPUT_RGB,)}
