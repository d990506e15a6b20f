"""``--distribute``: two replicas take the steps one device takes, with the global batch kept.

Each case trains in a child process (the device split must happen before the backend
starts) with the CPU split into two logical devices (``KIT_CPU_DEVICES=2``), once on one
device and once under ``common.distribute.configure("mirrored")``:
TensorFlow's MirroredStrategy and JAX's ``keras.distribution.DataParallel``.

- a small convolutional network through ``common.training.fit`` on a shuffled, augmented
  ``make_dataset`` pipeline, with plain SGD (Adam would hide a gradient off by the
  replica count: its update does not depend on the gradient's scale);
- the pix2pix_hs cGAN's own train step (both backends' versions) with SGD, over steps that
  cross from the D phase to the G phase and back.

Both must give the same loss trajectory and final weights as one device, within float32
tolerance. Dropout and batch normalisation are left out of these networks: their masks and
batch statistics are per replica by design.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys
import numpy as np
import keras
from common import distribute
from common.training import fit, set_seed
from data_prep.pipeline import make_dataset

mode, out = sys.argv[1], sys.argv[2]
setup = distribute.configure(mode)
set_seed(0)
rng = np.random.default_rng(0)
x = rng.random((32, 8, 8, 3), dtype=np.float32)
y = np.concatenate([x[..., :2] * x[..., 2:], np.sin(3 * x[..., :1])], axis=-1)
model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
                          keras.layers.Conv2D(3, 3, padding="same")])
model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
history = fit(model, make_dataset(x, y, 8, seed=1), epochs=3, run_dir=out + "/conv", verbose=0)

from papers.pix2pix_hs.model import Pix2PixHS, build_discriminator, build_generator
set_seed(0)
gan = Pix2PixHS(build_generator(n_branches=2, base_filters=4, max_filters=8, bands=5, dropout_rate=0.0),
                build_discriminator(bands=5, base_filters=4), l1_weight=10.0, d_iterations=2, g_iterations=1)
gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1))
rgb = rng.random((12, 8, 8, 3), dtype=np.float32) * 2 - 1
hs = np.tanh(rgb @ rng.random((3, 5), dtype=np.float32))
gan_logs = gan.fit(rgb, hs, batch_size=4, epochs=2, shuffle=False, verbose=0).history
json.dump({
    "replicas": setup.replicas,
    "conv_loss": history["loss"],
    "conv_weights": [w.ravel().tolist() for w in model.get_weights()],
    "gan_logs": {k: [float(v) for v in vs] for k, vs in gan_logs.items()},
    "gan_weights": [w.ravel().tolist() for w in gan.generator.get_weights() + gan.discriminator.get_weights()],
    "phase_step": int(keras.ops.convert_to_numpy(gan.phase_step)),
}, open(out + "/result.json", "w"))
"""


def _train(backend, mode, out):
    out.mkdir()
    env = {**os.environ, "KERAS_BACKEND": backend, "KIT_CPU_DEVICES": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(out)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_replicas_follow_the_one_device_trajectory(tmp_path, backend):
    if backend == "jax":
        pytest.importorskip("jax")
    one = _train(backend, "none", tmp_path / "one")
    two = _train(backend, "mirrored", tmp_path / "two")
    assert (one["replicas"], two["replicas"]) == (1, 2)

    np.testing.assert_allclose(two["conv_loss"], one["conv_loss"], rtol=1e-4)
    for a, b in zip(two["conv_weights"], one["conv_weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    # The loss must have moved: the test compares trajectories, not three copies of a start.
    assert one["conv_loss"][-1] < 0.8 * one["conv_loss"][0]

    assert two["phase_step"] == one["phase_step"] == (2 * 3) % 3  # 6 steps of a 2 + 1 cycle
    for key in ("loss", "d_loss", "g_l1"):
        np.testing.assert_allclose(two["gan_logs"][key], one["gan_logs"][key], rtol=1e-4, atol=1e-6)
    for a, b in zip(two["gan_weights"], one["gan_weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def _cli(paper, *args, devices="2", backend="tensorflow"):
    env = {**os.environ, "KERAS_BACKEND": backend, "KIT_CPU_DEVICES": devices, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", f"papers.{paper}", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


PAPER_ARGS = {
    "unet_ms": (), "drcnn_sam": (), "pix2pix_hs": ("--batch-size", "2"), "rdab_coordconv": (), "ms_ssfnet": (),
}


@pytest.mark.parametrize("paper", [
    pytest.param(p, marks=[] if p == "ms_ssfnet" else pytest.mark.slow) for p in PAPER_ARGS])
def test_every_paper_trains_and_evaluates_distributed(tmp_path, paper):
    out = tmp_path / "run"
    done = _cli(paper, "reproduce", "--profile", "smoke", "--distribute", "mirrored", "--out", str(out),
                *PAPER_ARGS[paper])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed training: MirroredStrategy over 2 CPU device(s)" in done.stdout
    assert (out / "comparison.md").is_file() and (out / "COMPLETE").is_file()


def test_a_batch_that_cannot_be_split_is_one_clear_error_before_any_output(tmp_path):
    out = tmp_path / "run"
    done = _cli("pix2pix_hs", "train", "--profile", "smoke", "--distribute", "mirrored", "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: --distribute: a batch of 1 does not split between 2 replicas (the paper trains with batch 1, "
        "Sec. 2.3); add --batch-size 2 or a multiple of it")
    assert "Traceback" not in done.stderr and not out.exists()


def test_bad_device_count_and_cluster_description_are_clear_errors(monkeypatch):
    from common import distribute
    from common.io import KitError

    monkeypatch.setenv("KIT_CPU_DEVICES", "two")
    with pytest.raises(KitError, match="KIT_CPU_DEVICES='two': expected a positive integer"):
        distribute.cpu_devices()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}}')
    with pytest.raises(KitError, match="TF_CONFIG: not a cluster description"):
        distribute._cluster()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]}, '
                                    '"task": {"type": "worker", "index": 1}}')
    assert distribute._cluster() == ("worker", 1, 3)


def test_several_tensorflow_workers_stop_with_the_reason(monkeypatch):
    import keras

    from common import distribute
    from common.io import KitError

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow backend only")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    with pytest.raises(KitError, match="keras-team/keras#20585.*use the\\s+JAX backend"):
        distribute.configure("mirrored")
    assert distribute.active().replicas == 1
