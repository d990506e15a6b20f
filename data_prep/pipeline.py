"""Input pipelines: batches of aligned patches for ``model.fit``, with tf.data or NumPy.

Every task of the kit trains on aligned patches:

- spectral reconstruction (unet_ms, pix2pix_hs, rdab_coordconv): RGB -> HS;
- single-image SR (drcnn_sam): LR HS (upsampled) -> HS, with a deep-supervision copy of
  the target (Keras multi-output);
- fusion (ms_ssfnet): (LR HS, RGB) -> (HS, intermediate x4-smaller HS), patches of
  different sizes (8, 128, 128, 32) covering the same scene region.

``make_dataset(inputs, targets, batch_size, ...)`` takes the inputs and targets as Keras
does (an array, a tuple of arrays for several inputs/outputs, or a dict keyed by the
model's input/output names), where every array may also be a ``PatchCache`` column
(``cache['hs']``), and returns a ``tf.data.Dataset`` of ``(inputs, targets)`` batches, or,
where TensorFlow is not installed (the JAX-only GPU host), a ``BatchDataset``
(``keras.utils.PyDataset``) of the same batches, built ahead by a pool of threads.

Each epoch the patches are shuffled and, with ``augment=True``, each one is given one of
the 8 symmetries of the square (a flip and a rotation by a multiple of 90 degrees). None
of the five papers states its augmentation; this is the usual choice in super-resolution
work, and each paper's config decides whether to use it. The same symmetry is applied to
every array of a sample, whatever its size: an 8x8 LR patch and the 128x128 patch over
the same region stay aligned. Arrays whose samples are scalars or vectors (fewer than
two dimensions) are passed through unchanged.

Sampling, reading and augmentation are NumPy code (``BatchSampler``) shared by every
front end: ``numpy_batches`` yields the batches directly; ``make_dataset`` runs the same
function in tf.data's parallel map (``num_parallel_calls=AUTOTUNE``, order kept) and
prefetches, or in ``BatchDataset``'s threads. An epoch is fully
determined by its key k (order and symmetries from ``numpy.random.default_rng([seed, k])``),
and the key is the epoch number: ``numpy_batches`` uses k = first_epoch, first_epoch + 1,
...; ``make_dataset``'s front ends take each pass's key from the dataset's ``EpochClock``, which
``common.training.fit`` starts at the first epoch it trains. A training resumed after
epoch 12 therefore sees in epoch 13 exactly the batches an uninterrupted run sees.
Within a batch the samples are in increasing index order (the batch's content is what
the shuffle decides).

Memory: with ``in_memory='auto'`` a ``PatchCache`` whose columns fit in
``MEMORY_BUDGET_BYTES`` (as float32) is read into RAM once; larger caches are read patch
by patch from the memory-mapped HDF5 file (``PatchCache.patch``), which the OS page
cache keeps warm.
"""

import concurrent.futures
import functools
import math
import os
import threading

import keras
import numpy as np

from common.distribute import has_tensorflow
from common.io import KitError
from data_prep.patches import PatchCache, PatchColumn

MEMORY_BUDGET_BYTES = 2 * 1024**3
N_SYMMETRIES = 8  # the dihedral group of the square


def dihedral(patch, op):
    """Symmetry ``op`` in 0..7 of an (h, w, ...) patch: a left-right flip when op >= 4,
    then ``op % 4`` counter-clockwise quarter turns (a view, no copy)."""
    if op >= 4:
        patch = patch[:, ::-1]
    return np.rot90(patch, op % 4, axes=(0, 1))


def _pixels(x, axes=2):
    """(h, w) view of an (h, w, ...) array whose elements are whole pixels (raw bytes)
    (with ``axes=3``, the (n, h, w) view of a stack of patches).

    Flipping or rotating this view moves each pixel's values as one block: NumPy's copy
    of a rotated (64, 64, 3) float32 view otherwise runs an inner loop of 3 values per
    pixel, 5-15 times slower.
    """
    x = x.reshape(x.shape[:axes] + (-1,))
    if x.strides[-1] != x.itemsize:
        x = np.ascontiguousarray(x)
    return x.view(np.dtype((np.void, x.itemsize * x.shape[-1])))[..., 0]


def _aligned_empty(shape, alignment=64):
    """float32 array whose data start on a 64-byte boundary: TensorFlow then wraps it in
    a tensor without copying (it copies misaligned NumPy buffers, a 35 MB memcpy for a
    batch of 64 RGB/HS pairs)."""
    nbytes = 4 * math.prod(shape)
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(np.float32).reshape(shape)


class EpochClock:
    """The epoch number that keys a data source's per-epoch randomness.

    The trainer calls ``start(first_epoch)`` before its first epoch (``common.training.fit``
    does, for any training data with an ``epoch_clock`` attribute). Each pass over the
    data then asks ``next_key()`` once, when its iterator starts: Keras starts one pass per
    epoch, in order (it may start the next one at the end of the current epoch, which is
    why the clock counts passes rather than listening for epoch boundaries).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.first = 0
        self.passes = 0
        self.starts = 0  # how many times start() was called: a new training run

    def start(self, first_epoch):
        with self._lock:
            self.first, self.passes = int(first_epoch), 0
            self.starts += 1

    def next_key(self):
        with self._lock:
            key = self.first + self.passes
            self.passes += 1
            return key


class _Member:
    """One array of the (inputs, targets) structure: an ndarray or a PatchCache column."""

    def __init__(self, source, where):
        if isinstance(source, PatchCache):
            raise KitError(f"{where}: pass one array of the patch cache, e.g. cache['hs'], "
                           f"or cache.columns(...) for a dict")
        if not isinstance(source, PatchColumn):
            source = np.asarray(source)
            if source.ndim < 1 or not np.issubdtype(source.dtype, np.number):
                raise KitError(f"{where}: expected a numeric array with a sample axis, got {source.dtype} "
                               f"of shape {source.shape}")
        self.source, self.where = source, where
        self.sample_shape = tuple(source.shape[1:])
        self.spatial = len(self.sample_shape) >= 2

    def __len__(self):
        return len(self.source)

    def to_memory(self):
        if isinstance(self.source, PatchColumn):
            self.source = self.source.load()

    def sample(self, index):
        if isinstance(self.source, PatchColumn):
            return self.source.cache.patch(self.source.key, index)
        return self.source[index]

    @property
    def scale(self):
        return self.source.cache.scale if isinstance(self.source, PatchColumn) else 1.0


def _flatten(structure, where):
    """(members, rebuild) for an array, a tuple/list of arrays or a dict of arrays."""
    if isinstance(structure, dict):
        keys = list(structure)
        return ([_Member(structure[k], f"{where}[{k!r}]") for k in keys],
                lambda values: dict(zip(keys, values)))
    if isinstance(structure, (tuple, list)):
        return ([_Member(v, f"{where}[{i}]") for i, v in enumerate(structure)], tuple)
    return [_Member(structure, where)], lambda values: values[0]


class BatchSampler:
    """The batches of one epoch as NumPy arrays; shared by ``make_dataset`` and
    ``numpy_batches`` (see the module docstring)."""

    def __init__(self, inputs, targets, batch_size, shuffle=True, augment=True, seed=0,
                 drop_remainder=False, in_memory="auto"):
        self.inputs, self._rebuild_inputs = _flatten(inputs, "inputs")
        self.targets, self._rebuild_targets = _flatten(targets, "targets")
        self.members = self.inputs + self.targets
        counts = {len(m) for m in self.members}
        if len(counts) != 1:
            raise KitError("inputs and targets must hold the same number of samples, got "
                           + ", ".join(f"{m.where}: {len(m)}" for m in self.members))
        self.n = counts.pop()
        if int(batch_size) != batch_size or batch_size < 1:
            raise KitError(f"batch_size must be a positive integer, got {batch_size}")
        self.batch_size = int(batch_size)
        if self.n == 0 or (drop_remainder and self.n < self.batch_size):
            raise KitError(f"no complete batch: {self.n} samples for batch size {self.batch_size}")
        if augment:
            for m in self.members:
                if m.spatial and m.sample_shape[0] != m.sample_shape[1]:
                    raise KitError(f"{m.where}: flips and rotations need square patches, got "
                                   f"{m.sample_shape[:2]} (pass augment=False)")
        if int(seed) != seed or seed < 0:
            raise KitError(f"seed must be a non-negative integer, got {seed}")
        self.shuffle, self.augment, self.seed = shuffle, augment, int(seed)
        self.n_batches = self.n // self.batch_size if drop_remainder else math.ceil(self.n / self.batch_size)
        self._load(in_memory)

    def _load(self, in_memory):
        columns = [m for m in self.members if isinstance(m.source, PatchColumn)]
        if in_memory == "auto":
            in_memory = sum(m.source.nbytes for m in columns) <= _memory_budget()
        if in_memory:
            for m in columns:
                m.to_memory()

    @property
    def shapes(self):
        """Per-sample shapes of the flattened members (inputs then targets)."""
        return [m.sample_shape for m in self.members]

    def epoch_plan(self, key):
        """(order, ops): the sample order and each sample's symmetry for epoch ``key``."""
        rng = np.random.default_rng([self.seed, int(key)])
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        ops = rng.integers(0, N_SYMMETRIES, self.n) if self.augment else np.zeros(self.n, np.int64)
        return order, ops

    def flat_batch(self, key, index, plan=None):
        """Batch ``index`` of epoch ``key`` as a list of float32 arrays (inputs then targets)."""
        order, ops = self.epoch_plan(key) if plan is None else plan
        samples = np.sort(order[index * self.batch_size:(index + 1) * self.batch_size])
        batch = []
        for m in self.members:
            out = _aligned_empty((samples.size,) + m.sample_shape)
            if m.spatial:
                pixels = _pixels(out, axes=3)  # a view of out
            for j, i in enumerate(samples):
                x = m.sample(i)
                if not m.spatial:
                    out[j] = x
                    continue
                if x.dtype != np.float32:
                    x = x.astype(np.float32)
                pixels[j] = dihedral(_pixels(x), ops[i])
            if m.scale != 1.0:
                out *= np.float32(m.scale)
            batch.append(out)
        return batch

    def pack(self, flat):
        """(inputs, targets) in the caller's structure from the flat list of arrays."""
        k = len(self.inputs)
        return self._rebuild_inputs(list(flat[:k])), self._rebuild_targets(list(flat[k:]))


def _memory_budget():
    """MEMORY_BUDGET_BYTES, or half the available memory if that is less."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return MEMORY_BUDGET_BYTES
    return min(MEMORY_BUDGET_BYTES, available // 2)


def numpy_batches(inputs, targets, batch_size, shuffle=True, augment=True, seed=0, epochs=1,
                  drop_remainder=False, in_memory="auto", first_epoch=0):
    """Yield ``(inputs, targets)`` NumPy batches for epochs ``first_epoch`` to
    ``first_epoch + epochs - 1`` (``epochs=None``: forever), the same batches
    ``make_dataset`` builds for those epochs (epoch e uses key e)."""
    sampler = BatchSampler(inputs, targets, batch_size, shuffle, augment, seed, drop_remainder, in_memory)
    epoch = first_epoch
    while epochs is None or epoch < first_epoch + epochs:
        plan = sampler.epoch_plan(epoch)
        for b in range(sampler.n_batches):
            yield sampler.pack(sampler.flat_batch(epoch, b, plan))
        epoch += 1


def _split_between_replicas(sampler, drop_remainder):
    """Under ``--distribute`` with N replicas every batch is split into N equal parts
    (``common.distribute.check_batch_size``): a last, smaller batch is dropped, and data
    smaller than one batch become one batch of the largest multiple of N they hold.
    Returns the ``drop_remainder`` that now holds (True)."""
    from common import distribute

    if distribute.active().replicas <= 1:
        return drop_remainder
    distribute.check_batch_size(sampler.batch_size)
    if sampler.n < sampler.batch_size:
        if distribute.even_count(sampler.n) == 0:
            raise KitError(f"{sampler.n} sample(s) cannot be split between {distribute.active().replicas} "
                           f"replicas (--distribute)")
        sampler.batch_size = distribute.even_count(sampler.n)
    sampler.n_batches = sampler.n // sampler.batch_size
    return True


FRONT_ENDS = ("auto", "tf.data", "pydataset")


def default_workers():
    """Threads of the ``PyDataset`` front end: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def make_dataset(inputs, targets, batch_size, shuffle=True, augment=True, seed=0, repeat=False,
                 drop_remainder=False, in_memory="auto", front_end="auto", workers="auto"):
    """The ``(inputs, targets)`` float32 batches for ``model.fit``: a ``tf.data.Dataset``,
    or a ``BatchDataset`` (``keras.utils.PyDataset``) where TensorFlow is not installed.

    inputs, targets: an array (N, ...), a tuple of arrays, or a dict of arrays (Keras
        multi-input / multi-output); any array may be a ``PatchCache`` column.
    shuffle: a new order every epoch. augment: random flips / quarter turns, the same
        for every array of a sample. repeat: loop forever (use ``steps_per_epoch``).
    drop_remainder: drop the last, smaller batch (static batch dimension); always done
        under ``--distribute`` with several replicas (see ``_split_between_replicas``).
    in_memory: True, False or 'auto' (read a PatchCache into RAM when it fits).
    front_end: 'auto' (tf.data if TensorFlow imports, else 'pydataset'), 'tf.data' or
        'pydataset'. Both deliver the same batches for the same epoch.
    workers: threads building batches ahead in the 'pydataset' front end ('auto':
        ``default_workers()``; 0: none, each batch built when Keras asks for it).
    """
    if front_end not in FRONT_ENDS:
        raise KitError(f"unknown front_end {front_end!r}; choose one of {FRONT_ENDS}")
    sampler = BatchSampler(inputs, targets, batch_size, shuffle, augment, seed, drop_remainder, in_memory)
    drop_remainder = _split_between_replicas(sampler, drop_remainder)
    if front_end == "pydataset" or (front_end == "auto" and not has_tensorflow()):
        return BatchDataset(sampler, repeat=repeat, workers=default_workers() if workers == "auto" else workers)
    return _tf_dataset(sampler, repeat, drop_remainder)


def _tf_dataset(sampler, repeat, drop_remainder):
    """``sampler``'s batches through tf.data: a parallel, ordered map and a prefetch."""
    import tensorflow as tf

    plan = functools.lru_cache(maxsize=4)(sampler.epoch_plan)  # one permutation per epoch

    def load(key, index):
        key = int(key) % 2**63
        return sampler.flat_batch(key, int(index), plan(key))

    batch_dim = sampler.batch_size if drop_remainder else None
    shapes = [(batch_dim,) + s for s in sampler.shapes]

    def tf_load(key, index):
        flat = tf.numpy_function(load, [key, index], [tf.float32] * len(shapes), stateful=False)
        for tensor, shape in zip(flat, shapes):
            tensor.set_shape(shape)
        return sampler.pack(flat)

    n_batches = sampler.n_batches
    clock = EpochClock()

    def first_key(_):
        key = tf.numpy_function(lambda: np.int64(clock.next_key()), [], tf.int64, stateful=True)
        key.set_shape(())
        return key

    # One clock reading per iterator: its first pass gets that key, a repeating
    # iterator's later passes the keys after it.
    def passes(key):
        return tf.data.Dataset.range(key, np.iinfo(np.int64).max if repeat else key + 1)

    keys = tf.data.Dataset.from_tensors(np.int64(0)).map(first_key).flat_map(passes)
    batches = keys.flat_map(lambda key: tf.data.Dataset.range(n_batches).map(lambda b: (key, b)))
    dataset = batches.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # flat_map hides the length: state it, so Keras knows the steps of an epoch
    cardinality = tf.data.INFINITE_CARDINALITY if repeat else n_batches
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(cardinality))
    options = tf.data.Options()
    # Several machines (MultiWorkerMirroredStrategy): each worker keeps its share of every
    # global batch; there are no files to split between them.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
    dataset.epoch_clock = clock
    return dataset


class BatchDataset(keras.utils.PyDataset):
    """``make_dataset``'s front end without TensorFlow (the JAX-only GPU host).

    Keras asks for batches 0, 1, 2, ... of a pass in order, in the training thread; each
    answer is ``sampler.flat_batch(key, index)``, the batch tf.data builds for that pass,
    and ``workers`` threads build the next batches meanwhile (NumPy's copies release the
    GIL; ``workers=0`` builds each batch when it is asked for). The pass key is read from
    ``epoch_clock`` when batch 0 is asked for, as tf.data reads it when an iterator
    starts; with ``repeat`` (endless: Keras keeps counting
    across epochs) index i is batch ``i % n`` of pass ``key + i // n``. Keras' own
    worker pool is not used: it fetches out of order, so a pass would not know its key,
    and its endless mode keeps the indices a first look at the data consumed. On a GPU,
    Keras' JAX trainer copies the next batch to the device while the current step runs.
    """

    def __init__(self, sampler, repeat=False, workers=1):
        if int(workers) != workers or workers < 0:
            raise KitError(f"workers must be a non-negative integer, got {workers}")
        super().__init__(workers=1, use_multiprocessing=False)  # Keras calls us in order
        self.sampler, self.repeat, self.threads = sampler, bool(repeat), int(workers)
        self.epoch_clock = EpochClock()
        self._plan = functools.lru_cache(maxsize=4)(sampler.epoch_plan)
        self._key = None
        self._pending = {}  # (key, batch index) -> Future
        self._pool = None

    @property
    def num_batches(self):
        return None if self.repeat else self.sampler.n_batches

    def __len__(self):
        """Batches in one pass over the data."""
        return self.sampler.n_batches

    def _locate(self, index):
        """(pass key, batch index in the pass) of the ``index``-th request."""
        n = self.sampler.n_batches
        if self.repeat:
            return self._key + index // n, index % n
        return self._key, index

    def _build(self, key, batch):
        return self.sampler.pack(self.sampler.flat_batch(key, batch, self._plan(key)))

    def __getitem__(self, index):
        index = int(index)
        if not self.repeat and not 0 <= index < self.sampler.n_batches:
            raise IndexError(f"batch {index} of a pass of {self.sampler.n_batches}")
        if index == 0 or self._key is None:  # a new pass (or a new endless iterator)
            self._key = self.epoch_clock.next_key()
            for future in self._pending.values():
                future.cancel()
            self._pending.clear()
        where = self._locate(index)
        if self.threads == 0:
            return self._build(*where)
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="batches")
        last = index + self.threads  # one batch in the making per thread
        if not self.repeat:
            last = min(last, self.sampler.n_batches - 1)  # the next pass's key is not known yet
        for ahead in range(index, last + 1):
            ahead_where = self._locate(ahead)
            if ahead_where not in self._pending:
                self._pending[ahead_where] = self._pool.submit(self._build, *ahead_where)
        return self._pending.pop(where).result()

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
