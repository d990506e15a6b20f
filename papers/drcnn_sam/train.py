"""Training of drcnn_sam and of its band-by-band baselines (Sec. 3.2 and 4.1).

- Loss (eq. 3): ``L = alpha * l1 + (1 - alpha) * l2`` with alpha = 0.5, l1 the halved
  squared error of eq. (1) and l2 the spectral-angle term (eq. 2), applied to the
  supervised output after sub-network 3 and to the final output (Sec. 3.1), equal weights.
- How eq. (1)'s squared error is reduced over a training patch (``train.l1_reduction``)
  decides how much the angle term weighs in eq. (3); the paper profile uses
  ``"spectrum"``: ``1/2 ||y_j - y_hat_j||^2`` of each spectral vector, averaged over the
  ``N * Nm`` spectra like eq. (2), so that alpha weighs two per-spectrum quantities. The
  README gives the gradient shares measured for each reading at the bicubic start:
  summed over a whole 32x32x31 patch the angle term has 1/214 of the gradient of the
  squared error and eq. (3) is in effect an MSE-only loss.
- Optimizer (Sec. 4.1): mini-batch SGD, momentum 0.9, weight decay 1e-4, batch 128,
  learning rate 0.01 divided by 10 when the validation loss has not decreased for 3
  epochs, training stopped once the learning rate falls below 1e-6.
- ``LossTermLog`` writes each term's value and gradient norm into the training log.

Eq. (2) as printed is the mean *cosine* of the angle between spectra, which is largest
(1) for a perfect reconstruction, so minimising it would push spectra apart; the text
around it says the loss "calculates the angle". The default term is therefore the angle
itself in radians (``common.losses.sam_loss``, the quantity reported as SAM); the
alternative reading ``1 - cos`` is available as ``sam_term="one_minus_cos"``. The angle's
gradient does not vanish for nearly parallel spectra (d(1 - cos)/d(theta) = sin(theta)
does), which matters because the SAM the paper reaches (1.5-1.9 degrees, about 0.03 rad)
is exactly the regime where 1 - cos is flat.

Plain SGD at the paper's lr 0.01 and momentum 0.9 diverged to NaN within the first
epoch in a test run with the summed squared error; a global gradient-norm clip (1.0)
keeps it stable (the paper mentions no clipping; VDSR, which the paper cites for
residual learning, clips too).

Weight decay is the optimizer's (Keras 3 SGD applies ``w -= lr * wd * w`` at each step,
decoupled from the momentum): for plain SGD this is the L2 penalty the paper's
TensorFlow code would have added to the loss; with momentum the two differ in scale only.

The VDSR baseline trains with Kim et al.'s adjustable gradient clipping
(``AdjustableClipSGD``): every gradient is clipped to [-theta / gamma, theta / gamma]
with gamma the *current* learning rate (Kim et al., CVPR 2016, Sec. 3.3).
"""

import math

import keras
import numpy as np
from keras import ops

from common.losses import half_mse, half_sse, one_minus_cos, sam_loss, weighted_sum
from common.training import jit_compile_setting
from papers.drcnn_sam.config import architecture

SAM_TERMS = ("angle", "one_minus_cos")
#: How eq. (1)'s ``1/2 ||y - y_hat||^2`` is reduced over one training patch, as the
#: weight it puts on ``half_mse`` (the per-element mean): "patch" sums over every pixel
#: and band (eq. 1 with a patch as the image: P * P * C), "spectrum" sums over the bands
#: of each spectral vector and averages over the pixels (C, the paper profile), "element"
#: is the per-element mean (1).
L1_REDUCTIONS = ("spectrum", "patch", "element")


def drcnn_loss(alpha=0.5, sam_term="angle", elements=1):
    """Eq. (3): ``alpha * l1 + (1 - alpha) * l2``, one value per sample.

    ``l1`` is eq. (1)'s ``1/2 ||y - y_hat||^2`` as ``elements`` times the per-element mean
    ``common.losses.half_mse`` (``l1_elements``: C for a mean over spectra, H * W * C
    for a sum over the patch, 1 for the per-element mean). ``l2`` is the mean over pixels
    of the spectral term (eq. 2, see the module docstring).
    """
    if sam_term not in SAM_TERMS:
        raise ValueError(f"drcnn_sam: sam_term must be one of {SAM_TERMS}, got {sam_term!r}")
    spectral = sam_loss if sam_term == "angle" else one_minus_cos
    return weighted_sum((alpha * float(elements), half_mse), (1.0 - alpha, spectral))


def l1_elements(reduction, patch_size, bands):
    """The weight of ``half_mse`` that gives eq. (1) under ``reduction`` (``L1_REDUCTIONS``)."""
    if reduction == "patch":
        return int(patch_size) * int(patch_size) * int(bands)
    if reduction == "spectrum":
        return int(bands)
    if reduction == "element":
        return 1
    raise ValueError(f"drcnn_sam: l1_reduction must be one of {L1_REDUCTIONS}, got {reduction!r}")


def config_elements(config):
    """``l1_elements`` of a profile (``train.l1_reduction``, the patch size, the bands)."""
    return l1_elements(config["train"]["l1_reduction"], config["data"]["patch_size"],
                       architecture(config)["bands"])


@keras.saving.register_keras_serializable(package="hskit_drcnn_sam")
class AdjustableClipSGD(keras.optimizers.SGD):
    """SGD whose gradients are clipped to [-theta / gamma, theta / gamma], gamma the current
    learning rate: VDSR's adjustable gradient clipping (Kim et al., CVPR 2016, Sec. 3.3),
    so the largest step ``gamma * g`` stays ``theta`` however the schedule moves gamma."""

    def __init__(self, theta=0.01, **kwargs):
        super().__init__(**kwargs)
        if not theta > 0:
            raise ValueError(f"AdjustableClipSGD: theta must be positive, got {theta}")
        self.theta = float(theta)

    def clip_bound(self):
        """theta / gamma for the learning rate now in force."""
        return self.theta / ops.cast(self.learning_rate, "float32")

    def _clip_gradients(self, grads):
        bound = self.clip_bound()
        return [None if g is None else ops.clip(g, -ops.cast(bound, g.dtype), ops.cast(bound, g.dtype))
                for g in grads]

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


def make_optimizer(settings):
    """SGD with momentum, weight decay and optional clipping (Sec. 4.1); with
    ``adjustable_clip`` (theta) the VDSR optimizer ``AdjustableClipSGD``."""
    common = dict(
        learning_rate=settings["learning_rate"],
        momentum=settings["momentum"],
        weight_decay=settings.get("weight_decay") or None,
    )
    if settings.get("adjustable_clip"):
        return AdjustableClipSGD(theta=settings["adjustable_clip"], **common)
    return keras.optimizers.SGD(
        **common,
        global_clipnorm=settings.get("global_clipnorm") or None,
        clipvalue=settings.get("clipvalue") or None,
    )


def compile_drcnn(model, config):
    """Compile the two-output cascade with the paper's loss on both outputs."""
    train = config["train"]
    loss = drcnn_loss(train["alpha"], train["sam_term"], config_elements(config))
    model.compile(
        optimizer=make_optimizer(train["optimizer"]),
        loss=[loss, loss],
        loss_weights=[train["supervised_weight"], 1.0],
        jit_compile=jit_compile_setting(train.get("jit_compile", False)),
    )
    return model


def compile_baseline(model, optimizer_settings, jit_compile=False):
    """The grey-image baselines minimise Caffe's EuclideanLoss ``1/2 ||y - y_hat||^2`` per
    sample (``common.losses.half_sse``), the loss SRCNN, ESPCN and VDSR trained with."""
    model.compile(optimizer=make_optimizer(optimizer_settings), loss=half_sse,
                  jit_compile=jit_compile_setting(jit_compile))
    return model


# ----------------------------------------------------------------------------- loss terms

def loss_terms(model, x, y, config, training=False):
    """The two terms of eq. (3) on a batch, each with its weight and summed over both
    outputs as ``compile_drcnn`` sums them: ``(alpha * l1, (1 - alpha) * l2)``."""
    train = config["train"]
    elements = config_elements(config)
    spectral = sam_loss if train["sam_term"] == "angle" else one_minus_cos
    outputs = model(x, training=training)
    weights = (float(train["supervised_weight"]), 1.0)
    l1 = sum(w * ops.mean(half_mse(y, out)) for w, out in zip(weights, outputs))
    l2 = sum(w * ops.mean(spectral(y, out)) for w, out in zip(weights, outputs))
    return train["alpha"] * float(elements) * l1, (1.0 - train["alpha"]) * l2


def _global_norm(grads):
    return math.sqrt(sum(float(np.sum(np.square(ops.convert_to_numpy(g)))) for g in grads if g is not None))


def _flat(grads):
    return np.concatenate([np.ravel(ops.convert_to_numpy(g)) for g in grads if g is not None])


def term_gradients(model, x, y, config):
    """Each term of eq. (3) on a batch and the global norm of its gradient with respect
    to the trainable weights (TensorFlow and JAX backends; None on others).

    Returns {"l1_term", "sam_term", "l1_grad_norm", "sam_grad_norm", "sam_grad_share"
    (= sam_grad_norm / (l1_grad_norm + sam_grad_norm)), "grad_cosine" (between the two
    gradients)}."""
    backend = keras.backend.backend()
    x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    y = ops.convert_to_tensor(np.asarray(y, dtype="float32"))
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(persistent=True) as tape:
            l1, l2 = loss_terms(model, x, y, config)
        g1, g2 = tape.gradient(l1, variables), tape.gradient(l2, variables)
        del tape
    elif backend == "jax":
        import jax

        trainable = [v.value for v in variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def term(k):
            def value(params):
                class _Bound:  # model(x) through stateless_call with ``params``
                    def __call__(self, inputs, training=False):
                        return model.stateless_call(params, non_trainable, inputs, training=training)[0]

                return loss_terms(_Bound(), x, y, config)[k]

            return value

        g1, g2 = jax.grad(term(0))(trainable), jax.grad(term(1))(trainable)
        l1, l2 = loss_terms(model, x, y, config)
    else:
        return None
    n1, n2 = _global_norm(g1), _global_norm(g2)
    f1, f2 = _flat(g1), _flat(g2)
    cosine = float(np.dot(f1, f2) / (n1 * n2)) if n1 > 0 and n2 > 0 else float("nan")
    return {
        "l1_term": float(ops.convert_to_numpy(l1)),
        "sam_term": float(ops.convert_to_numpy(l2)),
        "l1_grad_norm": n1,
        "sam_grad_norm": n2,
        "sam_grad_share": n2 / (n1 + n2) if n1 + n2 > 0 else float("nan"),
        "grad_cosine": cosine,
    }


class LossTermLog(keras.callbacks.Callback):
    """Logs both terms of eq. (3) and their gradient norms on a fixed probe batch, at the
    start of training and after every epoch (columns of ``drcnn_x<s>_log.csv``:
    ``l1_term``, ``sam_term``, ``l1_grad_norm``, ``sam_grad_norm``, ``sam_grad_share``,
    ``grad_cosine``), so a run shows whether the spectral term acts on the weights."""

    KEYS = ("l1_term", "sam_term", "l1_grad_norm", "sam_grad_norm", "sam_grad_share", "grad_cosine")

    def __init__(self, x, y, config, verbose=True):
        super().__init__()
        self.x, self.y, self.config, self.verbose = x, y, config, verbose
        self.at_start = None
        self.failed = False

    def _measure(self):
        if self.failed:
            return None
        try:
            return term_gradients(self.model, self.x, self.y, self.config)
        except Exception as error:  # noqa: BLE001 - a log must never stop the training
            self.failed = True
            print(f"[drcnn_sam loss terms] not measured ({type(error).__name__}: {error}); training goes on",
                  flush=True)
            return None

    def _print(self, when, values):
        if self.verbose and values:
            print(f"[drcnn_sam loss terms, {when}] alpha*l1 {values['l1_term']:.4g}, (1-alpha)*l2 "
                  f"{values['sam_term']:.4g}; gradient norms {values['l1_grad_norm']:.4g} / "
                  f"{values['sam_grad_norm']:.4g} (spectral share {100 * values['sam_grad_share']:.1f} %, "
                  f"cosine {values['grad_cosine']:.2f})", flush=True)

    def on_train_begin(self, logs=None):
        self.at_start = self._measure()
        self._print("start", self.at_start)

    def on_epoch_end(self, epoch, logs=None):
        values = self._measure()
        if values is None or logs is None:
            return
        logs.update(values)
        self._print(f"after epoch {epoch + 1}", values)


class StopBelowLearningRate(keras.callbacks.Callback):
    """Sec. 4.1: "If the learning rate was less than 1e-6, the procedure was terminated."

    0.01 divided four times by 10 is 1e-6 only up to float32 rounding, so "less than"
    allows a relative tolerance of 1e-3: training runs at 1e-6 and stops at 1e-7.
    """

    def __init__(self, min_lr):
        super().__init__()
        self.min_lr = float(min_lr)
        self.stopped_at = None

    def on_epoch_end(self, epoch, logs=None):
        lr = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if lr < self.min_lr * (1.0 - 1e-3):
            self.stopped_at = epoch + 1
            self.model.stop_training = True


def schedule_callbacks(config):
    """ReduceLROnPlateau (x0.1 after ``patience`` epochs without a lower val loss) + stop."""
    plateau = config["train"]["plateau"]
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=plateau["factor"], patience=plateau["patience"],
            min_delta=0.0, min_lr=0.0, verbose=0,
        ),
        StopBelowLearningRate(config["train"]["min_lr"]),
    ]
