"""Tests of common/losses.py against NumPy formulas; gradients with the backend's autodiff."""

import math

import keras
import numpy as np
import pytest

from common import losses
from common.losses import (
    SSIMLoss, deep_supervision, half_mse, l1, mrae_loss, mse, sam_loss, ssim_loss, ssim_map, weighted_sum,
)

RNG = np.random.default_rng(1)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def value_and_grad(loss_fn, y_true, y_pred):
    """Mean loss and its gradient w.r.t. ``y_pred``, by the active backend's autodiff."""
    backend = keras.backend.backend()
    y_true = np.asarray(y_true, "float32")
    y_pred = np.asarray(y_pred, "float32")
    if backend == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss_fn(tf.constant(y_true), variable))
        return float(value), tape.gradient(value, variable).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        value, grad = jax.value_and_grad(lambda p: jnp.mean(loss_fn(jnp.asarray(y_true), p)))(jnp.asarray(y_pred))
        return float(value), np.asarray(grad)
    pytest.skip(f"no gradient helper for the {backend} backend")


def _angles_reference(a, b):
    """Per-pixel spectral angle in float64 by the textbook arccos formula."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.arccos(np.clip(cos, -1.0, 1.0))


# --------------------------------------------------------------------------- SAM


def test_sam_loss_matches_arccos_formula_per_sample():
    y_true = RNG.uniform(0.05, 1.0, (2, 3, 4, 6))
    y_pred = RNG.uniform(0.05, 1.0, (2, 3, 4, 6))
    value = _np(sam_loss(y_true.astype("float32"), y_pred.astype("float32")))
    assert value.shape == (2,)
    np.testing.assert_allclose(value, _angles_reference(y_true, y_pred).mean(axis=(1, 2)), atol=2e-6)


def test_sam_loss_orthogonal_parallel_and_antiparallel():
    y_true = np.array([[[1, 0, 0], [1, 2, 3], [1, 2, 3], [0, 1, 1]]], "float32")
    y_pred = np.array([[[0, 5, 0], [2, 4, 6], [-1, -2, -3], [0, 3, 0]]], "float32")
    per_pixel = _np(losses.spectral_angle(y_true, y_pred))
    np.testing.assert_allclose(per_pixel[0], [math.pi / 2, 0.0, math.pi, math.pi / 4], atol=2e-6)


def test_sam_loss_value_and_gradient_finite_at_equality_and_zero_spectra():
    y = RNG.uniform(0.1, 1.0, (2, 2, 3, 5)).astype("float32")
    zeros = np.zeros_like(y)
    cases = {
        "equal": (y, y.copy()),
        "zero prediction": (y, zeros),
        "zero truth": (zeros, y),
        "both zero": (zeros, zeros.copy()),
    }
    for name, (t, p) in cases.items():
        value, grad = value_and_grad(sam_loss, t, p)
        assert math.isfinite(value), name
        assert np.all(np.isfinite(grad)), name
    value, grad = value_and_grad(sam_loss, y, y.copy())
    assert value == pytest.approx(0.0, abs=1e-5)
    # the angle is minimal at equality: its gradient there is (numerically) zero
    assert np.max(np.abs(grad)) < 1e-2
    # an all-zero truth carries no direction: a constant pi/2 with no gradient
    value, grad = value_and_grad(sam_loss, zeros, y)
    assert value == pytest.approx(math.pi / 2, abs=1e-5)
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


def test_sam_loss_gradient_matches_finite_differences():
    y_true = RNG.uniform(0.1, 1.0, (1, 2, 2, 4))
    y_pred = RNG.uniform(0.1, 1.0, (1, 2, 2, 4))
    _, grad = value_and_grad(sam_loss, y_true, y_pred)
    numeric = np.zeros_like(y_pred)
    h = 1e-6
    for index in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (_angles_reference(y_true, up).mean() - _angles_reference(y_true, down).mean()) / (2 * h)
    np.testing.assert_allclose(grad, numeric, atol=2e-4, rtol=2e-3)


# ------------------------------------------------------------- pointwise losses


def test_mse_half_mse_l1_match_numpy_per_sample():
    y_true = RNG.normal(size=(3, 2, 2, 4))
    y_pred = RNG.normal(size=(3, 2, 2, 4))
    err = y_pred - y_true
    t, p = y_true.astype("float32"), y_pred.astype("float32")
    np.testing.assert_allclose(_np(mse(t, p)), (err**2).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(_np(half_mse(t, p)), 0.5 * (err**2).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(_np(l1(t, p)), np.abs(err).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_half_mse_hand_computed():
    # errors 1, -1, 2, 0 -> squared mean 6/4 = 1.5 -> half 0.75
    y_true = np.zeros((1, 1, 1, 4), "float32")
    y_pred = np.array([[[[1, -1, 2, 0]]]], "float32")
    assert float(_np(half_mse(y_true, y_pred))[0]) == pytest.approx(0.75)
    assert float(_np(l1(y_true, y_pred))[0]) == pytest.approx(1.0)


def test_mrae_loss_formula_and_zero_truth():
    eps = 1e-3
    y_true = np.array([[[[0.5, 0.0, 0.25, 1.0]]]], "float32")
    y_pred = np.array([[[[0.6, 0.1, 0.2, 1.0]]]], "float32")
    expected = np.mean(np.abs(y_pred - y_true) / (y_true + eps))
    assert float(mrae_loss(eps)(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)
    value, grad = value_and_grad(mrae_loss(eps).call, y_true, y_pred)
    assert math.isfinite(value) and np.all(np.isfinite(grad))
    # d/dp |p - t| / (t + eps) / n = sign(p - t) / (t + eps) / n
    t, p = y_true[0, 0, 0, :3], y_pred[0, 0, 0, :3]
    np.testing.assert_allclose(grad[0, 0, 0, :3], np.sign(p - t) / (t + eps) / 4, rtol=1e-4)
    with pytest.raises(ValueError, match="eps"):
        mrae_loss(0.0)


# --------------------------------------------------------------------------- SSIM


def test_ssim_loss_matches_numpy_ssim_and_is_zero_for_identical():
    from common.metrics import ssim as numpy_ssim  # float64 NumPy, separately tested against tf.image.ssim

    y_true = RNG.random((2, 16, 14, 3))
    y_pred = np.clip(y_true + RNG.normal(scale=0.1, size=y_true.shape), 0, 1)
    loss = ssim_loss(max_val=1.0)
    per_sample = _np(loss.call(y_true.astype("float32"), y_pred.astype("float32")))
    expected = [1.0 - numpy_ssim(y_true[b], y_pred[b], peak=1.0) for b in range(2)]
    np.testing.assert_allclose(per_sample, expected, atol=1e-4)
    assert float(loss(y_true.astype("float32"), y_true.astype("float32"))) == pytest.approx(0.0, abs=1e-6)
    value, grad = value_and_grad(loss.call, y_true, y_true)
    assert math.isfinite(value) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("positions", ["valid", "all"])
def test_ssim_loss_uses_max_val(positions):
    # low-contrast images, where the constants C1 = (0.01 L)^2, C2 = (0.03 L)^2 matter
    y_true = 128.0 + 3.0 * RNG.normal(size=(1, 12, 12, 2))
    y_pred = y_true + 3.0 * RNG.normal(size=y_true.shape)
    a = float(ssim_loss(255.0, positions)(y_true.astype("float32"), y_pred.astype("float32")))
    b = float(ssim_loss(1.0, positions)((y_true / 255).astype("float32"), (y_pred / 255).astype("float32")))
    # float32 E[x^2] - mu^2 at mean 128 loses about 1e-5 of SSIM
    assert a == pytest.approx(b, abs=1e-4)
    wrong_range = float(ssim_loss(1.0, positions)(y_true.astype("float32"), y_pred.astype("float32")))
    assert a > 0.01 and wrong_range - a > 0.1


BLUR_FORMS = ["depthwise", "matmul"]


@pytest.fixture(params=BLUR_FORMS)
def blur_form(request, monkeypatch):
    """Runs a test with each of the two blur forms of ``ssim_map`` on the active backend."""
    monkeypatch.setattr(losses, "_blur_form", lambda: request.param)
    return request.param


def _noisy_pair(shape, scale=0.1):
    y_true = RNG.random(shape)
    y_pred = np.clip(y_true + RNG.normal(scale=scale, size=shape), 0, 1)
    return y_true.astype("float32"), y_pred.astype("float32")


def _ssim_all_reference(y_true, y_pred, max_val):
    """SSIM at every pixel, float64, one window position at a time: the 11 x 11 Gaussian
    (sigma 1.5) cut to the pixels inside the image and renormalised to sum 1; two-pass
    (centred) variances and covariance."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    offsets = np.arange(-5, 6)
    g = np.exp(-(offsets**2) / (2 * 1.5**2))
    window = np.outer(g, g)
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    _, height, width, _ = y_true.shape
    out = np.zeros(y_true.shape)
    for i in range(height):
        for j in range(width):
            i0, i1, j0, j1 = max(i - 5, 0), min(i + 6, height), max(j - 5, 0), min(j + 6, width)
            w = window[i0 - i + 5 : i1 - i + 5, j0 - j + 5 : j1 - j + 5]
            w = (w / w.sum())[None, :, :, None]
            t, p = y_true[:, i0:i1, j0:j1], y_pred[:, i0:i1, j0:j1]
            mu_t, mu_p = (w * t).sum(axis=(1, 2)), (w * p).sum(axis=(1, 2))
            dt, dp = t - mu_t[:, None, None], p - mu_p[:, None, None]
            var_t, var_p = (w * dt * dt).sum(axis=(1, 2)), (w * dp * dp).sum(axis=(1, 2))
            cov = (w * dt * dp).sum(axis=(1, 2))
            out[:, i, j] = ((2 * mu_t * mu_p + c1) * (2 * cov + c2)) / ((mu_t**2 + mu_p**2 + c1) * (var_t + var_p + c2))
    return out


@pytest.mark.parametrize("shape", [(2, 23, 17, 3), (1, 11, 11, 2), (2, 32, 24, 31)])
def test_ssim_valid_matches_tf_image_ssim(shape, blur_form):
    tf = pytest.importorskip("tensorflow")
    y_true, y_pred = _noisy_pair(shape)
    reference = tf.image.ssim(tf.constant(y_true), tf.constant(y_pred), max_val=1.0).numpy()  # (B,)
    values = _np(ssim_map(y_true, y_pred, max_val=1.0, positions="valid"))
    assert values.shape == (shape[0], shape[1] - 10, shape[2] - 10, shape[3]) and values.dtype == np.float32
    np.testing.assert_allclose(values.mean(axis=(1, 2, 3)), reference, atol=2e-6)
    np.testing.assert_allclose(_np(ssim_loss(1.0).call(y_true, y_pred)), 1.0 - reference, atol=2e-6)
    # max_val enters only through C1, C2: data in [0, 4] against tf.image.ssim with 4.0
    reference = tf.image.ssim(tf.constant(4 * y_true), tf.constant(4 * y_pred), max_val=4.0).numpy()
    np.testing.assert_allclose(_np(ssim_loss(4.0).call(4 * y_true, 4 * y_pred)), 1.0 - reference, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 23, 17, 3), (1, 7, 9, 2), (1, 12, 30, 4)])
def test_ssim_all_matches_cut_window_reference(shape, blur_form):
    y_true, y_pred = _noisy_pair(shape)
    values = _np(ssim_map(y_true, y_pred, max_val=1.0, positions="all"))
    assert values.shape == shape and values.dtype == np.float32
    np.testing.assert_allclose(values, _ssim_all_reference(y_true, y_pred, 1.0), atol=2e-5)
    np.testing.assert_allclose(
        _np(ssim_loss(1.0, "all").call(y_true, y_pred)), 1.0 - values.mean(axis=(1, 2, 3)), atol=1e-6
    )
    if min(shape[1:3]) >= 11:  # 5 pixels or more from the border the window is whole
        valid = _np(ssim_map(y_true, y_pred, max_val=1.0, positions="valid"))
        np.testing.assert_allclose(values[:, 5:-5, 5:-5], valid, atol=2e-6)
    # another max_val, on data in [0, 255]
    scaled = _np(ssim_map(255 * y_true, 255 * y_pred, max_val=255.0, positions="all"))
    np.testing.assert_allclose(scaled, _ssim_all_reference(255 * y_true, 255 * y_pred, 255.0), atol=1e-4)


@pytest.mark.parametrize("positions", ["valid", "all"])
def test_ssim_loss_zero_for_identical_images_with_finite_gradient(positions, blur_form):
    y_true, _ = _noisy_pair((2, 14, 12, 3))
    loss = ssim_loss(1.0, positions)
    np.testing.assert_allclose(_np(loss.call(y_true, y_true.copy())), 0.0, atol=1e-6)
    value, grad = value_and_grad(loss.call, y_true, y_true.copy())
    assert value == pytest.approx(0.0, abs=1e-6) and np.all(np.isfinite(grad))
    # SSIM is maximal at equality: its gradient there is (numerically) zero
    assert np.max(np.abs(grad)) < 1e-4


@pytest.mark.parametrize("positions", ["valid", "all"])
def test_ssim_blur_forms_agree_in_value_and_gradient(positions, monkeypatch):
    x = RNG.random((2, 19, 14, 5)).astype("float32")
    depthwise = _np(losses._gaussian_blur(keras.ops.convert_to_tensor(x), positions, form="depthwise"))
    matmul = _np(losses._gaussian_blur(keras.ops.convert_to_tensor(x), positions, form="matmul"))
    assert depthwise.shape == matmul.shape == ((2, 9, 4, 5) if positions == "valid" else x.shape)
    np.testing.assert_allclose(depthwise, matmul, atol=1e-6)
    # a constant image stays constant (the 'all' window is renormalised at the border)
    ones = _np(losses._gaussian_blur(keras.ops.ones((1, 19, 14, 2)), positions))
    np.testing.assert_allclose(ones, 1.0, atol=1e-6)
    y_true, y_pred = _noisy_pair((2, 16, 13, 4))
    results = {}
    for form in BLUR_FORMS:
        monkeypatch.setattr(losses, "_blur_form", lambda form=form: form)
        results[form] = value_and_grad(ssim_loss(1.0, positions).call, y_true, y_pred)
    assert results["depthwise"][0] == pytest.approx(results["matmul"][0], abs=1e-6)
    np.testing.assert_allclose(results["depthwise"][1], results["matmul"][1], atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize("positions", ["valid", "all"])
def test_ssim_bfloat16_inputs_give_float32(positions):
    y_true, y_pred = _noisy_pair((2, 16, 16, 3))
    t16, p16 = keras.ops.cast(y_true, "bfloat16"), keras.ops.cast(y_pred, "bfloat16")
    values = ssim_map(t16, p16, max_val=1.0, positions=positions)
    assert keras.backend.standardize_dtype(values.dtype) == "float32"
    # the bf16 values, cast to float32 exactly, give the float32 result of those values
    rounded = _np(ssim_map(_np(keras.ops.cast(t16, "float32")), _np(keras.ops.cast(p16, "float32")), 1.0, positions))
    np.testing.assert_allclose(_np(values), rounded, atol=1e-6)
    # and close to the unrounded float32 inputs' (bf16 keeps 8 significant bits)
    per_sample = _np(ssim_loss(1.0, positions).call(t16, p16))
    assert keras.backend.standardize_dtype(per_sample.dtype) == "float32"
    np.testing.assert_allclose(per_sample, _np(ssim_loss(1.0, positions).call(y_true, y_pred)), atol=1e-2)


def test_ssim_rejects_small_images_and_unknown_positions():
    small = np.zeros((1, 10, 20, 3), "float32")
    with pytest.raises(ValueError, match="at least 11 x 11"):
        ssim_map(small, small, positions="valid")
    with pytest.raises(ValueError, match="at least 11 x 11"):
        ssim_loss(1.0)(small, small)
    assert _np(ssim_map(small, small, positions="all")).shape == small.shape  # the cut window fits
    for bad in (lambda: ssim_map(small, small, positions="same"), lambda: ssim_loss(1.0, "same"),
                lambda: SSIMLoss(positions="full")):
        with pytest.raises(ValueError, match="positions"):
            bad()
    with pytest.raises(ValueError, match="max_val"):
        ssim_loss(0.0)


def test_ssim_loss_config_round_trip():
    loss = ssim_loss(255.0, positions="all")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, SSIMLoss)
    assert (restored.max_val, restored.positions) == (255.0, "all")
    assert SSIMLoss.from_config({"max_val": 1.0, "name": "ssim_loss"}).positions == "valid"  # older configs


def test_ssim_tensorflow_graph_with_unknown_image_size():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow graphs only")
    import tensorflow as tf

    y_true, y_pred = _noisy_pair((2, 21, 18, 3))
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    for positions in ("valid", "all"):
        graph = tf.function(lambda t, p, positions=positions: ssim_loss(1.0, positions).call(t, p),
                            input_signature=(spec, spec))
        np.testing.assert_allclose(
            graph(y_true, y_pred).numpy(), _np(ssim_loss(1.0, positions).call(y_true, y_pred)), atol=1e-6
        )


# ----------------------------------------------------------- combinations, compile


def test_weighted_sum_is_the_weighted_sum_of_its_terms():
    y_true = RNG.uniform(0.1, 1.0, (2, 12, 12, 3)).astype("float32")
    y_pred = RNG.uniform(0.1, 1.0, (2, 12, 12, 3)).astype("float32")
    err = y_pred.astype(np.float64) - y_true
    combined = weighted_sum((0.5, half_mse), (0.25, sam_loss), (2.0, ssim_loss(1.0)))
    per_sample = _np(combined.call(y_true, y_pred))
    expected = (
        0.5 * 0.5 * (err**2).mean(axis=(1, 2, 3))
        + 0.25 * _angles_reference(y_true, y_pred).mean(axis=(1, 2))
        + 2.0 * _np(ssim_loss(1.0).call(y_true, y_pred))
    )
    np.testing.assert_allclose(per_sample, expected, rtol=1e-5)
    with pytest.raises(ValueError):
        weighted_sum()


def _tiny_model(outputs=1):
    inputs = keras.Input((12, 12, 3))
    first = keras.layers.Conv2D(3, 3, padding="same", name="head_1")(inputs)
    if outputs == 1:
        return keras.Model(inputs, first)
    second = keras.layers.Conv2D(3, 3, padding="same", name="head_2")(first)
    return keras.Model(inputs, [first, second])


def test_compiled_losses_train_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    x = RNG.uniform(0.1, 1.0, (4, 12, 12, 3)).astype("float32")
    y = RNG.uniform(0.1, 1.0, (4, 12, 12, 3)).astype("float32")
    model = _tiny_model()
    loss = weighted_sum((1.0, mse), (0.5, sam_loss), (1.0, ssim_loss(1.0)), (0.1, mrae_loss()), (0.1, l1))
    model.compile(optimizer="adam", loss=loss)
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "compiled.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.loss).__name__ == "WeightedSum"
    assert [w for w, _ in loaded.loss.terms] == [1.0, 0.5, 1.0, 0.1, 0.1]
    np.testing.assert_allclose(
        loaded.evaluate(x, y, batch_size=4, verbose=0), model.evaluate(x, y, batch_size=4, verbose=0), rtol=1e-6
    )


def test_deep_supervision_total_is_weighted_sum_over_outputs():
    keras.utils.set_random_seed(0)
    x = RNG.random((2, 12, 12, 3)).astype("float32")
    y = RNG.random((2, 12, 12, 3)).astype("float32")
    model = _tiny_model(outputs=2)
    kwargs = deep_supervision(half_mse, [0.3, 1.0])
    assert kwargs == {"loss": [half_mse, half_mse], "loss_weights": [0.3, 1.0]}
    model.compile(optimizer="sgd", **kwargs)
    total = model.evaluate(x, (y, y), batch_size=2, verbose=0, return_dict=True)["loss"]
    out_1, out_2 = (np.asarray(o, np.float64) for o in model.predict(x, verbose=0))
    expected = 0.3 * 0.5 * np.mean((out_1 - y) ** 2) + 1.0 * 0.5 * np.mean((out_2 - y) ** 2)
    assert total == pytest.approx(expected, rel=1e-5)
