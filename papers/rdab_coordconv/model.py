"""Light-weight residual dense attention network with CoordConv (NTIRE 2020, clean track).

The paper (*Light Weight Residual Dense Attention Net for Spectral Reconstruction from RGB
Images*, arXiv:2004.06930) describes the network only in words and figures: a CoordConv
input layer (Sec. 2.1), Residual Dense Attention Blocks (RDAB, Sec. 2.2, eqs. 1-6)
connected at three scales "in a U-net fashion" (Sec. 2), a dense feature extraction branch
(Sec. 2.3, eq. 7), and a global fusion to 31 bands (Fig. 1), 233,059 parameters in total.
The widths, kernel sizes and the exact wiring are not printed; they come from the authors'
released trained model (their NTIRE 2020 Keras 2 HDF5 file, MIT licence, not redistributed
with the kit), whose stored layers and shapes are rebuilt here layer for layer so that the
released weights load into it (``papers.rdab_coordconv.weights``):

* ``CoordConv``: appends x and y coordinate channels in [-1, 1] (no radius channel), so
  3 RGB channels become 5.
* Attention branch (multi-scale hierarchical features)::

      entry 3x3 (8)  -> RDAB(8)  -> RDAB(8)  = skip A -> maxpool
      entry 3x3 (16) -> RDAB(16) -> RDAB(16) = skip B -> maxpool -> Dropout 0.2
      entry 3x3 (32) -> RDAB(32) -> RDAB(32)
      transposed 3x3/2 (16) -> RDAB(16) -> RDAB(16) -> concat skip B -> Dropout 0.2
      transposed 3x3/2 (8)  -> RDAB(8)  -> concat skip A -> conv 5x5 (31)

* RDAB(C) on ``x`` (eq. 6 ``Fo = Fi + Fint + CA + SA``, as the released model computes it)::

      f    = BN-ReLU-conv3x3-BN-ReLU-conv3x3-BN-ReLU (x)       local dense features
      side = conv3x3-BN-ReLU (x)                               local feature fusion path
      out  = ReLU(BN(f * CA(f) + f * SA(f) + x + side))

  with CA the CBAM channel attention (shared MLP ``C -> C/8 -> C`` with biases on the
  global average- and max-pooled ``f``) and SA the CBAM spatial attention (7x7 conv
  without bias on the channel mean and max of ``f``), used in parallel, not in sequence.
* Dense branch (eq. 7) from the CoordConv output: ``c1 = conv1x1(16)``, ``c2 =
  conv3x3(16)(c1)``, ``c3 = conv5x5(16)([c1, c2])``, ``c4 = conv7x7(16)([c2, c3])``, all
  ReLU, then ``conv5x5(31)([c1, c2, c3, c4])``.
* Fusion: the two 31-band maps are added and passed through a final conv 5x5 (31).

All convolutions are 'same' padded. The two max-pools need height and width divisible by
4: use ``common.inference`` (tiles of 64, or padding to a multiple of 4) for other sizes.

Every BatchNormalization uses epsilon 1e-4, as every one of the 45 in the released file's
model config (Keras' default is 1e-3). The released network's multi-scale branch is
nearly dead (below), so its final output hardly shows a wrong epsilon, but the branch's
intermediate activations differ by up to 97 % with 1e-3
(``tests/test_rdab_coordconv_weights.py`` compares them layer by layer with an
independent NumPy forward pass of the released file). The file's config also stores
momentum 0.0 (moving statistics = the last training batch's); the kit keeps Keras'
0.99 for training (README).

Ablations of Tables 2-3 are parameters: ``use_coordconv=False`` feeds the RGB straight to
the first convolutions (3 input channels instead of 5); ``use_cbam=False`` drops both
attention modules and keeps the block's plain residual ``ReLU(BN(f + x + side))``.
"""

import numpy as np

import keras
from keras import layers

from common.layers import ChannelAttention, CoordConv, SpatialAttention

BANDS = 31
WIDTHS = (8, 16, 32)  # attention-branch channels at full, 1/2 and 1/4 resolution
DENSE_WIDTH = 16  # channels of each dense-branch convolution
CBAM_RATIO = 8  # channel-attention reduction: hidden units C // 8
SA_KERNEL = 7  # spatial-attention kernel size
DROPOUT = 0.2
MULTIPLE = 4  # height and width must be divisible by 2 ** (number of max-pools)
#: BatchNormalization epsilon of every BN in the released model file (its model config).
BN_EPSILON = 1e-4
# The two convolutions that read the CoordConv output (RGB + 2 coordinate channels).
COORD_READERS = ("l1_entry", "dense_c1")

# Level names used in layer names: full, half and quarter resolution, then the decoder.
ENCODER_BLOCKS = (("l1", 2), ("l2", 2), ("l3", 2))
DECODER_BLOCKS = (("up2", 2), ("up1", 1))


def conv(filters, kernel_size, name, activation=None, dtype=None):
    return layers.Conv2D(filters, kernel_size, padding="same", activation=activation, name=name, dtype=dtype)


def batch_norm(name):
    """A BatchNormalization with the released file's epsilon (1e-4)."""
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def rdab(x, channels, name, use_cbam=True):
    """Residual Dense Attention Block (Sec. 2.2, Fig. 3) on ``x`` with ``channels`` channels."""
    side = conv(channels, 3, f"{name}_side_conv")(x)
    side = batch_norm(f"{name}_side_bn")(side)
    side = layers.ReLU(name=f"{name}_side_relu")(side)

    f = x
    for i in (1, 2):
        f = batch_norm(f"{name}_bn{i}")(f)
        f = layers.ReLU(name=f"{name}_relu{i}")(f)
        f = conv(channels, 3, f"{name}_conv{i}")(f)
    f = batch_norm(f"{name}_bn3")(f)
    f = layers.ReLU(name=f"{name}_relu3")(f)

    if use_cbam:
        f_ca = ChannelAttention(ratio=CBAM_RATIO, use_bias=True, name=f"{name}_ca")(f)
        f_sa = SpatialAttention(kernel_size=SA_KERNEL, use_bias=False, name=f"{name}_sa")(f)
        terms = [f_ca, f_sa, x, side]
    else:
        terms = [f, x, side]
    out = layers.Add(name=f"{name}_add")(terms)
    out = batch_norm(f"{name}_out_bn")(out)
    return layers.ReLU(name=f"{name}_out_relu")(out)


def attention_branch(x, widths, use_cbam, dropout):
    """Multi-scale RDAB encoder/decoder (Sec. 2, Fig. 1) ending in a 31-band conv 5x5."""
    skips = []
    for level, ((prefix, n_blocks), channels) in enumerate(zip(ENCODER_BLOCKS, widths)):
        if level > 0:
            x = layers.MaxPooling2D(2, name=f"{prefix}_pool")(x)
        if level == 2:
            x = layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
        x = conv(channels, 3, f"{prefix}_entry")(x)
        for b in range(1, n_blocks + 1):
            x = rdab(x, channels, f"{prefix}_rdab{b}", use_cbam)
        skips.append(x)
    skips.pop()  # the bottleneck output is not a skip connection

    for (prefix, n_blocks), channels in zip(DECODER_BLOCKS, reversed(widths[:-1])):
        x = layers.Conv2DTranspose(channels, 3, strides=2, padding="same", name=f"{prefix}_deconv")(x)
        for b in range(1, n_blocks + 1):
            x = rdab(x, channels, f"{prefix}_rdab{b}", use_cbam)
        x = layers.Concatenate(name=f"{prefix}_skip_concat")([x, skips.pop()])
        if prefix == "up2":
            x = layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    return conv(BANDS, 5, "attention_out")(x)


def dense_branch(x, width):
    """Dense feature extraction block (Sec. 2.3, eq. 7) at full resolution."""
    c1 = conv(width, 1, "dense_c1", "relu")(x)
    c2 = conv(width, 3, "dense_c2", "relu")(c1)
    c3 = conv(width, 5, "dense_c3", "relu")(layers.Concatenate(name="dense_cat3")([c1, c2]))
    c4 = conv(width, 7, "dense_c4", "relu")(layers.Concatenate(name="dense_cat4")([c2, c3]))
    features = layers.Concatenate(name="dense_cat_all")([c1, c2, c3, c4])
    return conv(BANDS, 5, "dense_out")(features)


def build_model(
    input_shape=(None, None, 3),
    *,
    use_coordconv=True,
    use_cbam=True,
    widths=WIDTHS,
    dense_width=DENSE_WIDTH,
    dropout=DROPOUT,
    zero_coord_kernels=False,
    name="rdab_coordconv",
):
    """The released network (233,059 stored values with the defaults).

    ``widths`` and ``dense_width`` exist so that a CPU profile can shrink the network; the
    paper's model and the released weights use the defaults.

    ``zero_coord_kernels=True`` changes the initialisation only (same layers, same 233,059
    values): the kernel entries of ``l1_entry`` and ``dense_c1`` that read the two
    coordinate channels start at zero instead of Glorot-uniform, so the untrained network
    does not depend on the position in the patch and learns that dependence only as far
    as the loss asks for it. The coordinates span [-1, 1] (RMS 0.58) while the RGB of
    these data has mean ~0.13, so with the default initialisation the first features are
    mostly functions of the position; short trainings cannot undo that (quick profile,
    README). The paper profile keeps the default (the release used Keras' defaults).
    """
    if len(widths) != 3:
        raise ValueError(f"widths must give three levels, got {widths!r}")
    rgb = keras.Input(shape=input_shape, name="rgb")
    x = CoordConv(with_r=False, order="yx", name="coordconv")(rgb) if use_coordconv else rgb
    attention = attention_branch(x, tuple(widths), use_cbam, dropout)
    dense = dense_branch(x, dense_width)
    fused = layers.Add(name="fusion_add")([attention, dense])
    # float32 under --mixed-precision bf16 (a no-op in float32): float32 output and predictions.
    spectra = conv(BANDS, 5, "fusion_out", dtype="float32")(fused)
    model = keras.Model(rgb, spectra, name=name)
    if use_coordconv and zero_coord_kernels:
        zero_coordinate_kernels(model, input_shape[-1])
    return model


def zero_coordinate_kernels(model, image_channels=3):
    """Set to zero the kernel entries that read the CoordConv channels (the input channels
    after the ``image_channels`` RGB ones) in ``COORD_READERS``; every other weight is
    left as it is."""
    for layer_name in COORD_READERS:
        kernel = model.get_layer(layer_name).kernel
        values = np.array(keras.ops.convert_to_numpy(kernel))
        values[:, :, image_channels:, :] = 0.0
        kernel.assign(values)


def build_from_config(config):
    """The model for a profile dict from ``papers.rdab_coordconv.config``."""
    m = config["model"]
    return build_model(
        use_coordconv=m["use_coordconv"],
        use_cbam=m["use_cbam"],
        widths=tuple(m["widths"]),
        dense_width=m["dense_width"],
        dropout=m["dropout"],
        zero_coord_kernels=m.get("zero_coord_kernels", False),
    )


def rdab_block_names():
    """The RDAB block names in the order the released model created them."""
    return [f"{prefix}_rdab{b}" for prefix, n in ENCODER_BLOCKS + DECODER_BLOCKS for b in range(1, n + 1)]
