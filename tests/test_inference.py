"""Full-image and tiled inference agree with a direct computation.

The reference model is a 1x1 convolution (a per-pixel linear map), whose output at every
pixel is ``x @ W + b`` whatever the tiling or padding: tiling, padding and blending must
reproduce that exactly. A 3x3 convolution checks the padding is cropped back. Three
stacked 3x3 convolutions (receptive field: 3 pixels each way) check the overlap-tile
property: tiles whose inner margins of at least 3 pixels are left out give the network's
one-pass output exactly, a 2-pixel margin does not.
"""

import keras
import numpy as np
import pytest

from common import inference
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


def _three_conv_model(seed=0):
    """Three 3x3 'same' convolutions: each output pixel sees 3 pixels each way."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same")(x))


@pytest.mark.parametrize("tile", [64, (48, 40)])
def test_overlap_tiles_with_margin_reproduce_one_pass(tile):
    model = _three_conv_model()
    x = np.random.default_rng(3).random((150, 170, 3), dtype=np.float32)
    one_pass = np.asarray(model.predict_on_batch(x[None]))[0]
    exact = predict_tiled(model, x, tile, overlap=20, blend=True, margin=3, pad_mode=None)
    np.testing.assert_allclose(exact, one_pass, atol=1e-5)
    short = predict_tiled(model, x, tile, overlap=20, blend=True, margin=2, pad_mode=None)
    assert np.abs(short - one_pass).max() > 1e-3  # the receptive field reaches past 2


def test_predict_full_tiles_above_the_pixel_limit(monkeypatch):
    model = _three_conv_model()
    x = np.random.default_rng(4).random((150, 170, 3), dtype=np.float32)
    padded = np.pad(x, ((0, 2), (0, 6), (0, 0)), mode="reflect")  # to multiples of 8
    one_pass = np.asarray(model.predict_on_batch(padded[None]))[0, :150, :170]
    monkeypatch.setattr(inference, "TILE_MARGIN", 4)
    monkeypatch.setattr(inference, "TILE_RAMP", 8)
    seen = []
    real_forward = inference.forward
    monkeypatch.setattr(inference, "forward", lambda m, b: seen.append(b.shape) or real_forward(m, b))

    out = predict_full(model, x, multiple=8, max_pixels=64 * 64)
    np.testing.assert_allclose(out, one_pass, atol=1e-5)
    assert len(seen) > 1 and all(h * w <= 64 * 64 and h % 8 == 0 and w % 8 == 0 for _, h, w, _ in seen)

    seen.clear()
    predict_full(model, x, multiple=8, max_pixels=152 * 176)
    assert seen == [(1, 152, 176, 3)]  # padded to multiples of 8, one pass

    strip = np.random.default_rng(5).random((24, 300, 3), dtype=np.float32)  # 24 < overlap
    padded = np.pad(strip, ((0, 0), (0, 4), (0, 0)), mode="reflect")
    one_pass = np.asarray(model.predict_on_batch(padded[None]))[0, :, :300]
    np.testing.assert_allclose(predict_full(model, strip, multiple=8, max_pixels=64 * 64),
                               one_pass, atol=1e-5)


def test_pixel_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(inference.MAX_PIXELS_ENV, "123456")
    assert inference.max_inference_pixels() == 123456
    monkeypatch.setenv(inference.MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match="KIT_MAX_INFER_PIXELS"):
        inference.max_inference_pixels()
    monkeypatch.delenv(inference.MAX_PIXELS_ENV)
    assert inference.max_inference_pixels() == 2048 * 2048


def test_too_small_a_pixel_limit_is_rejected():
    model, _, _ = _pixelwise_model()
    with pytest.raises(ValueError, match="too small"):
        predict_full(model, np.zeros((300, 300, 3), np.float32), max_pixels=50 * 50)
