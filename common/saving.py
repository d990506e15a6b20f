"""Load the kit's saved models with plain Keras.

Every custom layer, loss and metric of the kit lives in ``common.layers``,
``common.losses`` and ``common.metrics`` and is registered with
``keras.saving.register_keras_serializable`` when those modules are imported. Importing
this module imports them, so after ::

    import keras
    import common.saving  # registers the kit's layers, losses and metrics

``keras.saving.load_model("results/unet_ms/<run>/unet_ms.keras")`` works for a model saved
by any paper of the kit. ``load_model`` here does the same with Keras' safe mode on and
turns a file that cannot be loaded (truncated, not a Keras archive, or asking to run code,
such as a ``Lambda`` layer, which safe mode refuses) into one ``KitError`` naming it.
"""

import zipfile
from pathlib import Path

import keras

import common.layers  # noqa: F401  (registers the layers)
import common.losses  # noqa: F401  (registers the losses)
import common.metrics  # noqa: F401  (registers the metrics)
from common.io import KitError


def load_model(path, compile=False):
    """``keras.saving.load_model(path, safe_mode=True)`` with one clear error on failure.

    ``compile=False`` by default: the kit loads saved models to run them, not to train
    them further (a run resumes from its checkpoints instead).
    """
    path = Path(path)
    if not path.is_file():
        raise KitError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise KitError(f"{path}: not a Keras .keras archive (truncated or another format)")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - Keras raises many types; each means "cannot load"
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "safe_mode" in str(error) or "unsafe" in str(error).lower() or "lambda" in str(error).lower():
            message = ("it asks to run Python code (a Lambda layer or a serialized function), which "
                       "safe mode refuses; load it with keras.saving.load_model(..., safe_mode=False) "
                       "only if you trust its author")
        raise KitError(f"{path}: cannot load the model ({message})") from None
