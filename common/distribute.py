"""Training on several devices or machines: the ``--distribute`` option of every paper.

``--distribute mirrored`` chooses, by backend:

- TensorFlow: ``tf.distribute.MirroredStrategy`` over the local GPUs (the logical CPUs
  when there is no GPU). Several machines (``TF_CONFIG`` naming several workers) would
  take ``MultiWorkerMirroredStrategy``, but Keras 3's ``fit`` fails under it
  (keras-team/keras#20585, reproduced here with Keras 3.15 / TF 2.21 on two local
  workers), so that case stops with an error that says so. The strategy is made the global
  default (``tf.distribute.experimental_set_strategy``) before any model exists, so every
  model, optimizer and metric a paper builds afterwards is mirrored and ``fit`` splits
  each batch between the replicas: the paper folders hold no code of their own for it.
- JAX: ``keras.distribution.DataParallel`` over every device (``jax.devices()``), the
  model's variables replicated and each batch split along its first axis. Several hosts
  (not tried here: no second machine): ``keras.distribution.initialize()`` first, from the
  JAX coordinator variables
  (``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES``,
  ``KERAS_DISTRIBUTION_PROCESS_ID``).

The batch size of a profile stays the *global* batch: with N replicas each computes the
loss on 1/N of it and the gradients are summed over replicas of a loss that Keras scales
by 1/N, so a step is the step one device takes on the whole batch (the tests check the
loss trajectory on 2 logical CPUs against one device). JAX needs every batch to split
evenly: the pipelines then drop a last, smaller batch (``drop_remainder``).

``KIT_CPU_DEVICES=N`` splits the CPU into N logical devices (TensorFlow) or N host
devices (JAX, through ``XLA_FLAGS``), to try the distributed path on a machine without
GPUs. It must be set before the backend starts, as the command line does.

Only the chief (JAX process 0) writes the run's files: with several processes, process i
writes into ``worker-<i>/`` inside the run folder (``Run.out_dir``) and resumes from the
chief's checkpoint, so the run folder must be on a file system every machine sees.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from common.io import KitError

MODES = ("none", "mirrored")


@dataclass(frozen=True)
class Distribution:
    """What ``configure`` set up: a description, the replica count, this worker's place."""

    description: str
    replicas: int
    worker: int = 0

    @property
    def is_chief(self):
        return self.worker == 0


NONE = Distribution("one device", 1)
_active = NONE


def active():
    """The distribution set up by ``configure`` (one device when none was)."""
    return _active


def configure(mode):
    """Set up ``mode`` ('none' or 'mirrored') for the current backend; returns the
    ``Distribution``. Must run before any model is built."""
    global _active
    if mode in (None, "none"):
        _active = NONE
        return _active
    if mode not in MODES:
        raise KitError(f"--distribute {mode}: choose one of {', '.join(MODES)}")
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        _active = _tensorflow()
    elif backend == "jax":
        _active = _jax()
    else:
        raise KitError(f"--distribute {mode}: supported on the tensorflow and jax backends, not {backend}")
    return _active


def has_tensorflow():
    """True where TensorFlow imports (tf.data, TensorBoard); the JAX-only GPU host has none."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def on_gpu():
    """True when the Keras backend computes on a GPU (recorded with timings)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def cpu_devices():
    """The ``KIT_CPU_DEVICES`` count (0 when unset)."""
    text = os.environ.get("KIT_CPU_DEVICES", "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) < 1:
        raise KitError(f"KIT_CPU_DEVICES={text!r}: expected a positive integer")
    return int(text)


def _cluster():
    """(task type, index, number of workers) from ``TF_CONFIG``, or None without one."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        members = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
        return task["type"], int(task["index"]), members
    except (ValueError, KeyError, TypeError) as error:
        raise KitError(f"TF_CONFIG: not a cluster description ({error})") from None


def _tensorflow():
    import tensorflow as tf

    cluster = _cluster()
    if cluster and cluster[2] > 1:
        raise KitError(
            "--distribute with several TensorFlow workers (TF_CONFIG): Keras 3's fit does not run under "
            "MultiWorkerMirroredStrategy (keras-team/keras#20585: it reduces the first batch with a "
            "collective op that rejects it; seen with Keras 3.15 / TF 2.21). On several machines use the "
            "JAX backend (README, 'Several GPUs or machines')")
    n_cpu = cpu_devices()
    if n_cpu > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n_cpu)
        except RuntimeError:
            raise KitError("KIT_CPU_DEVICES: TensorFlow had already started; set it before the command") from None
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    strategy = tf.distribute.MirroredStrategy(devices)
    tf.distribute.experimental_set_strategy(strategy)
    return Distribution(f"MirroredStrategy over {len(devices)} {'GPU' if gpus else 'CPU'} device(s)",
                        strategy.num_replicas_in_sync)


def _jax():
    import keras

    n_cpu = cpu_devices()
    if n_cpu > 1:
        flag = f"--xla_force_host_platform_device_count={n_cpu}"
        if flag not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        keras.distribution.initialize()
    import jax

    devices = keras.distribution.list_devices()
    if n_cpu > 1 and len(devices) < n_cpu:
        raise KitError("KIT_CPU_DEVICES: JAX had already started; set it before the command")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return Distribution(f"keras.distribution.DataParallel over {len(devices)} {jax.default_backend()} "
                        f"device(s)", len(devices), jax.process_index())


def check_batch_size(batch_size):
    """Raise ``KitError`` unless a batch of ``batch_size`` splits evenly between the
    replicas: each replica's loss is the mean over its part, so unequal parts would weigh
    samples unequally (and JAX cannot split them at all)."""
    if batch_size % _active.replicas:
        raise KitError(f"a batch of {batch_size} does not split evenly between {_active.replicas} replicas "
                       f"(--distribute): use a batch size that is a multiple of {_active.replicas}")


def even_count(n):
    """The largest count <= ``n`` that splits evenly between the replicas (a last, smaller
    batch is cut to it, or dropped)."""
    return n - n % _active.replicas


def chief_path(path):
    """The chief's copy of a path inside this worker's ``worker-<i>/`` folder."""
    parts = Path(path).parts
    if _active.is_chief or f"worker-{_active.worker}" not in parts:
        return Path(path)
    i = parts.index(f"worker-{_active.worker}")
    return Path(*parts[:i], *parts[i + 1:])
