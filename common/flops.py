"""Analytic FLOPs of a Keras model: a count from the layers' shapes, not a measurement.

The benchmark (``common.bench``) reports how fast each network trains and runs; FLOPs turn
those rates into an achieved GFLOP/s that can be compared across models and with the
machine's matrix-multiply peak. The count is per sample, for the forward pass, at a given
input size: the model is run symbolically on a ``keras.Input`` of that size (batch 1) and
every layer contributes from its input and output shapes, so one model built with
``(None, None, C)`` inputs can be counted at a 64x64 training patch and at a whole image.

Conventions (one FLOP = one multiply, add, compare or elementwise function):

- Convolution ``Conv1D/2D/3D``: ``2 * k_h * k_w * C_in / groups * C_out`` per output pixel
  (a multiply-add is 2 FLOPs), plus 1 per output element for the bias and 1 for a fused
  activation. ``DepthwiseConv2D``: ``2 * k_h * k_w`` per output element;
  ``SeparableConv2D``: its depthwise and pointwise parts.
- ``Conv2DTranspose`` (and 1D/3D): every *input* pixel is multiplied by the whole kernel,
  ``2 * k_h * k_w * C_in * C_out * H_in * W_in`` (the usual convention: the products that
  ``padding="same"`` crops away are counted too), plus bias and activation per output
  element.
- ``Dense``: ``2 * d_in * units`` per position (every axis but the last), plus bias and
  activation.
- Normalisation: ``BatchNormalization`` ``BATCH_NORM_FLOPS`` = 4 per element (subtract
  the mean, divide by the standard deviation, scale, shift); ``LayerNormalization`` and
  ``GroupNormalization`` add 3 per element for the statistics (``NORM_STATS_FLOPS``).
- Activations (``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax``, ``Activation``)
  and the activation fused into a layer: 1 per element (``exp`` or ``tanh`` count as one,
  as in most FLOP tables; ``linear`` counts 0).
- ``Rescaling``: 1 per element (2 with a non-zero offset).
- Merges ``Add``, ``Subtract``, ``Multiply``, ``Maximum``, ``Minimum``: ``n_inputs - 1``
  per output element; ``Average`` one more (the division).
- Pooling: ``k_h * k_w`` per output element; global pooling 1 per input element.
- Data movement is free: ``Concatenate``, reshapes, padding and cropping, nearest
  up-sampling, ``PixelShuffle``/``PixelUnshuffle``, ``CoordConv`` (it writes constants),
  and dropout (the forward pass is counted in inference mode).
- ``common.layers`` attention: ``ChannelAttention`` = two global pools, the shared MLP on
  both pooled vectors, their sum, a sigmoid and the product with the input;
  ``SpatialAttention`` = channel mean and max, the k x k convolution, a sigmoid and the
  product; ``CBAM`` = both, in sequence.
- Training is counted as 3x the forward pass (``TRAINING_FACTOR``: the backward pass
  computes the gradients with respect to both the activations and the weights, about
  twice the forward work); optimizer updates are not counted.

Nested models (a functional model used as a layer) are counted layer by layer. A layer
with no rule is counted as 0 and named in ``FlopCount.uncounted``, so a total never hides
a layer it did not understand. ``register_flops(LayerClass)`` adds a rule.
"""

import dataclasses
import math

import keras
import numpy as np
from keras import layers

from common.io import KitError
from common.layers import CBAM, ChannelAttention, CoordConv, PixelShuffle, PixelUnshuffle, SpatialAttention

TRAINING_FACTOR = 3
BATCH_NORM_FLOPS = 4
NORM_STATS_FLOPS = 3
ACTIVATION_FLOPS = 1

#: layer class -> rule(layer, input_shapes, output_shapes) -> FLOPs for ONE sample;
#: shapes are tuples without the batch axis.
FLOP_RULES = {}


def register_flops(*classes):
    """Decorator: ``rule(layer, input_shapes, output_shapes)`` gives the FLOPs of one
    sample for layers of these classes (and their subclasses)."""

    def decorator(rule):
        for cls in classes:
            FLOP_RULES[cls] = rule
        return rule

    return decorator


@dataclasses.dataclass
class FlopCount:
    """Forward FLOPs of one sample, with the per-layer breakdown."""

    forward: int
    per_layer: list  # [(layer path, class name, FLOPs)]
    uncounted: list  # layer paths with no rule (counted as 0)

    @property
    def training(self):
        """Forward + backward, ``TRAINING_FACTOR`` x the forward pass."""
        return TRAINING_FACTOR * self.forward


# ----------------------------------------------------------------------------- helpers
def _size(shape):
    return math.prod(int(d) for d in shape)


def _channels_last(layer):
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _spatial(shape, layer):
    """Spatial dims of a per-sample shape (channels excluded)."""
    return shape[:-1] if _channels_last(layer) else shape[1:]


def _activation_flops(layer, out_elements):
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return 0
    return ACTIVATION_FLOPS * out_elements


def _bias_flops(layer, out_elements):
    return out_elements if getattr(layer, "use_bias", False) else 0


def conv_flops(kernel_shape, out_spatial, out_channels):
    """``2 * prod(kernel window) * C_in/groups`` multiply-adds for each output element.

    ``kernel_shape`` is Keras' ``(*window, C_in / groups, C_out)``.
    """
    window_and_cin = _size(kernel_shape[:-1])
    return 2 * window_and_cin * _size(out_spatial) * out_channels


# ----------------------------------------------------------------------------- rules
@register_flops(layers.Conv1D, layers.Conv2D, layers.Conv3D)
def _conv(layer, inputs, outputs):
    out = outputs[0]
    out_elements = _size(out)
    channels = out[-1] if _channels_last(layer) else out[0]
    macs = conv_flops(tuple(layer.kernel.shape), _spatial(out, layer), channels)
    return macs + _bias_flops(layer, out_elements) + _activation_flops(layer, out_elements)


@register_flops(layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
def _conv_transpose(layer, inputs, outputs):
    # Keras stores the kernel as (*window, C_out, C_in): each input pixel meets all of it.
    in_spatial = _spatial(inputs[0], layer)
    out_elements = _size(outputs[0])
    macs = 2 * _size(layer.kernel.shape) * _size(in_spatial)
    return macs + _bias_flops(layer, out_elements) + _activation_flops(layer, out_elements)


@register_flops(layers.DepthwiseConv1D, layers.DepthwiseConv2D)
def _depthwise(layer, inputs, outputs):
    out_elements = _size(outputs[0])
    window = _size(layer.kernel_size)
    macs = 2 * window * out_elements
    return macs + _bias_flops(layer, out_elements) + _activation_flops(layer, out_elements)


@register_flops(layers.SeparableConv1D, layers.SeparableConv2D)
def _separable(layer, inputs, outputs):
    out = outputs[0]
    out_elements = _size(out)
    out_spatial = _spatial(out, layer)
    in_channels = inputs[0][-1] if _channels_last(layer) else inputs[0][0]
    depthwise = 2 * _size(layer.kernel_size) * in_channels * layer.depth_multiplier * _size(out_spatial)
    pointwise = conv_flops(tuple(layer.pointwise_kernel.shape), out_spatial, layer.filters)
    return depthwise + pointwise + _bias_flops(layer, out_elements) + _activation_flops(layer, out_elements)


@register_flops(layers.Dense)
def _dense(layer, inputs, outputs):
    out_elements = _size(outputs[0])
    positions = _size(outputs[0][:-1])
    macs = 2 * _size(layer.kernel.shape) * positions
    return macs + _bias_flops(layer, out_elements) + _activation_flops(layer, out_elements)


@register_flops(layers.BatchNormalization)
def _batch_norm(layer, inputs, outputs):
    return BATCH_NORM_FLOPS * _size(outputs[0])


@register_flops(layers.LayerNormalization, layers.GroupNormalization)
def _norm_with_stats(layer, inputs, outputs):
    return (BATCH_NORM_FLOPS + NORM_STATS_FLOPS) * _size(outputs[0])


@register_flops(layers.ReLU, layers.LeakyReLU, layers.PReLU, layers.ELU, layers.Softmax)
def _activation_layer(layer, inputs, outputs):
    return ACTIVATION_FLOPS * _size(outputs[0])


@register_flops(layers.Activation)
def _activation(layer, inputs, outputs):
    return _activation_flops(layer, _size(outputs[0]))


@register_flops(layers.Rescaling)
def _rescaling(layer, inputs, outputs):
    # x * scale (+ offset): one multiply, and one add unless the offset is 0.
    per_element = 1 if not np.any(layer.offset) else 2
    return per_element * _size(outputs[0])


@register_flops(layers.Add, layers.Subtract, layers.Multiply, layers.Maximum, layers.Minimum)
def _merge(layer, inputs, outputs):
    return (len(inputs) - 1) * _size(outputs[0])


@register_flops(layers.Average)
def _average(layer, inputs, outputs):
    return len(inputs) * _size(outputs[0])


@register_flops(
    layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D,
    layers.AveragePooling1D, layers.AveragePooling2D, layers.AveragePooling3D,
)
def _pooling(layer, inputs, outputs):
    return _size(layer.pool_size) * _size(outputs[0])


@register_flops(
    layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D, layers.GlobalAveragePooling3D,
    layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D, layers.GlobalMaxPooling3D,
)
def _global_pooling(layer, inputs, outputs):
    return _size(inputs[0])


@register_flops(
    layers.InputLayer, layers.Concatenate, layers.Reshape, layers.Flatten, layers.Permute,
    layers.Identity, layers.RepeatVector, layers.Cropping1D, layers.Cropping2D, layers.Cropping3D,
    layers.ZeroPadding1D, layers.ZeroPadding2D, layers.ZeroPadding3D,
    layers.Dropout, layers.SpatialDropout1D, layers.SpatialDropout2D, layers.SpatialDropout3D,
    layers.GaussianNoise, layers.GaussianDropout, layers.AlphaDropout,
    PixelShuffle, PixelUnshuffle, CoordConv,
)
def _free(layer, inputs, outputs):
    return 0


@register_flops(layers.UpSampling1D, layers.UpSampling2D, layers.UpSampling3D)
def _upsampling(layer, inputs, outputs):
    # Nearest neighbour copies; bilinear blends 4 neighbours (about 8 FLOPs per element).
    return 0 if getattr(layer, "interpolation", "nearest") == "nearest" else 8 * _size(outputs[0])


def channel_attention_flops(layer, shape):
    """``ChannelAttention`` on a per-sample ``(H, W, C)`` input (see the module docstring)."""
    elements, channels = _size(shape), shape[-1]
    hidden = layer.mlp_hidden.units
    mlp = (
        _dense(layer.mlp_hidden, [(channels,)], [(hidden,)])
        + _dense(layer.mlp_out, [(hidden,)], [(channels,)])
    )
    pools = 2 * elements
    return pools + 2 * mlp + channels + ACTIVATION_FLOPS * channels + elements


def spatial_attention_flops(layer, shape):
    """``SpatialAttention`` on a per-sample ``(H, W, C)`` input (see the module docstring)."""
    elements, pixels = _size(shape), _size(shape[:-1])
    pooled = 2 * elements  # channel mean and channel max
    conv = _conv(layer.conv, [(*shape[:-1], 2)], [(*shape[:-1], 1)])
    return pooled + conv + ACTIVATION_FLOPS * pixels + elements


@register_flops(ChannelAttention)
def _channel_attention(layer, inputs, outputs):
    return channel_attention_flops(layer, inputs[0])


@register_flops(SpatialAttention)
def _spatial_attention(layer, inputs, outputs):
    return spatial_attention_flops(layer, inputs[0])


@register_flops(CBAM)
def _cbam(layer, inputs, outputs):
    return (channel_attention_flops(layer.channel_attention, inputs[0])
            + spatial_attention_flops(layer.spatial_attention, inputs[0]))


# ----------------------------------------------------------------------------- walking
def _rule_for(layer):
    for cls in type(layer).__mro__:
        if cls in FLOP_RULES:
            return FLOP_RULES[cls]
    return None


def _shapes(tensors):
    """Per-sample shapes (batch axis dropped) of the KerasTensors in a nested structure."""
    return [tuple(t.shape[1:]) for t in keras.tree.flatten(tensors) if isinstance(t, keras.KerasTensor)]


def _symbolic_inputs(model, input_shape):
    """``keras.Input`` tensors of batch 1 with the model's input structure."""
    structure = model.input

    def make(reference, shape):
        shape = tuple(int(d) for d in shape)
        if len(shape) != len(reference.shape) - 1:
            raise KitError(
                f"flops: input shape {shape} does not match the model input {reference.name!r} "
                f"of shape {tuple(reference.shape)} (give the shape of one sample)"
            )
        return keras.Input(batch_shape=(1, *shape), dtype=reference.dtype, name=reference.name)

    if isinstance(structure, dict):
        if not isinstance(input_shape, dict) or set(input_shape) != set(structure):
            raise KitError(f"flops: model {model.name!r} takes inputs {sorted(structure)}; "
                           f"give a dict of per-sample shapes with those keys")
        return {k: make(structure[k], input_shape[k]) for k in structure}
    if isinstance(structure, (list, tuple)):
        if isinstance(input_shape, dict):  # a list-input model given shapes by input name
            names = [r.name for r in structure]
            if set(input_shape) != set(names):
                raise KitError(f"flops: model {model.name!r} takes inputs {names}; got shapes for "
                               f"{sorted(input_shape)}")
            input_shape = [input_shape[name] for name in names]
        if len(structure) == 1 and not isinstance(input_shape[0], (list, tuple)):
            input_shape = [input_shape]
        if len(input_shape) != len(structure):
            raise KitError(f"flops: model {model.name!r} takes {len(structure)} inputs, "
                           f"got {len(input_shape)} shapes")
        return [make(r, s) for r, s in zip(structure, input_shape)]
    return make(structure, input_shape)


class _Counter:
    def __init__(self):
        self.per_layer, self.uncounted = [], []

    def record(self, path, layer, inputs, outputs):
        if isinstance(layer, keras.Model):
            self.walk(layer, _symbolic_like(layer, inputs), prefix=f"{path}/")
            return
        rule = _rule_for(layer)
        if rule is None:
            self.uncounted.append(f"{path} ({type(layer).__name__})")
            flops = 0
        else:
            flops = int(rule(layer, _shapes(inputs), _shapes(outputs)))
        self.per_layer.append((path, type(layer).__name__, flops))

    def walk(self, model, inputs, prefix=""):
        """Run ``model`` symbolically on ``inputs``, recording every layer call."""
        if isinstance(model, keras.Sequential):
            x = inputs
            for layer in model.layers:
                y = layer(x)
                self.record(prefix + layer.name, layer, x, y)
                x = y
            return
        if not _is_functional(model):
            raise KitError(
                f"flops: {type(model).__name__} {model.name!r} is a subclassed model; count "
                "its functional parts (e.g. a GAN's generator and discriminator) one by one"
            )

        def call_function(layer, *args, **kwargs):
            outputs = layer(*args, **kwargs)
            self.record(prefix + layer.name, layer, (args, kwargs), outputs)
            return outputs

        # clone_model with the layers themselves (not copies) re-runs the graph on the
        # concrete inputs and hands us every layer call. The weights are untouched; each
        # layer only gains one more call node (its ``output`` stays that of its first call).
        keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer,
                                 call_function=call_function)


def _is_functional(model):
    # Keras 3 has no public Functional class; clone_model needs the graph these expose.
    return hasattr(model, "operations") and hasattr(model, "_run_through_graph")


def _symbolic_like(model, arguments):
    """The KerasTensors of a nested-model call, in the nested model's input structure."""
    tensors = [t for t in keras.tree.flatten(arguments) if isinstance(t, keras.KerasTensor)]
    fresh = [keras.Input(batch_shape=t.shape, dtype=t.dtype, name=reference.name)
             for t, reference in zip(tensors, model.inputs)]
    return keras.tree.pack_sequence_as(model.input, fresh)


def count_flops(model, input_shape):
    """Forward FLOPs of one sample of ``model`` at ``input_shape`` -> ``FlopCount``.

    ``input_shape``: the shape of one sample without the batch axis, e.g. ``(64, 64, 3)``;
    for several inputs, a list or a dict keyed like the model's inputs (e.g.
    ``{"lr": (8, 8, 31), "rgb": (128, 128, 3)}``). The model must be functional or
    Sequential (nested models are walked too).
    """
    counter = _Counter()
    counter.walk(model, _symbolic_inputs(model, input_shape))
    total = sum(flops for _, _, flops in counter.per_layer)
    return FlopCount(forward=int(total), per_layer=counter.per_layer, uncounted=counter.uncounted)


def forward_flops(model, input_shape):
    """Forward FLOPs of one sample (``count_flops(...).forward``)."""
    return count_flops(model, input_shape).forward
