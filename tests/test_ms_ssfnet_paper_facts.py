"""MS-SSFNet: every setting of the paper profile that carries the paper's meaning, checked
against the paper's text (values written here as the paper prints them, never read from
the kit's constants), and the wiring that turns them into the loss, the data and Table 1.

Sections and equations are those of Han, Zheng and Chen, ICCVW 2019.
"""

import copy
import types

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from common.evaluation import summarize  # noqa: E402
from data_prep.cube import HSCube  # noqa: E402
from papers.ms_ssfnet import experiment as E  # noqa: E402
from papers.ms_ssfnet.data import load_cube, observations  # noqa: E402
from papers.ms_ssfnet.model import build_ms_ssfnet  # noqa: E402
from tests.conftest import paper_config  # noqa: E402

PAPER = paper_config("ms_ssfnet", "paper")


# ----------------------------------------------------------------------------- settings

def test_sec_4_2_training_settings():
    # Sec. 4.2: "using the Adam optimizer. We use a minibatch size of 16 in training
    # procedure, and train the network for 2000 epochs"; "initialized according to Gaussian
    # distribution with standard deviation 0.001".
    train, model = PAPER["train"], PAPER["model"]
    assert train["optimizer"] == "adam" and train["batch_size"] == 16 and train["epochs"] == 2000
    assert model["init_std"] == 0.001
    net = E.compile_ms_ssfnet(build_ms_ssfnet(bands=4, scales=2, spectral_width=2, spatial_width=2,
                                              level_scales=(1, 1)), PAPER)
    assert type(net.optimizer) is keras.optimizers.Adam
    # The baselines train "in the same conditions" (Sec. 4.3): same optimiser and epochs.
    assert PAPER["baselines"]["epochs"] in (None, 2000)
    # Sec. 4.2 lists the patches it "uniformly extract[s]" and no flips or rotations.
    assert PAPER["data"]["augment"] is False


def test_sec_4_1_and_4_2_scale_patches_and_levels():
    # Sec. 4.1: "down-sampling operation with scale factor: 16" = 2^S with S = 4 (Sec. 3.1).
    # Sec. 4.2: "patches with the size of 8 x 8 x 31 and the stride of 2 from the generated
    # LR-HS images", the corresponding 127 x 127 (read 128 = 8 x 16) RGB and truth patches;
    # "divide ... the upscale factor 16 into 2 levels, and generate the intermediate
    # downsampled HS image with factor 4", patches "31 x 31 x 31" (read 32 = 128 / 4).
    model, data = PAPER["model"], PAPER["data"]
    assert 2 ** model["scales"] == 16 and model["bands"] == 31
    assert data["lr_patch"] == 8 and data["lr_stride"] == 2
    assert data["hr_patch"] == 128 and data["mid_factor"] == 4
    assert tuple(model["level_scales"]) == (2, 2)
    from papers.ms_ssfnet.data import patch_geometry

    sizes, strides = patch_geometry(PAPER)
    assert (sizes["lr"], sizes["rgb"], sizes["hs"], sizes["mid"]) == (8, 128, 128, 32)
    assert (strides["lr"], strides["rgb"], strides["mid"]) == (2, 32, 8)


def test_eq_10_sums_one_mse_per_level_with_equal_weights():
    # Eq. (10): arg min sum_l MSE_l, no weights: (1, 1) for the 2 levels of x16.
    assert tuple(PAPER["train"]["level_weights"]) == (1.0, 1.0)
    keras.utils.set_random_seed(0)
    net = build_ms_ssfnet(bands=4, scales=2, spectral_width=3, spatial_width=3, level_scales=(1, 1), init_std=0.1)
    config = copy.deepcopy(PAPER)
    config["train"]["jit_compile"] = False
    net = E.compile_ms_ssfnet(net, config)
    rng = np.random.default_rng(0)
    x = {"lr": rng.random((2, 3, 3, 4), dtype=np.float32), "rgb": rng.random((2, 12, 12, 3), dtype=np.float32)}
    y = {"z": rng.random((2, 12, 12, 4), dtype=np.float32), "z1": rng.random((2, 6, 6, 4), dtype=np.float32)}
    out = {k: keras.ops.convert_to_numpy(v) for k, v in net(x).items()}
    mse = {k: float(np.mean((out[k] - y[k]) ** 2)) for k in ("z", "z1")}
    logs = net.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(mse["z"] + mse["z1"], rel=1e-4)
    assert mse["z1"] > 0.1 * mse["z"]  # the intermediate level weighs in the sum


def test_metric_settings_of_table_1():
    # Table 1 reports RMSE and PSNR on the 0-255 scale (the kit's reading), SAM in degrees
    # (Fig. 4: "Anger degree in the range [0, 180]"), mean and standard deviation.
    assert PAPER["eval"]["metric_scale"] == 255.0
    assert PAPER["eval"]["std_ddof"] == 1  # MATLAB's std


def test_sec_4_1_split_counts():
    # Sec. 4.1: Harvard "50 outdoor images ... randomly select 40 images in this dataset for
    # training and use the rest for testing"; ICVL "101 images ... randomly select 71
    # images for training and the rest for testing"; NUS "41 HSIs in the training set and
    # 25 HSIs in the testing set".
    assert E.SPLITS["harvard"] == (50, 50 - 40)
    assert E.SPLITS["icvl"] == (101, 101 - 71)
    assert E.SPLITS["nus"] == (41 + 25, 25)


# ----------------------------------------------------------------------------- x16 filter

def _lr_response(config, factor, rows, size=256):
    """The weight of HR row r in one LR sample of ``observations`` (or the x4 target):
    band k of a cube holds an impulse row at ``rows[k]``."""
    responses = {}
    for start in range(0, len(rows), 31):
        chunk = rows[start : start + 31]
        data = np.zeros((size, 16, 31), np.float32)
        for k, r in enumerate(chunk):
            data[r, :, k] = 1.0
        obs = observations(HSCube(data, np.arange(400, 701, 10)), config, with_upsampled=False)
        lr = obs["lr"] if factor == 16 else obs["mid"]
        for k, r in enumerate(chunk):
            responses[r] = lr[:, 0, k]
    return responses


def test_x16_filter_is_a_gaussian_of_sigma_8_truncated_at_4_sigma():
    # D of eq. (1) is not given; Sec. 3.3 only says LR images are simulated "with some simple
    # interpolation operators such as bicubic". The kit's D: a Gaussian, sigma = 16 / 2 = 8,
    # cut at int(4 sigma + 0.5) = 32 pixels, weights normalised to 1. The closed form:
    assert PAPER["data"]["degradation_kernel"] == "gaussian"
    sigma, radius = 8.0, 32
    rows = list(range(40, 170))
    responses = _lr_response(PAPER, 16, rows)
    lr_index = 6  # an LR sample far from the borders (rows 96 .. 111 in its block)
    weights = np.array([responses[r][lr_index] for r in rows], np.float64)
    centre = float(np.sum(np.array(rows) * weights) / weights.sum())  # the sample's position
    assert 96 <= centre <= 111.5
    offsets = np.array(rows) - centre
    closed = np.where(np.abs(offsets) <= radius, np.exp(-offsets ** 2 / (2 * sigma ** 2)), 0.0)
    closed /= closed.sum()
    np.testing.assert_allclose(weights, closed, atol=1e-6)
    support = np.array(rows)[weights > 1e-9]
    assert support.max() - support.min() in (2 * radius - 1, 2 * radius)  # 64 or 65 taps
    # A box of 16 (the other common choice) would give equal weights on 16 rows only.
    assert weights.max() < 1 / 16 * 0.9


def test_x4_intermediate_target_is_the_same_gaussian_family_sigma_2():
    # Eq. (8): Z^1 = Z * D^t downsampled x4; the same family, sigma 4 / 2 = 2, radius 8.
    sigma, radius = 2.0, 8
    rows = list(range(60, 110))
    responses = _lr_response(PAPER, 4, rows)
    weights = np.array([responses[r][21] for r in rows], np.float64)  # samples 84 .. 87
    centre = float(np.sum(np.array(rows) * weights) / weights.sum())
    offsets = np.array(rows) - centre
    closed = np.where(np.abs(offsets) <= radius, np.exp(-offsets ** 2 / (2 * sigma ** 2)), 0.0)
    np.testing.assert_allclose(weights, closed / closed.sum(), atol=1e-6)


# ----------------------------------------------------------------------------- metrics

def _cubes():
    """Truth and reconstruction on [0, 1]: non-flat spectra, unequal errors in unequal bands."""
    rng = np.random.default_rng(5)
    gt = rng.uniform(0.1, 0.9, (12, 12, 3))
    rec = gt.copy()
    rec[..., 0] += 0.01
    rec[:6, :, 1] -= 0.08
    rec[2, 3] *= np.array([1.2, 0.8, 1.3])
    rec[5:, :, 2] += 0.03
    return gt, rec


def test_table_1_rmse_and_psnr_per_band_on_the_0_255_scale():
    gt, rec = _cubes()
    row = E.image_metrics("a", gt, rec, PAPER)
    band_mse = [np.mean((255 * gt[..., b] - 255 * rec[..., b]) ** 2) for b in range(3)]
    assert row["RMSE"] == pytest.approx(np.mean(np.sqrt(band_mse)))
    assert row["PSNR"] == pytest.approx(np.mean([10 * np.log10(255 ** 2 / m) for m in band_mse]))
    cube_psnr = 10 * np.log10(255 ** 2 / np.mean(band_mse))
    cube_rmse = np.sqrt(np.mean(band_mse))
    assert abs(row["PSNR"] - cube_psnr) > 0.5 and abs(row["RMSE"] - cube_rmse) > 0.2  # the data tell them apart
    assert row["RMSE"] > 1.0  # 0-255 units, not 0-1


def test_table_1_sam_in_degrees():
    gt, rec = _cubes()
    row = E.image_metrics("a", gt, rec, PAPER)
    g, r = gt.reshape(-1, 3), rec.reshape(-1, 3)
    cos = np.sum(g * r, 1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(r, axis=1))
    expected = np.degrees(np.mean(np.arccos(np.clip(cos, -1, 1))))
    assert expected > 1.0 and row["SAM"] == pytest.approx(expected, rel=1e-9)


def test_table_1_ssim_with_the_0_255_data_range():
    # SSIM's constants C1 = (0.01 L)^2, C2 = (0.03 L)^2 take the data range L: 255 on the
    # 0-255 scale, which gives exactly the SSIM of the [0, 1] data with L = 1.
    from common.metrics import ssim

    gt, rec = _cubes()
    gt, rec = 0.02 + 0.05 * gt, 0.02 + 0.05 * rec  # a dark image: the constants matter
    row = E.image_metrics("a", gt, rec, PAPER)
    assert row["SSIM"] == pytest.approx(ssim(gt, rec, 1.0), rel=1e-9)
    assert abs(row["SSIM"] - ssim(255 * gt, 255 * rec, 1.0)) > 0.003  # a range of 1 on 0-255 data


def test_table_1_std_is_matlabs_n_minus_1():
    rows = [{"image": "a", "RMSE": 1.0}, {"image": "b", "RMSE": 2.0}, {"image": "c", "RMSE": 6.0}]
    # MATLAB std([1 2 6]) = sqrt(((1-3)^2 + (2-3)^2 + (6-3)^2) / 2) = sqrt(7)
    assert summarize(rows, ["RMSE"], ddof=PAPER["eval"]["std_ddof"])["std"]["RMSE"] == pytest.approx(np.sqrt(7))
    assert summarize(rows, ["RMSE"])["std"]["RMSE"] == pytest.approx(np.sqrt(14 / 3))  # the default
    assert np.isnan(summarize(rows[:1], ["RMSE"], ddof=1)["std"]["RMSE"])


# ----------------------------------------------------------------------------- data

def test_harvard_is_divided_by_each_images_maximum():
    class Harvard:
        name = "harvard"

        def load(self, name):
            data = np.full((16, 16, 31), 0.02, np.float32)
            data[3, 4, 7] = 0.08
            return HSCube(data, np.arange(420, 721, 10), name=name, source="x.mat")

    cube = load_cube(Harvard(), "img1")
    assert cube.data.max() == pytest.approx(1.0) and cube.data[0, 0, 0] == pytest.approx(0.25)
    assert cube.source_peak == pytest.approx(0.08)
    assert cube.wavelengths[0] == 420  # still on Harvard's 420-720 nm grid

    class Icvl(Harvard):
        name = "icvl"

    assert load_cube(Icvl(), "x").data.max() == pytest.approx(0.08)  # other datasets as read


def test_harvard_split_uses_the_50_daylight_images():
    names = [f"img{i}" for i in range(50)] + [f"imga{i}" for i in range(27)]
    groups = {n: ("CZ_hsdb" if n.startswith("img") and not n.startswith("imga") else "CZ_hsdbi") for n in names}
    dataset = types.SimpleNamespace(name="harvard", names=names, group=groups.get)
    split = E.paper_split(dataset, seed=0)
    assert len(split["train"]) == 40 and len(split["test"]) == 10
    assert not any(n.startswith("imga") for n in split["train"] + split["test"])
