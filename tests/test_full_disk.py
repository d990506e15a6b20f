"""A full disk during training, on a real file system that fills up: a private 4 MB tmpfs
mounted in a mount namespace of its own (``unshare --mount``; skipped where the machine
does not allow it). The training stops with one clear error naming the checkpoint it
could not write, leaves no half-written checkpoint, keeps the earlier ones, and resumes
from them once there is room again."""

import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

CHILD = textwrap.dedent('''
    import os, sys
    sys.path.insert(0, {repo!r})
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, keras
    from common.io import KitError
    from common.training import fit

    mount = sys.argv[1]
    stat = os.statvfs(mount)
    with open(os.path.join(mount, "filler"), "wb") as handle:  # leave about 120 kB free
        handle.write(b"\\0" * max(0, stat.f_bavail * stat.f_frsize - 120_000))
    rng = np.random.default_rng(0)
    x = rng.random((32, 4), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(64), keras.layers.Dense(1)])
        m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        return m

    run = os.path.join(mount, "run")
    try:
        fit(model(), (x, y), epochs=20, run_dir=run, verbose=0)
        print("RESULT no error")
    except KitError as error:
        print("RESULT KitError", error)
    resume = os.path.join(run, "model_resume")
    print("LEFT", sorted(os.listdir(resume)))
    os.remove(os.path.join(mount, "filler"))  # room again: the same command resumes
    history = fit(model(), (x, y), epochs=20, run_dir=run, verbose=1)
    print("RESUMED", len(history["loss"]), os.path.isfile(os.path.join(run, "model.done")))
''')


def test_a_full_disk_stops_cleanly_and_the_rerun_resumes(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO_ROOT)))
    command = f"mount -t tmpfs -o size=4m tmpfs {mount} && exec {sys.executable} {script} {mount}"
    done = subprocess.run(["unshare", "--mount", "sh", "-c", command], capture_output=True, text=True,
                          timeout=600)
    if "RESULT" not in done.stdout:
        if "mount" in done.stderr or "unshare" in done.stderr:
            pytest.skip(f"no private tmpfs here: {done.stderr.strip().splitlines()[-1]}")
        pytest.fail(done.stdout + done.stderr)
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in done.stdout.splitlines()
             if line.split(" ", 1)[0] in ("RESULT", "LEFT", "RESUMED")}
    assert lines["RESULT"].startswith("KitError "), done.stdout
    assert "cannot write the checkpoint of epoch" in lines["RESULT"]
    assert "No space left on device (the disk is full)" in lines["RESULT"]
    assert "is kept, rerun the command to resume" in lines["RESULT"]
    assert ".partial" not in lines["LEFT"]
    assert "resuming after epoch" in done.stdout
    assert lines["RESUMED"] == "20 True", done.stdout  # every epoch logged once, the network finished
