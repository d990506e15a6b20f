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
    """Simulates a crash at the start of a given epoch (after the previous one's checkpoint)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resume_continues_from_last_completed_epoch(tmp_path):
    x, y = _data()
    set_seed(0)
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, (x, y), epochs=5, run_dir=tmp_path, verbose=0, callbacks=[_Interrupt(2)])
    assert not (tmp_path / "model.done").exists()
    assert read_log(tmp_path / "model_log.csv")["epoch"] == [0.0, 1.0]

    resumed = _model()
    history = fit(resumed, (x, y), epochs=5, run_dir=tmp_path, verbose=0)
    # Epochs 0 and 1 were completed and backed up; the resumed run trains 2, 3, 4 only.
    assert history["epoch"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert (tmp_path / "model.done").exists() and (tmp_path / "model.keras").exists()
    assert not (tmp_path / "model_resume").exists()


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


def _interrupted_run(tmp_path, at_epoch):
    x, y = _data()
    set_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(_model(), (x, y), epochs=5, run_dir=tmp_path, verbose=0, callbacks=[_Interrupt(at_epoch)])
    return x, y


def test_unreadable_newest_checkpoint_falls_back_to_previous(tmp_path, capsys):
    x, y = _interrupted_run(tmp_path, 3)
    resume = tmp_path / "model_resume"
    assert sorted(p.name for p in resume.iterdir()) == ["epoch-000002", "epoch-000003"]
    weights = resume / "epoch-000003" / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    (resume / "epoch-000004.partial").mkdir()  # a checkpoint cut short by a kill

    history = fit(_model(), (x, y), epochs=5, run_dir=tmp_path, verbose=1)
    out = capsys.readouterr().out
    assert "epoch-000003 cannot be read" in out and "resuming after epoch 2" in out
    assert history["epoch"] == [0.0, 1.0, 2.0, 3.0, 4.0]  # epoch 2 (0-based) trained again, logged once


def test_no_readable_checkpoint_is_one_clear_error(tmp_path):
    x, y = _interrupted_run(tmp_path, 2)
    for weights in (tmp_path / "model_resume").glob("epoch-*/model.weights.h5"):
        weights.write_bytes(b"")
    with pytest.raises(KitError, match="no readable checkpoint.*delete .*model_resume"):
        fit(_model(), (x, y), epochs=5, run_dir=tmp_path, verbose=0)


def test_learning_rate_and_plateau_counter_survive_a_resume(tmp_path):
    x, y = _data()

    def plateau():
        # min_delta: never an improvement, so the rate halves whenever ``wait`` reaches 2
        return keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1e9)

    set_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(_model(), (x, y), epochs=5, run_dir=tmp_path, verbose=0, callbacks=[plateau(), _Interrupt(2)])
    resumed = _model()
    fit(resumed, (x, y), epochs=5, run_dir=tmp_path, verbose=0, callbacks=[plateau()])
    # By hand: epoch 0 improves on inf (wait 0); wait 1 after epoch 1, 2 after epoch 2 ->
    # halved to 0.025; wait 1 after epoch 3, 2 after epoch 4 -> halved to 0.0125.
    assert float(resumed.optimizer.learning_rate) == pytest.approx(0.0125)


def test_divergence_in_the_first_epoch_says_nothing_was_kept(tmp_path):
    x, y = _data()
    with pytest.raises(KitError, match="no epoch had completed, so nothing was kept") as error:
        fit(_model(lr=1e10), (x, y * 1e30), epochs=3, run_dir=tmp_path, verbose=0)
    assert "is kept in" not in str(error.value)


def test_truncated_seed_states_fall_back_to_the_previous_checkpoint(tmp_path, capsys):
    x, y = _interrupted_run(tmp_path, 3)
    rng = tmp_path / "model_resume" / "epoch-000003" / "rng.npz"
    data = rng.read_bytes()
    rng.write_bytes(data[: len(data) // 2])  # a zip cut short
    fit(_model(), (x, y), epochs=5, run_dir=tmp_path, verbose=1)
    out = capsys.readouterr().out
    assert "epoch-000003 cannot be read" in out and "resuming after epoch 2" in out


def test_a_full_disk_is_one_clear_error_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    import errno

    x, y = _interrupted_run(tmp_path, 2)
    model = _model()
    real = model.save_weights

    def full(path, *args, **kwargs):
        if "epoch-000003" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(model, "save_weights", full)
    with pytest.raises(KitError, match=r"cannot write the checkpoint of epoch 3: No space left on device "
                                       r"\(the disk is full\); the last completed checkpoint epoch-000002 is kept"):
        fit(model, (x, y), epochs=5, run_dir=tmp_path, verbose=0)
    left = sorted(p.name for p in (tmp_path / "model_resume").iterdir())
    assert left == ["epoch-000001", "epoch-000002"]  # no .partial left behind


def test_a_finished_network_with_truncated_weights_is_one_clear_error(tmp_path):
    x, y = _data()
    fit(_model(), (x, y), epochs=1, run_dir=tmp_path, verbose=0)
    weights = tmp_path / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:64])
    with pytest.raises(KitError, match=r"model.weights.h5: cannot read the trained weights .*delete it and "
                                       r"model.done"):
        fit(_model(), (x, y), epochs=1, run_dir=tmp_path, verbose=0)
