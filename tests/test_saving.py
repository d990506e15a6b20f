"""Saved models: the kit's own load with plain Keras after one import; a file asking to run
code, a truncated file or another format is one clear error naming it."""

import zipfile

import keras
import numpy as np
import pytest

from common.io import KitError
from common.saving import load_model


def test_a_lambda_layer_is_refused_by_safe_mode_as_one_clear_error(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    path = tmp_path / "hostile.keras"
    model.save(path)
    with pytest.raises(KitError, match=r"hostile.keras: cannot load the model \(it asks to run Python code"):
        load_model(path)


def test_truncated_and_foreign_files_name_the_file(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    path = tmp_path / "ok.keras"
    model.save(path)
    np.testing.assert_allclose(load_model(path).get_weights()[0], model.get_weights()[0])
    data = path.read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.keras").write_text("hello")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w"):
        pass
    for name, problem in (("cut.keras", "not a Keras .keras archive|cannot load"),
                          ("text.keras", "not a Keras .keras archive"),
                          ("empty.keras", "cannot load the model"),
                          ("missing.keras", "no such model file")):
        with pytest.raises(KitError) as error:
            load_model(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)
        assert any(p in str(error.value) for p in problem.split("|")), str(error.value)
