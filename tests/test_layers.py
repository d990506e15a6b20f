"""Tests of common/layers.py against NumPy references (backend from KERAS_BACKEND)."""

import keras
import numpy as np
import pytest
from scipy.signal import correlate2d

from common.layers import CBAM, ChannelAttention, CoordConv, PixelShuffle, PixelUnshuffle, SpatialAttention

RNG = np.random.default_rng(0)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ------------------------------------------------------------------------- CoordConv


def test_coordconv_channels_match_linspace_and_corners():
    x = RNG.random((2, 3, 5, 4)).astype("float32")
    out = _np(CoordConv()(x))
    assert out.shape == (2, 3, 5, 6)
    np.testing.assert_array_equal(out[..., :4], x)  # inputs pass through untouched
    xs, ys = out[..., 4], out[..., 5]
    np.testing.assert_allclose(xs, np.broadcast_to(np.linspace(-1, 1, 5)[None, None, :], (2, 3, 5)), atol=1e-7)
    np.testing.assert_allclose(ys, np.broadcast_to(np.linspace(-1, 1, 3)[None, :, None], (2, 3, 5)), atol=1e-7)
    # exact corners: top-left (-1, -1), top-right (+1, -1), bottom-left (-1, +1), bottom-right (+1, +1)
    for (i, j), (cx, cy) in {(0, 0): (-1, -1), (0, -1): (1, -1), (-1, 0): (-1, 1), (-1, -1): (1, 1)}.items():
        assert np.all(xs[:, i, j] == cx) and np.all(ys[:, i, j] == cy)


def test_coordconv_radius_and_yx_order():
    x = np.zeros((1, 4, 3, 1), "float32")
    out = _np(CoordConv(with_r=True)(x))
    assert out.shape == (1, 4, 3, 4)
    np.testing.assert_allclose(out[..., 3], np.hypot(out[..., 1], out[..., 2]), atol=1e-6)
    assert out[0, 0, 0, 3] == pytest.approx(np.sqrt(2.0))
    assert out[0, 0, 1, 3] == pytest.approx(1.0)  # middle of the top row: (0, -1)
    swapped = _np(CoordConv(order="yx")(x))
    np.testing.assert_array_equal(swapped[..., 1], out[..., 2])
    np.testing.assert_array_equal(swapped[..., 2], out[..., 1])


def test_coordconv_any_size_in_functional_model():
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, CoordConv()(inputs))
    assert model.output_shape == (None, None, None, 4)
    for h, w in ((4, 6), (7, 3), (1, 2)):
        out = _np(model(np.ones((1, h, w, 2), "float32")))
        assert out.shape == (1, h, w, 4)
        assert out[0, 0, 0, 2] == -1.0 and out[0, 0, -1, 2] == (1.0 if w > 1 else -1.0)
        assert out[0, -1, 0, 3] == (1.0 if h > 1 else -1.0)


def test_coordconv_rejects_unknown_order():
    with pytest.raises(ValueError, match="order"):
        CoordConv(order="zz")


# ---------------------------------------------------------------------- PixelShuffle


def _depth_to_space_reference(x, s):
    """NHWC depth-to-space by hand: channel index (i*s + j)*C + c -> pixel (h*s+i, w*s+j)."""
    b, h, w, cs = x.shape
    c = cs // (s * s)
    y = x.reshape(b, h, w, s, s, c).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(b, h * s, w * s, c)


@pytest.mark.parametrize("scale,channels", [(2, 3), (3, 1), (2, 1)])
def test_pixel_shuffle_matches_numpy_reference(scale, channels):
    x = RNG.random((2, 3, 4, channels * scale * scale)).astype("float32")
    out = _np(PixelShuffle(scale)(x))
    assert out.shape == (2, 3 * scale, 4 * scale, channels)
    np.testing.assert_array_equal(out, _depth_to_space_reference(x, scale))


def test_pixel_shuffle_channel_order_documented():
    # out[b, h*s+i, w*s+j, c] = in[b, h, w, (i*s+j)*C + c] with s=2, C=3 (not PyTorch's c*s*s + i*s + j)
    x = np.arange(12, dtype="float32").reshape(1, 1, 1, 12)
    out = _np(PixelShuffle(2)(x))
    np.testing.assert_array_equal(out[0, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(out[0, 0, 1], [3, 4, 5])
    np.testing.assert_array_equal(out[0, 1, 0], [6, 7, 8])
    np.testing.assert_array_equal(out[0, 1, 1], [9, 10, 11])


def test_pixel_unshuffle_inverts_pixel_shuffle():
    x = RNG.random((2, 3, 2, 8)).astype("float32")
    np.testing.assert_array_equal(_np(PixelUnshuffle(2)(PixelShuffle(2)(x))), x)
    y = RNG.random((1, 6, 4, 3)).astype("float32")
    down = _np(PixelUnshuffle(2)(y))
    assert down.shape == (1, 3, 2, 12)
    np.testing.assert_array_equal(_depth_to_space_reference(down, 2), y)


@pytest.mark.parametrize("layer_cls", [PixelShuffle, PixelUnshuffle])
def test_pixel_shuffle_rejects_bad_scale(layer_cls):
    with pytest.raises(ValueError, match="scale"):
        layer_cls(0)


# ------------------------------------------------------------------------- attention


def _random_channel_attention(channels, ratio):
    layer = ChannelAttention(ratio=ratio)
    layer.build((None, 3, 4, channels))
    hidden = max(channels // ratio, 1)
    shapes = ((channels, hidden), (hidden,), (hidden, channels), (channels,))
    weights = [RNG.normal(size=s).astype("float32") for s in shapes]
    layer.mlp_hidden.set_weights(weights[:2])
    layer.mlp_out.set_weights(weights[2:])
    return layer, weights


def test_channel_attention_matches_numpy_reference():
    layer, (w1, b1, w2, b2) = _random_channel_attention(channels=8, ratio=4)
    assert layer.mlp_hidden.units == 2 and layer.mlp_out.units == 8
    x = RNG.normal(size=(2, 3, 4, 8)).astype("float32")

    def mlp(v):
        return np.maximum(v @ w1 + b1, 0.0) @ w2 + b2

    attention = _sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))
    np.testing.assert_allclose(_np(layer(x)), x * attention[:, None, None, :], rtol=1e-5, atol=1e-6)


def test_channel_attention_hidden_width_is_at_least_one():
    layer = ChannelAttention(ratio=8)
    layer.build((None, 2, 2, 3))
    assert layer.mlp_hidden.units == 1


@pytest.mark.parametrize("kernel_size", [3, 7])
def test_spatial_attention_matches_numpy_reference(kernel_size):
    layer = SpatialAttention(kernel_size=kernel_size)
    layer.build((None, 9, 8, 5))
    assert len(layer.conv.get_weights()) == 1  # no bias by default
    kernel = RNG.normal(size=(kernel_size, kernel_size, 2, 1)).astype("float32")
    layer.conv.set_weights([kernel])
    x = RNG.normal(size=(2, 9, 8, 5)).astype("float32")
    expected = np.empty_like(x)
    for b in range(2):
        pooled = (x[b].mean(axis=-1), x[b].max(axis=-1))
        logits = sum(correlate2d(p, kernel[:, :, k, 0], mode="same") for k, p in enumerate(pooled))
        expected[b] = x[b] * _sigmoid(logits)[..., None]
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-5, atol=1e-5)


def _force_attention_to_one(cbam_or_ca=None, sa=None):
    """Weights that saturate the sigmoids: zero MLP kernels with output bias 20 (logit 40),
    and a +100 spatial kernel on positive inputs (logit >= 100)."""
    if cbam_or_ca is not None:
        ca = cbam_or_ca
        ca.mlp_hidden.set_weights([np.zeros_like(w) for w in ca.mlp_hidden.get_weights()])
        kernel, bias = ca.mlp_out.get_weights()
        ca.mlp_out.set_weights([np.zeros_like(kernel), np.full_like(bias, 20.0)])
    if sa is not None:
        sa.conv.set_weights([np.full_like(w, 100.0) for w in sa.conv.get_weights()])


def test_attention_is_identity_when_forced_to_one():
    x = (0.5 + 0.5 * RNG.random((2, 6, 5, 8))).astype("float32")
    cbam = CBAM(ratio=4, kernel_size=7)
    cbam.build(x.shape)
    _force_attention_to_one(cbam.channel_attention, cbam.spatial_attention)
    np.testing.assert_allclose(_np(cbam.channel_attention.attention(x)), 1.0, rtol=0, atol=1e-7)
    np.testing.assert_allclose(_np(cbam.spatial_attention.attention(x)), 1.0, rtol=0, atol=1e-7)
    np.testing.assert_allclose(_np(cbam(x)), x, rtol=1e-7)
    ca, sa = ChannelAttention(ratio=2), SpatialAttention()
    ca.build(x.shape)
    sa.build(x.shape)
    _force_attention_to_one(ca, sa)
    np.testing.assert_allclose(_np(ca(x)), x, rtol=1e-7)
    np.testing.assert_allclose(_np(sa(x)), x, rtol=1e-7)


def test_cbam_is_channel_then_spatial_attention():
    x = RNG.normal(size=(1, 5, 6, 8)).astype("float32")
    cbam = CBAM(ratio=4, kernel_size=3)
    cbam.build(x.shape)
    for layer in (cbam.channel_attention.mlp_hidden, cbam.channel_attention.mlp_out, cbam.spatial_attention.conv):
        layer.set_weights([RNG.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    f1 = _np(cbam.channel_attention(x))
    assert not np.allclose(f1, x)
    np.testing.assert_allclose(_np(cbam(x)), _np(cbam.spatial_attention(f1)), rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------- serialization


def test_functional_model_with_every_layer_saves_and_loads(tmp_path):
    inputs = keras.Input((None, None, 3))
    x = CoordConv(with_r=True)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = ChannelAttention(ratio=4)(x)
    x = SpatialAttention(kernel_size=3)(x)
    x = CBAM(ratio=2, kernel_size=5)(x)
    x = PixelUnshuffle(2)(x)
    x = PixelShuffle(2)(x)
    x = CoordConv(order="yx")(x)
    model = keras.Model(inputs, x)
    # non-trivial weights everywhere (Dense biases start at zero)
    model.set_weights([RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    path = tmp_path / "layers.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for shape in ((2, 4, 6, 3), (1, 6, 2, 3)):
        batch = RNG.random(shape).astype("float32")
        np.testing.assert_array_equal(_np(loaded(batch)), _np(model(batch)))
    assert [type(layer).__name__ for layer in loaded.layers[1:]] == [
        "CoordConv", "Conv2D", "ChannelAttention", "SpatialAttention", "CBAM",
        "PixelUnshuffle", "PixelShuffle", "CoordConv",
    ]


@pytest.mark.parametrize(
    "layer",
    [CoordConv(with_r=True, order="yx"), PixelShuffle(3), PixelUnshuffle(2), ChannelAttention(4, use_bias=False),
     SpatialAttention(5, use_bias=True), CBAM(2, 3)],
    ids=lambda layer: type(layer).__name__,
)
def test_get_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    registered = keras.saving.get_registered_name(type(layer))
    assert registered == f"hskit>{type(layer).__name__}"
