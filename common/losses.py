"""Training losses shared by the papers, written with ``keras.ops`` only.

* ``sam_loss``: mean spectral angle in radians (drcnn_sam's spectral term ``l2``, its
  eq. 2 read as an angle), computed with a formulation whose value and gradient stay
  finite when the prediction equals the truth and when a spectrum is all zeros.
* ``ssim_loss``: ``1 - SSIM`` averaged over bands (rdab_coordconv eq. 14's second term).
* ``mrae_loss``: mean relative absolute error, the NTIRE 2020 ranking metric.
* ``half_mse`` (MSE / 2, drcnn_sam's l1 term and the rdab_coordconv release's loss up to
  normalisation), ``mse`` (unet_ms, ms_ssfnet), ``l1`` (pix2pix_hs's L1 term).
* ``weighted_sum``: ``sum_i w_i * loss_i`` (drcnn_sam's eq. 3 ``a * l1 + (1 - a) * l2``
  and rdab_coordconv's eq. 14 ``L2 + (1 - SSIM)``); ``deep_supervision`` builds the ``compile``
  arguments for multi-output models (drcnn_sam's intermediate output, ms_ssfnet's
  multi-level loss).

Every loss takes ``(y_true, y_pred)`` batches shaped ``(B, ..., C)`` (spectra on the last
axis, NHWC images in this kit) and returns one value per sample, shape ``(B,)``, the mean
over all other axes; Keras then averages over the batch ("sum_over_batch_size"). All are
registered serializable so compiled models save to ``.keras`` and load back with them.
"""

import math

import keras
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
def l1(y_true, y_pred):
    """Mean absolute error per sample, in data units."""
    y_true, y_pred = _as_pair(y_true, y_pred)
    return _per_sample_mean(ops.abs(y_pred - y_true))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SSIMLoss(keras.losses.Loss):
    """``1 - SSIM`` per image, SSIM averaged over bands (channels).

    Wang et al. (2004) SSIM as ``keras.ops.image.ssim`` computes it (it matches
    ``tf.image.ssim``): constants K1 = 0.01, K2 = 0.03, 11 x 11 Gaussian window with
    sigma 1.5, 'valid' filtering (images must be at least 11 x 11), each band compared as
    a grey image, then the mean over bands. ``max_val`` is the data's dynamic range
    (1.0 for data in [0, 1]). Range [0, 2]; 0 for identical images. Computed in the
    input dtype: in float32 the variances ``E[x^2] - mu^2`` lose digits when the data
    sit far from zero (raw 0-4095 values), so train on data scaled to about [0, 1].
    """

    def __init__(self, max_val=1.0, name="ssim_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.max_val = float(max_val)

    def call(self, y_true, y_pred):
        y_true, y_pred = _as_pair(y_true, y_pred)
        return 1.0 - ops.image.ssim(y_true, y_pred, max_val=self.max_val, data_format="channels_last")

    def get_config(self):
        return {**super().get_config(), "max_val": self.max_val}


def ssim_loss(max_val=1.0):
    """The ``SSIMLoss(max_val)`` loss function: 1 - mean SSIM over bands."""
    return SSIMLoss(max_val=max_val)


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
