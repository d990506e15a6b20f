"""Keras 3 layers shared by the papers: CoordConv channels, pixel shuffle, CBAM attention.

* ``CoordConv`` (Liu et al., "An intriguing failing of convolutional neural networks and
  the CoordConv solution", NeurIPS 2018): appends coordinate channels so that the next
  convolution can see where it is. rdab_coordconv puts it on the RGB input.
* ``PixelShuffle`` / ``PixelUnshuffle`` (Shi et al., CVPR 2016, "sub-pixel convolution"):
  the depth-to-space upsampling of unet_ms's decoder and its inverse.
* ``ChannelAttention``, ``SpatialAttention`` and ``CBAM`` (Woo et al., "CBAM:
  Convolutional Block Attention Module", ECCV 2018, eqs. 2-3). rdab_coordconv applies the
  two attentions in parallel (``f * CA(f) + f * SA(f)``); CBAM chains them.

Everything is written with ``keras.ops`` and ``keras.layers`` only, so the layers run on
the TensorFlow and the JAX backends, work for any height and width at call time (``None``
spatial dimensions in a functional model included), and are registered serializable so a
model that uses them saves to ``.keras`` and loads back with identical outputs.
Tensors are NHWC (``channels_last``) throughout the kit.
"""

import keras
from keras import ops

_PACKAGE = "hskit"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CoordConv(keras.layers.Layer):
    """Append coordinate channels to an NHWC tensor (the "AddCoords" part of CoordConv).

    Output channels are ``[inputs..., x, y]`` (plus ``r`` when ``with_r``), where

    * ``x`` varies along the width:  ``x[:, :, j] = 2 j / (W - 1) - 1``, so the first
      column is exactly -1 and the last exactly +1;
    * ``y`` varies along the height: ``y[:, i, :] = 2 i / (H - 1) - 1``;
    * ``r = sqrt(x^2 + y^2)`` is the distance from the image centre, as in the paper's
      ``r = sqrt((i - h/2)^2 + (j - w/2)^2)`` in normalised units (range [0, sqrt 2]).
      Liu et al.'s reference code and ``keras-coordconv`` compute
      ``sqrt((x - 0.5)^2 + (y - 0.5)^2)`` instead; none of the five papers uses ``r``.

    A dimension of size 1 gets the coordinate -1. ``order="yx"`` appends ``y`` before
    ``x``: that is the channel order of ``keras-coordconv``'s ``CoordinateChannel2D``
    (row coordinate first), which the rdab_coordconv authors' released model uses, so
    imported weights of the following convolution line up without permuting them.
    No trainable weights: the convolution that follows is an ordinary ``Conv2D``.
    """

    def __init__(self, with_r=False, order="xy", **kwargs):
        super().__init__(**kwargs)
        if order not in ("xy", "yx"):
            raise ValueError(f"CoordConv: order must be 'xy' or 'yx', got {order!r}")
        self.with_r = bool(with_r)
        self.order = order

    @staticmethod
    def _ramp(n, dtype):
        """``n`` values from -1 to +1 inclusive (``2 i / (n - 1) - 1``; -1 when n == 1)."""
        i = ops.cast(ops.arange(n), dtype)
        denominator = ops.maximum(ops.cast(n, dtype) - 1.0, 1.0)
        return 2.0 * i / denominator - 1.0

    def call(self, inputs):
        shape = ops.shape(inputs)
        height, width = shape[1], shape[2]
        ones = ops.ones_like(inputs[..., :1])  # (B, H, W, 1), carries the dynamic shape
        x = ones * ops.reshape(self._ramp(width, inputs.dtype), (1, 1, -1, 1))
        y = ones * ops.reshape(self._ramp(height, inputs.dtype), (1, -1, 1, 1))
        coords = [x, y] if self.order == "xy" else [y, x]
        if self.with_r:
            coords.append(ops.sqrt(x * x + y * y))
        return ops.concatenate([inputs, *coords], axis=-1)

    def compute_output_shape(self, input_shape):
        extra = 3 if self.with_r else 2
        channels = None if input_shape[-1] is None else input_shape[-1] + extra
        return (*input_shape[:-1], channels)

    def get_config(self):
        return {**super().get_config(), "with_r": self.with_r, "order": self.order}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PixelShuffle(keras.layers.Layer):
    """Depth to space: ``(B, H, W, C*s*s) -> (B, H*s, W*s, C)`` (sub-pixel upsampling).

    Channel order is that of ``keras.ops.depth_to_space`` / ``tf.nn.depth_to_space``
    (NHWC, "DCR"): ``out[b, h*s + i, w*s + j, c] = in[b, h, w, (i*s + j)*C + c]``, the
    output channel varying fastest. PyTorch's ``nn.PixelShuffle`` (NCHW) instead uses
    ``out[b, c, h*s + i, w*s + j] = in[b, c*s*s + i*s + j, h, w]``, the sub-pixel offset
    varying fastest. The two agree only for C == 1; to reuse PyTorch weights of the conv
    before the shuffle, permute its output channels from ``c*s*s + k`` to ``k*C + c``.
    For a network trained from scratch (all of this kit) the order is immaterial.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        if int(scale) != scale or scale < 1:
            raise ValueError(f"PixelShuffle: scale must be a positive integer, got {scale!r}")
        self.scale = int(scale)

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.scale, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.scale
        if c is not None and c % (s * s):
            raise ValueError(f"PixelShuffle: channels ({c}) must be divisible by scale^2 ({s * s})")
        return (
            b,
            None if h is None else h * s,
            None if w is None else w * s,
            None if c is None else c // (s * s),
        )

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PixelUnshuffle(keras.layers.Layer):
    """Space to depth, the exact inverse of ``PixelShuffle`` (same NHWC channel order):
    ``(B, H*s, W*s, C) -> (B, H, W, C*s*s)``; H and W must be multiples of ``scale``."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        if int(scale) != scale or scale < 1:
            raise ValueError(f"PixelUnshuffle: scale must be a positive integer, got {scale!r}")
        self.scale = int(scale)

    def call(self, inputs):
        return ops.space_to_depth(inputs, self.scale, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.scale
        for name, size in (("height", h), ("width", w)):
            if size is not None and size % s:
                raise ValueError(f"PixelUnshuffle: {name} ({size}) must be a multiple of {s}")
        return (
            b,
            None if h is None else h // s,
            None if w is None else w // s,
            None if c is None else c * s * s,
        )

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChannelAttention(keras.layers.Layer):
    """CBAM channel attention (Woo et al. 2018, eq. 2); returns ``x * M_c(x)``.

    ``M_c = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` with one shared MLP
    ``Dense(max(C // ratio, 1), relu) -> Dense(C)`` (sublayers ``mlp_hidden`` and
    ``mlp_out``, so that released weights can be set by name). Global pools are over H, W.
    """

    def __init__(self, ratio=8, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.ratio = int(ratio)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("ChannelAttention: the channel dimension must be known")
        hidden = max(channels // self.ratio, 1)
        self.mlp_hidden = keras.layers.Dense(
            hidden, activation="relu", use_bias=self.use_bias, name="mlp_hidden"
        )
        self.mlp_out = keras.layers.Dense(channels, use_bias=self.use_bias, name="mlp_out")
        self.mlp_hidden.build((None, channels))
        self.mlp_out.build((None, hidden))

    def attention(self, inputs):
        """The (B, 1, 1, C) attention map ``M_c`` in [0, 1]."""
        avg = ops.mean(inputs, axis=(1, 2))
        peak = ops.max(inputs, axis=(1, 2))
        logits = self.mlp_out(self.mlp_hidden(avg)) + self.mlp_out(self.mlp_hidden(peak))
        return ops.sigmoid(logits)[:, None, None, :]

    def call(self, inputs):
        return inputs * self.attention(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialAttention(keras.layers.Layer):
    """CBAM spatial attention (Woo et al. 2018, eq. 3); returns ``x * M_s(x)``.

    ``M_s = sigmoid(conv_kxk([mean_c(x), max_c(x)]))``: one ``k x k`` 'same' convolution
    with a single filter (sublayer ``conv``; no bias by default, as in CBAM and in the
    rdab_coordconv release) over the channel-wise mean and max, in that order.
    """

    def __init__(self, kernel_size=7, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.use_bias = bool(use_bias)
        self.conv = keras.layers.Conv2D(
            1, self.kernel_size, padding="same", use_bias=self.use_bias, name="conv"
        )

    def build(self, input_shape):
        self.conv.build((*input_shape[:-1], 2))

    def attention(self, inputs):
        """The (B, H, W, 1) attention map ``M_s`` in [0, 1]."""
        pooled = ops.concatenate(
            [ops.mean(inputs, axis=-1, keepdims=True), ops.max(inputs, axis=-1, keepdims=True)],
            axis=-1,
        )
        return ops.sigmoid(self.conv(pooled))

    def call(self, inputs):
        return inputs * self.attention(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CBAM(keras.layers.Layer):
    """Convolutional Block Attention Module (Woo et al. 2018, eq. 1): channel attention,
    then spatial attention on its output, ``F'' = M_s(F') * F'`` with ``F' = M_c(F) * F``.

    Sublayers ``channel_attention`` (``ChannelAttention(ratio)``, MLP with bias) and
    ``spatial_attention`` (``SpatialAttention(kernel_size)``, conv without bias).
    """

    def __init__(self, ratio=8, kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.ratio = int(ratio)
        self.kernel_size = int(kernel_size)
        self.channel_attention = ChannelAttention(self.ratio, name="channel_attention")
        self.spatial_attention = SpatialAttention(self.kernel_size, name="spatial_attention")

    def build(self, input_shape):
        self.channel_attention.build(input_shape)
        self.spatial_attention.build(input_shape)

    def call(self, inputs):
        return self.spatial_attention(self.channel_attention(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "kernel_size": self.kernel_size}
