"""Makes ``import tensorflow`` fail, as on a JAX-only GPU host (tests put this folder
first on PYTHONPATH of a child process; Python imports ``sitecustomize`` at start-up)."""

import sys


class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by tests/no_tensorflow)")
        return None


sys.meta_path.insert(0, _NoTensorFlow())
