"""A training killed with SIGKILL mid-epoch resumes and ends where an uninterrupted run ends.

The child process trains a small convolutional network through ``common.training.fit``
with every kind of state a resume has to carry: a shuffled and augmented
``data_prep.pipeline.make_dataset`` pipeline (its order is keyed by the epoch), a
Dropout layer (its seed generator), Adam (moments, iteration count) and
``ReduceLROnPlateau`` (its patience counter and the learning rate it lowered). It sleeps
after each batch so that the kill lands inside an epoch. The parent kills it once at
least two epochs are checkpointed, runs the same command again, and compares: the same
epochs in the log, each once, and the same final weights and learning rate as a run that
was never interrupted (TensorFlow on the CPU is deterministic for this network).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 6

TRAIN = f"""
import sys, time
import numpy as np
import keras
from common.training import fit, set_seed
from data_prep.pipeline import make_dataset

run_dir, pause = sys.argv[1], float(sys.argv[2])
set_seed(0)
rng = np.random.default_rng(0)
x = rng.random((48, 8, 8, 3), dtype=np.float32)
y = np.concatenate([x[..., :2] * x[..., 2:], np.sin(3 * x[..., :1])], axis=-1)
data = make_dataset(x, y, 8, shuffle=True, augment=True, seed=3)
model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                          keras.layers.Dropout(0.3), keras.layers.Conv2D(3, 3, padding="same")])
model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
# Never an improvement (min_delta): the learning rate halves every second epoch, so a
# resume that forgot the patience counter would halve it at other epochs.
plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1e9)

class Pause(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(pause)

fit(model, data, epochs={EPOCHS}, run_dir=run_dir, verbose=0, callbacks=[plateau, Pause()])
final = [w.ravel() for w in model.get_weights()] + [np.ravel(float(model.optimizer.learning_rate))]
np.save(run_dir + "/final.npy", np.concatenate(final))
"""


def _train(run_dir, pause=0.0):
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(run_dir), str(pause)], cwd=REPO_ROOT,
                            env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _completed_epochs(run_dir):
    folders = [p.name for p in (run_dir / "model_resume").glob("epoch-[0-9]*") if p.name[6:].isdigit()]
    return max((int(name[6:]) for name in folders), default=0)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    reference = tmp_path / "reference"
    killed = tmp_path / "killed"
    uninterrupted = _train(reference)
    child = _train(killed, pause=0.1)

    deadline = time.monotonic() + 120
    while _completed_epochs(killed) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, f"the training ended before it could be killed: {child.stderr.read()}"
    time.sleep(0.25)  # a little into the next epoch: batches take 0.1 s each
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (killed / "model.done").exists()

    resumed = _train(killed)
    assert resumed.wait(timeout=180) == 0, resumed.stderr.read()
    assert uninterrupted.wait(timeout=180) == 0, uninterrupted.stderr.read()

    # Each epoch logged exactly once: the killed epoch was rerun, not logged twice.
    epochs = [int(line.split(",")[0]) for line in (killed / "model_log.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(EPOCHS))
    np.testing.assert_allclose(np.load(killed / "final.npy"), np.load(reference / "final.npy"), rtol=1e-5, atol=1e-6)
