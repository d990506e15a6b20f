"""Deep residual CNN for hyperspectral image super-resolution (drcnn_sam, Sec. 3.1, Fig. 1).

The network maps a low-resolution hyperspectral cube that was already interpolated to the
high-resolution size (bicubic, Sec. 4.1) to the high-resolution cube. It is a cascade of 6
identical *sub-networks*; each one is a three-layer CNN in the style of SRCNN that predicts
a residual which is added to its own input (Sec. 3.1):

    sub-network k:  x_k = x_{k-1} + conv5x5_c( relu(conv3x3_64( relu(conv9x9_96(x_{k-1})) )) )

with c the number of bands (31), kernel sizes f1=9, f2=3, f3=5 and widths n1=96, n2=64,
zero ("same") padding before each convolution so that every feature map keeps the image
size, no pooling, no deconvolution. 6 x 3 = 18 convolution layers. A second, *supervised*
output is taken after sub-network 3 so that the first half of the cascade gets a direct
training signal; the loss is applied to both outputs (Sec. 3.1-3.2).

One choice the paper leaves open (see README): Sec. 4.1 says "after each convolution layer
we used ReLU", but a ReLU on the third, residual-producing convolution would make every
residual non-negative, while the missing high frequencies of a blurred image are signed
(edges overshoot on both sides). The residual convolution is therefore linear by default
(``residual_activation=None``); ``residual_activation="relu"`` builds the literal reading.

Initialisation is not stated either: hidden convolutions use He-normal (they feed ReLUs);
the residual convolution starts with a small Gaussian (std 1e-3, the initialisation of
SRCNN, the paper this design follows), so that at step 0 every sub-network is close to the
identity and the cascade starts from the bicubic input rather than from noise.
"""

import keras
from keras import layers

from common.io import KitError
from papers.drcnn_sam.config import PAPER_ARCHITECTURE

SUPERVISED_OUTPUT = "supervised_output"
FINAL_OUTPUT = "output"


def _check_architecture(arch):
    missing = sorted(set(PAPER_ARCHITECTURE) - set(arch))
    if missing:
        raise KitError(f"drcnn_sam architecture: missing setting(s) {missing}")
    if arch["n_subnets"] < 1:
        raise KitError(f"drcnn_sam architecture: n_subnets must be >= 1, got {arch['n_subnets']}")
    if not 1 <= arch["supervised_after"] <= arch["n_subnets"]:
        raise KitError(
            "drcnn_sam architecture: supervised_after must lie in 1..n_subnets, got "
            f"{arch['supervised_after']} with n_subnets={arch['n_subnets']}"
        )
    for key in ("bands", "f1", "f2", "f3", "n1", "n2"):
        if int(arch[key]) < 1:
            raise KitError(f"drcnn_sam architecture: {key} must be >= 1, got {arch[key]}")


def residual_subnetwork(x, index, arch):
    """One sub-network of Fig. 1: three convolutions give a residual added to the input."""
    name = f"subnet{index}"
    h = layers.Conv2D(
        arch["n1"], arch["f1"], padding="same", activation="relu",
        kernel_initializer="he_normal", name=f"{name}_conv1",
    )(x)
    h = layers.Conv2D(
        arch["n2"], arch["f2"], padding="same", activation="relu",
        kernel_initializer="he_normal", name=f"{name}_conv2",
    )(h)
    residual = layers.Conv2D(
        arch["bands"], arch["f3"], padding="same", activation=arch["residual_activation"],
        kernel_initializer=keras.initializers.RandomNormal(stddev=arch["residual_init_std"]),
        name=f"{name}_conv3",
    )(h)
    return residual


def build_drcnn(arch=None, name="drcnn_sam"):
    """The cascade of Fig. 1 as a two-output Keras model: [supervised, final].

    ``arch`` holds the keys of ``PAPER_ARCHITECTURE`` (missing keys are an error, so a
    config cannot silently fall back to the paper's sizes). Inputs and outputs are
    (batch, H, W, bands) for any H, W: the network is fully convolutional.
    """
    arch = dict(PAPER_ARCHITECTURE if arch is None else arch)
    _check_architecture(arch)
    inputs = keras.Input(shape=(None, None, arch["bands"]), name="interpolated_lr")
    x = inputs
    supervised = None
    for k in range(1, arch["n_subnets"] + 1):
        residual = residual_subnetwork(x, k, arch)
        if k == arch["supervised_after"]:
            add_name = SUPERVISED_OUTPUT
        elif k == arch["n_subnets"]:
            add_name = FINAL_OUTPUT
        else:
            add_name = f"subnet{k}_add"
        # float32 under --mixed-precision bf16 (a no-op in float32): the identity path of the
        # cascade, and so both outputs, keep full precision; only the convolutions round.
        x = layers.Add(name=add_name, dtype="float32")([x, residual])
        if k == arch["supervised_after"]:
            supervised = x
    if arch["supervised_after"] == arch["n_subnets"]:
        # Degenerate cascade (tiny configs): the supervised output is the final one.
        x = layers.Identity(name=FINAL_OUTPUT, dtype="float32")(x)
    return keras.Model(inputs, [supervised, x], name=name)


def inference_model(model):
    """Single-output view of a trained cascade (the final output only), sharing weights."""
    return keras.Model(model.inputs, model.get_layer(FINAL_OUTPUT).output, name=f"{model.name}_final")
