"""Training: the losses (eq. 14 and the released one), Adam with a decaying learning rate,
and one network trained with ``common.training.fit`` (resume, logs, atomic outputs).

* ``l2_ssim``: ``FIL = L2 + (1 - SSIM)`` (Sec. 3.3, eqs. 10-14), the mean squared error
  plus one minus the mean SSIM over bands, both weighted 1. Where the SSIM map is
  averaged is the profile's ``ssim_positions``:

  - ``"valid"``: the window positions that fit inside the patch (``tf.image.ssim``,
    ``common.losses.ssim_loss``): the outer 5 pixels of a patch (11 x 11 window) are
    never a window centre and enter only at the rim of windows centred further in (the
    outermost pixel with 0.4 % of a centre pixel's weight), so they are trained almost
    by the L2 term alone;
  - ``"all"``: eq. 13 read literally, ``1/M sum over the M pixels p of the patch of
    (1 - SSIM(p))``, the Gaussian window truncated at the patch border and renormalised
    over the pixels inside (``ssim_loss_all_pixels``). Every pixel, the border ring
    included, gets the SSIM term.

  The paper profile keeps ``"valid"``; the quick profile uses ``"all"`` (config, README:
  with "valid" the tile-border pixels are left almost untrained in a short run).
* ``sse_half``: what the released model was compiled with (``sum_squared_error``): half
  the sum of squared errors over a patch, averaged over the batch.
* Adam from 1e-3 down to 1e-5 (Sec. 3.1). The paper gives the two ends only; we decay
  geometrically per step, ``lr(t) = 1e-3 * (1e-2) ** (t / T)`` over the T steps of the
  run, so that every epoch lowers it by the same factor and the last step reaches 1e-5.
"""

import numpy as np

import keras
from keras import ops

from common.losses import mse, ssim_loss, weighted_sum
from common.training import fit

LOSSES = ("l2_ssim", "sse_half")
SSIM_POSITIONS = ("valid", "all")
SSIM_SIZE, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03  # as tf.image.ssim


def _gaussian_window(size=SSIM_SIZE, sigma=SSIM_SIGMA):
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    g /= g.sum()
    return np.outer(g, g).astype("float32")


def ssim_map_all_pixels(y_true, y_pred):
    """Wang et al.'s SSIM at every pixel and band, shape of the inputs (B, H, W, C); data
    on [0, 1] (peak 1).

    Constants and window of ``tf.image.ssim`` (11 x 11 Gaussian, sigma 1.5, K1 0.01,
    K2 0.03), but evaluated at every pixel: near the border the window is cut to the
    pixels inside the image and renormalised to sum to 1 (local statistics of the pixels
    that exist, no padding values). At 5 pixels or more from the border the window is
    whole and the map is ``tf.image.ssim``'s.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    bands = y_pred.shape[-1]
    window = _gaussian_window()
    kernel = ops.cast(np.tile(window[:, :, None, None], (1, 1, bands, 1)), y_pred.dtype)
    weight = ops.depthwise_conv(ops.ones_like(y_pred[..., :1]), ops.cast(window[:, :, None, None], y_pred.dtype),
                                strides=1, padding="same")

    def local_mean(x):
        return ops.depthwise_conv(x, kernel, strides=1, padding="same") / weight

    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_t, mu_p = local_mean(y_true), local_mean(y_pred)
    var_t = local_mean(y_true * y_true) - mu_t * mu_t
    var_p = local_mean(y_pred * y_pred) - mu_p * mu_p
    cov = local_mean(y_true * y_pred) - mu_t * mu_p
    return ((2.0 * mu_t * mu_p + c1) * (2.0 * cov + c2)) / ((mu_t**2 + mu_p**2 + c1) * (var_t + var_p + c2))


@keras.saving.register_keras_serializable(package="rdab_coordconv")
def ssim_loss_all_pixels(y_true, y_pred):
    """``1 - SSIM`` averaged over every pixel of the patch and every band (eq. 13 read
    literally, ``ssim_map_all_pixels``), shape ``(B,)``."""
    return 1.0 - ops.mean(ssim_map_all_pixels(y_true, y_pred), axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="rdab_coordconv")
def sse_half(y_true, y_pred):
    """Half the sum of squared errors of each sample (the release's loss), shape ``(B,)``."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    squared = ops.square(y_pred - y_true)
    return 0.5 * ops.sum(squared, axis=tuple(range(1, len(squared.shape))))


def make_loss(name, ssim_positions="valid"):
    """The training loss by name: ``l2_ssim`` (eq. 14, the paper; its SSIM term averaged
    over ``ssim_positions``, see the module docstring) or ``sse_half`` (release)."""
    if name == "l2_ssim":
        if ssim_positions == "valid":
            return weighted_sum((1.0, mse), (1.0, ssim_loss(max_val=1.0)))
        if ssim_positions == "all":
            return weighted_sum((1.0, mse), (1.0, ssim_loss_all_pixels))
        raise ValueError(f"unknown ssim_positions {ssim_positions!r}; choose one of {SSIM_POSITIONS}")
    if name == "sse_half":
        return sse_half
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")


def make_optimizer(train_config, total_steps):
    """Adam whose learning rate goes from ``learning_rate`` to ``final_learning_rate``."""
    start = float(train_config["learning_rate"])
    end = float(train_config["final_learning_rate"])
    if train_config.get("lr_schedule", "exponential") == "constant" or total_steps <= 1:
        return keras.optimizers.Adam(start)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        start, decay_steps=max(total_steps - 1, 1), decay_rate=end / start
    )
    return keras.optimizers.Adam(schedule)


def compile_model(model, train_config, total_steps):
    model.compile(
        optimizer=make_optimizer(train_config, total_steps),
        loss=make_loss(train_config["loss"], train_config.get("ssim_positions", "valid")),
        metrics=[keras.metrics.MeanSquaredError(name="mse")],
        # XLA doubles the first-step compile time of this ~180-layer graph and is slower
        # per step on CPU (measured); plain TF graphs are used.
        jit_compile=False,
    )
    return model


def train_network(model, train_ds, val_ds, train_config, steps_per_epoch, run_dir, name, verbose="auto"):
    """Compile ``model`` with the profile's loss and schedule and train it with ``fit``."""
    epochs = int(train_config["epochs"])
    compile_model(model, train_config, epochs * steps_per_epoch)
    return fit(
        model, train_ds, val_ds, epochs=epochs, run_dir=run_dir, name=name,
        steps_per_epoch=steps_per_epoch, verbose=verbose,
    )
