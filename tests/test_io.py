"""Atomic writes: a failure leaves the destination untouched and no temporary file behind."""

import json
import math

import numpy as np
import pytest

from common.io import KitError, atomic_path, atomic_write_json, atomic_write_text, check_finite


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_inside_block_keeps_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_temporary_keeps_the_suffix(tmp_path):
    with atomic_path(tmp_path / "figure.png") as tmp:
        assert tmp.name.endswith("-figure.png") and tmp.parent == tmp_path
        tmp.write_bytes(b"x")


def test_json_writes_nan_as_null_and_numpy_as_python(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"a": np.float32(1.5), "b": math.nan, "c": np.arange(3)})
    assert json.loads(target.read_text()) == {"a": 1.5, "b": None, "c": [0, 1, 2]}


def test_check_finite_names_the_thing():
    check_finite(np.ones(3), "cube")
    with pytest.raises(KitError, match="scene.mat: contains 1 NaN/Inf"):
        check_finite(np.array([1.0, np.nan]), "scene.mat")
