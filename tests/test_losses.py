"""Tests of common/losses.py against NumPy formulas; gradients with the backend's autodiff."""

import math

import keras
import numpy as np
import pytest

from common import losses
from common.losses import deep_supervision, half_mse, l1, mrae_loss, mse, sam_loss, ssim_loss, weighted_sum

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


def test_ssim_loss_uses_max_val():
    # low-contrast images, where the constants C1 = (0.01 L)^2, C2 = (0.03 L)^2 matter
    y_true = 128.0 + 3.0 * RNG.normal(size=(1, 12, 12, 2))
    y_pred = y_true + 3.0 * RNG.normal(size=y_true.shape)
    a = float(ssim_loss(255.0)(y_true.astype("float32"), y_pred.astype("float32")))
    b = float(ssim_loss(1.0)((y_true / 255).astype("float32"), (y_pred / 255).astype("float32")))
    # float32 E[x^2] - mu^2 at mean 128 loses about 1e-5 of SSIM (keras.ops.image.ssim)
    assert a == pytest.approx(b, abs=1e-4)
    wrong_range = float(ssim_loss(1.0)(y_true.astype("float32"), y_pred.astype("float32")))
    assert a > 0.01 and wrong_range - a > 0.1


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
