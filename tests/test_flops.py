"""common.flops against FLOPs counted by hand for small models.

Every expected value is written out as the arithmetic of the convention in the module
docstring (2 FLOPs per multiply-add, 1 per bias add and activation, BN 4 per element,
pooling k*k per output element), computed from the layer sizes by hand, not by the code.
"""

import keras
import pytest
from keras import layers

from common.flops import count_flops, forward_flops
from common.io import KitError
from common.layers import ChannelAttention, CoordConv, SpatialAttention


def conv_stack():
    x = inputs = keras.Input((None, None, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(6, (1, 3), strides=2, padding="valid", use_bias=False)(x)
    x = layers.Conv2D(6, 3, padding="same", groups=2)(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    return keras.Model(inputs, x)


def test_conv_stack_matches_hand_count():
    # Input 8 x 10 x 3.
    # conv1: 3x3x3 window, 4 filters, 'same' -> 8x10x4 = 320 outputs;
    #        2*27 per output + bias + relu.
    conv1 = 2 * 27 * 320 + 320 + 320
    # conv2: 1x3 window over 4 channels, stride 2, 'valid' -> H (8-1)//2+1 = 4,
    #        W (10-3)//2+1 = 4 -> 4x4x6 = 96 outputs; no bias.
    conv2 = 2 * (1 * 3 * 4) * 96
    # conv3: 2 groups of 3 channels, 3x3 window -> 27 MACs per output, 96 outputs, bias.
    conv3 = 2 * 27 * 96 + 96
    bn = 4 * 96
    pool = 4 * (2 * 2 * 6)  # 2x2 window per output, output 2x2x6
    result = count_flops(conv_stack(), (8, 10, 3))
    assert result.forward == conv1 + conv2 + conv3 + bn + pool == 25984
    assert result.training == 3 * 25984
    assert result.uncounted == []
    assert [flops for *_, flops in result.per_layer if flops] == [conv1, conv2, conv3, bn, pool]


def test_same_model_counted_at_another_size():
    # Input 16 x 20 x 3: conv1 -> 16x20x4 = 1280 outputs.
    conv1 = 2 * 27 * 1280 + 1280 + 1280
    # conv2 (1x3, stride 2, valid): H (16-1)//2+1 = 8, W (20-3)//2+1 = 9 -> 8x9x6 outputs.
    conv2_outputs = 8 * 9 * 6
    conv2 = 2 * 12 * conv2_outputs
    conv3 = 2 * 27 * conv2_outputs + conv2_outputs
    bn = 4 * conv2_outputs
    pool = 4 * (4 * 4 * 6)  # 8x9 -> 4x4 (floor)
    assert forward_flops(conv_stack(), (16, 20, 3)) == conv1 + conv2 + conv3 + bn + pool


def test_dense_on_vectors_and_sequences():
    inputs = keras.Input((5,))
    assert forward_flops(keras.Model(inputs, layers.Dense(7)(inputs)), (5,)) == 2 * 5 * 7 + 7
    seq = keras.Input((None, 5))
    model = keras.Model(seq, layers.Dense(7, activation="tanh")(seq))
    # 3 positions, each: 70 multiply-add FLOPs, 7 bias adds, 7 tanh.
    assert forward_flops(model, (3, 5)) == 3 * (70 + 7 + 7)


def test_rescaling_and_merges():
    inputs = keras.Input((None, None, 2))
    scaled = layers.Rescaling(0.5)(inputs)
    shifted = layers.Rescaling(0.5, offset=1.0)(inputs)
    model = keras.Model(inputs, layers.Average()([scaled, shifted, inputs]))
    # 3x3x2 = 18 elements: scale only 1 each, scale and offset 2 each, the average of
    # three inputs 2 adds + 1 division each.
    assert forward_flops(model, (3, 3, 2)) == 18 * 1 + 18 * 2 + 18 * 3


def test_transposed_convolution_counts_every_input_pixel():
    inputs = keras.Input((None, None, 3))
    y = layers.Conv2DTranspose(2, 3, strides=2, padding="same")(inputs)
    model = keras.Model(inputs, y)
    # 4x4 input pixels, each multiplied with the whole 3x3x3x2 kernel; output 8x8x2 biases.
    assert forward_flops(model, (4, 4, 3)) == 2 * 16 * (3 * 3 * 3 * 2) + 8 * 8 * 2


def test_nested_models_and_sequential_are_walked():
    inner = keras.Sequential([keras.Input((None, None, 2)), layers.Conv2D(3, 1), layers.ReLU()])
    inputs = keras.Input((None, None, 2))
    x = inner(inputs)
    x = layers.Add()([x, x])
    model = keras.Model(inputs, x)
    # 4x4 pixels: 1x1 conv 2->3 (2*2*3 per pixel + 3 biases), ReLU 48, Add 48.
    per_pixel_conv = 2 * 2 * 3 + 3
    expected = 16 * per_pixel_conv + 48 + 48
    assert forward_flops(model, (4, 4, 2)) == expected
    assert forward_flops(inner, (4, 4, 2)) == 16 * per_pixel_conv + 48


def test_dict_inputs_with_different_sizes():
    lr = keras.Input((None, None, 4), name="lr")
    rgb = keras.Input((None, None, 3), name="rgb")
    up = layers.UpSampling2D(2)(lr)
    z = layers.Conv2D(4, 1, use_bias=False)(layers.Concatenate()([up, rgb]))
    model = keras.Model({"lr": lr, "rgb": rgb}, z)
    # 6x6 output pixels, 1x1 conv over 4 + 3 channels to 4: 2*7*4 each; concat and
    # nearest up-sampling are free.
    assert forward_flops(model, {"lr": (3, 3, 4), "rgb": (6, 6, 3)}) == 36 * 2 * 7 * 4


def test_attention_layers_of_common_layers():
    inputs = keras.Input((None, None, 8))
    model = keras.Model(inputs, ChannelAttention(ratio=4)(CoordConv()(inputs)[..., :8]))
    # 4x4x8 = 128 elements; hidden units 8 // 4 = 2.
    pools = 2 * 128  # global average and max
    mlp = (2 * 8 * 2 + 2 + 2) + (2 * 2 * 8 + 8)  # dense+bias+relu, dense+bias
    ca = pools + 2 * mlp + 8 + 8 + 128  # MLP on both vectors, sum, sigmoid, product
    flops = count_flops(model, (4, 4, 8))
    assert flops.forward == ca == 552
    # The slice is a keras op, not a layer with a rule: it shows up as uncounted.
    assert len(flops.uncounted) == 1

    inputs = keras.Input((None, None, 8))
    model = keras.Model(inputs, SpatialAttention(kernel_size=3)(inputs))
    # channel mean and max (2 x 128), 3x3 conv on 2 maps to 1 without bias over 16
    # pixels, sigmoid on 16, product 128.
    assert forward_flops(model, (4, 4, 8)) == 256 + 2 * 9 * 2 * 16 + 16 + 128


def test_layer_without_rule_is_reported():
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, Scale(name="scale")(layers.Dense(2)(inputs)))
    result = count_flops(model, (4, 3))
    assert result.forward == 4 * (2 * 3 * 2 + 2)
    assert result.uncounted == ["scale (Scale)"]


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(KitError, match="does not match"):
        count_flops(conv_stack(), (8, 10))
