"""pix2pix_hs training step (Sec. 2.3): the D / G alternation and the objective.

Backend-neutral: the suite runs this file on TensorFlow and again under
``KERAS_BACKEND=jax`` (``tests/run.sh``), which exercises the JAX stateless
``train_step`` (``stateless_call`` + ``optimizer.stateless_apply``).
"""

import numpy as np
import pytest

import keras

from papers.pix2pix_hs.model import Pix2PixHS, build_discriminator, build_generator


D_ITERATIONS, G_ITERATIONS = 2, 1


@pytest.fixture(scope="module")
def gan():
    """One small GAN for the whole file: model builds and JIT compiles are slow on JAX/CPU."""
    keras.utils.set_random_seed(0)
    model = Pix2PixHS(build_generator(3, base_filters=4, max_filters=8, dropout_rate=0.0),
                      build_discriminator(base_filters=4),
                      d_iterations=D_ITERATIONS, g_iterations=G_ITERATIONS)
    model.compile()
    return model


def _batch(seed=0, size=32):
    rng = np.random.default_rng(seed)
    rgb = rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    hs = np.tanh(rgb @ rng.normal(size=(3, 31)).astype(np.float32))
    return rgb, hs


def _values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def _changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


def _int(variable):
    return int(keras.ops.convert_to_numpy(variable))


def test_alternation_updates_one_network_per_phase(gan):
    gan.phase_step.assign(0)
    d_count, g_count = _int(gan.d_optimizer.iterations), _int(gan.g_optimizer.iterations)
    rgb, hs = _batch()
    for step in range(6):  # D, D, G, D, D, G
        in_d_phase = step % 3 < D_ITERATIONS
        assert _int(gan.phase_step) == step % 3
        g_before = _values(gan.generator.trainable_variables)
        d_before = _values(gan.discriminator.trainable_variables)
        gan.train_on_batch(rgb, hs)
        assert _changed(d_before, _values(gan.discriminator.trainable_variables)) == in_d_phase
        assert _changed(g_before, _values(gan.generator.trainable_variables)) == (not in_d_phase)
    assert _int(gan.phase_step) == 0
    # Each optimizer stepped only in its own phase (Adam's step counters: 4 for D, 2 for G).
    assert _int(gan.d_optimizer.iterations) - d_count == 4
    assert _int(gan.g_optimizer.iterations) - g_count == 2


def test_logged_losses_follow_the_objective(gan):
    rgb, hs = _batch(1)
    fake = gan.predict_on_batch(rgb)  # dropout is off in this small G: deterministic
    logs = gan.train_on_batch(rgb, hs, return_dict=True)
    assert set(logs) >= {"loss", "d_loss", "g_adv", "g_l1", "rmse"}
    # Eq. 7: G's objective is the adversarial term plus 100 x L1.
    assert logs["loss"] == pytest.approx(logs["g_adv"] + 100.0 * logs["g_l1"], rel=1e-5)
    # The logs are measured on the batch before the update: L1 = mean |hs - G(rgb)|, and the
    # RMSE is per pixel over the spectrum on the 0-255 scale ([-1, 1] spans 255).
    assert logs["g_l1"] == pytest.approx(float(np.mean(np.abs(hs - fake))), rel=1e-5)
    rmse = np.mean(np.sqrt(np.mean(((hs - fake) * 127.5) ** 2, axis=-1)))
    assert logs["rmse"] == pytest.approx(float(rmse), rel=1e-4)


def test_generator_steps_lower_the_reconstruction_loss(gan):
    rgb, hs = _batch(2)
    before = gan.evaluate(rgb, hs, verbose=0, return_dict=True)["g_l1"]
    for _ in range(3):
        gan.phase_step.assign(D_ITERATIONS)  # a G step
        gan.train_on_batch(rgb, hs)
    after = gan.evaluate(rgb, hs, verbose=0, return_dict=True)["g_l1"]
    assert after < before


def test_fit_runs_the_step_and_the_phase_is_saved_with_the_weights(gan, tmp_path):
    gan.phase_step.assign(0)
    rgb, hs = _batch(3)
    history = gan.fit(np.repeat(rgb, 4, 0), np.repeat(hs, 4, 0), batch_size=1, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][-1])
    assert _int(gan.phase_step) == 4 % 3
    path = tmp_path / "gan.weights.h5"
    gan.save_weights(path)
    gan.phase_step.assign(0)
    gan.load_weights(path)
    assert _int(gan.phase_step) == 1  # a resumed run continues the same D/G cycle


# ----------------------------------------------------------------------------- eqs. 6-7 in NumPy
def _bce(label, prob):
    """Binary cross-entropy of probabilities against a constant label, in NumPy (the
    probabilities clipped to [1e-7, 1 - 1e-7] as Keras does)."""
    p = np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-(label * np.log(p) + (1 - label) * np.log(1 - p))))


def _numpy_objectives(gan, rgb, hs):
    """Sec. 2.1 with the label convention spelled out: D sees the real pair (RGB, HS) with
    label 1 and the fake pair (RGB, G(RGB)) with label 0 (eq. 6; Sec. 2.1: "labels
    indicating if they are real or fake {1, 0}"); G's adversarial target is 1 (the
    non-saturating form of eq. 6), plus lambda = 100 times the L1 distance (eq. 7)."""
    fake = np.asarray(gan.generator.predict_on_batch(rgb), np.float64)  # no dropout in this G
    p_real = gan.discriminator.predict_on_batch([rgb, hs])
    p_fake = gan.discriminator.predict_on_batch([rgb, fake.astype(np.float32)])
    l1 = float(np.mean(np.abs(hs - fake)))
    return {
        "d_loss": 0.5 * (_bce(1.0, p_real) + _bce(0.0, p_fake)),
        "g_adv": _bce(1.0, p_fake),
        "g_l1": l1,
        "loss": _bce(1.0, p_fake) + 100.0 * l1,
    }


def _fresh_adam(optimizer):
    """Zero an Adam's step counter and moments: its next step moves every weight by about
    the learning rate against the sign of its gradient."""
    for variable in optimizer.variables:
        if not variable.path.endswith("learning_rate"):
            variable.assign(np.zeros(variable.shape, variable.dtype))
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) > 0


def test_d_and_g_steps_follow_the_numpy_cross_entropy(gan):
    rgb, hs = _batch(4)
    assert gan.l1_weight == 100.0  # eq. 7: lambda = 100 (Sec. 2.1)

    # A D step: the logged objectives, measured before the update, are eq. 6 in NumPy.
    gan.phase_step.assign(0)
    _fresh_adam(gan.d_optimizer)
    before = _numpy_objectives(gan, rgb, hs)
    logs = gan.train_on_batch(rgb, hs, return_dict=True)
    for name in ("d_loss", "g_adv", "g_l1", "loss"):
        assert logs[name] == pytest.approx(before[name], rel=1e-4), name
    # ... and D descended its own loss (real -> 1, (RGB, G(RGB)) -> 0); G did not move.
    after = _numpy_objectives(gan, rgb, hs)
    assert after["d_loss"] < before["d_loss"] - 1e-6
    assert after["g_l1"] == pytest.approx(before["g_l1"], rel=1e-7)

    # A G step: G descends g_adv (target 1) + 100 L1 against the D of the moment.
    gan.phase_step.assign(D_ITERATIONS)
    _fresh_adam(gan.g_optimizer)
    before = _numpy_objectives(gan, rgb, hs)
    logs = gan.train_on_batch(rgb, hs, return_dict=True)
    assert logs["loss"] == pytest.approx(before["loss"], rel=1e-4)
    assert logs["g_adv"] == pytest.approx(before["g_adv"], rel=1e-4)
    after = _numpy_objectives(gan, rgb, hs)
    assert after["loss"] < before["loss"] - 1e-6
    assert after["d_loss"] != before["d_loss"]  # G moved; D's weights did not (alternation test)


def test_the_discriminators_fake_pair_is_rgb_and_g_of_rgb(gan):
    """The fake pair D judges is (RGB, G(RGB)), not (RGB, HS) and not (G(RGB), HS): with
    any other pairing the logged d_loss departs from the NumPy value."""
    rgb, hs = _batch(5)
    gan.phase_step.assign(0)
    expected = _numpy_objectives(gan, rgb, hs)
    fake = gan.generator.predict_on_batch(rgb)
    p_real = gan.discriminator.predict_on_batch([rgb, hs])
    wrong = 0.5 * (_bce(1.0, p_real) + _bce(0.0, p_real))  # D fed the real cube twice
    assert abs(wrong - expected["d_loss"]) > 1e-3
    assert not np.allclose(fake, hs, atol=0.05)
    logs = gan.test_on_batch(rgb, hs, return_dict=True)
    assert logs["d_loss"] == pytest.approx(expected["d_loss"], rel=1e-4)
    assert logs["g_adv"] == pytest.approx(expected["g_adv"], rel=1e-4)


def test_each_step_runs_the_phase_its_counter_holds(gan):
    """A resumed run restores ``phase_step`` from its checkpoint: the next step must be the
    phase that counter says, whatever ran before (D for positions 0 .. d-1, then G)."""
    rgb, hs = _batch(6)
    for position in (D_ITERATIONS, 0, D_ITERATIONS, 1, 0, D_ITERATIONS):
        gan.phase_step.assign(position)
        g_before = _values(gan.generator.trainable_variables)
        gan.train_on_batch(rgb, hs)
        g_moved = _changed(g_before, _values(gan.generator.trainable_variables))
        assert g_moved == (position >= D_ITERATIONS), position
        assert _int(gan.phase_step) == (position + 1) % (D_ITERATIONS + G_ITERATIONS)
