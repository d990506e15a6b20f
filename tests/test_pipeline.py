"""Input pipelines: batch shapes, alignment under augmentation, epochs, tf.data vs NumPy."""

import numpy as np
import pytest

from common.io import KitError
from data_prep.patches import PatchCache
from data_prep.pipeline import make_dataset, numpy_batches

N, S = 10, 16
RNG = np.random.default_rng(1)
MIX = RNG.random((4, 5)).astype(np.float32)


def block_mean(x, f):
    n, h, w, c = x.shape
    return x.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))


def make_arrays():
    """Inputs {'rgb', 'lr'} and targets (hs, mid) derived from one another pixel by pixel.

    Channel 3 of 'rgb' holds the sample number, so a sample can be found again after a
    flip or rotation."""
    rgb = RNG.random((N, S, S, 4)).astype(np.float32)
    rgb[..., 3] = np.arange(N)[:, None, None]
    hs = rgb @ MIX
    return {"rgb": rgb, "lr": block_mean(rgb, 4)}, (hs, block_mean(hs, 2))


INPUTS, TARGETS = make_arrays()


def symmetries(patch):
    """The 8 flips/rotations of a square patch, built with np.rot90 / np.fliplr."""
    return [np.rot90(p, k) for p in (patch, np.fliplr(patch)) for k in range(4)]


def check_batch(inputs, targets):
    """Alignment after augmentation, and every sample a symmetry of an original one."""
    rgb, lr = inputs["rgb"], inputs["lr"]
    hs, mid = targets
    np.testing.assert_allclose(hs, rgb @ MIX, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lr, block_mean(rgb, 4), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mid, block_mean(hs, 2), rtol=1e-5, atol=1e-6)
    ids = rgb[:, 0, 0, 3].astype(int)
    for sample, i in zip(rgb, ids):
        assert any(np.array_equal(sample, t) for t in symmetries(INPUTS["rgb"][i]))
    return ids


def test_numpy_batches_shapes_and_remainder():
    batches = list(numpy_batches(INPUTS, TARGETS, 4, seed=0))
    assert [b[0]["rgb"].shape[0] for b in batches] == [4, 4, 2]
    inputs, targets = batches[0]
    assert inputs["lr"].shape == (4, 4, 4, 4) and targets[1].shape == (4, 8, 8, 5)
    assert all(a.dtype == np.float32 for a in (inputs["rgb"], inputs["lr"], *targets))
    dropped = list(numpy_batches(INPUTS, TARGETS, 4, drop_remainder=True))
    assert [b[0]["rgb"].shape[0] for b in dropped] == [4, 4]


def test_numpy_epochs_cover_every_sample_once_with_aligned_augmentation():
    epochs = [[], []]
    per_epoch = 3
    for k, (inputs, targets) in enumerate(numpy_batches(INPUTS, TARGETS, 4, seed=5, epochs=2)):
        epochs[k // per_epoch].extend(check_batch(inputs, targets))
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(N))
    assert epochs[0] != epochs[1]  # reshuffled
    augmented = [b[0]["rgb"] for b in numpy_batches(INPUTS, TARGETS, N, seed=5)][0]
    originals = INPUTS["rgb"][augmented[:, 0, 0, 3].astype(int)]
    assert not np.array_equal(augmented, originals)  # some samples were flipped/rotated


def test_no_shuffle_no_augment_is_the_identity():
    (inputs, targets), = numpy_batches(INPUTS, TARGETS, N, shuffle=False, augment=False)
    np.testing.assert_array_equal(inputs["rgb"], INPUTS["rgb"])
    np.testing.assert_array_equal(targets[0], TARGETS[0])


def test_bad_structures_are_rejected(tmp_path):
    with pytest.raises(KitError, match="same number"):
        next(numpy_batches(INPUTS["rgb"], TARGETS[0][:5], 2))
    with pytest.raises(KitError, match="square"):
        next(numpy_batches(np.zeros((4, 8, 6, 1)), np.zeros((4, 8, 6, 1)), 2))
    cache = PatchCache.write(tmp_path / "c.h5", {"a": np.zeros((4, 4, 4, 1))}, {})
    with pytest.raises(KitError, match="cache"):
        next(numpy_batches(cache, cache["a"], 2))


def test_patch_cache_columns_feed_the_same_batches(tmp_path):
    cache = PatchCache.write(tmp_path / "c.h5", {"rgb": INPUTS["rgb"], "lr": INPUTS["lr"],
                                                 "hs": TARGETS[0], "mid": TARGETS[1]}, {})
    arrays = list(numpy_batches(INPUTS, TARGETS, 4, seed=2, epochs=2))
    for in_memory in (False, True):
        cached = list(numpy_batches(cache.columns("rgb", "lr"), (cache["hs"], cache["mid"]), 4,
                                    seed=2, epochs=2, in_memory=in_memory))
        for (xi, yi), (xc, yc) in zip(arrays, cached):
            np.testing.assert_array_equal(xc["rgb"], xi["rgb"])
            np.testing.assert_array_equal(xc["lr"], xi["lr"])
            np.testing.assert_array_equal(yc[1], yi[1])


@pytest.mark.parametrize("storage, tolerance", [("float16", 2.0**-11), ("uint16", 0.5 / 65535)])
def test_compact_cache_storage_is_decoded_in_batches(tmp_path, storage, tolerance):
    hs = RNG.random((6, 8, 8, 31)).astype(np.float32)
    cache = PatchCache.write(tmp_path / "c.h5", {"hs": hs}, {}, storage=storage)
    for in_memory in (False, True):
        (x, y), = numpy_batches(cache["hs"], cache["hs"], 6, shuffle=False, augment=False,
                                in_memory=in_memory)
        assert x.dtype == np.float32
        assert np.abs(x - hs).max() <= tolerance * 1.0001


# ----------------------------------------------------------------------------- tf.data
tf = pytest.importorskip("tensorflow")


def _epoch(dataset):
    return [(
        {k: v.numpy() for k, v in x.items()}, tuple(t.numpy() for t in y)) for x, y in dataset]


def test_tf_dataset_structure_alignment_and_sample_set():
    dataset = make_dataset(INPUTS, TARGETS, 4, seed=3)
    spec_in, spec_out = dataset.element_spec
    assert spec_in["rgb"].shape.as_list() == [None, S, S, 4]
    assert spec_out[1].shape.as_list() == [None, 8, 8, 5]
    assert dataset.cardinality().numpy() == 3
    first, second = _epoch(dataset), _epoch(dataset)  # Keras iterates once per epoch
    ids = [np.concatenate([check_batch(x, y) for x, y in epoch]) for epoch in (first, second)]
    numpy_ids = np.concatenate([check_batch(x, y) for x, y in numpy_batches(INPUTS, TARGETS, 4, seed=3)])
    assert sorted(ids[0]) == sorted(ids[1]) == sorted(numpy_ids) == list(range(N))
    assert list(ids[0]) != list(ids[1])  # a new order every epoch
    again = _epoch(make_dataset(INPUTS, TARGETS, 4, seed=3))  # reproducible for a seed
    for (x1, _), (x2, _) in zip(first, again):
        np.testing.assert_array_equal(x1["rgb"], x2["rgb"])


def _ids(batches):
    return [check_batch(x, y).tolist() for x, y in batches]


def test_epoch_clock_keys_each_pass_by_its_epoch_number():
    """Epoch e holds the same batches whichever epoch the iteration started at (resume),
    and the same ones tf.data and numpy_batches build."""
    expected = _ids(numpy_batches(INPUTS, TARGETS, 4, seed=3, epochs=4))  # epochs 0..3
    per_epoch = [expected[3 * e:3 * e + 3] for e in range(4)]
    dataset = make_dataset(INPUTS, TARGETS, 4, seed=3)
    dataset.epoch_clock.start(2)  # a run resumed after 2 completed epochs
    assert _ids(_epoch(dataset)) == per_epoch[2]
    assert _ids(_epoch(dataset)) == per_epoch[3]
    assert _ids(numpy_batches(INPUTS, TARGETS, 4, seed=3, first_epoch=1)) == per_epoch[1]

    repeating = make_dataset(INPUTS, TARGETS, 4, seed=3, repeat=True)
    repeating.epoch_clock.start(1)  # one iterator over many passes: epochs 1, 2, 3
    assert _ids(_epoch(repeating.take(9))) == per_epoch[1] + per_epoch[2] + per_epoch[3]


def test_tf_dataset_repeat_and_static_batch(tmp_path):
    cache = PatchCache.write(tmp_path / "c.h5", {"rgb": INPUTS["rgb"], "hs": TARGETS[0]}, {})
    dataset = make_dataset(cache["rgb"], cache["hs"], 4, repeat=True, drop_remainder=True,
                           in_memory=False)  # memory-mapped reads in tf.data threads
    assert dataset.element_spec[0].shape.as_list() == [4, S, S, 4]
    assert dataset.cardinality().numpy() == tf.data.INFINITE_CARDINALITY
    batches = list(dataset.take(7))  # more than one epoch of 2 batches
    assert len(batches) == 7
    for x, y in batches:
        np.testing.assert_allclose(y.numpy(), x.numpy() @ MIX, rtol=1e-5, atol=1e-6)


def test_keras_fit_accepts_multi_input_multi_output_batches():
    import keras

    rgb = keras.Input((S, S, 4), name="rgb")
    lr = keras.Input((4, 4, 4), name="lr")
    hs = keras.layers.Conv2D(5, 1, name="hs")(rgb)
    mid = keras.layers.Conv2D(5, 1, name="mid")(keras.layers.UpSampling2D(2)(lr))
    model = keras.Model({"rgb": rgb, "lr": lr}, [hs, mid])
    model.compile("adam", loss=["mse", "mse"])
    history = model.fit(make_dataset(INPUTS, TARGETS, 5, seed=0), epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
