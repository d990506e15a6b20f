"""drcnn_sam training: the loss of eq. (3) against NumPy, the optimizer and schedule of
Sec. 4.1, one training step lowering the loss, and the command line end to end. The
paper-value checks of every setting are in tests/test_drcnn_sam_paper_facts.py."""

import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from common.losses import one_minus_cos  # noqa: E402
from papers.drcnn_sam.config import PAPER, PAPER_ARCHITECTURE, architecture  # noqa: E402
from papers.drcnn_sam.model import build_drcnn  # noqa: E402
from papers.drcnn_sam.train import (  # noqa: E402
    StopBelowLearningRate,
    compile_drcnn,
    drcnn_loss,
    l1_elements,
    schedule_callbacks,
)
from tests.conftest import paper_command, paper_config  # noqa: E402

get_config = lambda profile: paper_config("drcnn_sam", profile)  # noqa: E731

TINY = dict(PAPER_ARCHITECTURE, bands=6, n_subnets=2, supervised_after=1, f1=3, f2=3, f3=3, n1=8, n2=8)


def _pair(seed=0, shape=(2, 5, 4, 6)):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.1, 1.0, shape).astype(np.float32)
    return y, (y + 0.1 * rng.standard_normal(shape)).astype(np.float32)


def _angles(y, p):
    cos = np.sum(y * p, -1) / (np.linalg.norm(y, axis=-1) * np.linalg.norm(p, axis=-1))
    return np.arccos(np.clip(cos, -1, 1)), cos


def test_loss_is_eq3_of_per_spectrum_l1_and_angle_weighted_by_alpha():
    y, p = _pair()
    y64, p64 = y.astype(np.float64), p.astype(np.float64)
    angle, _ = _angles(y64, p64)
    n, h, w, c = y.shape
    l2 = np.mean(angle)  # eq. (2), read as the angle, averaged over the N * Nm spectra
    # Paper profile: 1/2 ||y_j - y_hat_j||^2 of each spectral vector, averaged like eq. (2).
    l1 = np.sum((y64 - p64) ** 2) / (2 * n * h * w)
    expected = 0.5 * l1 + 0.5 * l2  # eq. (3), alpha = 0.5
    got = float(keras.ops.convert_to_numpy(drcnn_loss(0.5, "angle", l1_elements("spectrum", h, c))(y, p)))
    assert got == pytest.approx(expected, rel=1e-4)
    # The literal sum of eq. (1) over the whole patch, 1/(2N) sum_i ||y_i - y_hat_i||^2:
    patch = np.sum((y64 - p64) ** 2) / (2 * n)
    got = float(keras.ops.convert_to_numpy(drcnn_loss(0.5, "angle", h * w * c)(y, p)))
    assert got == pytest.approx(0.5 * patch + 0.5 * l2, rel=1e-4)
    mean_reading = 0.5 * 0.5 * np.mean((y64 - p64) ** 2) + 0.5 * l2
    got = float(keras.ops.convert_to_numpy(drcnn_loss(0.5, "angle", l1_elements("element", h, c))(y, p)))
    assert got == pytest.approx(mean_reading, rel=1e-4)
    assert l1_elements("patch", 32, 31) == 31744 and l1_elements("spectrum", 32, 31) == 31
    with pytest.raises(ValueError, match="l1_reduction"):
        l1_elements("sum", 32, 31)


def test_one_minus_cos_reading_of_eq2():
    y, p = _pair(1)
    _, cos = _angles(y.astype(np.float64), p.astype(np.float64))
    per_sample = np.mean(1 - cos, axis=(1, 2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(one_minus_cos(y, p)), per_sample, rtol=1e-4)
    expected = 0.3 * 0.5 * np.mean((y - p) ** 2) + 0.7 * np.mean(1 - cos)
    got = float(keras.ops.convert_to_numpy(drcnn_loss(0.3, "one_minus_cos")(y, p)))
    assert got == pytest.approx(expected, rel=1e-4)


def test_paper_optimizer_and_schedule_settings():
    config = get_config("paper")
    model = compile_drcnn(build_drcnn(TINY), config)
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.SGD)
    assert float(opt.learning_rate) == pytest.approx(0.01)
    assert opt.momentum == pytest.approx(0.9) and opt.weight_decay == pytest.approx(1e-4)
    assert config["train"]["batch_size"] == 128
    assert config["data"]["patch_size"] == 32 and config["data"]["n_patches"] == 30000
    assert config["model"]["scales"] == [2, 3, 4] and config["data"]["blur_sigma"] == 3.0
    plateau = schedule_callbacks(config)[0]
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert plateau.factor == pytest.approx(0.1) and plateau.patience == 3 and plateau.monitor == "val_loss"
    assert architecture(PAPER) == PAPER_ARCHITECTURE


def test_stop_below_1e6_runs_at_1e6_and_stops_at_1e7():
    model = compile_drcnn(build_drcnn(TINY), get_config("paper"))
    stop = StopBelowLearningRate(1e-6)
    stop.set_model(model)
    lr = np.float32(0.01)
    epoch = 0
    while not model.stop_training:
        model.optimizer.learning_rate = lr
        stop.on_epoch_end(epoch)
        epoch += 1
        lr = np.float32(lr * np.float32(0.1))
    # 0.01, 1e-3, 1e-4, 1e-5, 1e-6 are run; 1e-7 is "less than 1e-6"
    assert epoch == 6 and stop.stopped_at == 6


def test_one_training_step_lowers_the_loss():
    keras.utils.set_random_seed(0)
    config = get_config("quick")
    model = compile_drcnn(build_drcnn(TINY), config)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, (4, 12, 12, 6)).astype(np.float32)
    y = (0.9 * x + 0.1).astype(np.float32)  # a mapping the residual convs can learn quickly
    before = model.evaluate(x, (y, y), verbose=0)[0]
    model.train_on_batch(x, (y, y))  # one SGD step (lr 0.01, clipped to norm 1)
    after = model.evaluate(x, (y, y), verbose=0)[0]
    assert after < before


def test_cli_train_then_evaluate_smoke(tmp_path):
    main = paper_command("drcnn_sam")
    out = tmp_path / "run"
    assert main(["train", "--profile", "smoke", "--out", str(out)]) == 0
    assert (out / "drcnn_x2.done").is_file() and (out / "vdsr_x2.weights.h5").is_file()
    assert not (out / "COMPLETE").exists()
    assert main(["evaluate", "--profile", "smoke", "--out", str(out)]) == 0
    measured = json.loads((out / "metrics.json").read_text())
    table = measured["tables"][0]
    methods = {row["method"] for row in table["rows"]}
    published = json.loads((Path(__file__).parents[1] / "papers/drcnn_sam/published.json").read_text())
    assert methods == {row["method"] for row in published["tables"][0]["rows"]}
    assert methods == {"Bicubic", "SRCNN (Dong[4])", "ESPCN (Shi[18])", "VDSR (Kim[11])", "Ours (DRCNN + SAM loss)"}
    assert set(table["rows"][0]["values"]) == {"PSNR_x2", "SAM_x2"}
    # None: the report's verdict "not distinguishable" (one smoke test image, one epoch).
    assert measured["headline"]["metric"] == "PSNR_x2" and measured["beats_baseline"] in (True, False, None)
    log_header = (out / "drcnn_x2_log.csv").read_text().splitlines()[0].split(",")
    assert {"l1_term", "sam_term", "l1_grad_norm", "sam_grad_norm", "sam_grad_share"} <= set(log_header)
    assert measured["parameters"]["paper_profile"]["drcnn_x2"]["trainable"] == 2076858
    assert (out / "comparison.md").is_file() and (out / "COMPLETE").is_file()


@pytest.mark.slow
def test_quick_profile_beats_bicubic_on_held_out_synthetic(tmp_path):
    """PAPER_FOLDER: the quick profile's method beats the simplest baseline (bicubic) on
    the held-out synthetic test scenes, measured in PSNR (the paper's primary measure)."""
    main = paper_command("drcnn_sam")
    out = tmp_path / "quick"
    assert main(["reproduce", "--profile", "quick", "--out", str(out)]) == 0
    measured = json.loads((out / "metrics.json").read_text())
    rows = {row["method"]: row["values"] for row in measured["tables"][0]["rows"]}
    assert rows["Ours (DRCNN + SAM loss)"]["PSNR_x2"] > rows["Bicubic"]["PSNR_x2"]
    assert measured["beats_baseline"] is True
