"""rdab_coordconv: the kit's network with the authors' released weights against an
independent forward pass of the released file, layer by layer.

The reference below uses NumPy only: the layer graph (class, settings, inbound layers) is
read as plain JSON data from the file's ``model_config`` attribute and the arrays from its
``model_weights`` group with h5py; no kit layer, no Keras. The ``Lambda`` layers' functions
are marshalled Python 3.6 bytecode and are never loaded: the names their bytes hold
(``mean`` or ``max``, ``keepdims``) say which channel reduction each computes (CBAM's
spatial attention). The coordinate channels follow ``keras-coordconv``'s
``CoordinateChannel2D``, the layer class the file names: after the input channels, first
``xx_channels`` = 2 * row / (H - 1) - 1 (it varies along the height), then ``yy_channels``
= 2 * column / (W - 1) - 1. Every BatchNormalization uses the epsilon of its own config in
the file (1e-4).

The kit's model is built by ``import_weights`` from the same file, and the outputs of
named layers of both are compared, down to the multi-scale branch, whose final
contribution is nearly constant in the released weights (its full-resolution outputs are
dead ReLUs), so that only its intermediate activations reveal a wrong epsilon, a wrong
coordinate order or a wrong pairing of layers.
"""

import base64
import json

import h5py
import numpy as np
import pytest

import keras

from data_prep.render import render_ntire2020_clean
from data_prep.synthetic import generate_scene
from papers.rdab_coordconv.weights import import_weights
from tests.conftest import rdab_released_weights
from tests.test_rdab_coordconv_model import _conv_same  # the NumPy 'same' convolution

WEIGHTS = rdab_released_weights()
pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"{WEIGHTS} is absent")

# File layer (its output) -> kit layer (its output), read from the file's graph: entry conv,
# the first RDAB's side BN, first dense BN, dense output, sum and output BN; the output BN
# of one RDAB per level and of both decoder levels; the transposed convolutions; the
# dense branch; the fusion.
PAIRS = {
    "coordinate_channel2d_1": "coordconv",
    "conv2d_1": "l1_entry",
    "batch_normalization_1": "l1_rdab1_side_bn",
    "batch_normalization_2": "l1_rdab1_bn1",
    "activation_4": "l1_rdab1_relu3",
    "multiply_1": "l1_rdab1_ca",
    "multiply_2": "l1_rdab1_sa",
    "add_1": "l1_rdab1_add",
    "batch_normalization_5": "l1_rdab1_out_bn",
    "batch_normalization_10": "l1_rdab2_out_bn",
    "conv2d_10": "l2_entry",
    "batch_normalization_20": "l2_rdab2_out_bn",
    "conv2d_19": "l3_entry",
    "batch_normalization_22": "l3_rdab1_bn1",
    "batch_normalization_30": "l3_rdab2_out_bn",
    "conv2d_transpose_1": "up2_deconv",
    "batch_normalization_40": "up2_rdab2_out_bn",
    "conv2d_transpose_2": "up1_deconv",
    "batch_normalization_50": "up1_rdab1_out_bn",
    "conv1": "dense_c1",
    "conv2": "dense_c2",
    "conv3": "dense_c3",
    "conv4": "dense_c4",
    "K_x": "dense_out",
    "K_x_1": "attention_out",
    "op0": "fusion_out",
}


# ----------------------------------------------------------------------------- NumPy layers
def _conv_transpose_same_s2(x, kernel, bias):
    """3x3, stride 2, 'same' transposed convolution (the gradient of a 'same' stride-2
    convolution, whose padding is 0 before and 1 after): out[2i + a, 2j + b] += x[i, j] K[a, b];
    kernel (kh, kw, out, in); output 2H x 2W."""
    batch, h, w, _ = x.shape
    k = kernel.shape[0]
    out = np.zeros((batch, 2 * h + k - 1, 2 * w + k - 1, kernel.shape[2]))
    for a in range(k):
        for b in range(k):
            out[:, a:a + 2 * h:2, b:b + 2 * w:2] += np.einsum("bhwc,oc->bhwo", x, kernel[a, b])
    return out[:, :2 * h, :2 * w] + bias


def _activation(x, name):
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    assert name == "linear", name
    return x


def _coordinate_channels(x):
    """keras-coordconv CoordinateChannel2D (rank 2, no radius, channels_last)."""
    batch, h, w, _ = x.shape
    rows = np.broadcast_to((2.0 * np.arange(h) / (h - 1) - 1.0)[None, :, None, None], (batch, h, w, 1))
    cols = np.broadcast_to((2.0 * np.arange(w) / (w - 1) - 1.0)[None, None, :, None], (batch, h, w, 1))
    return np.concatenate([x, rows, cols], axis=-1)


def _lambda_reduction(config):
    """'mean' or 'max': the channel reduction of a spatial-attention Lambda, read from the
    names stored in its marshalled function (the bytes are searched, never loaded)."""
    code = base64.b64decode(config["function"][0])
    assert b"keepdims" in code and b"axis" in code
    found = [name for name in ("mean", "max") if name.encode() in code]
    assert len(found) == 1, found
    return found[0]


class ReleasedGraph:
    """The released model evaluated node by node in float64 NumPy."""

    def __init__(self, path):
        with h5py.File(path, "r") as handle:
            config = json.loads(handle.attrs["model_config"])
            group = handle["model_weights"]
            self.arrays = {}
            for name in group.attrs["layer_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                weight_names = [n.decode() if isinstance(n, bytes) else n for n in group[name].attrs["weight_names"]]
                self.arrays[name] = {n.split("/")[-1].split(":")[0]: np.asarray(group[name][n], np.float64)
                                     for n in weight_names}
        self.layers = {layer["name"]: layer for layer in config["config"]["layers"]}
        self.input_name = config["config"]["input_layers"][0][0]
        self.epsilons = {name: layer["config"]["epsilon"] for name, layer in self.layers.items()
                         if layer["class_name"] == "BatchNormalization"}

    def run(self, rgb, wanted):
        """{layer name: output of its first call} for ``wanted`` on an NHWC batch."""
        self._outputs = {(self.input_name, 0): np.asarray(rgb, np.float64)}
        return {name: self._output(name, 0) for name in wanted}

    def _output(self, name, node):
        key = (name, node)
        if key not in self._outputs:
            layer = self.layers[name]
            inbound = layer["inbound_nodes"][node]
            inputs = [self._output(entry[0], entry[1]) for entry in inbound]
            self._outputs[key] = self._apply(layer, inputs)
        return self._outputs[key]

    def _apply(self, layer, inputs):
        cls, cfg, w = layer["class_name"], layer["config"], self.arrays.get(layer["name"], {})
        x = inputs[0]
        if cls == "CoordinateChannel2D":
            assert not cfg["use_radius"] and cfg["data_format"] == "channels_last"
            return _coordinate_channels(x)
        if cls == "Conv2D":
            assert cfg["padding"] == "same" and tuple(cfg["strides"]) == (1, 1) and tuple(cfg["dilation_rate"]) == (1, 1)
            return _activation(_conv_same(x, w["kernel"], w.get("bias")), cfg["activation"])
        if cls == "Conv2DTranspose":
            assert cfg["padding"] == "same" and tuple(cfg["strides"]) == (2, 2) and cfg["output_padding"] is None
            return _activation(_conv_transpose_same_s2(x, w["kernel"], w["bias"]), cfg["activation"])
        if cls == "BatchNormalization":
            assert cfg["axis"] in (3, -1) and cfg["center"] and cfg["scale"]
            return (w["gamma"] * (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"])
                    + w["beta"])
        if cls == "Activation":
            return _activation(x, cfg["activation"])
        if cls == "Dense":
            return _activation(x @ w["kernel"] + w["bias"], cfg["activation"])
        if cls == "GlobalAveragePooling2D":
            return x.mean(axis=(1, 2))
        if cls == "GlobalMaxPooling2D":
            return x.max(axis=(1, 2))
        if cls == "Reshape":
            return x.reshape((x.shape[0], *cfg["target_shape"]))
        if cls == "Lambda":
            reduce = np.mean if _lambda_reduction(cfg) == "mean" else np.max
            return reduce(x, axis=-1, keepdims=True)
        if cls == "Add":
            return sum(inputs)
        if cls == "Multiply":
            return np.prod(np.broadcast_arrays(*inputs), axis=0)
        if cls == "Concatenate":
            assert cfg["axis"] in (3, -1)
            return np.concatenate(inputs, axis=-1)
        if cls == "MaxPooling2D":
            assert tuple(cfg["pool_size"]) == (2, 2) and tuple(cfg["strides"]) == (2, 2) and cfg["padding"] == "valid"
            b, h, wd, c = x.shape
            return x[:, : h // 2 * 2, : wd // 2 * 2].reshape(b, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
        if cls == "Dropout":
            return x  # inference
        raise AssertionError(f"layer class {cls} not handled")


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def graph():
    return ReleasedGraph(WEIGHTS)


@pytest.fixture(scope="module")
def kit_model():
    model, count = import_weights(WEIGHTS)
    assert count == 233_059
    return model


@pytest.fixture(scope="module")
def tiles():
    """Two 64 x 64 tiles of a synthetic scene's clean-track RGB and one 64 x 96 tile (a
    non-square input: rows and columns get different coordinate steps)."""
    rgb = render_ntire2020_clean(generate_scene([7, 0], 128).radiance, quantize=True).astype(np.float32)
    return rgb[None, :64, :96], np.stack([rgb[:64, :64], rgb[64:, 64:]])


def _kit_outputs(model, names, batch):
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    outputs = probe.predict_on_batch(batch)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(a, np.float64) for a in outputs]


def test_every_batch_norm_of_the_file_has_epsilon_1e_4_and_so_has_the_kit(graph, kit_model):
    # The released file's model config: epsilon 0.0001 in each of its 45 BatchNormalizations.
    assert len(graph.epsilons) == 45 and set(graph.epsilons.values()) == {0.0001}
    bns = [layer for layer in kit_model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 45 and {bn.epsilon for bn in bns} == {0.0001}


def test_the_lambdas_of_each_spatial_attention_are_channel_mean_then_max(graph):
    lambdas = sorted((int(n.split("_")[1]), n) for n, layer in graph.layers.items() if layer["class_name"] == "Lambda")
    kinds = [_lambda_reduction(graph.layers[n]["config"]) for _, n in lambdas]
    assert kinds == ["mean", "max"] * 9


@pytest.mark.parametrize("which", [0, 1], ids=["64x96", "two_64x64"])
def test_layer_by_layer_against_the_released_file(graph, kit_model, tiles, which):
    batch = tiles[which]
    reference = graph.run(batch, PAIRS)
    got = _kit_outputs(kit_model, list(PAIRS.values()), batch)
    for (file_name, kit_name), kit in zip(PAIRS.items(), got):
        ref = reference[file_name]
        assert kit.shape == ref.shape, (file_name, kit_name, kit.shape, ref.shape)
        # float32 against float64 through up to ~60 layers: relative to the layer's scale.
        scale = max(float(np.abs(ref).max()), 1e-3)
        error = float(np.abs(kit - ref).max()) / scale
        assert error < 2e-4, f"{kit_name} (file {file_name}): max error {error:.3g} of the layer's max {scale:.3g}"


def test_the_released_branch_is_dead_where_the_readme_says(graph, tiles):
    """README: the output ReLUs of the second full-resolution RDAB (skip A) and of the last
    decoder RDAB are zero: the multi-scale branch adds only a constant per band."""
    out = graph.run(tiles[1], ["activation_12", "activation_60", "K_x_1"])
    assert not out["activation_12"].any() and not out["activation_60"].any()
    k_x_1 = out["K_x_1"]
    # Away from the zero-padded border the attention output is one value per band.
    inner = k_x_1[:, 8:-8, 8:-8]
    assert np.ptp(inner, axis=(0, 1, 2)).max() < 1e-9


def test_a_swapped_coordinate_order_changes_the_first_convolutions(graph, kit_model, tiles):
    """The x/y order of the coordinate channels matters for the imported weights: the
    kernel entries of the two coordinate channels differ, so feeding them swapped moves the
    entry convolution's output by a sizeable fraction of its range."""
    batch = tiles[1]
    kernel = graph.arrays["conv2d_1"]["kernel"]
    assert np.abs(kernel[:, :, 3] - kernel[:, :, 4]).max() > 0.05
    coords = _coordinate_channels(batch.astype(np.float64))
    swapped = coords[..., [0, 1, 2, 4, 3]]
    right = _conv_same(coords, kernel, graph.arrays["conv2d_1"]["bias"])
    wrong = _conv_same(swapped, kernel, graph.arrays["conv2d_1"]["bias"])
    assert np.abs(right - wrong).max() > 0.1 * np.abs(right).max()
    (kit,) = _kit_outputs(kit_model, ["l1_entry"], batch)
    np.testing.assert_allclose(kit, right, rtol=1e-4, atol=1e-4 * np.abs(right).max())
