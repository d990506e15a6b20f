"""Resumable training state: one folder per completed epoch, published by a rename.

``common.training.fit`` writes a checkpoint at the end of every epoch and reads the
newest one back when the same training is started again. A checkpoint holds everything
the next epoch depends on:

- ``model.weights.h5`` (``model.save_weights``): every model variable and the optimizer's:
  its moments, its iteration count (hence the position of a learning-rate schedule) and
  its learning rate (which ``ReduceLROnPlateau`` changes). A GAN's phase counter is a
  model variable and travels here too.
- ``rng.npz``: the states of the Keras seed generators (dropout masks, random noise),
  which ``save_weights`` leaves out, and of Keras' global seed generator.
- ``state.json``: the number of completed epochs, the logs of every epoch so far (the
  CSV log is rewritten from them), whether a callback stopped the training, the states
  of Python's and NumPy's global generators, and the counters of stateful callbacks
  (``ReduceLROnPlateau``, ``EarlyStopping``: patience counters, best value, cooldown).

The data pipelines key each epoch's shuffle and augmentation by the epoch number
(``data_prep.pipeline.EpochClock``), so they need no state of their own.

A checkpoint is written into ``epoch-000012.partial/`` and renamed to ``epoch-000012/``
once complete; the two newest are kept. A kill at any moment therefore leaves the
previous checkpoint intact, and a half-written folder is never read. If the newest
checkpoint cannot be read (a disk error, a file truncated by hand) the previous one is
used and the reason is printed.
"""

import json
import random
import shutil
import zipfile
from pathlib import Path

import numpy as np

import keras

from common.io import KitError, atomic_write_text, write_failure

KEEP = 2
PREFIX = "epoch-"

# The attributes that make up the state of Keras' stateful callbacks. ``on_train_begin``
# of these callbacks resets them, so they are restored after it (``fit`` orders this).
CALLBACK_STATE = {
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
    keras.callbacks.EarlyStopping: ("wait", "best", "stopped_epoch", "best_epoch"),
}


def _seed_states(model):
    """The model's seed-generator state variables (the variables that are not weights),
    in the model's own order, plus Keras' global seed generator when one exists."""
    weights = {id(v) for v in model.weights}
    states = [v for v in model.variables if id(v) not in weights]
    from keras.src.backend.common import global_state  # no public accessor in Keras 3

    generator = global_state.get_global_attribute("global_seed_generator")
    if generator is not None:
        states.append(generator.state)
    return states


def _state_names(callback):
    """The state attributes of a Keras stateful callback (None for any other callback)."""
    return next((names for kind, names in CALLBACK_STATE.items() if isinstance(callback, kind)), None)


def _callback_state(callback):
    """A callback's resumable state: its ``CALLBACK_STATE`` attributes, or what its own
    ``get_resume_state()`` returns; None for a callback without state."""
    names = _state_names(callback)
    if names is not None:
        return {name: _plain(getattr(callback, name, None)) for name in names}
    get_state = getattr(callback, "get_resume_state", None)
    return get_state() if callable(get_state) else None


def _plain(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if hasattr(value, "numpy"):
        return np.asarray(value).tolist()
    if isinstance(value, (int, float, str, bool, list, dict)) or value is None:
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def _python_rng_state():
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _numpy_rng_state():
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _epoch_folders(directory):
    """Complete checkpoint folders, newest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
             and p.name[len(PREFIX):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]), reverse=True)


def save(directory, model, epochs_done, history, callbacks, stopped=False):
    """Write the checkpoint after ``epochs_done`` completed epochs (atomically)."""
    directory = Path(directory)
    final = directory / f"{PREFIX}{epochs_done:06d}"
    partial = directory / f"{final.name}.partial"
    try:
        _write(partial, final, model, epochs_done, history, callbacks, stopped)
    except (OSError, RuntimeError) as error:
        reason = write_failure(error)
        if reason is None:
            raise
        shutil.rmtree(partial, ignore_errors=True)
        kept = _epoch_folders(directory)
        raise KitError(f"{directory}: cannot write the checkpoint of epoch {epochs_done}: {reason}; "
                       + (f"the last completed checkpoint {kept[0].name} is kept, rerun the command to resume"
                          if kept else "no earlier checkpoint exists")) from None
    for old in _epoch_folders(directory)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def _write(partial, final, model, epochs_done, history, callbacks, stopped):
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    model.save_weights(partial / "model.weights.h5")
    seeds = {f"state_{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(_seed_states(model))}
    np.savez(partial / "rng.npz", **seeds)
    state = {
        "epochs_done": int(epochs_done),
        "stopped": bool(stopped),
        "history": history,
        "callbacks": [{"type": type(c).__name__, "state": value}
                      for c, value in ((c, _callback_state(c)) for c in callbacks) if value is not None],
        "python_random": _python_rng_state(),
        "numpy_random": _numpy_rng_state(),
    }
    # Plain json (not atomic_write_json, which maps inf to null): a callback's best value
    # starts at +/-inf and must come back as such.
    atomic_write_text(partial / "state.json", json.dumps(state, default=_plain) + "\n")
    shutil.rmtree(final, ignore_errors=True)  # an epoch rerun after a restore
    partial.rename(final)


def _load(folder, model):
    state = json.loads((folder / "state.json").read_text())
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / "model.weights.h5")
    with np.load(folder / "rng.npz") as seeds:
        variables = _seed_states(model)
        if len(seeds.files) > len(variables):
            raise ValueError(f"{len(seeds.files)} seed states stored, the model has {len(variables)}")
        for i, variable in enumerate(variables):
            if f"state_{i}" in seeds.files:
                variable.assign(seeds[f"state_{i}"])
    version, internal, gauss = state["python_random"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy_random"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    return state


def restore(directory, model, stage=print):
    """Load the newest readable checkpoint into ``model`` (and the global generators).

    Returns its state (``epochs_done``, ``history``, ``stopped``, ``callbacks``) or None
    when there is none. Raises ``KitError`` when checkpoints exist but none can be read.
    """
    folders = _epoch_folders(directory)
    problems = []
    for folder in folders:
        try:
            state = _load(folder, model)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            problems.append(f"{folder}: {error}")
            stage(f"checkpoint {folder} cannot be read ({error}); trying the previous one")
            continue
        stage(f"resuming after epoch {state['epochs_done']} from {folder}")
        return state
    if problems:
        raise KitError("no readable checkpoint: " + "; ".join(problems)
                       + f" (delete {directory} to train from the start)")
    return None


def restore_callbacks(callbacks, states):
    """Give the stateful callbacks back the counters they had at the checkpoint.

    The states are matched to the callbacks of the same type in order (the list of
    callbacks may differ in callbacks without state).
    """
    pending = list(states or [])
    for callback in callbacks:
        if _callback_state(callback) is None:
            continue
        if not pending or pending[0]["type"] != type(callback).__name__:
            return  # other callbacks than at the checkpoint: leave them as they start
        state = pending.pop(0)["state"]
        if _state_names(callback) is not None:
            for name, value in state.items():
                setattr(callback, name, value)
        else:
            callback.set_resume_state(state)


def write_log(path, history):
    """The CSV log (one row per completed epoch, ``epoch`` first, as ``CSVLogger``
    writes it), rewritten atomically from the checkpointed history."""
    keys = sorted({key for row in history for key in row if key != "epoch"})
    lines = [",".join(["epoch", *keys])]
    for row in history:
        lines.append(",".join([str(int(row["epoch"]))] + [_cell(row.get(key)) for key in keys]))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _cell(value):
    return "" if value is None else repr(float(value))
