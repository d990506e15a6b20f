"""Benchmark every network of the kit: size, FLOPs, training and inference speed, memory,
and the input pipeline next to what the network consumes.

    python -m common.bench [--models unet_ms,drcnn_sam/vdsr] [--backend tensorflow|jax]
                           [--jit | --no-jit] [--mixed-precision bf16] [--steps 10]
                           [--warmup 2] [--batch N | --max-batch N] [--image HxW]
                           [--fit] [--quick] [--out DIR] [--list]

For each paper's network and each network baseline (``--list`` names them), built from
the paper profile of its ``config.py`` (``--quick``: the tiny ``smoke`` profile and small
images, for a smoke run), at the profile's patch size and batch:

- parameters (every stored value) and analytic forward FLOPs of one training sample
  (``common.flops``; training = 3x forward);
- training samples/s: ``train_on_batch`` of the network compiled with its paper's loss
  and optimizer, on one random batch converted to backend tensors once (resident in
  memory, on the device when there is one), ``--warmup`` steps first (the first one
  traces and compiles; its time is reported as ``compile_s``), then ``--steps`` timed;
- full-image inference: one forward pass over a 482x512 image for RGB -> HS and 512x512
  for super-resolution and fusion, padded to the multiple the network needs as
  ``common.inference.predict_full`` pads (median of ``--infer-repeats`` calls after one
  warm-up call);
- peak memory: the resident set size of this process, sampled every few milliseconds
  during each phase, minus its value at the start of the phase (``tracemalloc`` would
  miss the backends' own allocations); on a GPU, the device's peak as the backend
  reports it;
- the input pipeline (``data_prep.pipeline.make_dataset``: tf.data, shuffle, flips and
  rotations, batch, prefetch; ``numpy_batches`` where TensorFlow is missing) on random
  patches of the same shapes held in memory: patches/s, patches per CPU-second of this
  process (independent of how loaded the machine is) and the ratio to the network's
  training rate (above 1: the pipeline keeps up);
- with ``--fit``, ``model.fit`` fed by that pipeline (the kit's training path) as a
  share of the bare step's rate;
- the machine's matrix-multiply rate in the same precision (best of 5 runs), so that
  every achieved GFLOP/s is also given as a fraction of it.

On a small CPU, ``--max-batch 8`` caps the paper batches (128 for unet_ms) and
``--image 128x128`` shrinks the whole images; the report says so. Rates per CPU-second
of this process are given next to the wall-clock ones: on a shared machine they move
much less with the load.

Results go to ``<out>/bench.json`` and ``<out>/bench.md`` (default
``results/bench/<timestamp>/``), both written atomically. A network that cannot be built
or run gets a row with the error, and the others still run. ``--backend`` sets
``KERAS_BACKEND`` before Keras is imported (in a child process when Keras is already
loaded with another backend). Timings are wall clock: on a shared machine they move with
its load, which the JSON records (load average before and after).
"""

import argparse
import dataclasses
import datetime
import fnmatch
import gc
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from common.io import KitError, atomic_write_json, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax")

#: Whole-image sizes (height, width) of the issue: ARAD / NTIRE 2020 images for RGB -> HS,
#: 512 x 512 (CAVE) for super-resolution and fusion; ``--quick`` uses small ones.
FULL_IMAGE = {"rgb2hs": (482, 512), "sr": (512, 512), "fusion": (512, 512)}
QUICK_FULL_IMAGE = {"rgb2hs": (40, 48), "sr": (48, 48), "fusion": (64, 64)}
#: Random patches held for the pipeline benchmark: at most this many bytes, 4 batches.
PIPELINE_BUDGET_BYTES = 256 * 1024**2
MEMORY_SAMPLE_SECONDS = 0.005


# ============================================================================ cases
@dataclasses.dataclass
class Case:
    """One network to benchmark, as its paper profile trains and runs it.

    Shapes are per sample (no batch axis): a tuple for one input, a list of tuples or a
    dict (keyed like the model's inputs) for several.
    """

    name: str
    task: str  # 'rgb2hs', 'sr' or 'fusion': picks the whole-image size
    model: object  # the keras.Model whose train step is timed
    compile: object  # compile(model, jit_compile) with the paper's loss and optimizer
    inputs: object  # per-sample input shapes of a training batch
    batch: int
    inference: object  # the keras.Model run on a whole image
    full_inputs: object  # per-sample input shapes of one whole image (padded)
    full_label: str  # e.g. "482x512 (padded to 496x512)"
    flop_parts: list  # [(functional model, input shapes)]: the forward pass of one sample
    full_images: int = 1  # samples in one whole image (31 grey bands for band-wise nets)
    full_chunk: int = 0  # run the whole image in chunks of this many samples (0: at once)
    data_range: tuple = (0.0, 1.0)
    steps_multiple: int = 1  # timed steps rounded up to a multiple of this
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Sizes:
    """What the case builders take from the command line."""

    quick: bool = False  # the papers' ``smoke`` profiles instead of ``paper``
    image: tuple = None  # (h, w) of the whole image instead of FULL_IMAGE


def profile_name(sizes):
    return "smoke" if sizes.quick else "paper"


def _padded(size, multiple):
    return tuple(int(math.ceil(s / multiple) * multiple) for s in size)


def full_image(task, sizes, multiple=1, scale=1):
    """(padded (h, w) at the network's input, label) of the whole-image benchmark.

    ``scale``: the input is ``scale`` times smaller than the image (a network that works
    on the low-resolution grid)."""
    size = tuple(sizes.image or (QUICK_FULL_IMAGE if sizes.quick else FULL_IMAGE)[task])
    padded = _padded(size, multiple * scale)
    label = f"{size[0]}x{size[1]}"
    if padded != size:
        label += f" (padded to {padded[0]}x{padded[1]})"
    return tuple(s // scale for s in padded), label


def adam(learning_rate, **kwargs):
    import keras

    return keras.optimizers.Adam(learning_rate, **kwargs)


def all_cases():
    """{case name: builder(sizes) -> Case} of every paper in the registry
    (``Paper.bench_cases``): each paper's own network, then its network baselines
    (``<paper>/<network>``). The papers' non-network baselines (least squares, spline,
    bicubic) are not benchmarked."""
    from common.paper import all_papers

    cases = {}
    for paper in all_papers():
        cases.update(paper.bench_cases())
    return cases


def select_cases(spec, cases=None):
    """Case names matching ``--models`` (comma-separated names or shell patterns)."""
    cases = all_cases() if cases is None else cases
    if not spec or spec == "all":
        return list(cases)
    chosen = []
    for pattern in (p.strip() for p in spec.split(",") if p.strip()):
        matches = [name for name in cases if fnmatch.fnmatchcase(name, pattern)]
        if not matches:
            raise KitError(f"--models: no network named {pattern!r}; choose from {', '.join(cases)}")
        chosen += [m for m in matches if m not in chosen]
    return chosen


# ============================================================================ shapes, data
def _map_shapes(fn, shapes):
    """``fn`` on each shape: a dict or a list of shapes, or one shape (a tuple)."""
    if isinstance(shapes, dict):
        return {k: fn(v) for k, v in shapes.items()}
    if isinstance(shapes, list):
        return [fn(v) for v in shapes]
    return fn(shapes)


def _flat_shapes(shapes):
    if isinstance(shapes, dict):
        return list(shapes.values())
    return list(shapes) if isinstance(shapes, list) else [shapes]


def _shape_label(shapes):
    def one(shape):
        return "x".join(str(d) for d in shape)

    if isinstance(shapes, dict):
        return ", ".join(f"{k} {one(v)}" for k, v in shapes.items())
    return ", ".join(one(s) for s in _flat_shapes(shapes))


def output_shapes(model, inputs):
    """Per-sample output shapes of ``model`` for per-sample ``inputs``, from a symbolic call."""
    import keras

    spec = _map_shapes(lambda s: keras.KerasTensor((1, *s)), inputs)
    outputs = model.compute_output_spec(spec)
    return _map_nested(lambda t: tuple(t.shape[1:]), outputs)


def _map_nested(fn, tree):
    """``fn`` on each leaf of a dict, a list/tuple (-> list) or a single value."""
    if isinstance(tree, dict):
        return {k: fn(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [fn(v) for v in tree]
    return fn(tree)


def random_batch(shapes, batch, rng, data_range=(0.0, 1.0)):
    """Uniform random float32 arrays of (batch, *shape) in the structure of ``shapes``."""
    lo, hi = data_range

    def make(shape):
        return (lo + (hi - lo) * rng.random((batch, *shape), dtype=np.float32)).astype(np.float32)

    return _map_shapes(make, shapes)


def _to_backend(arrays):
    import keras

    return _map_nested(keras.ops.convert_to_tensor, arrays)


def _nbytes(shapes):
    return 4 * sum(math.prod(s) for s in _flat_shapes(shapes))


# ============================================================================ memory
def _rss_bytes():
    """Current resident set size of this process (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _max_rss_bytes():
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


class DeviceMemory:
    """Peak accelerator memory through the backend, where there is an accelerator."""

    def __init__(self, backend):
        self.backend, self.device = backend, None
        try:
            if backend == "jax":
                import jax

                device = jax.devices()[0]
                if device.platform != "cpu" and device.memory_stats():
                    self.device = device
            elif backend == "tensorflow":
                import tensorflow as tf

                if tf.config.list_logical_devices("GPU"):
                    self.device = "GPU:0"
        except Exception:  # noqa: BLE001 - no statistics: report none
            self.device = None

    @property
    def available(self):
        return self.device is not None

    def reset(self):
        if self.backend == "tensorflow" and self.device:
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats(self.device)

    def peak_bytes(self):
        """TensorFlow: peak since ``reset``. JAX cannot reset it: peak since the start."""
        if not self.device:
            return None
        if self.backend == "jax":
            return self.device.memory_stats().get("peak_bytes_in_use")
        import tensorflow as tf

        return tf.config.experimental.get_memory_info(self.device)["peak"]


class PeakMemory:
    """Peak RSS during a ``with`` block minus the RSS at its start (bytes, ``.delta``),
    sampled every ``MEMORY_SAMPLE_SECONDS`` in a thread; without /proc, the growth of
    the process's high-water mark (``ru_maxrss``), which misses peaks below an earlier
    one. With a ``DeviceMemory``, ``.device_peak`` is the accelerator's peak."""

    def __init__(self, device=None):
        self.device = device
        self.delta = self.device_peak = None

    def __enter__(self):
        if self.device is not None:
            self.device.reset()
        self._start = _rss_bytes()
        self._peak = self._start
        self._stop = threading.Event()
        if self._start is None:
            self._start_max = _max_rss_bytes()
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(MEMORY_SAMPLE_SECONDS):
            self._peak = max(self._peak, _rss_bytes() or 0)

    def __exit__(self, *exc):
        self._stop.set()
        if self._start is None:
            self.delta = max(_max_rss_bytes() - self._start_max, 0)
        else:
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes() or 0)
            self.delta = max(self._peak - self._start, 0)
        if self.device is not None:
            self.device_peak = self.device.peak_bytes()
        return False


def _mb(value):
    return None if value is None else round(value / 2**20, 1)


# ============================================================================ measurements
def matmul_peak(n, dtype, repeats, trials=5):
    """GFLOP/s of n x n matrix products (2 n^3 FLOPs each) in ``dtype``: the best of
    ``trials`` runs of ``repeats`` products (other processes can only slow a run down)."""
    import keras

    a = keras.random.normal((n, n), dtype=dtype, seed=1)
    b = keras.random.normal((n, n), dtype=dtype, seed=2)

    def wait(c):  # one element back to the host: waits for the device
        keras.ops.convert_to_numpy(keras.ops.cast(c[0, 0], "float32"))

    wait(keras.ops.matmul(a, b))  # warm-up (and compilation)
    best = 0.0
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            c = keras.ops.matmul(a, b)
        wait(c)
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def measure_training(case, x, y, steps, warmup, device):
    """Train steps on one resident batch: (samples/s, compile seconds, last loss, memory)."""
    model = case.model
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        model.train_on_batch(x, y)
        compile_s = time.perf_counter() - start
        for _ in range(max(warmup - 1, 0)):
            model.train_on_batch(x, y)
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            logs = model.train_on_batch(x, y, return_dict=True)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return {
        "samples_per_s": steps * case.batch / elapsed,
        "samples_per_cpu_s": steps * case.batch / cpu if cpu > 0 else None,
        "step_ms": 1000 * elapsed / steps,
        "compile_s": compile_s,
        "last_loss": float(np.asarray(logs["loss"])),
        "peak_rss_mb": _mb(memory.delta),
        "peak_device_mb": _mb(memory.device_peak),
    }


def measure_inference(case, x, repeats, device):
    """Whole-image forward passes: (median ms, first-call seconds, memory)."""
    model, chunk = case.inference, case.full_chunk or case.full_images

    def forward():
        for i in range(0, case.full_images, chunk):
            out = model.predict_on_batch(_map_nested(lambda a: a[i:i + chunk], x))
        return out

    with PeakMemory(device) as memory:
        start = time.perf_counter()
        forward()
        first = time.perf_counter() - start
        times, cpu_times = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            forward()
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - start_cpu)
    return {
        "ms": 1000 * statistics.median(times),
        "cpu_s": statistics.median(cpu_times),
        "first_call_s": first,
        "peak_rss_mb": _mb(memory.delta),
        "peak_device_mb": _mb(memory.device_peak),
    }


def patch_pool(case, target_shapes, rng):
    """Random in-memory (inputs, targets) patches for the pipeline: 4 batches or
    ``PIPELINE_BUDGET_BYTES``, whichever is smaller (at least one batch)."""
    per_sample = _nbytes(case.inputs) + _nbytes(target_shapes)
    n = max(case.batch, min(4 * case.batch, PIPELINE_BUDGET_BYTES // per_sample))
    inputs, targets = random_batch(case.inputs, n, rng), random_batch(target_shapes, n, rng)
    as_keras = lambda arrays: tuple(arrays) if isinstance(arrays, list) else arrays  # noqa: E731
    return as_keras(inputs), as_keras(targets), n


def input_pipeline(inputs, targets, batch):
    """(endless batches, front end): the kit's ``make_dataset``, shuffled and augmented
    (flips, quarter turns) every epoch: tf.data, or ``BatchDataset`` without TensorFlow."""
    from data_prep import pipeline

    dataset = pipeline.make_dataset(inputs, targets, batch, repeat=True, shuffle=True, augment=True,
                                    drop_remainder=True, in_memory=True)
    if isinstance(dataset, pipeline.BatchDataset):
        return dataset, f"BatchDataset ({dataset.threads} threads)"
    return dataset, "tf.data"


def measure_pipeline(batches, batch, n_batches):
    """Patches per second (wall clock and per CPU-second of this process) of ``batches``."""
    batches = iter(batches)  # a PyDataset iterates as Keras reads it: batch 0, 1, 2, ...
    for _ in range(2):
        next(batches)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(n_batches):
        next(batches)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    patches = n_batches * batch
    return {"patches_per_s": patches / elapsed, "patches_per_cpu_s": patches / cpu if cpu > 0 else None}


def measure_fit(case, batches, steps, warmup, steps_per_execution=1):
    """Samples/s of ``model.fit`` fed by the input pipeline (the kit's training path),
    timed from the end of the ``warmup`` steps to the end of the last one. With
    ``steps_per_execution`` N > 1 Keras runs N steps per call of the compiled step (one
    host round trip and one callback per N steps); warm-up and timed steps are rounded
    up to multiples of N."""
    import keras

    executions = -(-warmup // steps_per_execution), -(-steps // steps_per_execution)
    if steps_per_execution != 1:
        case.model.steps_per_execution = steps_per_execution
        case.model.make_train_function(force=True)
    ends = []  # (wall, CPU) time at the end of every execution

    def stamp(batch, logs):
        ends.append((time.perf_counter(), time.process_time()))

    case.model.fit(batches, epochs=1, steps_per_epoch=sum(executions) * steps_per_execution, shuffle=False,
                   verbose=0, callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=stamp)])
    (wall0, cpu0), (wall1, cpu1) = ends[executions[0] - 1], ends[-1]
    samples = executions[1] * steps_per_execution * case.batch
    return {"samples_per_s": samples / (wall1 - wall0), "steps_per_execution": steps_per_execution,
            "samples_per_cpu_s": samples / (cpu1 - cpu0) if cpu1 > cpu0 else None}


def flops_of(case):
    from common.flops import count_flops

    counts = [count_flops(model, shapes) for model, shapes in case.flop_parts]
    uncounted = sorted({u for c in counts for u in c.uncounted})
    inference = count_flops(case.inference, case.full_inputs)
    return {
        "forward": counts[0].forward,  # the network itself (G for the GAN)
        "train_forward": sum(c.forward for c in counts),
        "train": sum(c.training for c in counts),
        "full_image": inference.forward * case.full_images,
        "uncounted": sorted(set(uncounted) | set(inference.uncounted)),
    }


def _params(case):
    """Stored values of the networks of a training step (G and D for the GAN)."""
    models = {id(model): model for model, _ in case.flop_parts}
    return int(sum(model.count_params() for model in models.values()))


def bench_case(name, args, device, peak_gflops, rng, log):
    """Build, measure and describe one network; a failure becomes the row's ``error``."""
    import keras

    row = {"model": name}
    try:
        log(f"{name}: building")
        case = all_cases()[name](Sizes(quick=args.quick, image=args.image))
        row["paper_batch"] = case.batch
        if args.batch:
            case.batch = args.batch
        elif args.max_batch:
            case.batch = min(case.batch, args.max_batch)
        steps = -(-args.steps // case.steps_multiple) * case.steps_multiple
        row.update(task=case.task, batch=case.batch, patch=_shape_label(case.inputs), notes=list(case.notes))
        row["params"] = _params(case)
        row["flops"] = flops_of(case)
        targets = output_shapes(case.model, case.inputs)
        case.compile(case.model, args.jit)
        if case.inference is not case.model:
            case.inference.compile(jit_compile="auto" if args.jit is None else args.jit)
        row["jit_compile"] = bool(case.model.jit_compile)
        row["output_dtype"] = str(keras.tree.flatten(case.inference.outputs)[0].dtype)

        log(f"{name}: training, batch {case.batch}, {row['patch']}, {steps} timed steps")
        x = _to_backend(random_batch(case.inputs, case.batch, rng, case.data_range))
        y = _to_backend(random_batch(targets, case.batch, rng, case.data_range))
        train = measure_training(case, x, y, steps, args.warmup, device)
        train["gflops_per_s"] = row["flops"]["train"] * train["samples_per_s"] / 1e9
        train["fraction_of_peak"] = train["gflops_per_s"] / peak_gflops if peak_gflops else None
        row["train"] = train
        del x, y

        log(f"{name}: whole image {case.full_label}")
        full = random_batch(case.full_inputs, case.full_images, rng, case.data_range)
        infer = measure_inference(case, full, args.infer_repeats, device)
        infer["image"] = case.full_label
        infer["gflops_per_s"] = row["flops"]["full_image"] / (infer["ms"] / 1000) / 1e9
        infer["fraction_of_peak"] = infer["gflops_per_s"] / peak_gflops if peak_gflops else None
        row["inference"] = infer
        del full

        log(f"{name}: input pipeline")
        inputs, targets, row_pool = patch_pool(case, targets, rng)
        batches, front = input_pipeline(inputs, targets, case.batch)
        pipe = measure_pipeline(batches, case.batch, args.pipeline_batches)
        pipe.update(front=front, pool=row_pool,
                    ratio_to_training=pipe["patches_per_s"] / train["samples_per_s"])
        row["pipeline"] = pipe
        if args.fit:
            log(f"{name}: fit from the pipeline, {steps} timed steps")
            fit = measure_fit(case, batches, steps, args.warmup, args.steps_per_execution)
            fit["fraction_of_bare_step"] = fit["samples_per_s"] / train["samples_per_s"]
            row["fit"] = fit
    except Exception as error:  # noqa: BLE001 - one broken network must not stop the others
        row["error"] = f"{type(error).__name__}: {error}"
        log(f"{name}: FAILED {row['error']}")
    finally:
        keras.backend.clear_session()
        gc.collect()
    return row


# ============================================================================ report
def machine_info(backend):
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "cpu": _cpu_model(), "accelerator": None}
    try:
        if backend == "jax":
            import jax

            devices = jax.devices()
            info["backend_version"] = jax.__version__
            if devices[0].platform != "cpu":
                info["accelerator"] = f"{len(devices)} x {devices[0].device_kind}"
        else:
            import tensorflow as tf

            info["backend_version"] = tf.__version__
            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                info["accelerator"] = f"{len(gpus)} x {details.get('device_name', 'GPU')}"
    except Exception as error:  # noqa: BLE001
        info["accelerator_error"] = str(error)
    return info


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _fmt(value, digits=0, suffix=""):
    if value is None:
        return "-"
    if isinstance(value, float) and digits == 0:
        return f"{value:,.0f}{suffix}"
    return f"{value:,.{digits}f}{suffix}"


def _rate(value):
    """Samples or patches per second: 3 significant digits."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _overrides(settings):
    text = ""
    if settings.get("batch_override"):
        text += f", batch {settings['batch_override']} for every network"
    elif settings.get("max_batch"):
        text += f", batches capped at {settings['max_batch']}"
    if settings.get("image_override"):
        text += f", whole images {settings['image_override'][0]}x{settings['image_override'][1]}"
    return text


def _fit_cell(fit):
    if not fit:
        return "-"
    return (f"{_rate(fit['samples_per_s'])} ({100 * fit['fraction_of_bare_step']:.0f}%; "
            f"{_rate(fit['samples_per_cpu_s'])} per CPU-s)")


def markdown_table(report):
    """The summary table of a report (one row per network) plus notes and failures."""
    lines = [
        "| network | params | batch x sample | fwd GFLOP/sample | train samples/s (per CPU-s) | "
        "train GFLOP/s (% of matmul) | compile s | whole image | inference ms (CPU s) | inference GFLOP/s | "
        "peak RSS train / infer MB | pipeline patches/s (per CPU-s) | pipeline / training | "
        "fit samples/s (% of step; per CPU-s) |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    failures, notes = [], []
    for row in report["results"]:
        if "error" in row:
            failures.append(f"- `{row['model']}`: {row['error']}")
            continue
        t, i, p, f = row["train"], row["inference"], row["pipeline"], row["flops"]
        share = "" if t["fraction_of_peak"] is None else f" ({100 * t['fraction_of_peak']:.0f}%)"
        lines.append(
            f"| {row['model']} | {row['params']:,} | {row['batch']} x {row['patch']} | "
            f"{f['forward'] / 1e9:.3g} | {_rate(t['samples_per_s'])} ({_rate(t['samples_per_cpu_s'])}) | "
            f"{t['gflops_per_s']:.3g}{share} | "
            f"{t['compile_s']:.1f} | {i['image']} | {_fmt(i['ms'], 1)} ({i['cpu_s']:.3g}) | "
            f"{i['gflops_per_s']:.3g} | "
            f"{_fmt(t['peak_rss_mb'])} / {_fmt(i['peak_rss_mb'])} | "
            f"{_rate(p['patches_per_s'])} ({_rate(p['patches_per_cpu_s'])}) | {p['ratio_to_training']:.2g} | "
            f"{_fit_cell(row.get('fit'))} |"
        )
        notes += [f"- `{row['model']}`: {note}" for note in row.get("notes", [])]
        if f["uncounted"]:
            notes.append(f"- `{row['model']}`: layers without a FLOP rule (counted 0): "
                         f"{', '.join(f['uncounted'])}")
    settings = report["settings"]
    peak = report["matmul_peak"]
    header = [
        f"Backend {settings['backend']} {report['machine'].get('backend_version', '')}, Keras "
        f"{settings['keras_version']}, precision {settings['precision']}, jit_compile "
        f"{settings['jit']}, {settings['steps']} timed steps after {settings['warmup']} warm-up"
        f"{', quick sizes' if settings['quick'] else ''}{_overrides(settings)}; "
        f"matmul peak {peak['gflops']:.3g} GFLOP/s "
        f"({peak['n']}x{peak['n']}, {peak['dtype']}). Load average {report['load_average']['start']} "
        f"at the start, {report['load_average']['end']} at the end, on {report['machine']['cpu_count']} "
        f"cores; accelerator: {report['machine']['accelerator'] or 'none'}.",
        "",
    ]
    text = "\n".join(header + lines)
    if notes:
        text += "\n\nNotes:\n" + "\n".join(notes)
    if failures:
        text += "\n\nNot measured:\n" + "\n".join(failures)
    return text + "\n"


# ============================================================================ command line
def make_parser():
    parser = argparse.ArgumentParser(prog="python -m common.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all",
                        help="comma-separated networks or patterns (e.g. 'unet_ms,drcnn_sam/*'); "
                             "--list names them")
    parser.add_argument("--list", action="store_true", help="list the networks and exit")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="Keras backend (default: KERAS_BACKEND, else Keras' default)")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                        help="jit_compile (XLA) on or off (default: Keras' 'auto')")
    parser.add_argument("--mixed-precision", choices=("bf16",), default=None,
                        help="Keras 'mixed_bfloat16' policy (default: float32)")
    parser.add_argument("--steps", type=_positive, default=None,
                        help="timed training steps (default 10, quick 2)")
    parser.add_argument("--warmup", type=_positive, default=None,
                        help="untimed steps first, the first one compiles (default 2, quick 1)")
    parser.add_argument("--infer-repeats", type=_positive, default=None,
                        help="timed whole-image passes (default 3, quick 1)")
    parser.add_argument("--pipeline-batches", type=_positive, default=None,
                        help="timed pipeline batches (default 20, quick 3)")
    parser.add_argument("--batch", type=_positive, default=None, help="override every network's batch size")
    parser.add_argument("--max-batch", type=_positive, default=None,
                        help="cap every network's batch size (keeps smaller paper batches)")
    parser.add_argument("--image", type=_image_size, default=None,
                        help="whole-image size HxW instead of 482x512 / 512x512 (e.g. 128x128 on a CPU)")
    parser.add_argument("--fit", action="store_true",
                        help="also time model.fit fed by the input pipeline (the kit's training path)")
    parser.add_argument("--steps-per-execution", type=_positive, default=1,
                        help="steps per call of the compiled training step in the --fit timing (Keras "
                             "compile(steps_per_execution=...); default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny networks and images (smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="output folder (default results/bench/<timestamp>)")
    return parser


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _image_size(text):
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 482x512, got {text!r}") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"expected positive sides, got {text!r}")
    return height, width


def _defaults(args):
    quick = args.quick
    for field, normal, small in (("steps", 10, 2), ("warmup", 2, 1), ("infer_repeats", 3, 1),
                                 ("pipeline_batches", 20, 3)):
        if getattr(args, field) is None:
            setattr(args, field, small if quick else normal)
    return args


def child_env(**overrides):
    """This process's environment for a benchmark child process: the repository first on
    ``PYTHONPATH`` (so ``python -m common...`` imports the kit), plus ``overrides``."""
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **overrides)


def _reexec(argv, backend):
    """Run the benchmark in a child process with ``KERAS_BACKEND=backend``."""
    return subprocess.call([sys.executable, "-m", "common.bench", *argv], env=child_env(KERAS_BACKEND=backend),
                           cwd=REPO_ROOT)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _defaults(make_parser().parse_args(argv))
    if args.list:
        print("\n".join(all_cases()))
        return 0
    names = select_cases(args.models)
    if args.backend:
        loaded = sys.modules.get("keras")
        if loaded is not None and loaded.backend.backend() != args.backend:
            return _reexec(argv, args.backend)
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise KitError(f"common.bench runs on the tensorflow or jax backend, not {backend}")
    started = time.perf_counter()

    def log(message):
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    out = Path(args.out) if args.out else REPO_ROOT / "results" / "bench" / datetime.datetime.now().strftime(
        "%Y%m%d-%H%M%S")
    precision = "mixed_bfloat16" if args.mixed_precision == "bf16" else "float32"
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(args.seed)
        rng = np.random.default_rng(args.seed)
        device = DeviceMemory(backend)
        load_start = round(os.getloadavg()[0], 2)
        machine = machine_info(backend)
        n = 512 if args.quick else (8192 if machine["accelerator"] else 1024)
        matmul_dtype = "bfloat16" if args.mixed_precision else "float32"
        log(f"backend {backend}, {precision}, jit {args.jit}; matmul peak at {n}x{n}")
        peak = matmul_peak(n, matmul_dtype, repeats=2 if args.quick else 4)
        results = [bench_case(name, args, device, peak, rng, log) for name in names]
    finally:
        keras.config.set_dtype_policy(previous_policy)

    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python -m common.bench " + shlex.join(argv),
        "machine": machine,
        "settings": {"backend": backend, "keras_version": keras.__version__, "precision": precision,
                     "jit": "auto" if args.jit is None else args.jit, "steps": args.steps,
                     "warmup": args.warmup, "infer_repeats": args.infer_repeats,
                     "pipeline_batches": args.pipeline_batches, "batch_override": args.batch,
                     "max_batch": args.max_batch, "image_override": args.image,
                     "quick": args.quick, "fit": args.fit,
                     "steps_per_execution": args.steps_per_execution, "seed": args.seed},
        "matmul_peak": {"gflops": peak, "n": n, "dtype": matmul_dtype},
        "load_average": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        "built": [r["model"] for r in results if "error" not in r],
        "failed": {r["model"]: r["error"] for r in results if "error" in r},
        "results": results,
        "seconds": time.perf_counter() - started,
    }
    table = markdown_table(report)
    atomic_write_json(out / "bench.json", report)
    atomic_write_text(out / "bench.md", f"# Benchmark\n\n`{report['command']}` ({report['date']})\n\n{table}")
    print(table)
    log(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    return 0


if __name__ == "__main__":
    from common.cli import run_main

    run_main(main)
