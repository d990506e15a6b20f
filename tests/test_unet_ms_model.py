"""unet_ms: the network against the paper (Table 1, Fig. 1, Sec. 4.2) and the released code,
and the spline / linear-regression baselines against closed forms."""

import json
from pathlib import Path

import numpy as np
import pytest

import keras

from papers.unet_ms import baselines
from papers.unet_ms.model import build_unet_ms, reconstruct

PUBLISHED = Path(__file__).resolve().parent.parent / "papers" / "unet_ms" / "published.json"


def layers_of(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def expected_weights(base=64, bands=31, in_channels=3):
    """Closed-form weight count of the released network (bias-free 3x3 convs + BN gamma/beta).

    Encoder widths w_i = base * 2**i; decoder level i sees w_{i+1}/4 (pixel shuffle) plus
    the skip w_i; BN adds 2 trainable and 2 non-trainable values per channel.
    """
    w = [base * 2**i for i in range(5)]
    convs = [(in_channels, w[0]), (w[0], w[0])]
    for i in range(1, 5):
        convs += [(w[i - 1], w[i]), (w[i], w[i])]
    for i in range(3, -1, -1):
        convs += [(w[i + 1] // 4 + w[i], w[i]), (w[i], w[i])]
    kernels = sum(9 * cin * cout for cin, cout in convs) + w[0] * bands
    bn_channels = sum(cout for _, cout in convs)
    return kernels + 2 * bn_channels, 2 * bn_channels


def test_paper_network_structure_and_weight_count():
    model = build_unet_ms(base_width=64)
    convs = layers_of(model, keras.layers.Conv2D)
    # 9 Double Conv blocks (1 + 4 encoder, 4 decoder) = 18 3x3 convs, then one 1x1 conv.
    assert len(convs) == 19
    assert [c.kernel_size for c in convs[:-1]] == [(3, 3)] * 18
    assert convs[-1].kernel_size == (1, 1) and convs[-1].filters == 31
    assert [c.filters for c in convs[:-1]] == [64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024,
                                               512, 512, 256, 256, 128, 128, 64, 64]
    assert not any(c.use_bias for c in convs)  # released code: bias-free, BN follows
    assert len(layers_of(model, keras.layers.MaxPooling2D)) == 4
    assert all(p.pool_size == (2, 2) for p in layers_of(model, keras.layers.MaxPooling2D))
    bns = layers_of(model, keras.layers.BatchNormalization)
    assert len(bns) == 18
    relus = layers_of(model, keras.layers.LeakyReLU)
    assert len(relus) == 18 and all(abs(r.negative_slope - 0.2) < 1e-9 for r in relus)
    drops = layers_of(model, keras.layers.SpatialDropout2D)
    assert len(drops) == 9 + 8 and all(abs(d.rate - 0.2) < 1e-9 for d in drops)
    # Decoder convs see C/4 (pixel shuffle of C) + the skip's channels.
    first_dec = [c for c in convs if c.name.startswith("dec") and c.name.endswith("conv1")]
    assert [c.kernel.shape[2] for c in first_dec] == [256 + 512, 128 + 256, 64 + 128, 32 + 64]
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    non_trainable = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    assert (trainable, non_trainable) == expected_weights(64) == (26_686_592, 11_776)


def test_forward_any_size_one_pass():
    model = build_unet_ms(base_width=4)
    x = np.random.default_rng(0).random((2, 48, 80, 3)).astype("float32")
    assert model(x, training=False).shape == (2, 48, 80, 31)
    odd = np.random.default_rng(1).random((37, 50, 3)).astype("float32")
    out = reconstruct(model, odd)
    assert out.shape == (37, 50, 31)
    # Reference: reflect-pad by hand to 48 x 64 (multiples of 16), one pass, crop back.
    padded = np.pad(odd, ((0, 11), (0, 14), (0, 0)), mode="reflect")
    full = np.asarray(model(padded[None], training=False))[0]
    np.testing.assert_allclose(out, full[:37, :50], atol=1e-5)


def test_one_training_step_lowers_the_loss():
    keras.utils.set_random_seed(0)
    model = build_unet_ms(base_width=4, dropout=0.0)
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype("float32")
    y = (x @ rng.random((3, 31)).astype("float32")) / 3
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", run_eagerly=True)

    def loss():
        return float(np.mean((np.asarray(model(x, training=True)) - y) ** 2))

    before = loss()
    for _ in range(3):
        model.train_on_batch(x, y)
    assert loss() < before


def test_keras_save_load_round_trip(tmp_path):
    model = build_unet_ms(base_width=4)
    x = np.random.default_rng(2).random((1, 32, 48, 3)).astype("float32")
    path = tmp_path / "unet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                  np.asarray(loaded(x, training=False)))


def test_spline_baseline_is_the_parabola_through_the_three_knots():
    wavelengths = np.arange(400, 701, 10, dtype=float)
    rgb = np.array([[0.8, 0.3, 0.1], [0.05, 0.6, 0.9]])
    pred = baselines.spline_interpolation(rgb, wavelengths)
    for (r, g, b), spectrum in zip(rgb, pred):
        parabola = np.polyfit([450.0, 550.0, 700.0], [b, g, r], 2)
        np.testing.assert_allclose(spectrum, np.polyval(parabola, wavelengths), atol=1e-6)
        assert spectrum[wavelengths == 700][0] == pytest.approx(r, abs=1e-6)
        assert spectrum[wavelengths == 550][0] == pytest.approx(g, abs=1e-6)
        assert spectrum[wavelengths == 450][0] == pytest.approx(b, abs=1e-6)


def test_linear_regression_recovers_a_linear_map():
    rng = np.random.default_rng(3)
    truth_map = rng.random((3, 31))
    rgb = rng.random((500, 3))
    fitted = baselines.LinearSpectralRegression(intercept=False).fit(rgb, rgb @ truth_map)
    np.testing.assert_allclose(fitted.weights, truth_map, atol=1e-8)
    image = rng.random((5, 6, 3))
    np.testing.assert_allclose(fitted.predict(image), image @ truth_map, atol=1e-5)
    r, h = baselines.sample_pixels([(image, image @ truth_map)] * 2, per_image=7, seed=0)
    assert r.shape == (14, 3) and h.shape == (14, 31)
    np.testing.assert_allclose(h, r @ truth_map, atol=1e-12)


def test_published_table_is_internally_consistent():
    from common.report import load_published

    published = load_published(PUBLISHED)
    tables = {t["id"]: t for t in published["tables"]}
    images = ["BGU_00257", "BGU_00259", "BGU_00261", "BGU_00263", "BGU_00265"]
    assert set(tables) == {"table2"} | {f"table2_{i}" for i in images}
    average = {row["method"]: row["values"] for row in tables["table2"]["rows"]}
    assert average["Ours (multi-scale U-Net)"] == {
        "RMSE1": 0.7177, "RMSE2": 1.2899, "rRMSE1": 0.0233, "rRMSE2": 0.0414, "SAM": 1.4673}
    assert average["Spline interpolation"]["RMSE2"] == 3.2500
    for method, values in average.items():
        for metric, value in values.items():
            per_image = [next(r for r in tables[f"table2_{i}"]["rows"] if r["method"] == method)
                         ["values"][metric] for i in images]
            if (method, metric) == ("A+", "rRMSE2"):
                continue  # printed per-image values repeat A+'s rRMSE1 row (notes)
            assert np.mean(per_image) == pytest.approx(value, abs=6e-5), (method, metric)
    json.dumps(published)
