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
