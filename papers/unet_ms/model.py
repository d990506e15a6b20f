"""The multi-scale U-Net of Yan et al. (PRCV 2018) for spectral super-resolution.

"Accurate spectral super-resolution from single RGB image using multi-scale CNN" maps an
RGB image to a 31-band hyperspectral image (400-700 nm) with an encoder-decoder CNN
(Sec. 3.2, Fig. 1) built from three blocks (Sec. 3.1, Table 1):

- **Double Conv**: two times (3x3 convolution, batch normalisation, leaky ReLU with
  negative slope 0.2, 2D dropout with rate 0.2; Sec. 4.2).
- **Downsample**: 2x2 max-pooling.
- **Upsample**: pixel shuffle x2 (no learnable parameters; Shi et al. 2016).

The encoder is a Double Conv followed by four (downsample, Double Conv) steps that double
the width; the decoder mirrors it with four (upsample, concatenate the encoder skip,
Double Conv) steps that halve it; a 1x1 convolution maps to the 31 bands.

Facts taken from the authors' released PyTorch code (GitHub
``ml-lab/Multiscale-Super-Spectral``, ``model.py``), where the paper is silent: widths
64-128-256-512-1024, convolutions without bias (batch normalisation follows them), the
final 1x1 convolution without bias, and the up block pixel-shuffles its C input channels
to C/4 before concatenating them with the skip, so the first convolution of a decoder
Double Conv sees C/4 + C/2 channels. With those widths the network has 26,686,592
trainable weights (plus 11,776 batch-norm statistics); the test checks the exact count. (A
U-Net with these widths and transposed-convolution up blocks would have 31.0 M; pixel
shuffle has no weights and feeds C/4, not C/2, channels to the decoder convolutions.)

Dropout placement follows the released code: inside a Double Conv it sits between the two
convolutions, and every down/up block starts with a 2D dropout (after the max-pool, or
after the skip concatenation). Along any path this is the same count of dropouts as
Table 1's "dropout after each convolution", except that the encoder skip is dropped after
the concatenation (with its own mask) and no dropout precedes the final 1x1 convolution.

Initialisation as the released code (``train.py`` applies ``weights_init_kaimingNormal``
of ``utilities.py`` to the network): every convolution, the 1x1 output included, is
PyTorch's ``kaiming_normal(a=0.2, mode='fan_in')``, He et al.'s normal for a leaky ReLU of
slope 0.2 (the paper's "HeNormal initialization", Sec. 4.2): untruncated,
``std = sqrt(2 / ((1 + 0.2**2) * fan_in))``; Keras' ``he_normal`` string would truncate
the normal at two standard deviations and assume a slope of 0. Every batch normalisation
starts with its scale (PyTorch's ``weight``, gamma) drawn from ``nn.init.normal(w, 0,
0.01)``, whose third argument is the standard deviation: gamma ~ N(0, 0.01**2), i.e.
std 0.01, not 1; its offset (beta) is 0. With these, the untrained network's output is
small (standard deviation about 0.01 on [0, 1] RGB at base width 16; with gamma = 1 it
would be about 1).
Batch normalisation uses PyTorch's defaults (momentum 0.1, i.e. Keras ``momentum=0.9``,
epsilon 1e-5) as the released code does.

``PixelShuffle`` (``common.layers``) orders channels like ``tf.nn.depth_to_space``, not
like PyTorch's ``pixel_shuffle``; this only matters when importing PyTorch weights, which
the kit does not do for this paper.

The model accepts any spatial size whose sides are multiples of 16 (four pool steps); its
input is declared ``(None, None, 3)`` so one model serves 64x64 training patches and whole
test images. ``reconstruct`` pads any other size to a multiple of 16 and crops back
(``common.inference.predict_full``), so a whole test image still goes through in one
forward pass as in the paper (Sec. 4.2).
"""

import keras
from keras import layers

from common.inference import predict_full
from common.layers import PixelShuffle

#: Number of 2x2 pool steps (Fig. 1): input sides must be multiples of 2**4 = 16.
POOL_STEPS = 4
#: Width of the first Double Conv in the released code (then 128, 256, 512, 1024).
PAPER_BASE_WIDTH = 64
#: Output bands: 400-700 nm at 10 nm (Sec. 4.1).
BANDS = 31


#: The negative slope ``a`` of the released ``kaiming_normal(a=0.2, mode='fan_in')``
#: (``utilities.py``), the slope of the network's leaky ReLUs (Sec. 4.2).
KAIMING_A = 0.2
#: Standard deviation of the batch-norm scales at initialisation (released
#: ``utilities.py``: ``nn.init.normal(m.weight.data, 0, 0.01)``, mean 0, std 0.01).
BN_GAMMA_STD = 0.01


def kaiming_normal(a=KAIMING_A):
    """PyTorch's ``kaiming_normal(a, mode='fan_in')``, untruncated:
    N(0, 2 / ((1 + a**2) * fan_in))."""
    return keras.initializers.VarianceScaling(
        scale=2.0 / (1.0 + a * a), mode="fan_in", distribution="untruncated_normal"
    )


def batch_norm(name):
    """Batch normalisation as released: PyTorch's momentum 0.1 (Keras 0.9) and epsilon
    1e-5; gamma ~ N(0, 0.01**2), beta = 0 (``weights_init_kaimingNormal``)."""
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, gamma_initializer=keras.initializers.RandomNormal(0.0, BN_GAMMA_STD),
        beta_initializer="zeros", name=name)


def double_conv(x, filters, dropout, name):
    """Table 1 "Double Conv" as released: conv-BN-LReLU(0.2)-dropout-conv-BN-LReLU(0.2).

    The dropout that Table 1 lists after the second LeakyReLU is, in the released code,
    applied at the entry of the next block instead (after the max-pool, or after the skip
    concatenation); see ``build_unet_ms``.
    """
    for i in (1, 2):
        x = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_initializer=kaiming_normal(),
            name=f"{name}_conv{i}",
        )(x)
        x = batch_norm(f"{name}_bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu{i}")(x)
        if i == 1:
            x = layers.SpatialDropout2D(dropout, name=f"{name}_dropout{i}")(x)
    return x


def widths_for(base_width, pool_steps=POOL_STEPS):
    """Encoder widths: ``base_width`` doubled at each pool step (64..1024 in the paper)."""
    return [base_width * 2**i for i in range(pool_steps + 1)]


def build_unet_ms(base_width=PAPER_BASE_WIDTH, bands=BANDS, dropout=0.2, in_channels=3,
                  output_scale=1.0, name="unet_ms"):
    """Build the multi-scale U-Net of Fig. 1.

    Args:
        base_width: width of the first Double Conv (64 in the released code; the quick
            profile uses a smaller one to fit a CPU budget).
        bands: number of output bands (31).
        dropout: 2D dropout rate of every Double Conv (0.2, Sec. 4.2).
        in_channels: input channels (3, RGB).
        output_scale: a fixed factor on the output (1 = the paper and every profile; no
            layer is added then). With the released initialisation the untrained output
            is already small (standard deviation ~0.01), so no profile needs one.
        name: model name.

    Returns:
        A functional ``keras.Model`` mapping (B, H, W, in_channels) to (B, H, W, bands),
        H and W multiples of 16.
    """
    if base_width < 4 or base_width % 4:
        raise ValueError(f"base_width must be a positive multiple of 4, got {base_width}")
    widths = widths_for(base_width)
    inputs = keras.Input(shape=(None, None, in_channels), name="rgb")

    # Encoder: Double Conv, then (2x2 max-pool, 2D dropout, Double Conv) per step.
    skips = []
    x = double_conv(inputs, widths[0], dropout, name="enc0")
    for level, width in enumerate(widths[1:], start=1):
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
        x = layers.SpatialDropout2D(dropout, name=f"down{level}_dropout")(x)
        x = double_conv(x, width, dropout, name=f"enc{level}")

    # Decoder: pixel shuffle x2 (C -> C/4 channels), concatenate the encoder skip,
    # 2D dropout, Double Conv.
    for level, (skip, width) in enumerate(zip(reversed(skips), reversed(widths[:-1])), start=1):
        x = PixelShuffle(2, name=f"up{level}_shuffle")(x)
        x = layers.Concatenate(axis=-1, name=f"up{level}_concat")([x, skip])
        x = layers.SpatialDropout2D(dropout, name=f"up{level}_dropout")(x)
        x = double_conv(x, width, dropout, name=f"dec{level}")

    # The last layer(s) compute in float32 under --mixed-precision bf16 (a no-op in
    # float32), so the output and the predictions are float32.
    outputs = layers.Conv2D(
        bands, 1, use_bias=False, kernel_initializer=kaiming_normal(), name="out_conv1x1", dtype="float32"
    )(x)
    if output_scale != 1.0:
        outputs = layers.Rescaling(output_scale, name="output_scale", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name=name)


def build_model(profile):
    """Build the network from a profile of ``papers.unet_ms.config`` (its "model" part)."""
    settings = profile["model"]
    return build_unet_ms(base_width=settings["base_width"], bands=settings["bands"],
                         dropout=settings["dropout"], output_scale=settings.get("output_scale", 1.0))


def reconstruct(model, rgb):
    """Whole-image reconstruction in one forward pass (Sec. 4.2).

    ``rgb`` is one (H, W, 3) image with any H, W: it is reflect-padded at the bottom and
    right to a multiple of 16 and the (H, W, 31) result cropped back
    (``common.inference.predict_full``).
    """
    return predict_full(model, rgb, multiple=2**POOL_STEPS)
