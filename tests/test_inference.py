"""Full-image and tiled inference agree with a direct computation.

The reference model is a 1x1 convolution (a per-pixel linear map), whose output at every
pixel is ``x @ W + b`` whatever the tiling or padding: tiling, padding and blending must
reproduce that exactly. A 3x3 convolution checks the padding is cropped back.
"""

import keras
import numpy as np
import pytest

from common.inference import predict_full, predict_tiled


def _pixelwise_model(channels_in=3, channels_out=5, seed=0):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(channels_in, channels_out)).astype("float32")
    bias = rng.normal(size=channels_out).astype("float32")
    inputs = keras.Input((None, None, channels_in))
    conv = keras.layers.Conv2D(channels_out, 1)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([weight[None, None], bias])
    return model, weight, bias


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (10, 130)])
def test_predict_full_matches_pixelwise_reference(shape):
    model, weight, bias = _pixelwise_model()
    x = np.random.default_rng(1).random((*shape, 3), dtype=np.float32)
    out = predict_full(model, x, multiple=16)
    assert out.shape == (*shape, 5)
    np.testing.assert_allclose(out, x @ weight + bias, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("overlap,blend", [(0, False), (8, False), (8, True)])
def test_predict_tiled_matches_pixelwise_reference(overlap, blend):
    model, weight, bias = _pixelwise_model()
    x = np.random.default_rng(2).random((70, 45, 3), dtype=np.float32)
    out = predict_tiled(model, x, tile=32, overlap=overlap, blend=blend, batch_size=4)
    np.testing.assert_allclose(out, x @ weight + bias, rtol=1e-5, atol=1e-5)


def test_predict_full_crops_padding_of_a_spatial_model():
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, keras.layers.AveragePooling2D(1)(inputs))
    x = np.arange(15 * 9, dtype=np.float32).reshape(15, 9, 1)
    np.testing.assert_array_equal(predict_full(model, x, multiple=8), x)


def test_bad_overlap_is_rejected():
    model, _, _ = _pixelwise_model()
    with pytest.raises(ValueError, match="overlap"):
        predict_tiled(model, np.zeros((8, 8, 3), np.float32), tile=4, overlap=4)
