"""What a run needs to be reproduced, or a difference between two runs explained.

``environment()`` gathers the code's git commit (and whether the working tree had
uncommitted changes), the versions of Python and of the libraries that change numbers
(NumPy, SciPy, Keras, TensorFlow, JAX, h5py, colour-science), the Keras backend and
float policy, the devices, and the machine's processor count. Every run records it in
``run_args.json`` and ``metrics.json`` beside its resolved settings and seed, and the
report prints the commit and versions.
"""

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("numpy", "scipy", "keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "h5py",
             "colour-science")


def _git(*args):
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state():
    """{'commit': sha or None, 'dirty': bool or None}: None where this is not a git checkout
    (or git is missing). ``dirty`` counts tracked files changed and untracked files."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=normal")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def library_versions():
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _devices():
    """The backend's devices, as short strings (only when Keras is already imported)."""
    if "keras" not in sys.modules:
        return None
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return [f"{d.platform}:{d.id}" for d in jax.devices()]
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()]
    except Exception:  # noqa: BLE001 - a device query is informative only
        return None
    return None


def environment():
    """The run's code, libraries, backend and devices (see the module docstring)."""
    info = {**git_state(), "versions": library_versions(), "platform": platform.platform(),
            "cpu_count": os.cpu_count()}
    if "keras" in sys.modules:
        import keras

        info["backend"] = keras.backend.backend()
        info["dtype_policy"] = keras.config.dtype_policy().name
    else:
        info["backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    info["devices"] = _devices()
    return info


def short_text(env):
    """One line for reports: commit (dirty), backend and the main versions."""
    commit = (env.get("commit") or "unknown")[:10] + (" (uncommitted changes)" if env.get("dirty") else "")
    versions = env.get("versions", {})
    tf_version = versions.get("tensorflow") or versions.get("tensorflow-cpu")
    parts = [f"commit {commit}", f"backend {env.get('backend', '?')}", f"Python {versions.get('python', '?')}",
             f"NumPy {versions.get('numpy', '?')}", f"Keras {versions.get('keras', '?')}"]
    if tf_version:
        parts.append(f"TensorFlow {tf_version}")
    if versions.get("jax"):
        parts.append(f"JAX {versions['jax']}")
    if env.get("devices"):
        parts.append("devices " + ", ".join(env["devices"]))
    return "; ".join(parts)
