"""Training of drcnn_sam and of its band-by-band baselines (Sec. 3.2 and 4.1).

- Loss (eq. 3): ``L = alpha * l1 + (1 - alpha) * l2`` with alpha = 0.5, l1 the halved
  squared error of eq. (1) and l2 the spectral-angle term (eq. 2), applied to the
  supervised output after sub-network 3 and to the final output (Sec. 3.1), equal weights.
  Eq. (1) sums the squared error over every pixel and band of an image and averages over
  the N images: Caffe's EuclideanLoss, the loss of SRCNN and VDSR, which this network
  follows. It is implemented as ``common.losses.half_mse`` (the per-element mean) times
  the number of elements of a patch. The per-element-mean reading, on data in [0, 1],
  would make the MSE term about 100 times smaller than the angle term; in a test run it
  then lost PSNR against bicubic while barely changing SAM (README).
- Optimizer (Sec. 4.1): mini-batch SGD, momentum 0.9, weight decay 1e-4, batch 128,
  learning rate 0.01 divided by 10 when the validation loss has not decreased for 3
  epochs, training stopped once the learning rate falls below 1e-6.

Eq. (2) as printed is the mean *cosine* of the angle between spectra, which is largest
(1) for a perfect reconstruction, so minimising it would push spectra apart; the text
around it says the loss "calculates the angle". The default term is therefore the angle
itself in radians (``common.losses.sam_loss``, the quantity reported as SAM); the
alternative reading ``1 - cos`` is available as ``sam_term="one_minus_cos"``. The angle's
gradient does not vanish for nearly parallel spectra (d(1 - cos)/d(theta) = sin(theta)
does), which matters because the SAM the paper reaches (1.5-1.9 degrees, about 0.03 rad)
is exactly the regime where 1 - cos is flat.

With the summed loss, plain SGD at the paper's lr 0.01 and momentum 0.9 diverged to NaN
within the first epoch in a test run; a global gradient-norm clip (1.0) keeps it stable
(the paper mentions no clipping; VDSR, which the paper cites for residual learning,
clips too).

Weight decay is the optimizer's (Keras 3 SGD applies ``w -= lr * wd * w`` at each step,
decoupled from the momentum): for plain SGD this is the L2 penalty the paper's
TensorFlow code would have added to the loss; with momentum the two differ in scale only.
"""

import keras
from keras import ops

from common.losses import half_mse, half_sse, one_minus_cos, sam_loss, weighted_sum
from common.training import jit_compile_setting
from papers.drcnn_sam.config import architecture

SAM_TERMS = ("angle", "one_minus_cos")


def drcnn_loss(alpha=0.5, sam_term="angle", elements=1):
    """Eq. (3): ``alpha * l1 + (1 - alpha) * l2``, one value per sample.

    ``l1`` is eq. (1), ``1/2 ||y - y_hat||^2`` summed over every pixel and band of a
    sample (Caffe's EuclideanLoss, which eq. (1) transcribes): ``common.losses.half_mse``
    is the per-element mean, so it is weighted by ``elements`` = H * W * C of the training
    patches (32 * 32 * 31 = 31,744 in the paper). ``elements=1`` gives the per-element
    mean instead (README: with data on [0, 1] that makes the angle term dominate).
    ``l2`` is the mean over pixels of the spectral term (eq. 2, see the module docstring).
    """
    if sam_term not in SAM_TERMS:
        raise ValueError(f"drcnn_sam: sam_term must be one of {SAM_TERMS}, got {sam_term!r}")
    spectral = sam_loss if sam_term == "angle" else one_minus_cos
    return weighted_sum((alpha * float(elements), half_mse), (1.0 - alpha, spectral))


def patch_elements(patch_size, bands):
    return int(patch_size) * int(patch_size) * int(bands)


def make_optimizer(settings):
    """SGD with momentum, weight decay and optional global-norm clipping (Sec. 4.1)."""
    return keras.optimizers.SGD(
        learning_rate=settings["learning_rate"],
        momentum=settings["momentum"],
        weight_decay=settings.get("weight_decay") or None,
        global_clipnorm=settings.get("global_clipnorm") or None,
        clipvalue=settings.get("clipvalue") or None,
    )


def compile_drcnn(model, config):
    """Compile the two-output cascade with the paper's loss on both outputs."""
    train = config["train"]
    elements = patch_elements(config["data"]["patch_size"], architecture(config)["bands"]) if train["l1_sum"] else 1
    loss = drcnn_loss(train["alpha"], train["sam_term"], elements)
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
