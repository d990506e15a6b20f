"""Import the authors' released Keras 2 model (NTIRE 2020 clean track) into this Keras 3 model.

The release is a Keras 2.2.4 HDF5 file. Its ``model_config`` attribute holds marshalled
Python 3.6 bytecode for the ``Lambda`` layers of the spatial attention; deserializing it
would execute that bytecode (and fails on any other Python anyway), so it is never read.
Only the arrays are: the ``model_weights`` group lists its layers in the ``layer_names``
attribute and each layer's arrays in its ``weight_names`` attribute.

Keras 2 names a layer ``<class>_<n>`` with ``n`` counting the layers of that class in the
order the code created them, so sorting each class by ``n`` gives the authors' creation
order. ``released_slots`` lists this model's layers in the same order, class by class
(entry conv, then per RDAB: side conv, two dense convs, spatial-attention conv; per RDAB:
side BN, three BNs of the dense path, output BN; per RDAB: the two channel-attention
Dense layers), and the seven layers the authors named (``conv1`` .. ``conv4``, ``K_x``,
``K_x_1``, ``op0``) are matched by name. Every array's shape is checked against its
target and every stored array must be used exactly once, so a structural mismatch stops
the import with a ``KitError`` instead of loading a model that only looks right.

The layer numbering in the file has one gap (``conv2d_36..39``, ``batch_normalization_41..45``,
``dense_17..18``): the authors' code built one RDAB it never connected, so Keras did not
save it; the order of the remaining layers is unaffected.
"""

import re
from pathlib import Path

import h5py
import numpy as np

from common.io import KitError, save_model_atomic
from papers.rdab_coordconv.model import ENCODER_BLOCKS, build_model, rdab_block_names

# The authors' own layer names (dense branch and fusion) -> this model's layer names.
NAMED_LAYERS = {
    "conv1": "dense_c1",
    "conv2": "dense_c2",
    "conv3": "dense_c3",
    "conv4": "dense_c4",
    "K_x": "dense_out",
    "K_x_1": "attention_out",
    "op0": "fusion_out",
}
AUTO_NAMED = re.compile(r"^(conv2d_transpose|conv2d|batch_normalization|dense)_(\d+)$")


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_released_arrays(path):
    """``{layer_name: {weight_name: array}}`` for the layers that store arrays, in file order.

    ``weight_name`` is the attribute part of the Keras 2 name: ``conv2d_1/kernel:0`` ->
    ``kernel``.
    """
    path = Path(path)
    if not path.is_file():
        raise KitError(f"{path}: no such weights file")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise KitError(f"{path}: not an HDF5 file ({error})") from None
    with handle:
        if "model_weights" not in handle or "layer_names" not in handle["model_weights"].attrs:
            raise KitError(f"{path}: no 'model_weights' group with 'layer_names' (not a Keras 2 model file)")
        group = handle["model_weights"]
        layers = {}
        for layer_name in map(_text, group.attrs["layer_names"]):
            if layer_name not in group:
                raise KitError(f"{path}: layer {layer_name!r} is listed but has no group")
            names = [_text(n) for n in group[layer_name].attrs.get("weight_names", [])]
            if not names:
                continue
            arrays = {}
            for full_name in names:
                short = full_name.split("/")[-1].split(":")[0]
                if short in arrays:
                    raise KitError(f"{path}: layer {layer_name!r} stores {short!r} twice")
                arrays[short] = np.asarray(group[layer_name][full_name])
            layers[layer_name] = arrays
    return layers


def released_slots(model):
    """This model's weighted layers, per Keras 2 class, in the authors' creation order."""
    get = model.get_layer
    blocks = rdab_block_names()
    entries = {prefix: get(f"{prefix}_entry") for prefix, _ in ENCODER_BLOCKS}
    conv2d = []
    for block in blocks:
        prefix = block.split("_")[0]
        if prefix in entries and block.endswith("rdab1"):
            conv2d.append(entries[prefix])
        rdab = [get(f"{block}_side_conv"), get(f"{block}_conv1"), get(f"{block}_conv2")]
        conv2d += rdab + [get(f"{block}_sa").conv]
    batch_norm = [
        get(f"{block}_{part}") for block in blocks for part in ("side_bn", "bn1", "bn2", "bn3", "out_bn")
    ]
    dense = [sub for block in blocks for sub in (get(f"{block}_ca").mlp_hidden, get(f"{block}_ca").mlp_out)]
    transpose = [get("up2_deconv"), get("up1_deconv")]
    return {"conv2d": conv2d, "conv2d_transpose": transpose, "batch_normalization": batch_norm, "dense": dense}


def _target_variables(layer):
    """{attribute: variable} of a Keras 3 layer, under the Keras 2 weight names."""
    names = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
    return {name: getattr(layer, name) for name in names if getattr(layer, name, None) is not None}


def match_layers(released, model):
    """Pair every released layer with a layer of ``model``: ``[(file_name, layer)]``."""
    by_class = {}
    pairs = []
    for name in released:
        match = AUTO_NAMED.match(name)
        if match:
            by_class.setdefault(match.group(1), []).append((int(match.group(2)), name))
        elif name in NAMED_LAYERS:
            pairs.append((name, model.get_layer(NAMED_LAYERS[name])))
        else:
            raise KitError(f"released weights: unexpected layer {name!r} (not part of the released model)")
    missing = sorted(set(NAMED_LAYERS) - set(released))
    if missing:
        raise KitError(f"released weights: layer(s) {', '.join(missing)} missing from the file")
    slots = released_slots(model)
    for cls, targets in slots.items():
        names = [name for _, name in sorted(by_class.pop(cls, []))]
        if len(names) != len(targets):
            raise KitError(
                f"released weights: {len(names)} {cls} layers in the file, the model has {len(targets)}"
            )
        pairs += list(zip(names, targets))
    if by_class:
        raise KitError(f"released weights: unmatched layer class(es) {', '.join(sorted(by_class))}")
    return pairs


def load_released_weights(model, path):
    """Assign the released arrays to ``model``; returns the number of values assigned.

    Every pairing and shape is checked before the first value is assigned, so a file that
    does not fit leaves ``model`` untouched.
    """
    released = read_released_arrays(path)
    assignments = []
    for file_name, layer in match_layers(released, model):
        arrays = released[file_name]
        targets = _target_variables(layer)
        if set(arrays) != set(targets):
            raise KitError(
                f"{path}: layer {file_name!r} stores {sorted(arrays)} but {layer.path} has {sorted(targets)}"
            )
        for attribute, variable in targets.items():
            array = arrays[attribute]
            if tuple(array.shape) != tuple(variable.shape):
                raise KitError(
                    f"{path}: {file_name}/{attribute} has shape {array.shape}, "
                    f"{variable.path} expects {tuple(variable.shape)}"
                )
            assignments.append((variable, array))
    used = sum(array.size for _, array in assignments)
    total = sum(a.size for arrays in released.values() for a in arrays.values())
    stored = sum(int(np.prod(v.shape)) for v in model.weights)
    if len({id(v) for v, _ in assignments}) != len(model.weights) or used != total or used != stored:
        raise KitError(f"{path}: {used} of the file's {total} values would fill a model of {stored}")
    for variable, array in assignments:
        variable.assign(array.astype(variable.dtype))
    return used


def import_weights(path, out=None):
    """Build the released network, load the file's arrays, save it as ``.keras`` if ``out``."""
    model = build_model()
    count = load_released_weights(model, path)
    if out is not None:
        save_model_atomic(model, out)
    return model, count
