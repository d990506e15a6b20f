"""rdab_coordconv: importing the authors' released Keras 2 weights.

The file is found by ``tests.conftest.rdab_released_weights`` (``$KIT_RDAB_WEIGHTS``, or
``weights/`` in the repository) and never committed; these tests are skipped only when
it is absent. They check the import command, that the
arrays land where the file's own numbers say they belong (shapes, direct reads with
h5py, BatchNorm statistics), and that the released network reconstructs plausible
spectra: on a synthetic scene rendered with the NTIRE 2020 clean-track response, its
output projects back onto the input RGB.
"""

import shutil

import h5py
import numpy as np
import pytest

import keras

from common.inference import predict_tiled
from common.io import KitError
from data_prep.render import render_ntire2020_clean
from data_prep.synthetic import generate_scene
from papers.rdab_coordconv.model import build_model
from papers.rdab_coordconv.weights import load_released_weights
from tests.conftest import paper_command, rdab_released_weights

main = paper_command("rdab_coordconv")

WEIGHTS = rdab_released_weights()
pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"{WEIGHTS} is absent")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The released model, imported through the command line and loaded from .keras."""
    out = tmp_path_factory.mktemp("released") / "released.keras"
    assert main(["import-weights", str(WEIGHTS), "--out", str(out)]) == 0
    return keras.models.load_model(out)


def stored(layer, name):
    with h5py.File(WEIGHTS, "r") as f:
        return np.asarray(f["model_weights"][layer][f"{layer}/{name}:0"])


@pytest.fixture(scope="module")
def scene():
    """A synthetic scene and its clean-track RGB (the organisers' 8-bit PNG rendering)."""
    cube = generate_scene([7, 0], 128).radiance
    return render_ntire2020_clean(cube, quantize=True), cube


def test_every_value_imported_to_the_right_layer(released):
    assert sum(int(np.prod(v.shape)) for v in released.weights) == 233_059
    # Layers whose place the file fixes by name or by a unique shape.
    np.testing.assert_array_equal(np.asarray(released.get_layer("fusion_out").kernel), stored("op0", "kernel"))
    np.testing.assert_array_equal(np.asarray(released.get_layer("dense_out").bias), stored("K_x", "bias"))
    np.testing.assert_array_equal(np.asarray(released.get_layer("l1_entry").kernel), stored("conv2d_1", "kernel"))
    assert stored("conv2d_5", "kernel").shape == (7, 7, 2, 1)  # first spatial attention
    np.testing.assert_array_equal(np.asarray(released.get_layer("l1_rdab1_sa").conv.kernel),
                                  stored("conv2d_5", "kernel"))
    ca = released.get_layer("up1_rdab1_ca")  # last channel attention, 8 -> 1 -> 8
    np.testing.assert_array_equal(np.asarray(ca.mlp_hidden.kernel), stored("dense_19", "kernel"))
    deconv = released.get_layer("up1_deconv")
    np.testing.assert_array_equal(np.asarray(deconv.kernel), stored("conv2d_transpose_2", "kernel"))
    bn = released.get_layer("up1_rdab1_out_bn")
    np.testing.assert_array_equal(np.asarray(bn.moving_variance), stored("batch_normalization_50", "moving_variance"))


def test_full_resolution_batch_statistics_match_the_stored_ones(released, scene):
    """The released BatchNorms hold the mean and variance of their inputs on ARAD. On
    clean-track RGB of other scenes, the inputs of the full-resolution BNs must have
    about those statistics: a wrong activation or a badly wrong layer assignment would
    shift them far. A swapped coordinate order would not (measured: ratios 0.96-1.01);
    ``test_rdab_coordconv_numpy_forward.py`` catches that one."""
    rgb, _ = scene
    tiles = np.stack([rgb[r : r + 64, c : c + 64] for r in (0, 64) for c in (0, 64)])
    names = [f"l1_rdab1_{p}" for p in ("bn1", "bn2", "bn3", "side_bn")] + ["l1_rdab2_bn2", "l1_rdab2_bn3"]
    bns = [released.get_layer(n) for n in names]
    probe = keras.Model(released.input, [bn.input for bn in bns])
    for bn, x in zip(bns, probe.predict(tiles, verbose=0)):
        ratio = np.median(x.var(axis=(0, 1, 2)) / np.asarray(bn.moving_variance))
        assert 0.5 < ratio < 2.0, (bn.name, ratio)
        shift = np.abs(x.mean(axis=(0, 1, 2)) - np.asarray(bn.moving_mean)) / np.sqrt(np.asarray(bn.moving_variance))
        assert np.mean(shift) < 0.5, (bn.name, shift)


def test_released_model_reconstructs_spectra_consistent_with_the_rgb(released, scene):
    rgb, cube = scene
    pred = predict_tiled(released, rgb, tile=64)  # the released test script's tiling
    assert pred.shape == cube.shape and np.all(np.isfinite(pred))
    assert pred.min() > -0.05  # non-negative up to small undershoots
    reprojected = render_ntire2020_clean(pred)
    assert np.sqrt(np.mean((reprojected - rgb) ** 2)) < 0.01  # 8-bit quantisation is 0.002
    # and far better than a flat grey spectrum of the right brightness
    grey = np.repeat(rgb.mean(-1, keepdims=True), 31, axis=-1)
    assert np.sqrt(np.mean((pred - cube) ** 2)) < 0.5 * np.sqrt(np.mean((grey - cube) ** 2))


def _copy_with(tmp_path, edit):
    path = tmp_path / "edited.hdf5"
    shutil.copyfile(WEIGHTS, path)
    with h5py.File(path, "r+") as f:
        edit(f["model_weights"])
    return path


def test_import_refuses_files_that_do_not_fit(tmp_path):
    def reshape_bias(group):
        del group["op0"]["op0/bias:0"]
        group["op0"].create_dataset("op0/bias:0", data=np.zeros(30, np.float32))

    def drop_array(group):
        names = [n for n in group["K_x"].attrs["weight_names"] if b"bias" not in n]
        group["K_x"].attrs["weight_names"] = names

    def extra_layer(group):
        group.create_group("dense_99")
        group["dense_99"].attrs["weight_names"] = [b"dense_99/kernel:0"]
        group["dense_99"].create_dataset("dense_99/kernel:0", data=np.zeros((8, 1), np.float32))
        group.attrs["layer_names"] = list(group.attrs["layer_names"]) + [b"dense_99"]

    model = build_model()
    before = [np.asarray(v).copy() for v in model.weights]
    for edit, message in ((reshape_bias, "op0/bias"), (drop_array, "K_x"), (extra_layer, "dense")):
        with pytest.raises(KitError, match=message):
            load_released_weights(model, _copy_with(tmp_path, edit))
    with pytest.raises(KitError, match="no such weights file"):
        load_released_weights(model, tmp_path / "missing.hdf5")
    # A refused file leaves the model as it was.
    assert all(np.array_equal(b, np.asarray(v)) for b, v in zip(before, model.weights))
