"""rdab_coordconv: every setting of the paper profile that carries the paper's meaning,
against the paper (arXiv:2004.06930) or the authors' released model file and test script,
with the section of each; the loss of eq. 14 and the evaluation metrics on data that
tells the conventions apart.

Expected values are literals copied from those sources, not the kit's constants.
"""

import numpy as np
import pytest

import keras

from common.losses import ssim_map
from papers.rdab_coordconv.experiment import metric_fns
from papers.rdab_coordconv.model import build_from_config
from papers.rdab_coordconv.train import compile_model, make_optimizer
from tests.conftest import paper_config


@pytest.fixture(scope="module")
def paper():
    return paper_config("rdab_coordconv", "paper")


def test_paper_profile_settings(paper):
    model, data, train, evaluation = paper["model"], paper["data"], paper["train"], paper["eval"]
    assert model["use_coordconv"] and model["use_cbam"]  # Sec. 2.1 CoordConv, Sec. 2.2 CBAM
    # The released model file: entry convs of 8, 16, 32 filters, dense convs of 16, Dropout 0.2.
    assert (model["widths"], model["dense_width"], model["dropout"]) == ([8, 16, 32], 16, 0.2)
    assert model["zero_coord_kernels"] is False  # Keras' default initialisation, as the release
    # Sec. 3.1: "8000 training patches and 1000 validation patches" from 400 / 50 images;
    # 64 x 64 as the released model and test script (the text prints "20 x 20").
    assert (data["patch_size"], data["patches_per_image"], data["val_patches_per_image"]) == (64, 20, 20)
    assert train["batch_size"] == 8  # Sec. 3.1: batch size 8
    assert train["epochs"] == 500  # Sec. 3.1: 500 epochs
    # Sec. 3.1: "a learning rate of 0.001 to 0.00001"
    assert (train["learning_rate"], train["final_learning_rate"]) == (1e-3, 1e-5)
    assert train["loss"] == "l2_ssim"  # eq. 14: FIL = L2 + (1 - SSIM)
    # eq. 13: L_SSIM(P) = 1/M sum over the M pixels p of the patch P of (1 - SSIM(p)): every pixel
    assert train["ssim_positions"] == "all"
    assert evaluation["tile"] == 64  # the released test script's 64 x 64 tiles
    assert set(evaluation["splits"]) == {"train", "val", "test"}  # Table 1 has the three


def test_optimizer_runs_from_1e_3_to_1e_5(paper):
    optimizer = make_optimizer(paper["train"], total_steps=1000)
    assert isinstance(optimizer, keras.optimizers.Adam)  # Sec. 3.1 (and the release's training config)

    def rate_at(step):
        optimizer.iterations.assign(step)
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    assert rate_at(0) == pytest.approx(1e-3)
    assert rate_at(999) == pytest.approx(1e-5, rel=1e-4)
    assert 1e-5 < rate_at(500) < 1e-3


def _border_error_pair():
    """Spectra with texture, an error concentrated in the outer 2-pixel ring of the patch
    and a small one inside: eq. 13 (every pixel) and the valid-window SSIM differ."""
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.1, 0.9, (2, 24, 24, 31)).astype("float32")
    pred = truth + rng.normal(0.0, 0.01, truth.shape).astype("float32")
    pred[:, :2] *= 0.6
    pred[:, :, -2:] *= 0.6
    return truth, np.clip(pred, 0.0, 1.0).astype("float32")


def test_compiled_loss_is_eq14_over_every_pixel(paper):
    """Eq. 14: L2 + (1 - SSIM) with both weights 1; the SSIM of eq. 13 averaged over every
    pixel of the patch (11 x 11 Gaussian window truncated at the border), peak 1."""
    config = paper_config("rdab_coordconv", "smoke")  # a small network, the paper's loss
    config["train"] = paper["train"]
    model = compile_model(build_from_config(config), paper["train"], total_steps=10)
    truth, pred = _border_error_pair()
    got = float(np.asarray(model.loss(truth, pred)))  # the mean over the batch
    l2 = np.mean((truth.astype(np.float64) - pred) ** 2, axis=(1, 2, 3))
    every_pixel = np.asarray(ssim_map(truth, pred, max_val=1.0, positions="all"), np.float64).mean(axis=(1, 2, 3))
    assert got == pytest.approx(float(np.mean(l2 + (1.0 - every_pixel))), rel=1e-5)
    valid = np.asarray(keras.ops.image.ssim(truth, pred, max_val=1.0), np.float64)
    assert np.all(np.abs((1.0 - valid) - (1.0 - every_pixel)) > 0.01)  # the data tell them apart


def test_evaluation_metrics_on_distinguishing_data(paper):
    """MRAE (NTIRE 2020): mean over H x W x C of |gt - rec| / gt on the cube's scale; RMSE
    over the whole cube on the same [0, 1] scale; SSIM per band with peak 1, averaged."""
    rng = np.random.default_rng(2)
    ramp = np.linspace(0.05, 0.8, 31)
    gt = (ramp * rng.uniform(0.3, 1.0, (16, 16, 1))).astype(np.float64)
    rec = gt * (1.0 + 0.3 * (ramp - 0.4)) + rng.normal(0.0, 0.01, gt.shape)
    rec[3:6, 3:6] += 0.1  # unequal errors
    fns = metric_fns(paper["eval"]["mrae_zero_policy"])
    assert fns["MRAE"](gt, rec) == pytest.approx(np.mean(np.abs(gt - rec) / gt), rel=1e-9)
    assert fns["RMSE"](gt, rec) == pytest.approx(np.sqrt(np.mean((gt - rec) ** 2)), rel=1e-9)
    reference = np.asarray(keras.ops.image.ssim(gt[None].astype("float32"), rec[None].astype("float32"),
                                                max_val=1.0))[0]
    assert fns["SSIM"](gt, rec) == pytest.approx(float(reference), abs=2e-4)
    assert float(reference) < 0.99  # the data are not a trivial match
