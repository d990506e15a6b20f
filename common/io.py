"""Atomic file output and the kit's user-facing error.

A training run can be killed at any moment, and a later run must never trust a file that
was half written. Every result, cache and checkpoint in the kit is therefore written to a
temporary file in the destination folder and renamed onto its final name only once it is
complete (a rename within one file system is atomic on POSIX).

``KitError`` is the one exception type the command lines turn into a single clear line
(``common.cli.run_main``): bad input files, bad arguments, a diverged training.
"""

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


class KitError(ValueError):
    """A problem the user can fix (a file, an argument); shown as one line, no traceback."""


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name ends with the final name, so libraries that infer the format from
    the extension (Keras ``.keras`` and ``.weights.h5``, matplotlib ``.png``) behave the same.
    On failure the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{path.name}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # libraries such as h5py want to create the file themselves
    try:
        yield Path(tmp)
        if not os.path.exists(tmp):
            raise RuntimeError(f"nothing was written to the temporary file for {path}")
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync(path):
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path, data):
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(obj):
    """NumPy scalars and arrays to Python; NaN and Inf to None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(_json_safe(obj), indent=2, allow_nan=False) + "\n")


def save_model_atomic(model, path):
    """``model.save`` through a temporary ``.keras`` file renamed into place."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def write_failure(error):
    """A short reason when ``error`` is a failed write (an ``OSError``, or the
    ``RuntimeError`` h5py raises around one: "errno = 28, error message = 'No space left
    on device'"), else None."""
    import errno
    import re

    if isinstance(error, OSError):
        full = error.errno == errno.ENOSPC
        return (error.strerror or str(error)) + (" (the disk is full)" if full else "")
    if isinstance(error, RuntimeError):
        match = re.search(r"errno = (\d+), error message = '([^']*)'", str(error))
        if match:
            full = int(match.group(1)) == errno.ENOSPC
            return match.group(2) + (" (the disk is full)" if full else "")
    return None


def check_finite(array, what):
    """Raise ``KitError`` naming ``what`` when ``array`` holds NaN or Inf."""
    array = np.asarray(array)
    if array.size and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise KitError(f"{what}: contains {bad} NaN/Inf value(s)")
