"""Tests of common/metrics.py against hand computations, closed forms and independent
implementations (tf.image.ssim, colour-science, the published CIEDE2000 test data)."""

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from common import metrics
from common.io import KitError

RNG = np.random.default_rng(2)

# A 2 x 2 x 2 cube and errors small enough to add up by hand.
GT = np.array([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])
ERR = np.array([[[1.0, 0.0], [0.0, -1.0]], [[2.0, 0.0], [0.0, 0.0]]])
REC = GT + ERR


# ------------------------------------------------------------ hand-computed 2 x 2


def test_error_metrics_hand_computed_2x2():
    # squared errors 1, 1, 4 over 8 elements: MSE 6/8; |errors| 1, 1, 2: mean 4/8
    assert metrics.rmse(GT, REC) == pytest.approx(math.sqrt(6 / 8))
    assert metrics.yan_rmse2(GT, REC) == pytest.approx(math.sqrt(6 / 8))
    assert metrics.yan_rmse1(GT, REC) == pytest.approx(4 / 8)
    # |err| / truth: 1/1 + 1/4 + 2/5 over 8 elements
    assert metrics.yan_rrmse1(GT, REC) == pytest.approx((1 + 1 / 4 + 2 / 5) / 8)
    assert metrics.mrae(GT, REC) == pytest.approx((1 + 1 / 4 + 2 / 5) / 8)
    # mean truth 36/8 = 4.5
    assert metrics.yan_rrmse2(GT, REC) == pytest.approx(math.sqrt(6 / 8) / 4.5)
    # per-pixel RMSE over 2 bands: sqrt(1/2), sqrt(1/2), sqrt(4/2), 0
    per_pixel = [math.sqrt(0.5), math.sqrt(0.5), math.sqrt(2.0), 0.0]
    assert metrics.rmse_per_pixel(GT, REC) == pytest.approx(sum(per_pixel) / 4)
    # divided by each pixel's mean truth 1.5, 3.5, 5.5, 7.5
    rel = [per_pixel[0] / 1.5, per_pixel[1] / 3.5, per_pixel[2] / 5.5, 0.0]
    assert metrics.rmse_rel_per_pixel(GT, REC) == pytest.approx(sum(rel) / 4)


def test_mask_selects_pixels():
    mask = np.array([[True, False], [True, False]])  # pixels (0, 0) and (1, 0)
    # errors [1, 0] and [2, 0]: squared 1 + 4 over 4 elements
    assert metrics.rmse(GT, REC, mask=mask) == pytest.approx(math.sqrt(5 / 4))
    assert metrics.rmse_per_pixel(GT, REC, mask=mask) == pytest.approx((math.sqrt(0.5) + math.sqrt(2.0)) / 2)
    assert metrics.mrae(GT, REC, mask=mask) == pytest.approx((1 / 1 + 2 / 5) / 4)
    assert metrics.psnr(GT, REC, peak=8.0, mask=mask) == pytest.approx(10 * math.log10(64 / (5 / 4)))
    assert metrics.rmse(GT, REC, mask=mask.astype(int)) == pytest.approx(math.sqrt(5 / 4))


def test_black_pixels_excluded_like_pix2pix_hs():
    gt = RNG.uniform(0.1, 1.0, (3, 3, 4))
    rec = gt + RNG.normal(scale=0.05, size=gt.shape)
    gt[0, 0] = 0.0  # a black truth pixel, reconstructed as something
    rec[0, 0] = 0.3
    mask = gt.any(axis=-1)
    keep_gt, keep_rec = gt[mask], rec[mask]  # (8, 4)
    expected = np.mean(np.sqrt(np.mean((keep_gt - keep_rec) ** 2, axis=-1)))
    assert metrics.rmse_per_pixel(gt, rec, mask=mask) == pytest.approx(expected)
    assert metrics.rmse_per_pixel(gt, rec) > expected
    cos = np.sum(keep_gt * keep_rec, -1) / (np.linalg.norm(keep_gt, axis=-1) * np.linalg.norm(keep_rec, axis=-1))
    assert metrics.sam(gt, rec, mask=mask) == pytest.approx(np.degrees(np.arccos(cos)).mean(), rel=1e-9)
    assert metrics.sam(gt, rec) == pytest.approx(metrics.sam(gt, rec, mask=mask))  # 'exclude' policy
    assert metrics.gfc(gt, rec, mask=mask) == pytest.approx(np.abs(cos).mean())
    # the black pixel's mean truth is zero: RMSERel leaves it out or raises
    rel = np.sqrt(np.mean((keep_gt - keep_rec) ** 2, axis=-1)) / keep_gt.mean(axis=-1)
    assert metrics.rmse_rel_per_pixel(gt, rec) == pytest.approx(rel.mean())
    with pytest.raises(KitError, match="zero-mean"):
        metrics.rmse_rel_per_pixel(gt, rec, zero_policy="raise")


def test_mrae_zero_policies():
    gt = np.array([[[0.0, 2.0]], [[4.0, 0.0]]])  # 2 x 1 x 2 with two zeros
    rec = np.array([[[1.0, 3.0]], [[2.0, 0.0]]])
    assert metrics.mrae(gt, rec) == pytest.approx((1 / 2 + 2 / 4) / 2)  # 'exclude': the two nonzero truths
    eps = np.finfo(np.float64).eps
    expected = (1 / eps + 1 / (2 + eps) + 2 / (4 + eps) + 0) / 4
    assert metrics.mrae(gt, rec, zero_policy="epsilon") == pytest.approx(expected)
    assert metrics.mrae(gt, rec, zero_policy="epsilon", eps=0.5) == pytest.approx((2 + 1 / 2.5 + 2 / 4.5 + 0) / 4)
    with pytest.raises(KitError, match="zero value"):
        metrics.mrae(gt, rec, zero_policy="raise")
    with pytest.raises(KitError, match="zero_policy"):
        metrics.mrae(gt, rec, zero_policy="ignore")
    assert metrics.yan_rrmse1(gt, rec) == pytest.approx(metrics.mrae(gt, rec))
    with pytest.raises(KitError, match="every truth value is zero"):
        metrics.mrae(np.zeros((1, 1, 2)), np.ones((1, 1, 2)))


# ------------------------------------------------------------------ SAM and GFC


def _cube_of(*spectra):
    return np.array(spectra, dtype=np.float64)[None]  # 1 x N x C


def test_sam_orthogonal_parallel_and_45_degrees():
    assert metrics.sam(_cube_of([1, 0, 0]), _cube_of([0, 3, 0])) == pytest.approx(90.0)
    assert metrics.sam(_cube_of([1, 0, 0]), _cube_of([0, 3, 0]), degrees=False) == pytest.approx(math.pi / 2)
    assert metrics.sam(_cube_of([1, 2, 3]), _cube_of([2, 4, 6])) == pytest.approx(0.0, abs=1e-6)
    assert metrics.sam(_cube_of([1, 0]), _cube_of([1, 1])) == pytest.approx(45.0)
    assert metrics.sam(_cube_of([1, 2]), _cube_of([-1, -2])) == pytest.approx(180.0)
    # mean over pixels: 90 and 0 -> 45
    assert metrics.sam(_cube_of([1, 0], [1, 1]), _cube_of([0, 1], [2, 2])) == pytest.approx(45.0)


def test_sam_is_accurate_for_nearly_parallel_spectra():
    # angle between (1, 0) and (1, t) is atan(t); arccos of the rounded cosine loses it
    t = 1e-9
    angle = metrics.sam(_cube_of([1.0, 0.0]), _cube_of([1.0, t]), degrees=False)
    assert angle == pytest.approx(math.atan(t), rel=1e-6)


def test_sam_zero_spectra_policy_and_map():
    gt = _cube_of([1, 0], [0, 0], [1, 1])
    rec = _cube_of([0, 1], [1, 1], [0, 0])
    assert metrics.sam(_cube_of([1, 0], [0, 0]), _cube_of([0, 1], [1, 1])) == pytest.approx(90.0)
    with pytest.raises(KitError, match="all-zero"):
        metrics.sam(_cube_of([1, 0], [0, 0]), _cube_of([0, 1], [1, 1]), zero_policy="raise")
    with pytest.raises(KitError, match="all-zero"):
        metrics.sam(_cube_of([0, 0]), _cube_of([1, 1]))
    angle_map = metrics.sam_map(gt, rec)
    assert angle_map.shape == (1, 3)
    assert angle_map[0, 0] == pytest.approx(90.0)
    assert np.isnan(angle_map[0, 1]) and np.isnan(angle_map[0, 2])
    assert metrics.sam_map(gt, rec, degrees=False)[0, 0] == pytest.approx(math.pi / 2)


def test_gfc_parallel_orthogonal_and_hand_value():
    assert metrics.gfc(_cube_of([1, 2, 3]), _cube_of([3, 6, 9])) == pytest.approx(1.0)
    assert metrics.gfc(_cube_of([1, 2, 3]), _cube_of([-1, -2, -3])) == pytest.approx(1.0)  # |cos|
    assert metrics.gfc(_cube_of([1, 0]), _cube_of([0, 1])) == pytest.approx(0.0)
    value = metrics.gfc(_cube_of([1, 0], [1, 2]), _cube_of([1, 1], [2, 4]))
    assert value == pytest.approx((1 / math.sqrt(2) + 1) / 2)


# ----------------------------------------------------------- PSNR, RMSE, ERGAS


def test_psnr_and_rmse_closed_forms_for_a_constant_offset():
    gt = RNG.uniform(0.0, 1.0, (4, 5, 3))
    assert metrics.rmse(gt, gt + 0.1) == pytest.approx(0.1)
    assert metrics.psnr(gt, gt + 0.1, peak=1.0) == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert metrics.psnr(255 * gt, 255 * gt + 25.5, peak=255) == pytest.approx(20.0)
    assert metrics.psnr(gt, gt - 0.01, peak=1.0, mode="band_mean") == pytest.approx(40.0)
    # band offsets 0.1, 0.01, 0.001: per-band PSNR 20, 40, 60 -> mean 40; cube MSE (1e-2 + 1e-4 + 1e-6) / 3
    offsets = np.array([0.1, 0.01, 0.001])
    assert metrics.psnr(gt, gt + offsets, peak=1.0, mode="band_mean") == pytest.approx(40.0)
    assert metrics.psnr(gt, gt + offsets, peak=1.0) == pytest.approx(10 * math.log10(3 / (1e-2 + 1e-4 + 1e-6)))
    assert metrics.psnr(gt, gt, peak=1.0) == math.inf
    with pytest.raises(KitError, match="peak"):
        metrics.psnr(gt, gt, peak=0)
    with pytest.raises(KitError, match="mode"):
        metrics.psnr(gt, gt, peak=1.0, mode="bands")


def test_ergas_closed_form_for_a_constant_offset():
    gt = np.empty((3, 4, 2))
    gt[..., 0] = 2.0
    gt[..., 1] = 4.0
    # MSE_b = 0.25 in both bands; mean_b = 2, 4 -> sqrt((0.25/4 + 0.25/16) / 2)
    assert metrics.ergas(gt, gt + 0.5, ratio=4) == pytest.approx(100 / 4 * math.sqrt((0.25 / 4 + 0.25 / 16) / 2))
    assert metrics.ergas(gt, gt, ratio=4) == 0.0
    gt[..., 1] = 0.0
    with pytest.raises(KitError, match="zero mean"):
        metrics.ergas(gt, gt + 0.5, ratio=4)


# ---------------------------------------------------------------------------- SSIM


def test_ssim_matches_tf_image_ssim():
    import tensorflow as tf

    gt = RNG.random((32, 32, 3))
    rec = np.clip(gt + RNG.normal(scale=0.1, size=gt.shape), 0, 1)
    # tf.image.ssim: 11 x 11 Gaussian sigma 1.5, 'valid' filtering, K1 0.01, K2 0.03, mean over channels
    reference = float(tf.image.ssim(tf.constant(gt), tf.constant(rec), max_val=1.0))
    assert metrics.ssim(gt, rec, peak=1.0) == pytest.approx(reference, abs=1e-4)
    low = 0.5 + 0.02 * RNG.normal(size=(16, 20, 2))  # low contrast: the constants matter
    low_rec = low + 0.02 * RNG.normal(size=low.shape)
    reference = float(tf.image.ssim(tf.constant(low), tf.constant(low_rec), max_val=1.0))
    assert metrics.ssim(low, low_rec, peak=1.0) == pytest.approx(reference, abs=1e-4)


def test_ssim_identical_images_and_peak_scaling():
    gt = RNG.random((12, 13, 2))
    assert metrics.ssim(gt, gt, peak=1.0) == pytest.approx(1.0, abs=1e-12)
    rec = np.clip(gt + RNG.normal(scale=0.1, size=gt.shape), 0, 1)
    scaled = metrics.ssim(4095 * gt, 4095 * rec, peak=4095)
    assert scaled == pytest.approx(metrics.ssim(gt, rec, peak=1.0), abs=1e-9)
    with pytest.raises(KitError, match="at least 11"):
        metrics.ssim(gt[:10], rec[:10], peak=1.0)


# ----------------------------------------------------------------------- CIEDE2000

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation
# notes, supplementary test data, and mathematical observations", Table 1: Lab1, Lab2, dE00.
SHARMA_PAIRS = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((50.0000, 2.5000, 0.0000), (61.0000, -5.0000, 29.0000), 22.8977),
    ((50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize("lab1,lab2,published", SHARMA_PAIRS)
def test_ciede2000_published_test_pairs(lab1, lab2, published):
    value = metrics.ciede2000(np.array(lab1).reshape(1, 1, 3), np.array(lab2).reshape(1, 1, 3))
    assert value == pytest.approx(published, abs=1e-4)


def test_ciede2000_mean_over_pixels_and_mask():
    lab1 = np.array([p[0] for p in SHARMA_PAIRS[:6]]).reshape(2, 3, 3)
    lab2 = np.array([p[1] for p in SHARMA_PAIRS[:6]]).reshape(2, 3, 3)
    published = np.array([p[2] for p in SHARMA_PAIRS[:6]]).reshape(2, 3)
    assert metrics.ciede2000(lab1, lab2) == pytest.approx(published.mean(), abs=1e-4)
    mask = np.array([[True, False, False], [False, False, True]])
    assert metrics.ciede2000(lab1, lab2, mask=mask) == pytest.approx(published[mask].mean(), abs=1e-4)
    assert metrics.ciede2000(lab1, lab1) == 0.0
    with pytest.raises(KitError, match="3 channels"):
        metrics.ciede2000(np.ones((2, 2, 4)), np.ones((2, 2, 4)))


# ---------------------------------------------------------------------- bad input

CUBE_METRICS = {
    "rmse": lambda a, b: metrics.rmse(a, b),
    "rmse_per_pixel": lambda a, b: metrics.rmse_per_pixel(a, b),
    "rmse_rel_per_pixel": lambda a, b: metrics.rmse_rel_per_pixel(a, b),
    "yan_rmse1": lambda a, b: metrics.yan_rmse1(a, b),
    "yan_rmse2": lambda a, b: metrics.yan_rmse2(a, b),
    "yan_rrmse1": lambda a, b: metrics.yan_rrmse1(a, b),
    "yan_rrmse2": lambda a, b: metrics.yan_rrmse2(a, b),
    "mrae": lambda a, b: metrics.mrae(a, b),
    "sam": lambda a, b: metrics.sam(a, b),
    "sam_map": lambda a, b: metrics.sam_map(a, b),
    "gfc": lambda a, b: metrics.gfc(a, b),
    "psnr": lambda a, b: metrics.psnr(a, b, peak=1.0),
    "ssim": lambda a, b: metrics.ssim(a, b, peak=1.0),
    "ergas": lambda a, b: metrics.ergas(a, b, ratio=2),
    "ciede2000": lambda a, b: metrics.ciede2000(a, b),
}


def _bad_inputs():
    good = np.full((12, 12, 3), 0.5)
    nan = good.copy()
    nan[3, 4, 1] = np.nan
    inf = good.copy()
    inf[0, 0, 0] = np.inf
    return {
        "shape mismatch": (good, np.full((12, 11, 3), 0.5), "shapes differ"),
        "NaN in rec": (good, nan, "NaN/Inf"),
        "Inf in gt": (inf, good, "NaN/Inf"),
        "empty": (np.zeros((0, 12, 3)), np.zeros((0, 12, 3)), "empty"),
        "not H x W x C": (np.full((12, 12), 0.5), np.full((12, 12), 0.5), "H x W x C"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
@pytest.mark.parametrize("name", list(CUBE_METRICS))
def test_bad_input_raises_a_clear_value_error(name, case):
    a, b, message = _bad_inputs()[case]
    with pytest.raises(ValueError, match=message) as info:
        CUBE_METRICS[name](a, b)
    assert isinstance(info.value, KitError)
    assert str(info.value).startswith(f"{name}:")


@pytest.mark.parametrize(
    "mask,message",
    [(np.ones((2, 3), bool), "mask shape"), (np.zeros((2, 2), bool), "no pixel"), (np.full((2, 2), 0.5), "boolean")],
)
def test_bad_mask_raises(mask, message):
    with pytest.raises(KitError, match=message):
        metrics.rmse(GT, REC, mask=mask)


# ---------------------------------------------------------------- property tests

_shapes = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 6))


@st.composite
def _cube_pairs(draw):
    shape = draw(_shapes)
    values = st.floats(0.01, 1.0, allow_nan=False, allow_infinity=False)
    gt = draw(hnp.arrays(np.float64, shape, elements=values))
    rec = draw(hnp.arrays(np.float64, shape, elements=values))
    return gt, rec


@settings(max_examples=60, deadline=None)
@given(_cube_pairs())
def test_metric_properties(pair):
    gt, rec = pair
    assert metrics.rmse(gt, rec) >= 0.0
    assert metrics.rmse_per_pixel(gt, rec) <= metrics.rmse(gt, rec) + 1e-12
    assert 0.0 <= metrics.sam(gt, rec) <= 180.0
    assert 0.0 <= metrics.gfc(gt, rec) <= 1.0
    if np.any(gt != rec):
        assert math.isfinite(metrics.psnr(gt, rec, peak=1.0))
    # perfect values for identical inputs
    assert metrics.rmse(gt, gt) == 0.0
    assert metrics.rmse_per_pixel(gt, gt) == 0.0
    assert metrics.yan_rmse1(gt, gt) == 0.0 and metrics.yan_rrmse2(gt, gt) == 0.0
    assert metrics.mrae(gt, gt) == 0.0 and metrics.rmse_rel_per_pixel(gt, gt) == 0.0
    assert metrics.psnr(gt, gt, peak=1.0) == math.inf
    assert metrics.sam(gt, gt) == pytest.approx(0.0, abs=1e-6)
    assert metrics.gfc(gt, gt) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ergas(gt, gt, ratio=4) == 0.0


# --------------------------------------------------------------- Keras wrappers


def test_keras_metric_wrappers_match_numpy_metrics():
    y_true = RNG.uniform(0.05, 1.0, (3, 12, 12, 4))
    y_pred = np.clip(y_true + RNG.normal(scale=0.05, size=y_true.shape), 0.01, 1.0)
    y_pred[0, 0, 0] = 0.0  # an all-zero predicted spectrum: left out, as in sam()
    t, p = y_true.astype("float32"), y_pred.astype("float32")

    sam_metric = metrics.SAMMetric()
    sam_metric.update_state(t[:2], p[:2])
    sam_metric.update_state(t[2:], p[2:])
    # the mean over all pixels of all images = sam() of the images side by side
    side_by_side = (np.concatenate(list(y_true), axis=1), np.concatenate(list(y_pred), axis=1))
    assert float(sam_metric.result()) == pytest.approx(metrics.sam(*side_by_side), abs=2e-3)

    psnr_metric = metrics.PSNRMetric(peak=1.0, mode="band_mean")
    psnr_metric.update_state(t, p)
    expected = np.mean([metrics.psnr(y_true[b], y_pred[b], peak=1.0, mode="band_mean") for b in range(3)])
    assert float(psnr_metric.result()) == pytest.approx(expected, abs=1e-3)

    ssim_metric = metrics.SSIMMetric(max_val=1.0)
    ssim_metric.update_state(t, p)
    expected = np.mean([metrics.ssim(y_true[b], y_pred[b], peak=1.0) for b in range(3)])
    assert float(ssim_metric.result()) == pytest.approx(expected, abs=1e-4)

    for metric in (sam_metric, psnr_metric, ssim_metric):
        metric.reset_state()
        assert float(metric.result()) == 0.0
        assert type(metric).from_config(metric.get_config()).get_config() == metric.get_config()


def test_psnr_metric_cube_mode_and_perfect_image():
    y_true = RNG.random((2, 4, 4, 3)).astype("float32")
    metric = metrics.PSNRMetric(peak=1.0)
    metric.update_state(y_true, y_true + np.float32(0.1))
    assert float(metric.result()) == pytest.approx(20.0, abs=1e-3)
    metric.reset_state()
    metric.update_state(y_true, y_true)
    assert float(metric.result()) == pytest.approx(120.0, abs=1e-3)


def test_keras_metrics_in_compile_and_fit():
    inputs = keras.Input((12, 12, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.compile(optimizer="sgd", loss="mse",
                  metrics=[metrics.SAMMetric(), metrics.PSNRMetric(peak=1.0), metrics.SSIMMetric(1.0)])
    x = RNG.uniform(0.1, 1.0, (2, 12, 12, 3)).astype("float32")
    logs = model.evaluate(x, x, verbose=0, return_dict=True)
    assert {"sam", "psnr", "ssim"} <= set(logs)
    assert all(math.isfinite(v) for v in logs.values())


def test_rmse_band_mean_by_hand():
    # Band 0 errors (1, 1, 1, 1) -> RMSE 1; band 1 errors (3, 3, 3, 3) -> RMSE 3; mean 2.
    gt = np.zeros((2, 2, 2))
    rec = np.stack([np.ones((2, 2)), 3 * np.ones((2, 2))], axis=-1)
    assert metrics.rmse(gt, rec, mode="band_mean") == pytest.approx(2.0)
    assert metrics.rmse(gt, rec) == pytest.approx(np.sqrt(5.0))
    with pytest.raises(ValueError, match="mode must be one of"):
        metrics.rmse(gt, rec, mode="bands")
