"""Training with Keras ``fit``: progress bars, logs, resume, and a clear stop on divergence.

``fit`` wraps ``model.fit`` with what every paper needs:

- resume: a checkpoint of the whole training state (weights, optimizer, learning rate,
  seed generators, callback counters, epoch; ``common.checkpoint``) is written to
  ``<run_dir>/<name>_resume/`` at the end of every epoch, atomically. Running the same
  command again continues after the last completed epoch and, where the run is
  deterministic, ends with the weights an uninterrupted run ends with. A network that
  already finished (``<name>.done`` beside its weights) is loaded instead of trained
  again, so a paper that trains several networks resumes at the one that was interrupted.
- logs: ``<name>_log.csv`` (one row per completed epoch, rewritten from the checkpoint
  so that an epoch cut short is never logged) and TensorBoard under
  ``<run_dir>/tensorboard/<name>``.
- divergence: a NaN or Inf loss stops training with a ``KitError`` that names the epoch
  and batch; the checkpoint of the last completed epoch is left in place.
- output: ``<name>.weights.h5`` and, when the model can be serialized, ``<name>.keras``,
  each written atomically.
"""

import csv
import importlib.util
import math
import random
import shutil
from pathlib import Path

import numpy as np

import keras

from common import checkpoint, distribute
from common.io import KitError, atomic_path, atomic_write_text, save_model_atomic, write_failure


def set_seed(seed):
    """Seed Python, NumPy and the Keras backend (and TensorFlow when it is the backend)."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def jit_compile_setting(value, run_eagerly=False):
    """The ``jit_compile`` to give ``model.compile`` for a profile's XLA setting (True,
    False or "auto").

    The profiles turn XLA off where its compile time does not pay off on a TensorFlow CPU;
    that is a TensorFlow choice, whose graphs also run without XLA. On JAX the only
    compiled step is the jitted (XLA) one, and ``jit_compile=False`` runs every step op by
    op (rdab_coordconv's quick network: 2.6x slower per step on a CPU; on a GPU each of
    its ~1,000 ops would be a dispatch of its own), so on JAX the answer is True unless
    the profile runs eagerly on purpose."""
    if run_eagerly:
        return False
    return True if keras.backend.backend() == "jax" else value


def load_weights(model, folder, name, paper=None):
    """Load ``<folder>/<name>.weights.h5``, which a finished ``fit`` left there (its
    ``<name>.done`` beside it); ``KitError`` naming the file when it is missing or
    unreadable."""
    folder = Path(folder)
    weights = folder / f"{name}.weights.h5"
    if not (folder / f"{name}.done").is_file() or not weights.is_file():
        command = f"`python -m papers.{paper} train`" if paper else "the training"
        raise KitError(f"{folder}: no trained {name} here; run {command} with the same arguments first "
                       "(or pass its folder with --out)")
    try:
        model.load_weights(weights)
    except (OSError, ValueError, KeyError) as error:
        raise KitError(f"{weights}: cannot read the trained weights ({str(error).splitlines()[0]}); "
                       f"delete it and {name}.done to train {name} again") from None
    return model


def count_params(model):
    """(trainable, non-trainable) parameter counts; their sum is every stored value."""
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    non_trainable = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    return trainable, non_trainable


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop at the first NaN/Inf loss and remember where, for a clear error afterwards."""

    def __init__(self):
        super().__init__()
        self.where = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            if "loss" in key and value is not None and not math.isfinite(float(value)):
                self.where = f"epoch {self._epoch + 1}, batch {batch + 1} ({key} = {float(value)})"
                self.model.stop_training = True
                return


class _Checkpoint(keras.callbacks.Callback):
    """Writes a checkpoint (``common.checkpoint``) and the CSV log after every completed
    epoch, unless the epoch diverged; on the way in, gives stateful callbacks back their
    counters and tells the data source which epoch comes first.

    It must be the last callback: at the end of an epoch the others (``ReduceLROnPlateau``
    lowering the learning rate, a stop condition) have acted, so the checkpoint holds the
    state the next epoch starts from; at the start, their own ``on_train_begin`` (which
    resets them) has run before their counters are restored.
    """

    def __init__(self, directory, log_path, guard, state, tracked, epoch_clock):
        super().__init__()
        self.directory, self.log_path, self.guard = directory, log_path, guard
        self.history = list(state["history"]) if state else []
        self.resume_callbacks = state["callbacks"] if state else None
        self.first_epoch = state["epochs_done"] if state else 0
        self.tracked, self.epoch_clock = tracked, epoch_clock

    def on_train_begin(self, logs=None):
        checkpoint.restore_callbacks(self.tracked, self.resume_callbacks)
        if self.epoch_clock is not None:
            self.epoch_clock.start(self.first_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.where is not None:
            return
        self.history.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        checkpoint.save(self.directory, self.model, epoch + 1, self.history, self.tracked,
                        stopped=bool(self.model.stop_training))
        checkpoint.write_log(self.log_path, self.history)


def _stage(verbose):
    return print if verbose else (lambda message: None)


def _tensorboard(log_dir):
    """The TensorBoard callback where it can write (it needs TensorFlow's summary ops)."""
    if importlib.util.find_spec("tensorboard") is None or not distribute.has_tensorflow():
        return []
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir))]


def read_log(path):
    """The CSV log as {column: [values per epoch]} (empty when the file is missing)."""
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    history = {}
    for row in rows:
        for key, value in row.items():
            try:
                history.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                history.setdefault(key, []).append(float("nan"))
    return history


def fit(
    model,
    train_data,
    val_data=None,
    *,
    epochs,
    run_dir,
    name="model",
    steps_per_epoch=None,
    validation_steps=None,
    batch_size=None,
    callbacks=(),
    verbose="auto",
    save_keras=True,
):
    """Train ``model`` (compiled) for ``epochs`` with resume, logs and atomic outputs.

    ``train_data``: a ``tf.data.Dataset`` (or anything ``fit`` takes as ``x``), or an
    ``(inputs, targets)`` tuple of arrays, batched with ``batch_size``.

    Returns the full history as {metric: [per epoch]}, including epochs run before an
    interruption (read back from the CSV log).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    weights_path = run_dir / f"{name}.weights.h5"
    done_marker = run_dir / f"{name}.done"
    log_path = run_dir / f"{name}_log.csv"

    if done_marker.is_file() and weights_path.is_file():
        load_weights(model, run_dir, name)
        return read_log(log_path)

    resume_dir = run_dir / f"{name}_resume"
    # Every worker of a multi-machine training resumes from the chief's checkpoint.
    state = checkpoint.restore(distribute.chief_path(resume_dir), model, stage=_stage(verbose))
    if state is not None:
        checkpoint.write_log(log_path, state["history"])
    elif log_path.exists():
        log_path.unlink()  # a log without a checkpoint belongs to no epoch that will be kept
    guard = StopOnNonFinite()
    callbacks = list(callbacks)
    inputs, targets = train_data if isinstance(train_data, tuple) else (train_data, None)
    all_callbacks = [
        *_tensorboard(run_dir / "tensorboard" / name),
        guard,
        *callbacks,
        _Checkpoint(resume_dir, log_path, guard, state, callbacks, getattr(inputs, "epoch_clock", None)),
    ]
    first_epoch = state["epochs_done"] if state else 0
    if not (state and state["stopped"]):
        model.fit(
            inputs,
            targets,
            batch_size=batch_size,
            shuffle=targets is not None,  # a tf.data pipeline shuffles itself
            validation_data=val_data,
            epochs=epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            callbacks=all_callbacks,
            verbose=verbose,
        )
    if guard.where is not None:
        kept = checkpoint._epoch_folders(resume_dir)
        where = (f"the last completed epoch ({kept[0].name}) is kept in {resume_dir}" if kept
                 else "no epoch had completed, so nothing was kept")
        raise KitError(f"training of {name} diverged at {guard.where}; {where} (lower the learning rate "
                       "or enable gradient clipping)")

    try:
        with atomic_path(weights_path) as tmp:
            model.save_weights(tmp)
        if save_keras:
            save_model_atomic(model, run_dir / f"{name}.keras")
        atomic_write_text(done_marker, f"{epochs}\n")
    except (OSError, RuntimeError) as error:
        reason = write_failure(error)
        if reason is None:
            raise
        raise KitError(f"{run_dir}: cannot write the trained {name} ({reason}); its last checkpoint is "
                       "kept, rerun the command once there is room") from None
    shutil.rmtree(resume_dir, ignore_errors=True)
    return read_log(log_path)
