"""The kit without TensorFlow (the JAX-only GPU host).

``make_dataset`` falls back to ``BatchDataset`` (a ``keras.utils.PyDataset``), which must
deliver, epoch by epoch, the batches tf.data and ``numpy_batches`` build for the same
epoch (resume depends on it), also through Keras' ``fit`` with worker threads; and the
papers must run with ``import tensorflow`` failing (``tests/no_tensorflow``). Runs under
both backends; ``tests/run.sh`` runs it under JAX as well.
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from common.io import KitError
from data_prep.pipeline import BatchDataset, make_dataset, numpy_batches

REPO_ROOT = Path(__file__).resolve().parent.parent
N, S, BATCH = 10, 8, 4  # 3 batches per epoch, the last one of 2
RNG = np.random.default_rng(7)


def _arrays():
    """x: noise plus a channel holding the sample number (constant, so it survives any flip
    or quarter turn); y: 3 x the noise channel, so alignment can be checked."""
    x = RNG.random((N, S, S, 2)).astype(np.float32)
    x[..., 1] = np.arange(N)[:, None, None]
    return x, 3.0 * x[..., :1]


X, Y = _arrays()


def _ids(x, y):
    np.testing.assert_allclose(y, 3.0 * x[..., :1], rtol=1e-6)
    return x[:, 0, 0, 1].astype(int).tolist()


def _pass(dataset):
    """One pass as Keras reads a PyDataset: batches 0, 1, 2, ... in order."""
    return [_ids(*dataset[i]) for i in range(len(dataset))]


def _expected(first_epoch, epochs):
    batches = [_ids(*b) for b in numpy_batches(X, Y, BATCH, seed=3, epochs=epochs, first_epoch=first_epoch)]
    return [batches[3 * e:3 * e + 3] for e in range(epochs)]


def test_batch_dataset_passes_are_keyed_by_epoch_number():
    dataset = make_dataset(X, Y, BATCH, seed=3, front_end="pydataset", workers=0)
    assert isinstance(dataset, BatchDataset) and len(dataset) == 3 and dataset.num_batches == 3
    dataset.epoch_clock.start(2)  # a run resumed after 2 completed epochs
    epoch2, epoch3 = _pass(dataset), _pass(dataset)
    assert [epoch2, epoch3] == _expected(2, 2)
    for epoch in (epoch2, epoch3):  # each sample exactly once per epoch
        assert sorted(sum(epoch, [])) == list(range(N))
    assert epoch2 != epoch3


def test_repeating_batch_dataset_counts_indices_across_passes():
    dataset = make_dataset(X, Y, BATCH, seed=3, repeat=True, front_end="pydataset", workers=2)
    assert dataset.num_batches is None  # endless: Keras needs steps_per_epoch
    dataset.epoch_clock.start(1)
    batches = [_ids(*dataset[i]) for i in range(9)]  # Keras keeps counting across epochs
    assert batches == sum(_expected(1, 3), [])
    dataset.epoch_clock.start(0)  # a new training run: a new iterator from index 0
    assert _ids(*dataset[0]) == _expected(0, 1)[0][0]


class _Recording(BatchDataset):
    """Remembers the (pass key, batch index) of every batch Keras received."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.served = []

    def __getitem__(self, index):
        batch = super().__getitem__(index)
        self.served.append(self._locate(index))
        return batch


@pytest.mark.parametrize("repeat", [False, True])
def test_kit_fit_with_read_ahead_threads_trains_epoch_e_on_pass_e(repeat, tmp_path):
    from common.training import fit

    sampler = make_dataset(X, Y, BATCH, seed=3, front_end="pydataset").sampler
    recording = _Recording(sampler, repeat=repeat, workers=3)
    model = keras.Sequential([keras.Input((S, S, 2)), keras.layers.Conv2D(1, 1)])
    model.compile(optimizer="sgd", loss="mse")
    history = fit(model, recording, epochs=3, run_dir=tmp_path, steps_per_epoch=3 if repeat else None,
                  verbose=0, save_keras=False)
    assert len(history["loss"]) == 3
    expected = [(key, i) for key in (0, 1, 2) for i in range(3)]
    # Keras may first look at the data to build the loss, and on TensorFlow it wraps a
    # PyDataset in a prefetching tf.data generator, which reads ahead of the steps; the
    # clock restarts with the training run, whose batches start at the last (0, 0).
    served = recording.served
    start = len(served) - 1 - served[::-1].index((0, 0))
    assert served[start:start + 9] == expected
    assert all(key == 0 for key, _ in served[:start])


def test_bad_front_end_and_workers_are_clear_errors():
    with pytest.raises(KitError, match="front_end"):
        make_dataset(X, Y, BATCH, front_end="torch")
    for workers in (-1, 1.5):
        with pytest.raises(KitError, match="workers"):
            make_dataset(X, Y, BATCH, front_end="pydataset", workers=workers)


def _without_tensorflow(args, tmp_path, timeout):
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "tests" / "no_tensorflow"), str(REPO_ROOT)]))
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_block_really_hides_tensorflow(tmp_path):
    code = ("import importlib, keras\n"
            "from common.distribute import has_tensorflow\n"
            "from data_prep.pipeline import make_dataset\n"
            "import numpy as np\n"
            "d = make_dataset(np.zeros((4, 8, 8, 1)), np.zeros((4, 8, 8, 1)), 2)\n"
            "print(has_tensorflow(), type(d).__name__, keras.backend.backend())\n")
    done = _without_tensorflow(["-c", code], tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "BatchDataset", "jax"]


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["unet_ms", "drcnn_sam", "pix2pix_hs", "rdab_coordconv", "ms_ssfnet"])
def test_paper_smoke_run_without_tensorflow(paper, tmp_path):
    out = tmp_path / "run"
    done = _without_tensorflow(["-m", f"papers.{paper}", "reproduce", "--profile", "smoke", "--out", str(out)],
                               tmp_path, timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert (out / "comparison.md").is_file()
