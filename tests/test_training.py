"""``common.training.fit``: resume after an interruption, clear stop on divergence."""

import keras
import numpy as np
import pytest

from common.io import KitError
from common.training import count_params, fit, read_log, set_seed


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4), dtype=np.float32)
    return x, x @ np.arange(1, 5, dtype=np.float32)[:, None]


def _model(lr=0.05):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    return model


class _Interrupt(keras.callbacks.Callback):
    """Simulates a crash at the end of a given epoch (after the backup was written)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_continues_from_last_completed_epoch(tmp_path):
    x, y = _data()
    set_seed(0)
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, (x, y), epochs=5, run_dir=tmp_path, verbose=0, callbacks=[_Interrupt(1)])
    assert not (tmp_path / "model.done").exists()
    assert read_log(tmp_path / "model_log.csv")["epoch"] == [0.0, 1.0]

    resumed = _model()
    history = fit(resumed, (x, y), epochs=5, run_dir=tmp_path, verbose=0)
    # Epochs 0 and 1 were completed and backed up; the resumed run trains 2, 3, 4 only.
    assert history["epoch"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert (tmp_path / "model.done").exists() and (tmp_path / "model.keras").exists()
    assert not (tmp_path / "model_backup").exists()


def test_finished_network_is_loaded_not_retrained(tmp_path):
    x, y = _data()
    model = _model()
    fit(model, (x, y), epochs=2, run_dir=tmp_path, verbose=0)
    again = _model()
    fit(again, (x, y), epochs=2, run_dir=tmp_path, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(read_log(tmp_path / "model_log.csv")["loss"]) == 2


def test_divergence_stops_with_clear_error_and_keeps_backup(tmp_path):
    x, y = _data()
    y = y * 1e30  # the loss overflows to inf in float32
    model = _model(lr=1e10)
    with pytest.raises(KitError, match="diverged at epoch 1, batch 1"):
        fit(model, (x, y), epochs=3, run_dir=tmp_path, verbose=0)
    assert not (tmp_path / "model.weights.h5").exists()
    assert not (tmp_path / "model.done").exists()


def test_count_params_by_hand():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    # Dense: 4*3 + 3 = 15 trainable; BN: gamma, beta trainable (6), mean, var not (6).
    assert count_params(model) == (21, 6)
