"""Training: the losses (eq. 14 and the released one), Adam with a decaying learning rate,
and one network trained with ``common.training.fit`` (resume, logs, atomic outputs).

* ``l2_ssim``: ``FIL = L2 + (1 - SSIM)`` (Sec. 3.3, eqs. 10-14), the mean squared error
  plus one minus the mean SSIM over bands, both weighted 1. Where the SSIM map is
  averaged is the profile's ``ssim_positions``:

  - ``"all"`` (every profile): eq. 13, ``L_SSIM(P) = 1/M sum over the M pixels p of the
    patch P of (1 - SSIM(p))`` (M the pixels of the patch, eq. 11), the Gaussian window
    truncated at the patch border and renormalised over the pixels inside. Every pixel,
    the border ring included, gets the SSIM term: the paper's reading;
  - ``"valid"``: only the window positions that fit inside the patch (``tf.image.ssim``):
    the outer 5 pixels of a patch (11 x 11 window) are never a window centre and enter
    only at the rim of windows centred further in (the outermost pixel with 0.4 % of a
    centre pixel's weight), so they are trained almost by the L2 term alone. Not the
    paper's; kept as an option (measured in the README: it leaves the tile-border pixels
    almost untrained).

  Both are ``common.losses.ssim_loss(max_val=1.0, positions=...)`` (``SSIM_POSITIONS``
  and the constants of ``tf.image.ssim`` are defined there; separable blur, float32).
* ``sse_half``: what the released model was compiled with (``sum_squared_error``): half
  the sum of squared errors over a patch, averaged over the batch.
* Adam from 1e-3 down to 1e-5 (Sec. 3.1). The paper gives the two ends only; we decay
  geometrically per step, ``lr(t) = 1e-3 * (1e-2) ** (t / T)`` over the T steps of the
  run, so that every epoch lowers it by the same factor and the last step reaches 1e-5.
"""

import keras

from common.losses import SSIM_POSITIONS, half_sse, mse, ssim_loss, weighted_sum
from common.training import fit, jit_compile_setting

LOSSES = ("l2_ssim", "sse_half")


def make_loss(name, ssim_positions="all"):
    """The training loss by name: ``l2_ssim`` (eq. 14, the paper; its SSIM term averaged
    over ``ssim_positions``, see the module docstring) or ``sse_half`` (release)."""
    if name == "l2_ssim":
        if ssim_positions not in SSIM_POSITIONS:
            raise ValueError(f"unknown ssim_positions {ssim_positions!r}; choose one of {SSIM_POSITIONS}")
        return weighted_sum((1.0, mse), (1.0, ssim_loss(max_val=1.0, positions=ssim_positions)))
    if name == "sse_half":
        return half_sse
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
        loss=make_loss(train_config["loss"], train_config.get("ssim_positions", "all")),
        metrics=[keras.metrics.MeanSquaredError(name="mse")],
        # On TensorFlow, XLA doubles the first-step compile time of this ~180-layer graph
        # and is slower per step on CPU (measured): plain graphs. JAX always jits.
        jit_compile=jit_compile_setting(False),
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
