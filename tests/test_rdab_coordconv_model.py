"""rdab_coordconv: the network against the paper and the released model's structure
(the authors' released HDF5 file), the RDAB arithmetic against a NumPy reference, the ablations (Tables 2-3),
the losses (eq. 14 and the released one), odd image sizes, a training step and a
.keras round trip."""

import json
from pathlib import Path

import numpy as np
import pytest

import keras

from common.inference import predict_full, predict_tiled
from common.layers import ChannelAttention, CoordConv, SpatialAttention
from common.losses import half_sse, ssim_loss, ssim_map
from papers.rdab_coordconv.model import COORD_READERS, build_from_config, build_model, rdab
from papers.rdab_coordconv.train import make_loss
from tests.conftest import paper_config

PUBLISHED = Path(__file__).resolve().parent.parent / "papers" / "rdab_coordconv" / "published.json"


@pytest.fixture(scope="module")
def paper_model():
    return build_model()


def of_type(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def hand_count_trainable():
    """Trainable values of the released structure, summed by hand from the released file's layer list.

    RDAB(C): three 3x3 convs C->C with bias (side, two dense) = 3 (9C^2 + C); the 7x7x2
    spatial-attention kernel, no bias = 98; the channel MLP C->h->C with biases, h = C/8
    (at least 1) = 2Ch + h + C; five BatchNorms with gamma and beta = 10C.
    """
    c8 = 3 * (9 * 64 + 8) + 98 + (2 * 8 * 1 + 1 + 8) + 80  # 1955
    c16 = 3 * (9 * 256 + 16) + 98 + (2 * 16 * 2 + 2 + 16) + 160  # 7300
    c32 = 3 * (9 * 1024 + 32) + 98 + (2 * 32 * 4 + 4 + 32) + 320  # 28454
    rdabs = 3 * c8 + 4 * c16 + 2 * c32  # levels 8 (2 enc + 1 dec), 16 (2 + 2), 32 (2)
    entries = (9 * 5 * 8 + 8) + (9 * 8 * 16 + 16) + (9 * 16 * 32 + 32)
    transposed = (9 * 32 * 16 + 16) + (9 * 32 * 8 + 8)  # both see a 32-channel input
    attention_out = 25 * 16 * 31 + 31  # [RDAB(8), skip A] -> 31
    dense = (5 * 16 + 16) + (9 * 16 * 16 + 16) + (25 * 32 * 16 + 16) + (49 * 32 * 16 + 16)
    dense_out = 25 * 64 * 31 + 31
    fusion = 25 * 31 * 31 + 31
    return rdabs + entries + transposed + attention_out + dense + dense_out + fusion


def test_stored_and_trainable_counts(paper_model):
    trainable = sum(int(np.prod(v.shape)) for v in paper_model.trainable_weights)
    stored = sum(int(np.prod(v.shape)) for v in paper_model.weights)
    assert stored == 233_059  # the paper's count, BN moving statistics included
    assert trainable == hand_count_trainable() == 231_539
    # The rest are the moving mean and variance of 45 BatchNorms (9 RDABs x 5).
    assert stored - trainable == 2 * (3 * 5 * 8 + 4 * 5 * 16 + 2 * 5 * 32)


def test_structure_matches_released_model(paper_model):
    m = paper_model
    assert len(of_type(m, CoordConv)) == 1 and m.get_layer("coordconv").order == "yx"
    assert not m.get_layer("coordconv").with_r
    assert len(of_type(m, ChannelAttention)) == len(of_type(m, SpatialAttention)) == 9
    assert len(of_type(m, keras.layers.BatchNormalization)) == 45
    for ca in of_type(m, ChannelAttention):
        channels = ca.mlp_out.units
        assert ca.mlp_hidden.units == max(channels // 8, 1) and ca.mlp_hidden.use_bias
    for sa in of_type(m, SpatialAttention):
        assert sa.conv.kernel_size == (7, 7) and not sa.conv.use_bias and sa.conv.filters == 1
    assert [m.get_layer(f"{p}_entry").filters for p in ("l1", "l2", "l3")] == [8, 16, 32]
    assert m.get_layer("l1_entry").kernel.shape == (3, 3, 5, 8)
    deconvs = of_type(m, keras.layers.Conv2DTranspose)
    assert [(d.filters, d.kernel_size, d.strides) for d in deconvs] == [(16, (3, 3), (2, 2)), (8, (3, 3), (2, 2))]
    assert len(of_type(m, keras.layers.MaxPooling2D)) == 2
    assert [d.rate for d in of_type(m, keras.layers.Dropout)] == [0.2, 0.2]
    dense = [m.get_layer(f"dense_c{i}") for i in (1, 2, 3, 4)]
    assert [d.kernel_size[0] for d in dense] == [1, 3, 5, 7]
    assert [d.kernel.shape[2] for d in dense] == [5, 16, 32, 32]  # [c1,c2] and [c2,c3] inputs
    assert all(d.filters == 16 and d.activation is keras.activations.relu for d in dense)
    for name, cin in (("dense_out", 64), ("attention_out", 16), ("fusion_out", 31)):
        layer = m.get_layer(name)
        assert layer.kernel.shape == (5, 5, cin, 31)
    # Every convolution is 'same' padded; the output has 31 bands.
    assert all(c.padding == "same" for c in of_type(m, keras.layers.Conv2D))
    assert m.output_shape == (None, None, None, 31)


def test_ablations_change_only_what_they_remove():
    no_coord = build_model(use_coordconv=False)
    assert not of_type(no_coord, CoordConv)
    assert no_coord.get_layer("l1_entry").kernel.shape == (3, 3, 3, 8)
    assert no_coord.get_layer("dense_c1").kernel.shape == (1, 1, 3, 16)
    # Two fewer input channels in the entry 3x3 (8 filters) and the dense 1x1 (16 filters).
    assert no_coord.count_params() == 233_059 - (2 * 9 * 8 + 2 * 16)
    no_cbam = build_model(use_cbam=False)
    assert not of_type(no_cbam, ChannelAttention) and not of_type(no_cbam, SpatialAttention)
    attention = 9 * 98 + 3 * 25 + 4 * 82 + 2 * 292  # SA kernels + channel MLPs, by level
    assert no_cbam.count_params() == 233_059 - attention


def test_zero_coord_kernels_changes_only_the_coordinate_entries():
    keras.utils.set_random_seed(0)
    default = build_model()
    keras.utils.set_random_seed(0)
    zeroed = build_model(zero_coord_kernels=True)
    assert zeroed.count_params() == 233_059
    changed = {zeroed.get_layer(n).kernel.path for n in COORD_READERS}
    for a, b in zip(default.weights, zeroed.weights):
        if b.path in changed:
            a, b = np.asarray(a), np.asarray(b)
            np.testing.assert_array_equal(b[:, :, :3], a[:, :, :3])  # RGB entries: Glorot, as before
            assert not b[:, :, 3:].any() and a[:, :, 3:].any()  # coordinate entries: zero
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The dense 1x1 convolution then ignores the position at initialisation: constant on a
    # constant image (with Glorot-initialised coordinate entries it varies across it).
    x = np.full((1, 16, 16, 3), 0.2, "float32")
    for model, varies in ((zeroed, False), (default, True)):
        c1 = keras.Model(model.input, model.get_layer("dense_c1").output)(x)
        assert (np.ptp(np.asarray(c1), axis=(1, 2)).max() > 1e-3) == varies
    assert build_model(use_coordconv=False, zero_coord_kernels=True).count_params() == 233_059 - (2 * 9 * 8 + 2 * 16)
    # Profiles: the paper keeps Keras' defaults (the release), the quick profile zeroes.
    assert paper_config("rdab_coordconv", "paper")["model"]["zero_coord_kernels"] is False
    assert paper_config("rdab_coordconv", "quick")["model"]["zero_coord_kernels"] is True


def _conv_same(x, kernel, bias=None):
    """NumPy 'same' cross-correlation, NHWC x HWIO."""
    k = kernel.shape[0]
    p = k // 2
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros((x.shape[0], h, w, kernel.shape[3]))
    for i in range(k):
        for j in range(k):
            out += np.einsum("bhwc,co->bhwo", padded[:, i : i + h, j : j + w], kernel[i, j])
    return out if bias is None else out + bias


def _bn(x, layer):
    g, b, m, v = (np.asarray(w) for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance))
    return g * (x - m) / np.sqrt(v + layer.epsilon) + b


def test_rdab_computes_the_released_formula():
    """out = ReLU(BN(f*CA(f) + f*SA(f) + x + side)), checked with NumPy arithmetic."""
    channels = 16
    inputs = keras.Input((8, 8, channels))
    block = keras.Model(inputs, rdab(inputs, channels, "t"))
    rng = np.random.default_rng(0)
    for layer in block.layers:  # non-trivial BN statistics and attention weights
        for v in layer.weights:
            v.assign(rng.uniform(0.5, 1.5, v.shape) if "variance" in v.path else rng.normal(0, 0.3, v.shape))
    x = rng.normal(size=(2, 8, 8, channels))
    get = block.get_layer
    relu = lambda a: np.maximum(a, 0.0)  # noqa: E731
    side = relu(_bn(_conv_same(x, np.asarray(get("t_side_conv").kernel), np.asarray(get("t_side_conv").bias)), get("t_side_bn")))
    f = x
    for i in (1, 2):
        conv = get(f"t_conv{i}")
        f = _conv_same(relu(_bn(f, get(f"t_bn{i}"))), np.asarray(conv.kernel), np.asarray(conv.bias))
    f = relu(_bn(f, get("t_bn3")))
    ca = get("t_ca")
    w1, b1, w2, b2 = (np.asarray(w) for w in (ca.mlp_hidden.kernel, ca.mlp_hidden.bias, ca.mlp_out.kernel, ca.mlp_out.bias))
    mlp = lambda v: relu(v @ w1 + b1) @ w2 + b2  # noqa: E731
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    m_c = sigmoid(mlp(f.mean(axis=(1, 2))) + mlp(f.max(axis=(1, 2))))[:, None, None, :]
    pooled = np.concatenate([f.mean(-1, keepdims=True), f.max(-1, keepdims=True)], axis=-1)
    m_s = sigmoid(_conv_same(pooled, np.asarray(get("t_sa").conv.kernel)))
    expected = relu(_bn(f * m_c + f * m_s + x + side, get("t_out_bn")))
    got = np.asarray(block(x.astype("float32"), training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_odd_image_sizes_through_tiling_and_padding(paper_model):
    rgb = np.random.default_rng(1).random((37, 50, 3)).astype("float32")
    assert predict_tiled(paper_model, rgb, tile=64).shape == (37, 50, 31)  # released: 64x64 tiles
    assert predict_full(paper_model, rgb, multiple=4).shape == (37, 50, 31)  # one pass, padded


def test_losses_eq14_and_released():
    rng = np.random.default_rng(3)
    truth = rng.random((2, 16, 16, 31)).astype("float32")
    pred = truth + np.float32(0.1)
    # Same image: L2 = 0 and SSIM = 1, so eq. 14 gives 0.
    assert float(np.mean(make_loss("l2_ssim")(truth, truth))) == pytest.approx(0.0, abs=1e-5)
    # A constant offset keeps SSIM's structure term; L2 = 0.01 exactly. The default averages
    # the SSIM map over every pixel (eq. 13); "valid" over tf.image.ssim's window positions.
    value = float(np.mean(make_loss("l2_ssim")(truth, pred)))
    ssim_part = float(np.mean(ssim_map(truth, pred, max_val=1.0, positions="all")))
    assert value == pytest.approx(0.01 + (1.0 - ssim_part), rel=1e-4)
    value = float(np.mean(make_loss("l2_ssim", "valid")(truth, pred)))
    ssim_part = float(np.mean(keras.ops.image.ssim(truth, pred, max_val=1.0)))
    assert value == pytest.approx(0.01 + (1.0 - ssim_part), rel=1e-4)
    # The release's loss: half the sum of squared errors of each patch, averaged over the batch.
    expected = 0.5 * np.sum((pred - truth) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(make_loss("sse_half")(truth, pred)), expected, rtol=1e-5)


def test_ssim_over_all_pixels_eq13():
    rng = np.random.default_rng(5)
    truth = rng.random((2, 24, 28, 31)).astype("float32")
    pred = np.clip(truth + rng.normal(0, 0.05, truth.shape), 0, 1).astype("float32")
    full = np.asarray(ssim_map(truth, pred, max_val=1.0, positions="all"))
    assert full.shape == truth.shape
    # Where the 11x11 window fits, the map is tf.image.ssim's (keras.ops.image.ssim).
    interior = full[:, 5:-5, 5:-5].mean(axis=(1, 2, 3))
    np.testing.assert_allclose(interior, np.asarray(keras.ops.image.ssim(truth, pred, max_val=1.0)), rtol=1e-5)
    every_pixel = ssim_loss(max_val=1.0, positions="all")
    # 1 - mean SSIM in float32: both sides carry float32's rounding of 1 (6e-8) and of the mean.
    np.testing.assert_allclose(np.asarray(every_pixel.call(truth, pred)), 1.0 - full.mean(axis=(1, 2, 3)),
                               rtol=1e-6, atol=2.5e-7)
    assert float(np.max(np.abs(every_pixel.call(truth, truth)))) < 1e-5
    # An error in the outermost pixel row only: no valid 11x11 window is centred there and
    # its weight in the nearest ones (5 pixels away) is 0.4 % of a centre pixel's, so the
    # valid-position SSIM hardly sees it; eq. 13 over every pixel does.
    ring = truth.copy()
    ring[:, :1] *= 0.5
    valid, every = make_loss("l2_ssim", "valid"), make_loss("l2_ssim", "all")
    mse_part = np.mean((ring - truth) ** 2, axis=(1, 2, 3))
    valid_ssim = np.asarray(valid(truth, ring)) - mse_part
    every_ssim = np.asarray(every(truth, ring)) - mse_part
    assert np.all(every_ssim > 20 * valid_ssim) and np.all(every_ssim > 1e-3)
    with pytest.raises(ValueError, match="ssim_positions"):
        make_loss("l2_ssim", "same")
    # Eq. 13 averages over the M pixels of the patch: "all" in every profile.
    assert paper_config("rdab_coordconv", "paper")["train"]["ssim_positions"] == "all"
    assert paper_config("rdab_coordconv", "quick")["train"]["ssim_positions"] == "all"


def test_training_step_lowers_the_loss_and_keras_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    config = paper_config("rdab_coordconv", "smoke")
    config["model"]["dropout"] = 0.0  # deterministic training-mode loss
    model = build_from_config(config)
    loss = make_loss("l2_ssim")
    # Eager: building the training graph of ~180 layers costs far more than 1 step here.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, run_eagerly=True)
    rng = np.random.default_rng(4)
    x = rng.random((4, 16, 20, 3)).astype("float32")
    y = np.repeat(x.mean(-1, keepdims=True), 31, axis=-1) * np.linspace(0.5, 1.0, 31, dtype="float32")

    def training_loss():
        return float(np.mean(loss(y, model(x, training=True))))

    before = training_loss()
    model.train_on_batch(x, y)
    assert training_loss() < before

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), np.asarray(loaded(x, training=False)))
    assert loaded.loss.get_config()["terms"] == model.loss.get_config()["terms"]


def test_published_tables_as_printed():
    published = json.loads(PUBLISHED.read_text())
    tables = {t["id"]: t for t in published["tables"]}
    assert tables["table1"]["rows"][0]["values"]["MRAE_test"] == 0.04577  # abstract: 0.0457
    assert tables["table1"]["rows"][0]["values"]["SSIM_val"] == 0.9827
    t2 = {r["method"]: r["values"] for r in tables["table2"]["rows"]}
    assert t2["Without Coordinate Convolution"]["MRAE_train"] == 0.2091
    assert t2["With Coordinate Convolution"]["MRAE_test"] == 0.054784
    t3 = tables["table3"]["rows"][0]["values"]
    assert (t3["MRAE_val"], t3["RMSE_val"]) == (0.02009, 0.121479)
    for table in tables.values():
        assert "arbled" in table["notes"] or table["id"] == "table1"
