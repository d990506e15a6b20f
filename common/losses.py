"""Training losses shared by the papers, written with ``keras.ops`` only.

* ``sam_loss``: mean spectral angle in radians (drcnn_sam's spectral term ``l2``, its
  eq. 2 read as an angle), computed with a formulation whose value and gradient stay
  finite when the prediction equals the truth and when a spectrum is all zeros.
* ``ssim_map`` / ``ssim_loss``: Wang et al.'s SSIM per pixel and band (the constants and
  window of ``tf.image.ssim``) and ``1 - SSIM`` averaged over positions and bands
  (rdab_coordconv eq. 14's second term; the running ``common.metrics.SSIMMetric``), at
  the ``"valid"`` window positions (``tf.image.ssim``) or at ``"all"`` pixels (the window
  cut at the border and renormalised). Computed in float32 with a separable blur (see
  ``_gaussian_blur``), several times faster than ``keras.ops.image.ssim``.
* ``mrae_loss``: mean relative absolute error, the NTIRE 2020 ranking metric.
* ``half_mse`` (MSE / 2), ``half_sse`` (half the sum of squared errors of a sample:
  drcnn_sam's l1 term, its baselines' loss, the rdab_coordconv release's loss),
  ``one_minus_cos`` (the cosine reading of drcnn_sam's spectral term), ``mse`` (unet_ms,
  ms_ssfnet), ``l1`` (pix2pix_hs's L1 term).
* ``weighted_sum``: ``sum_i w_i * loss_i`` (drcnn_sam's eq. 3 ``a * l1 + (1 - a) * l2``
  and rdab_coordconv's eq. 14 ``L2 + (1 - SSIM)``); ``deep_supervision`` builds the ``compile``
  arguments for multi-output models (drcnn_sam's intermediate output, ms_ssfnet's
  multi-level loss).

Every loss takes ``(y_true, y_pred)`` batches shaped ``(B, ..., C)`` (spectra on the last
axis, NHWC images in this kit) and returns one value per sample, shape ``(B,)``, the mean
over all other axes; Keras then averages over the batch ("sum_over_batch_size"). All are
registered serializable so compiled models save to ``.keras`` and load back with them.
"""

import functools
import math

import keras
import numpy as np
from keras import ops

_PACKAGE = "hskit"

#: Added to squared spectrum norms in ``sam_loss`` before the square root. It floors the
#: norm at 1e-4, so the gradient at an all-zero spectrum is bounded (by about 1e4 per unit
#: of angle) instead of infinite; on data scaled to about [0, 1] a real spectrum of 31
#: bands has a squared norm far above it.
SAM_EPS = 1e-8
#: Added under the square roots of ``|u - v|`` and ``|u + v|`` in ``sam_loss`` (unit
#: vectors u, v): keeps both finite-gradient at 0; biases the angle by about 1e-6 rad.
_SAM_DELTA = 1e-12

#: SSIM of Wang et al. (2004) with the constants and window of ``tf.image.ssim`` and
#: ``keras.ops.image.ssim``: an 11 x 11 Gaussian window of sigma 1.5 (separable: the
#: outer product of a normalised 1-D Gaussian), ``C1 = (K1 max_val)^2``,
#: ``C2 = (K2 max_val)^2``.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
#: Where the SSIM map is evaluated: ``"valid"``, the window positions that fit inside the
#: image (``tf.image.ssim``; the map is ``(H - 10) x (W - 10)``); ``"all"``, every pixel,
#: the window cut to the pixels inside the image and renormalised to sum to 1 (equal to
#: the valid map 5 pixels or more from the border).
SSIM_POSITIONS = ("valid", "all")


def _per_sample_mean(values):
    """Mean over every axis but the first (batch): shape ``(B,)``."""
    if len(values.shape) <= 1:
        return values
    return ops.mean(values, axis=tuple(range(1, len(values.shape))))


def _as_pair(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    if not keras.backend.is_float_dtype(y_pred.dtype):
        y_pred = ops.cast(y_pred, keras.config.floatx())
    return ops.cast(y_true, y_pred.dtype), y_pred


def _call_unreduced(loss, y_true, y_pred):
    """Per-sample values of a loss function or of a ``keras.losses.Loss`` instance."""
    if isinstance(loss, keras.losses.Loss):
        return _per_sample_mean(loss.call(y_true, y_pred))
    return _per_sample_mean(loss(y_true, y_pred))


def spectral_angle(y_true, y_pred, eps=SAM_EPS):
    """Per-pixel spectral angle in radians, shape ``y_true.shape[:-1]``, range [0, pi].

    Uses Kahan's form ``2 atan2(|u - v|, |u + v|)`` on the unit spectra ``u, v``: it is
    accurate near 0 and pi where ``arccos(u . v)`` is not, and its derivative stays
    bounded where arccos's is infinite (cos = 1, i.e. prediction == truth). A true
    spectrum that is all zeros gives a constant pi/2 with zero gradient (that pixel
    neither helps nor hurts); a predicted all-zero spectrum gives pi/2 with a finite
    gradient that pushes it towards the truth's direction.
    """
    y_true, y_pred = _as_pair(y_true, y_pred)
    u = y_true / ops.sqrt(ops.sum(ops.square(y_true), axis=-1, keepdims=True) + eps)
    v = y_pred / ops.sqrt(ops.sum(ops.square(y_pred), axis=-1, keepdims=True) + eps)
    minus = ops.sqrt(ops.sum(ops.square(u - v), axis=-1) + _SAM_DELTA)
    plus = ops.sqrt(ops.sum(ops.square(u + v), axis=-1) + _SAM_DELTA)
    return 2.0 * ops.arctan2(minus, plus)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def sam_loss(y_true, y_pred):
    """Mean spectral angle in radians over pixels (spectra on the last axis), per sample.

    Range [0, pi]; 0 for parallel spectra (scale-invariant). Finite value and finite
    gradient at ``y_pred == y_true`` and at all-zero spectra; see ``spectral_angle``
    and ``SAM_EPS`` for the stabilisation.
    """
    return _per_sample_mean(spectral_angle(y_true, y_pred))


@keras.saving.register_keras_serializable(package=_PACKAGE)
def mse(y_true, y_pred):
    """Mean squared error per sample, in squared data units."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    return _per_sample_mean(ops.square(y_pred - y_true))


@keras.saving.register_keras_serializable(package=_PACKAGE)
def half_mse(y_true, y_pred):
    """MSE / 2 per sample (drcnn_sam's ``l1``; the 1/2 makes the gradient the residual)."""
    return 0.5 * mse(y_true, y_pred)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def half_sse(y_true, y_pred):
    """Half the sum of squared errors of each sample, ``1/2 ||y - y_hat||^2`` over every
    pixel and band: Caffe's EuclideanLoss (drcnn_sam's eq. 1, the loss of SRCNN and VDSR)
    and the rdab_coordconv release's ``sum_squared_error``."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    squared = ops.square(y_pred - y_true)
    return 0.5 * ops.sum(squared, axis=tuple(range(1, len(squared.shape))))


@keras.saving.register_keras_serializable(package=_PACKAGE)
def one_minus_cos(y_true, y_pred):
    """Mean over pixels of ``1 - cos`` of the spectral angle, per sample (the cosine
    reading of drcnn_sam's eq. 2; ``sam_loss`` is the angle reading)."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    dot = ops.sum(y_true * y_pred, axis=-1)
    norms = ops.sqrt(ops.sum(ops.square(y_true), axis=-1) * ops.sum(ops.square(y_pred), axis=-1) + 1e-12)
    return _per_sample_mean(1.0 - dot / norms)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def l1(y_true, y_pred):
    """Mean absolute error per sample, in data units."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    return _per_sample_mean(ops.abs(y_pred - y_true))


def _check_positions(positions):
    if positions not in SSIM_POSITIONS:
        raise ValueError(f"ssim: unknown positions {positions!r}; choose one of {SSIM_POSITIONS}")


def _gaussian_1d():
    """The normalised 1-D Gaussian of the SSIM window, float64, length ``SSIM_WINDOW``."""
    offsets = np.arange(SSIM_WINDOW, dtype=np.float64) - (SSIM_WINDOW - 1) / 2.0
    g = np.exp(-(offsets**2) / (2.0 * SSIM_SIGMA**2))
    return g / g.sum()


@functools.lru_cache(maxsize=64)
def _blur_matrix(n, positions):
    """Banded 1-D blur along an axis of length ``n`` as a float32 matrix ``(rows, n)``: row
    ``i`` holds the Gaussian centred on input ``i + 5`` (``"valid"``, ``n - 10`` rows) or on
    input ``i`` cut to ``[0, n)`` and renormalised to sum 1 (``"all"``, ``n`` rows)."""
    g = _gaussian_1d()
    half = SSIM_WINDOW // 2
    rows = n - 2 * half if positions == "valid" else n
    centres = np.arange(rows) + (half if positions == "valid" else 0)
    taps = centres[:, None] + np.arange(SSIM_WINDOW)[None, :] - half  # (rows, window)
    inside = (taps >= 0) & (taps < n)
    matrix = np.zeros((rows, n))
    row_index = np.broadcast_to(np.arange(rows)[:, None], taps.shape)
    matrix[row_index[inside], taps[inside]] = np.broadcast_to(g, taps.shape)[inside]
    if positions == "all":
        matrix /= matrix.sum(axis=1, keepdims=True)
    matrix = matrix.astype("float32")
    matrix.flags.writeable = False  # shared by the cache
    return matrix


def _blur_form():
    """The blur form for the active backend (see ``_gaussian_blur``)."""
    return "depthwise" if keras.backend.backend() == "tensorflow" else "matmul"


def _gaussian_blur(x, positions, form=None):
    """Separable SSIM Gaussian blur of a float32 ``(B, H, W, K)`` tensor, each channel on
    its own: ``(B, H - 10, W - 10, K)`` for ``"valid"``, ``(B, H, W, K)`` for ``"all"``
    (window cut at the border, renormalised: the product of the two 1-D renormalisations).

    Two forms, same numbers (to float32 rounding): ``"depthwise"``, two 1-D depthwise
    convolutions (11 x 1, then 1 x 11; for ``"all"`` zero padding then a division by the
    blurred map of ones), and ``"matmul"``, the banded matrices of ``_blur_matrix``
    applied to channels-first data (``G_h x G_w^T``). ``form=None``: ``_blur_form()``,
    depthwise on TensorFlow, matmul on the other backends (JAX, torch).
    Measured on a 2-core CPU, ``ssim_map(positions="all")`` forward + backward on
    (16, 64, 64, 31), the rdab_coordconv paper batch: TensorFlow depthwise 240 ms, matmul
    472 ms (TF's CPU matmul multiplies the whole dense band, FLOP-bound); JAX depthwise
    about 2200 ms (XLA's CPU depthwise convolutions are slow), matmul 143 ms (idle
    machine; the same ranking under load). The matmul form needs static ``H`` and ``W``
    (always so on JAX and torch); the depthwise form also takes ``None`` sizes.
    """
    if form is None:
        form = _blur_form()
    channels = x.shape[-1]
    if form == "depthwise":
        g = _gaussian_1d().astype("float32")
        padding = "valid" if positions == "valid" else "same"

        def blur(values, k):
            along_h = ops.convert_to_tensor(np.tile(g[:, None, None, None], (1, 1, k, 1)))
            along_w = ops.convert_to_tensor(np.tile(g[None, :, None, None], (1, 1, k, 1)))
            values = ops.depthwise_conv(values, along_h, strides=1, padding=padding)
            return ops.depthwise_conv(values, along_w, strides=1, padding=padding)

        blurred = blur(x, channels)
        if positions == "all":
            blurred = blurred / blur(ops.ones_like(x[:1, :, :, :1]), 1)
        return blurred
    if form == "matmul":
        height, width = x.shape[1], x.shape[2]
        if height is None or width is None:
            raise ValueError(f"ssim: the matmul blur needs static image sizes, got shape {x.shape}")
        along_h = ops.convert_to_tensor(_blur_matrix(height, positions))
        along_w_t = ops.convert_to_tensor(_blur_matrix(width, positions).T)
        x = ops.transpose(x, (0, 3, 1, 2))  # (B, K, H, W)
        x = ops.matmul(along_h, ops.matmul(x, along_w_t))
        return ops.transpose(x, (0, 2, 3, 1))
    raise ValueError(f"ssim: unknown blur form {form!r}; choose 'depthwise' or 'matmul'")


def ssim_map(y_true, y_pred, max_val=1.0, positions="valid"):
    """Wang et al. (2004) SSIM at each pixel and band of NHWC batches, float32.

    Each band is compared as a grey image with the constants and window of
    ``tf.image.ssim`` (``SSIM_WINDOW``, ``SSIM_SIGMA``, ``SSIM_K1``, ``SSIM_K2``);
    ``max_val`` is the data's dynamic range (1.0 for data in [0, 1]). ``positions``:
    ``"valid"`` gives ``(B, H - 10, W - 10, C)``, whose mean over positions and bands is
    ``tf.image.ssim``'s value (images at least 11 x 11); ``"all"`` gives ``(B, H, W, C)``,
    the window cut at the border and renormalised over the pixels inside. At most 1
    (identical images). Inputs of any float dtype are cast to float32 first; even so the
    variances ``E[x^2] - mu^2`` lose digits when the data sit far from zero (raw 0-4095
    values), so use data scaled to about [0, 1].
    """
    _check_positions(positions)
    max_val = float(max_val)
    if not (math.isfinite(max_val) and max_val > 0):
        raise ValueError(f"ssim: max_val must be a positive number, got {max_val!r}")
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if len(y_pred.shape) != 4 or len(y_true.shape) != 4:
        raise ValueError(f"ssim: expected (B, H, W, C) batches, got shapes {y_true.shape} and {y_pred.shape}")
    for a, b in zip(y_true.shape[1:], y_pred.shape[1:]):
        if a is not None and b is not None and a != b:
            raise ValueError(f"ssim: y_true and y_pred shapes differ: {y_true.shape} vs {y_pred.shape}")
    if positions == "valid":
        for size in y_pred.shape[1:3]:
            if size is not None and size < SSIM_WINDOW:
                raise ValueError(
                    f"ssim: images must be at least {SSIM_WINDOW} x {SSIM_WINDOW} for positions='valid', "
                    f"got {tuple(y_pred.shape[1:3])}; use positions='all' for smaller images"
                )
    bands = y_pred.shape[-1]
    # One blur for the four local sums; tf.image.ssim blurs x^2 + y^2 together too.
    stacked = ops.concatenate([y_true, y_pred, y_true * y_true + y_pred * y_pred, y_true * y_pred], axis=-1)
    blurred = _gaussian_blur(stacked, positions)
    mu_t = blurred[..., :bands]
    mu_p = blurred[..., bands : 2 * bands]
    mean_squares = blurred[..., 2 * bands : 3 * bands]
    mean_product = blurred[..., 3 * bands :]
    c1, c2 = (SSIM_K1 * max_val) ** 2, (SSIM_K2 * max_val) ** 2
    mu_product = mu_t * mu_p
    mu_squares = mu_t * mu_t + mu_p * mu_p
    luminance = (2.0 * mu_product + c1) / (mu_squares + c1)
    contrast_structure = (2.0 * (mean_product - mu_product) + c2) / ((mean_squares - mu_squares) + c2)
    return luminance * contrast_structure


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SSIMLoss(keras.losses.Loss):
    """``1 - SSIM`` per image: one minus the mean of ``ssim_map`` over positions and bands,
    shape ``(B,)``, float32.

    ``positions="valid"`` is ``1 - tf.image.ssim`` (images at least 11 x 11); ``"all"``
    averages over every pixel, the window cut at the border and renormalised (see
    ``ssim_map``). ``max_val`` is the data's dynamic range (1.0 for data in [0, 1]).
    Range [0, 2]; 0 for identical images. Train on data scaled to about [0, 1] (see
    ``ssim_map`` on float32 variances).
    """

    def __init__(self, max_val=1.0, positions="valid", name="ssim_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        _check_positions(positions)
        self.max_val = float(max_val)
        if not (math.isfinite(self.max_val) and self.max_val > 0):
            raise ValueError(f"ssim_loss: max_val must be a positive number, got {max_val!r}")
        self.positions = positions

    def call(self, y_true, y_pred):
        values = ssim_map(y_true, y_pred, max_val=self.max_val, positions=self.positions)
        return 1.0 - ops.mean(values, axis=(1, 2, 3))

    def get_config(self):
        return {**super().get_config(), "max_val": self.max_val, "positions": self.positions}


def ssim_loss(max_val=1.0, positions="valid"):
    """The ``SSIMLoss(max_val, positions)`` loss: 1 - mean SSIM over positions and bands."""
    return SSIMLoss(max_val=max_val, positions=positions)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MRAELoss(keras.losses.Loss):
    """Mean relative absolute error ``mean(|y_pred - y_true| / (|y_true| + eps))``.

    The NTIRE 2020 metric divides by the truth with no epsilon; for training, ``eps``
    (default 1e-4, in data units, meant for data in about [0, 1]) bounds each element's
    gradient by ``1 / eps`` and keeps zeros in the truth finite; it lowers the value of
    an element by the factor ``truth / (truth + eps)``. ``|y_true|`` keeps the denominator
    positive should the truth hold small negative noise. Unitless.
    """

    def __init__(self, eps=1e-4, name="mrae_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not eps > 0:
            raise ValueError(f"mrae_loss: eps must be > 0, got {eps!r}")
        self.eps = float(eps)

    def call(self, y_true, y_pred):
        y_true, y_pred = _as_pair(y_true, y_pred)
        return _per_sample_mean(ops.abs(y_pred - y_true) / (ops.abs(y_true) + self.eps))

    def get_config(self):
        return {**super().get_config(), "eps": self.eps}


def mrae_loss(eps=1e-4):
    """The ``MRAELoss(eps)`` loss function (see its docstring for the epsilon)."""
    return MRAELoss(eps=eps)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WeightedSum(keras.losses.Loss):
    """``sum_i weight_i * loss_i(y_true, y_pred)`` per sample, for one model output.

    ``terms`` is a sequence of ``(weight, loss)`` pairs; each loss is a function of this
    module (or any registered loss function) or a ``keras.losses.Loss`` instance.
    """

    def __init__(self, terms, name="weighted_sum", **kwargs):
        super().__init__(name=name, **kwargs)
        terms = [(float(w), keras.losses.get(loss)) for w, loss in terms]
        if not terms:
            raise ValueError("weighted_sum: at least one (weight, loss) pair is needed")
        for w, _ in terms:
            if not math.isfinite(w):
                raise ValueError(f"weighted_sum: weight {w} is not finite")
        self.terms = terms

    def call(self, y_true, y_pred):
        total = 0.0
        for weight, loss in self.terms:
            total = total + weight * _call_unreduced(loss, y_true, y_pred)
        return total

    def get_config(self):
        terms = [[w, keras.saving.serialize_keras_object(loss)] for w, loss in self.terms]
        return {**super().get_config(), "terms": terms}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["terms"] = [(w, keras.saving.deserialize_keras_object(loss)) for w, loss in config["terms"]]
        return cls(**config)


def weighted_sum(*terms):
    """``weighted_sum((0.5, half_mse), (0.5, sam_loss))`` -> a loss for ``compile``.

    For several outputs (deep supervision) give Keras one loss per output instead, see
    ``deep_supervision``.
    """
    return WeightedSum(terms)


def deep_supervision(loss, weights):
    """``compile`` keyword arguments applying ``loss`` to every output of a multi-output
    model, output ``k`` weighted by ``weights[k]``: the total is
    ``sum_k weights[k] * loss(y_true_k, y_pred_k)``.

    ``model.compile(optimizer, **deep_supervision(half_mse, [1.0, 1.0]))``; fit with
    targets ``(y_1, ..., y_K)`` in the order of the model's outputs (drcnn_sam: the
    intermediate and the final reconstruction against the same truth; ms_ssfnet: the x4
    intermediate target and the full-resolution one).
    """
    weights = [float(w) for w in weights]
    if not weights:
        raise ValueError("deep_supervision: give one weight per model output")
    return {"loss": [loss] * len(weights), "loss_weights": weights}
