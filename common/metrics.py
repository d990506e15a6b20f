"""Evaluation metrics of the five papers, in float64 NumPy, plus Keras metrics for logs.

Each paper reports its numbers under its own conventions (scale, averaging order, how
zeros are treated); every function below states them, so that a table in a paper folder
can say exactly which one it used. Inputs are ``H x W x C`` arrays (C spectral bands, or
3 Lab components for ``ciede2000``) holding the ground truth ``gt`` and the
reconstruction ``rec`` on the same scale; results are in the units of that scale unless
said otherwise (multiply both inputs by 255 to report on the 0-255 scale of unet_ms and
pix2pix_hs). Per-image values are averaged over images by ``common.evaluation``.

Conventions (each as defined by the paper or challenge named with it: the NTIRE 2018,
2020 and 2022 spectral-reconstruction challenge reports for ``rmse`` and ``mrae``):

* ``rmse``: sqrt of the mean squared error over the whole cube (NTIRE 2018/2020/2022).
* ``rmse_per_pixel`` / ``rmse_rel_per_pixel``: pix2pix_hs (Alvarez-Gila et al. 2017,
  Sec. 3.2) per-pixel RMSE over the spectrum, averaged over pixels.
* ``yan_rmse1``, ``yan_rmse2``, ``yan_rrmse1``, ``yan_rrmse2``: unet_ms (Yan et al. 2018,
  Table 2); RMSE1 and rRMSE1 are element-wise *absolute* errors despite their names.
* ``mrae``: NTIRE 2020 ``mean(|gt - rec| / gt)`` with an explicit policy for zeros.
* ``sam`` / ``sam_map``: spectral angle, degrees by default, mean over pixels.
* ``psnr``: explicit peak; one PSNR over the cube or the mean of per-band PSNRs.
* ``ssim``: Wang et al. (2004) per band, averaged over bands.
* ``gfc``: goodness-of-fit coefficient (Romero et al. 1997), mean over pixels.
* ``ergas``: Wald's relative dimensionless global error.
* ``ciede2000``: CIE 2000 colour difference (colour-science), mean over pixels.

Bad input (shape mismatch, NaN/Inf, empty arrays, a mask that selects nothing) raises
``common.io.KitError`` (a ``ValueError``) with one message naming the metric.
"""

import math

import keras
import numpy as np
from keras import ops

from common.io import KitError
from common.losses import spectral_angle, ssim_map

_PACKAGE = "hskit"

#: Policies for values that make a relative metric undefined (zeros in the truth) or an
#: angular one undefined (all-zero spectra).
ZERO_POLICIES = ("exclude", "epsilon", "raise")
#: ``sam``'s policies for all-zero spectra (see ``sam``).
SAM_ZERO_POLICIES = ("exclude", "right_angle", "raise")

# SSIM constants of Wang et al. (2004) and tf.image.ssim / keras.ops.image.ssim.
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


# --------------------------------------------------------------------------- validation


def _cube(array, what, metric):
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 3:
        raise KitError(f"{metric}: {what} must be an H x W x C array, got shape {array.shape}")
    if array.size == 0:
        raise KitError(f"{metric}: {what} is empty (shape {array.shape})")
    if not np.all(np.isfinite(array)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise KitError(f"{metric}: {what} contains {bad} NaN/Inf value(s)")
    return array


def _pair(gt, rec, metric, first="gt", second="rec"):
    gt = _cube(gt, first, metric)
    rec = _cube(rec, second, metric)
    if gt.shape != rec.shape:
        raise KitError(f"{metric}: {first} and {second} shapes differ: {gt.shape} vs {rec.shape}")
    return gt, rec


def _mask(mask, shape, metric):
    """The bool H x W mask (True = evaluate this pixel), or None."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != tuple(shape[:2]):
        raise KitError(
            f"{metric}: mask shape {mask.shape} does not match the image's H x W {tuple(shape[:2])}"
        )
    if mask.dtype != bool:
        if not np.all(np.isin(mask, (0, 1))):
            raise KitError(f"{metric}: mask must be boolean (or 0/1), got dtype {mask.dtype}")
        mask = mask.astype(bool)
    if not mask.any():
        raise KitError(f"{metric}: mask selects no pixel")
    return mask


def _pixels(gt, rec, mask, metric, first="gt", second="rec"):
    """Validated ``(N, C)`` float64 spectra of the evaluated pixels."""
    gt, rec = _pair(gt, rec, metric, first, second)
    mask = _mask(mask, gt.shape, metric)
    if mask is None:
        return gt.reshape(-1, gt.shape[-1]), rec.reshape(-1, rec.shape[-1])
    return gt[mask], rec[mask]


def _check_policy(zero_policy, metric, allowed=ZERO_POLICIES, what="zero_policy"):
    if zero_policy not in allowed:
        raise KitError(f"{metric}: {what} must be one of {allowed}, got {zero_policy!r}")


# -------------------------------------------------------------------- error magnitudes


def rmse(gt, rec, mask=None, mode="cube"):
    """Root mean squared error.

    ``mode='cube'`` (default): ``sqrt(mean((gt - rec)^2))``, one value over all pixels and
    bands of the image (NTIRE scorers). ``mode='band_mean'``: the RMSE of each 2-D band
    image, then the mean over bands (ms_ssfnet, Sec. 4.1, "computed on each 2D band
    image"); never larger than the cube value. Scale: the inputs' units. With ``mask``
    (bool H x W), over the selected pixels. Perfect value 0.
    """
    _check_policy(mode, "rmse", ("cube", "band_mean"), what="mode")
    gt, rec = _pixels(gt, rec, mask, "rmse")
    if mode == "band_mean":
        return float(np.mean(np.sqrt(np.mean((gt - rec) ** 2, axis=0))))
    return float(np.sqrt(np.mean((gt - rec) ** 2)))


def rmse_per_pixel(gt, rec, mask=None):
    """pix2pix_hs RMSE: per pixel over the spectrum, then the mean over pixels.

    ``mean_p sqrt(mean_c (gt[p, c] - rec[p, c])^2)`` (Alvarez-Gila et al. 2017, Sec. 3.2:
    "computed across the spectral dimension for each pixel and then averaging"). Never
    larger than ``rmse`` (Jensen). Scale: the inputs' units (the paper reports 0-255).
    ``mask`` (bool H x W) keeps only the selected pixels: pix2pix_hs excludes the black
    (all-zero) pixels of ICVL, e.g. ``mask=gt.any(axis=-1)``. Perfect value 0.
    """
    gt, rec = _pixels(gt, rec, mask, "rmse_per_pixel")
    return float(np.mean(np.sqrt(np.mean((gt - rec) ** 2, axis=-1))))


def rmse_rel_per_pixel(gt, rec, mask=None, zero_policy="exclude"):
    """pix2pix_hs RMSERel: per-pixel RMSE divided by that pixel's mean truth, then the
    mean over pixels: ``mean_p [sqrt(mean_c err[p, c]^2) / mean_c gt[p, c]]``. Unitless.

    The paper defines RMSERel only in words ("RMSE relative to the value of the real
    signal", averaged per pixel like its RMSE); its evaluation code is not public, so
    this per-pixel normalisation by the mean of the true spectrum is our reading, not a
    confirmed formula. The global variant ``rmse / mean(gt)`` is ``yan_rrmse2``.
    Pixels whose true spectrum has zero mean make the ratio undefined:
    ``zero_policy='exclude'`` (default) leaves them out of the mean, ``'raise'`` raises.
    Perfect value 0.
    """
    metric = "rmse_rel_per_pixel"
    _check_policy(zero_policy, metric, ("exclude", "raise"))
    gt, rec = _pixels(gt, rec, mask, metric)
    level = np.mean(gt, axis=-1)
    zero = level == 0
    if zero.any():
        if zero_policy == "raise" or zero.all():
            raise KitError(f"{metric}: {int(zero.sum())} pixel(s) have a zero-mean true spectrum")
        gt, rec, level = gt[~zero], rec[~zero], level[~zero]
    return float(np.mean(np.sqrt(np.mean((gt - rec) ** 2, axis=-1)) / level))


def yan_rmse1(gt, rec):
    """unet_ms "RMSE1": element-wise mean *absolute* error ``mean(|gt - rec|)``.

    Yan et al. (2018) Table 2 and their released code average ``|error|`` over all
    pixels and bands (a mean absolute error despite the name). Scale: the inputs' units;
    the paper reports on 0-255 (HS / 4095 * 255). Perfect value 0.
    """
    gt, rec = _pair(gt, rec, "yan_rmse1")
    return float(np.mean(np.abs(gt - rec)))


def yan_rmse2(gt, rec):
    """unet_ms "RMSE2": ``sqrt(mean((gt - rec)^2))`` over the whole cube (= ``rmse``).
    Scale: the inputs' units (paper: 0-255). Perfect value 0."""
    gt, rec = _pair(gt, rec, "yan_rmse2")
    return float(np.sqrt(np.mean((gt - rec) ** 2)))


def _relative_abs_errors(gt, rec, zero_policy, eps, metric):
    """``|gt - rec| / gt`` element-wise under a zero policy (a flat array)."""
    _check_policy(zero_policy, metric)
    err = np.abs(gt - rec)
    zero = gt == 0
    if zero_policy == "epsilon":
        eps = np.finfo(np.float64).eps if eps is None else float(eps)
        return err / (gt + eps)
    if zero.any():
        if zero_policy == "raise":
            raise KitError(
                f"{metric}: the truth has {int(zero.sum())} zero value(s); the relative error is "
                "undefined there (choose zero_policy='exclude' or 'epsilon')"
            )
        if zero.all():
            raise KitError(f"{metric}: every truth value is zero; the relative error is undefined")
        return err[~zero] / gt[~zero]
    return (err / gt).ravel()


def yan_rrmse1(gt, rec, zero_policy="exclude", eps=None):
    """unet_ms "rRMSE1": element-wise mean relative absolute error ``mean(|err| / gt)``.

    Same formula as ``mrae`` (Yan et al. Table 2 and released code). Unitless, so the
    scale of the inputs does not matter. Zeros in the truth: see ``mrae``'s policies
    (default 'exclude': zero truth elements are left out of the mean). Perfect value 0.
    """
    gt, rec = _pair(gt, rec, "yan_rrmse1")
    return float(np.mean(_relative_abs_errors(gt, rec, zero_policy, eps, "yan_rrmse1")))


def yan_rrmse2(gt, rec):
    """unet_ms "rRMSE2": ``sqrt(mean(err^2) / mean(gt)^2)`` = ``rmse / mean(gt)``.

    Both means over the whole cube. Unitless. Raises if the truth's mean is zero.
    Perfect value 0.
    """
    gt, rec = _pair(gt, rec, "yan_rrmse2")
    level = np.mean(gt)
    if level == 0:
        raise KitError("yan_rrmse2: the truth's mean is zero; the relative RMSE is undefined")
    return float(np.sqrt(np.mean((gt - rec) ** 2) / level**2))


def mrae(gt, rec, zero_policy="exclude", eps=None, mask=None):
    """Mean relative absolute error ``mean(|gt - rec| / gt)`` over all pixels and bands.

    NTIRE 2020 (and 2022) convention: no epsilon, no crop; the organisers' scorer gives
    Inf/NaN when the truth holds zeros, so on such data it has no defined value and the
    policy must be chosen:

    * ``'exclude'`` (default): elements with ``gt == 0`` are left out of the mean. On
      data without zeros this is exactly the NTIRE 2020 scorer.
    * ``'epsilon'``: divide by ``gt + eps``; ``eps=None`` means float64 machine epsilon,
      the NTIRE 2018 scorer's convention (zeros then dominate the mean: ``|err| / 2e-16``).
    * ``'raise'``: raise on any zero, the closest to the 2020 scorer's refusal to give a
      finite number.

    Unitless; perfect value 0. ``mask`` (bool H x W) selects the evaluated pixels.
    """
    gt, rec = _pixels(gt, rec, mask, "mrae")
    return float(np.mean(_relative_abs_errors(gt, rec, zero_policy, eps, "mrae")))


# ----------------------------------------------------------------------------- spectra


def _angles(gt, rec):
    """Angles in radians between rows of (N, C) arrays; NaN where either is all zero.

    Kahan's ``2 atan2(|u - v|, |u + v|)`` on unit vectors: accurate for nearly parallel
    spectra, where ``arccos`` of a rounded cosine loses half the digits.
    """
    norm_gt = np.linalg.norm(gt, axis=-1, keepdims=True)
    norm_rec = np.linalg.norm(rec, axis=-1, keepdims=True)
    defined = (norm_gt[:, 0] > 0) & (norm_rec[:, 0] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        u, v = gt / norm_gt, rec / norm_rec
        angle = 2.0 * np.arctan2(np.linalg.norm(u - v, axis=-1), np.linalg.norm(u + v, axis=-1))
    return np.where(defined, angle, np.nan)


def _defined(values, zero_policy, metric):
    """Drop NaN entries (all-zero spectra) under a zero policy; the rest as an array."""
    _check_policy(zero_policy, metric, ("exclude", "raise"))
    undefined = np.isnan(values)
    if undefined.any():
        if zero_policy == "raise" or undefined.all():
            raise KitError(
                f"{metric}: {int(undefined.sum())} of {values.size} pixel(s) have an all-zero true or "
                "reconstructed spectrum, where the spectral angle is undefined"
            )
        values = values[~undefined]
    return values


def sam(gt, rec, degrees=True, mask=None, zero_policy="exclude"):
    """Spectral angle mapper: the mean over pixels of the angle between the true and the
    reconstructed spectrum, ``arccos(<g, r> / (|g| |r|))``.

    Scale: degrees by default (unet_ms, drcnn_sam, ms_ssfnet), radians with
    ``degrees=False`` (NTIRE 2022). Range [0, 180] degrees; 0 for parallel spectra
    (it ignores intensity). ``mask`` (bool H x W) selects the evaluated pixels.

    The angle is undefined where either spectrum is all zero:

    * ``'exclude'`` (default): those pixels are left out of the mean, including pixels
      whose *reconstruction* is all zero (e.g. clipped to 0 everywhere) while the truth is
      not, so a method is not charged for them;
    * ``'right_angle'``: pixels whose true spectrum is all zero are left out (there is no
      spectrum to compare with); an all-zero reconstruction of a non-zero truth counts as
      90 degrees (cosine 0, the value of the epsilon-regularised
      ``arccos(<g, r> / (|g| |r| + eps))`` that common SAM code computes), so a method
      that loses a pixel's spectrum is charged for it (drcnn_sam, ms_ssfnet);
    * ``'raise'``: raise on any all-zero spectrum.
    """
    _check_policy(zero_policy, "sam", SAM_ZERO_POLICIES)
    gt, rec = _pixels(gt, rec, mask, "sam")
    angles = _angles(gt, rec)
    if zero_policy == "right_angle":
        truth = np.linalg.norm(gt, axis=-1) > 0
        if not truth.any():
            raise KitError(f"sam: all {truth.size} true spectra are all zero, where the spectral angle is undefined")
        lost = truth & ~(np.linalg.norm(rec, axis=-1) > 0)
        angles = np.where(lost, np.pi / 2, angles)[truth]
    else:
        angles = _defined(angles, zero_policy, "sam")
    mean = float(np.mean(angles))
    return math.degrees(mean) if degrees else mean


def sam_map(gt, rec, degrees=True):
    """Per-pixel spectral angle, an H x W float64 array in degrees (radians with
    ``degrees=False``); NaN where either spectrum is all zero (for error-map figures)."""
    gt, rec = _pair(gt, rec, "sam_map")
    angles = _angles(gt.reshape(-1, gt.shape[-1]), rec.reshape(-1, rec.shape[-1]))
    angles = angles.reshape(gt.shape[:2])
    return np.degrees(angles) if degrees else angles


def gfc(gt, rec, mask=None, zero_policy="exclude"):
    """Goodness-of-fit coefficient (Romero, Garcia-Beltran & Hernandez-Andres 1997),
    ``|<g, r>| / (|g| |r|)`` per pixel, mean over pixels (pix2pix_hs, Table 1).

    Unitless, in [0, 1], 1 for parallel spectra; it is ``|cos|`` of the spectral angle.
    Romero et al. call GFC >= 0.999 a very good fit. All-zero spectra: as ``sam``
    (``'exclude'`` by default, or ``'raise'``). ``mask`` selects the evaluated pixels.
    """
    gt, rec = _pixels(gt, rec, mask, "gfc")
    norms = np.linalg.norm(gt, axis=-1) * np.linalg.norm(rec, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.abs(np.sum(gt * rec, axis=-1)) / norms
    values = np.where(norms > 0, np.minimum(values, 1.0), np.nan)
    return float(np.mean(_defined(values, zero_policy, "gfc")))


# ---------------------------------------------------------------------- image quality


def _check_peak(peak, metric):
    if peak is None or not np.isfinite(peak) or peak <= 0:
        raise KitError(
            f"{metric}: peak must be a positive finite number (1, 255, 2^n - 1, ...), got {peak!r}"
        )
    return float(peak)


def psnr(gt, rec, peak, mode="cube", mask=None):
    """Peak signal-to-noise ratio in dB, ``10 log10(peak^2 / MSE)``, with an explicit peak.

    * ``mode='cube'``: one MSE over all pixels and bands (NTIRE 2022; drcnn_sam "over
      all bands and pixels").
    * ``mode='band_mean'``: the mean over bands of each band's PSNR (common in HS
      super-resolution code; ms_ssfnet's per-band convention).

    ``peak`` is the largest possible value on the inputs' scale (1.0 for [0, 1] data,
    255, or 2^n - 1 for n-bit data); it is required because papers differ on it. A zero
    MSE gives ``inf`` (identical images; in 'band_mean', any identical band).
    ``mask`` selects the pixels that enter the MSEs.
    """
    metric = "psnr"
    peak = _check_peak(peak, metric)
    if mode not in ("cube", "band_mean"):
        raise KitError(f"{metric}: mode must be 'cube' or 'band_mean', got {mode!r}")
    gt, rec = _pixels(gt, rec, mask, metric)
    squared = (gt - rec) ** 2
    mse_values = np.mean(squared) if mode == "cube" else np.mean(squared, axis=0)
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(peak**2 / mse_values)
    return float(np.mean(values))


def _gaussian_window(size=SSIM_WINDOW, sigma=SSIM_SIGMA):
    """Normalised 1-D Gaussian; the 2-D SSIM window is its outer product."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(image, g):
    """Separable 'valid' correlation of an H x W x C array with the window ``g x g``."""
    size = g.size
    rows = np.lib.stride_tricks.sliding_window_view(image, size, axis=0) @ g  # (H-k+1, W, C)
    return np.lib.stride_tricks.sliding_window_view(rows, size, axis=1) @ g  # (H-k+1, W-k+1, C)


def ssim(gt, rec, peak):
    """Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004), per band, averaged.

    Each band is compared as a grey image with the paper's defaults: 11 x 11 Gaussian
    window, sigma 1.5, K1 = 0.01, K2 = 0.03, ``C1 = (K1 peak)^2``, ``C2 = (K2 peak)^2``,
    statistics over 'valid' window positions only (as the authors' MATLAB code and
    ``tf.image.ssim``); the SSIM map is averaged over positions, then over bands.
    Unitless, at most 1 (identical images). ``peak`` is the inputs' dynamic range.
    Images must be at least 11 x 11.
    """
    metric = "ssim"
    peak = _check_peak(peak, metric)
    gt, rec = _pair(gt, rec, metric)
    if min(gt.shape[:2]) < SSIM_WINDOW:
        raise KitError(f"{metric}: images must be at least {SSIM_WINDOW} x {SSIM_WINDOW}, got {gt.shape[:2]}")
    g = _gaussian_window()
    c1, c2 = (SSIM_K1 * peak) ** 2, (SSIM_K2 * peak) ** 2
    mu_x, mu_y = _filter_valid(gt, g), _filter_valid(rec, g)
    var_x = _filter_valid(gt * gt, g) - mu_x**2
    var_y = _filter_valid(rec * rec, g) - mu_y**2
    cov = _filter_valid(gt * rec, g) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(np.mean(np.mean(ssim_map, axis=(0, 1))))


def ergas(gt, rec, ratio, mask=None):
    """ERGAS (Wald 2000), ``(100 / ratio) * sqrt(mean_b(MSE_b / mu_b^2))``.

    ``MSE_b`` is band b's mean squared error and ``mu_b`` the mean of the true band b.
    ``ratio`` is the resolution factor between the high- and the low-resolution input
    (e.g. 4 for x4 super-resolution, 16 for ms_ssfnet's fusion); Wald writes the
    prefactor ``100 h / l`` with the pixel-size ratio ``h / l = 1 / ratio``. Unitless
    (percent-like), perfect value 0. Raises if a true band has zero mean.
    """
    metric = "ergas"
    if ratio is None or not np.isfinite(ratio) or ratio <= 0:
        raise KitError(f"{metric}: ratio must be a positive number, got {ratio!r}")
    gt, rec = _pixels(gt, rec, mask, metric)
    band_mean = np.mean(gt, axis=0)
    if np.any(band_mean == 0):
        raise KitError(f"{metric}: {int(np.sum(band_mean == 0))} true band(s) have zero mean")
    band_mse = np.mean((gt - rec) ** 2, axis=0)
    return float(100.0 / ratio * np.sqrt(np.mean(band_mse / band_mean**2)))


def ciede2000(lab1, lab2, mask=None):
    """Mean CIEDE2000 colour difference (Delta E 00) over pixels of two H x W x 3 CIELAB
    images (L* in [0, 100]), as pix2pix_hs reports it (Table 1).

    The arithmetic is colour-science's ``colour.delta_E(method='CIE 2000')`` (the
    Sharma, Wu & Dalal 2005 formulation, kL = kC = kH = 1). Render both cubes to Lab
    with the same illuminant/observer first (``data_prep.render``). ``mask`` selects the
    evaluated pixels (pix2pix_hs excludes black pixels). Perfect value 0; about 1 is a
    just-noticeable difference.
    """
    metric = "ciede2000"
    lab1, lab2 = _pixels(lab1, lab2, mask, metric, "lab1", "lab2")
    if lab1.shape[-1] != 3:
        raise KitError(f"{metric}: Lab images must have 3 channels (L*, a*, b*), got {lab1.shape[-1]}")
    import colour  # imported here: colour-science is slow to import and only needed here

    return float(np.mean(colour.delta_E(lab1, lab2, method="CIE 2000")))


# ------------------------------------------------------------- Keras metrics for logs


def _weights(sample_weight, batch, dtype):
    if sample_weight is None:
        return ops.ones((batch,), dtype=dtype)
    return ops.reshape(ops.cast(sample_weight, dtype), (batch,))


class _RunningMean(keras.metrics.Metric):
    """A weighted running mean for training logs: subclasses return the values to average
    and their weights for one batch (``_values``)."""

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values, weight = self._values(ops.cast(y_true, self.dtype), ops.cast(y_pred, self.dtype), sample_weight)
        self.total.assign_add(ops.sum(values * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SAMMetric(_RunningMean):
    """Running mean spectral angle over all pixels seen, in degrees (radians with
    ``degrees=False``), for training logs. Pixels where the true or the predicted spectrum
    is all zero are left out, as in ``sam``'s default policy. Same formula as ``sam``
    in float32 (``keras.ops``); use ``sam`` for reported numbers."""

    def __init__(self, degrees=True, name="sam", **kwargs):
        super().__init__(name=name, **kwargs)
        self.degrees = bool(degrees)

    def _values(self, y_true, y_pred, sample_weight):
        defined = ops.logical_and(
            ops.any(ops.not_equal(y_true, 0), axis=-1), ops.any(ops.not_equal(y_pred, 0), axis=-1)
        )
        weight = ops.cast(defined, self.dtype)
        if sample_weight is not None:
            per_sample = _weights(sample_weight, ops.shape(y_true)[0], self.dtype)
            weight = weight * ops.reshape(per_sample, (-1,) + (1,) * (len(weight.shape) - 1))
        return spectral_angle(y_true, y_pred), weight

    def result(self):
        mean = super().result()
        return mean * (180.0 / math.pi) if self.degrees else mean

    def get_config(self):
        return {**super().get_config(), "degrees": self.degrees}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PSNRMetric(_RunningMean):
    """Running mean over images of the per-image PSNR in dB with an explicit ``peak``
    (``mode`` 'cube' or 'band_mean' as in ``psnr``), for training logs. The MSE is
    floored at ``1e-12 * peak^2`` so that a perfect image logs 120 dB instead of inf."""

    def __init__(self, peak=1.0, mode="cube", name="psnr", **kwargs):
        super().__init__(name=name, **kwargs)
        if mode not in ("cube", "band_mean"):
            raise ValueError(f"PSNRMetric: mode must be 'cube' or 'band_mean', got {mode!r}")
        self.peak = float(peak)
        self.mode = mode

    def _values(self, y_true, y_pred, sample_weight):
        squared = ops.square(y_pred - y_true)
        rank = len(squared.shape)
        if self.mode == "cube":
            mse_values = ops.mean(squared, axis=tuple(range(1, rank)))
        else:
            mse_values = ops.mean(squared, axis=tuple(range(1, rank - 1)))
        mse_values = ops.maximum(mse_values, 1e-12 * self.peak**2)
        values = 10.0 * ops.log10(self.peak**2 / mse_values)
        if self.mode == "band_mean":
            values = ops.mean(values, axis=-1)
        return values, _weights(sample_weight, ops.shape(values)[0], self.dtype)

    def get_config(self):
        return {**super().get_config(), "peak": self.peak, "mode": self.mode}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SSIMMetric(_RunningMean):
    """Running mean over images of SSIM averaged over bands (``common.losses.ssim_map``
    at the 'valid' positions, float32: ``tf.image.ssim``'s value, Wang et al. constants,
    11 x 11 Gaussian sigma 1.5), with ``max_val`` the data range, for training logs.
    Images must be at least 11 x 11."""

    def __init__(self, max_val=1.0, name="ssim", **kwargs):
        super().__init__(name=name, **kwargs)
        self.max_val = float(max_val)

    def _values(self, y_true, y_pred, sample_weight):
        values = ops.mean(ssim_map(y_true, y_pred, max_val=self.max_val, positions="valid"), axis=(1, 2, 3))
        values = ops.cast(values, self.dtype)
        return values, _weights(sample_weight, ops.shape(values)[0], self.dtype)

    def get_config(self):
        return {**super().get_config(), "max_val": self.max_val}
