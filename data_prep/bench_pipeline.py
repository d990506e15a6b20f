"""Benchmark: 64x64 RGB -> 31-band training pairs per second through the input pipeline.

    python -m data_prep.bench_pipeline [--batches 40] [--batch-size 64] [--storage float32]
                                       [--workers 1,2] [--fit]

Builds (once) a patch cache of the synthetic training scenes, 64x64 patches with stride
40 as in unet_ms, RGB rendered with the NTIRE 2020 clean response, under
``cache/bench/``; then times ``make_dataset``'s front ends (shuffle, flips/rotations,
batch) reading the cache memory-mapped from disk and loaded into memory: tf.data (where
TensorFlow is installed) and ``BatchDataset``, the front end of hosts without TensorFlow,
with each ``--workers`` count of read-ahead threads, read in order as Keras reads it; and
the plain generator ``numpy_batches``. ``--fit`` also times ``model.fit`` of a 1x1
convolution (3 -> 31 channels, about 200 FLOPs a pixel) fed by each front end: the most
pairs per second the kit's training path can take from it on this backend. The target on
a 2-core CPU is 2,000 pairs per second.
"""

import argparse
import os
import time

import numpy as np

from data_prep.patches import PatchCache, extract_patch_pairs
from common.distribute import has_tensorflow
from data_prep.pipeline import make_dataset, numpy_batches
from data_prep.render import render_ntire2020_clean
from data_prep.synthetic import REPO_ROOT, SyntheticDataset

SIZE, STRIDE = 64, 40


def build_cache(storage):
    dataset = SyntheticDataset()
    names = dataset.split("train")
    provenance = {"dataset": dataset.describe(), "split": "train", "scale": 1,
                  "renderer": "ntire2020_clean", "sizes": {"rgb": SIZE, "hs": SIZE},
                  "strides": {"rgb": STRIDE, "hs": STRIDE}, "seed": 0}

    def patches():
        for name in names:
            cube = dataset.load(name).data
            yield extract_patch_pairs([{"rgb": render_ntire2020_clean(cube), "hs": cube}],
                                      {"rgb": SIZE, "hs": SIZE}, {"rgb": STRIDE, "hs": STRIDE})

    path = REPO_ROOT / "cache" / "bench" / f"rgb_hs_64_{storage}.h5"
    return PatchCache.build(path, provenance, patches, storage=storage)


def time_batches(iterator, n_batches, batch_size, warmup=5):
    """(pairs per wall-clock second, pairs per CPU second of this process).

    The second figure does not depend on how busy the machine is: on an idle machine
    with 2 cores, the wall-clock rate can reach up to twice it.
    """
    for _ in range(warmup):
        next(iterator)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(n_batches):
        inputs, targets = next(iterator)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    assert inputs.shape[1:] == (SIZE, SIZE, 3) and targets.shape[1:] == (SIZE, SIZE, 31)
    pairs = n_batches * batch_size
    return pairs / elapsed, pairs / cpu


def report(label, rates):
    wall, cpu = rates
    print(f"{label}: {wall:,.0f} pairs/s ({cpu:,.0f} pairs per CPU-second)", flush=True)


def time_fit(dataset, n_batches, batch_size, warmup=5):
    """(pairs per wall-clock second, per CPU second) of ``model.fit`` of a 1x1 convolution
    (a ``Dense`` layer on the channel axis) fed by ``dataset`` (endless), timed after
    ``warmup`` steps."""
    import keras

    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Dense(31)])
    model.compile(optimizer="sgd", loss="mse")
    ends = []
    stamp = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: ends.append((time.perf_counter(), time.process_time())))
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + n_batches, shuffle=False, verbose=0,
              callbacks=[stamp])
    (wall0, cpu0), (wall1, cpu1) = ends[warmup - 1], ends[-1]
    pairs = n_batches * batch_size
    return pairs / (wall1 - wall0), pairs / (cpu1 - cpu0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="timed batches per mode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--storage", default="float32", choices=("float32", "float16", "uint16"))
    parser.add_argument("--workers", default=f"0,1,{os.cpu_count()}",
                        help="read-ahead thread counts of the BatchDataset front end, comma-separated")
    parser.add_argument("--fit", action="store_true", help="also time model.fit of a 1x1 convolution")
    args = parser.parse_args(argv)

    import keras

    start = time.perf_counter()
    cache = build_cache(args.storage)
    print(f"cache: {cache.path} ({len(cache)} pairs, {args.storage}), ready in "
          f"{time.perf_counter() - start:.1f} s; Keras backend {keras.backend.backend()}")
    columns = (cache["rgb"], cache["hs"])
    front_ends = [("tf.data", "tf.data", None)] if has_tensorflow() else []
    front_ends += [(f"BatchDataset, {w} thread(s)", "pydataset", int(w)) for w in args.workers.split(",")]
    for label, in_memory in (("memory-mapped HDF5", False), ("loaded into memory", True)):
        for name, front_end, workers in front_ends:
            dataset = make_dataset(*columns, args.batch_size, repeat=True, in_memory=in_memory,
                                   front_end=front_end, workers=workers or "auto")
            # a PyDataset iterates as Keras reads it: batch 0, 1, 2, ...
            report(f"{name}, {label}", time_batches(iter(dataset), args.batches, args.batch_size))
            if args.fit:
                report("  model.fit of a 1x1 convolution fed by it",
                       time_fit(dataset, args.batches, args.batch_size))
    batches = numpy_batches(*columns, args.batch_size, epochs=None, in_memory=False)
    report("numpy_batches, memory-mapped HDF5", time_batches(batches, args.batches, args.batch_size))
    print(f"target: 2,000 pairs/s on 2 CPU cores; load average now {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
