"""A training killed with SIGKILL mid-epoch resumes and ends where an uninterrupted run ends.

The child process trains a small network through ``common.training.fit`` on a fixed,
unshuffled tf.data pipeline (so the run is deterministic), sleeping after each batch so
that the kill lands inside an epoch. The parent kills it once the backup of at least two
completed epochs exists, runs the same command again, and compares: the same number of
epochs in the log and the same final weights as a run that was never interrupted.
"""

import json
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
import tensorflow as tf
from common.training import fit, set_seed

run_dir, pause = sys.argv[1], float(sys.argv[2])
set_seed(0)
x = np.linspace(0.0, 1.0, 64 * 4, dtype="float32").reshape(64, 4)
y = np.sin(x @ np.arange(1, 5, dtype="float32")[:, None])
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")

class Pause(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(pause)

fit(model, data, epochs={EPOCHS}, run_dir=run_dir, verbose=0, callbacks=[Pause()])
np.save(run_dir + "/final.npy", np.concatenate([w.ravel() for w in model.get_weights()]))
"""


def _train(run_dir, pause=0.0):
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(run_dir), str(pause)], cwd=REPO_ROOT,
                            env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _completed_epochs(run_dir):
    try:
        return json.loads((run_dir / "model_backup" / "training_metadata.json").read_text())["epoch"] + 1
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    reference = tmp_path / "reference"
    killed = tmp_path / "killed"
    uninterrupted = _train(reference)
    child = _train(killed, pause=0.25)

    deadline = time.monotonic() + 120
    while _completed_epochs(killed) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, f"the training ended before it could be killed: {child.stderr.read()}"
    time.sleep(0.4)  # a little into the next epoch: batches take 0.25 s each
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
