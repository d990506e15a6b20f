"""MS-SSFNet: multi-level, multi-scale spatial and spectral fusion CNN (Han et al. 2019).

Fuses a low-resolution hyperspectral image X (h x w x C) with the high-resolution RGB
image Y of the same scene (2^S h x 2^S w x 3) into the high-resolution hyperspectral image
Z (2^S h x 2^S w x C), Section 3 of the paper.

Two pathways (Section 3.2, Fig. 1):

* the **spectral reservation pathway** on X: S blocks, block s working at 2^(s-1) times
  the LR size (eq. 3; block 1 takes X itself), each followed by a x2 deconvolution
  (eq. 4), so that X_s^Up is at 2^s times the LR size and X_S^Up at the HR size;
* the **spatial structure reservation pathway** on Y: S-1 blocks with a 2x2 max-pooling
  between consecutive blocks (eqs. 5-6);
* **stack fusion** (eq. 7): deconvolved spectral features X_s^Up concatenated with spatial
  features of the same size, S-1 times.

The indices of eqs. 3-7 do not close (S blocks with S-1 deconvolutions between them end
at half the HR size; eq. 7 pairs X_s^Up, at 2^s, with the output of a spatial block
S-s+1 that the S-1 spatial blocks do not have for s = 1, and eq. 5 puts spatial block 1
at the HR size while the text says the spatial pathway is the spectral one without its
smallest block). ``READINGS`` are the three ways of closing them that the kit builds
(``model.reading`` of the profiles); "C" is the default. With reading C, for x16 the
fusions are at 32, 64 and 128 pixels for an 8x8 LR patch: the stacks at 2^2 .. 2^(S-1)
feed spectral blocks 3 .. S and the stack at the HR size feeds the final reconstruction
layer. The README lists every departure of each reading from the equations and compares
the three on the quick profile (``compare_readings.py``).

Every block is two convolutions, each followed by a PReLU (end of Section 3.2).

Multi-level cost (Section 3.3, Fig. 2): the S scales are split into L levels of S_l scales
(``level_scales``, (2, 2) for x16 in Section 4.2); a reconstruction layer (a 3x3
convolution to C bands) at the end of every level but the last predicts the intermediate
target Z^l from that level's deconvolved features (for x16, Z^1 at HR / 4 from X_2^Up),
and the final reconstruction layer predicts Z. The training model returns
``{"z": Z_hat, "z1": Z1_hat, ...}`` so that Keras sums one MSE per output (eq. 10);
:func:`inference_model` drops the intermediate heads ("In test procedure, the
reconstruction layers for the intermediate HS images will be removed").

The paper's silent choices (widths, kernel sizes, PReLU sharing) are arguments.
"""

import keras
from keras import layers

INPUT_LR = "lr"
INPUT_RGB = "rgb"
OUTPUT_HR = "z"


def default_level_scales(scales):
    """Split S scales into 2 levels, the larger first: (2, 2) for x16 as in Section 4.2."""
    if scales < 2:
        raise ValueError(f"MS-SSFNet needs S >= 2 (an upscale of at least 4), got S={scales}")
    return (scales - scales // 2, scales // 2)


def intermediate_factors(scales, level_scales):
    """Down-sampling factor from HR of each intermediate target Z^1..Z^(L-1) (eq. 8).

    Z^1 is the target at the end of the second-to-last level, the closest to HR.
    For S=4, levels (2, 2): (4,).
    """
    level_scales = tuple(int(n) for n in level_scales)
    if sum(level_scales) != scales or min(level_scales) < 1:
        raise ValueError(f"level_scales {level_scales} must be positive and sum to S={scales}")
    ends = [sum(level_scales[: i + 1]) for i in range(len(level_scales) - 1)]
    return tuple(2 ** (scales - end) for end in reversed(ends))


def _normal(std):
    # A fresh initializer per layer, seeded from the global Keras seed: one shared seeded
    # instance would give every layer of the same shape identical weights.
    return keras.initializers.RandomNormal(mean=0.0, stddev=std)


def _conv(filters, kernel_size, init_std, name, dtype=None):
    return layers.Conv2D(
        filters, kernel_size, padding="same", kernel_initializer=_normal(init_std), name=name,
        dtype=dtype,
    )


def prelu(name):
    # Caffe's PReLU (the paper's framework): one slope per channel, initialised at 0.25.
    # Sharing over height and width also keeps the model valid for any image size.
    return layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name
    )


def conv_block(x, filters, kernel_size, init_std, name):
    """One block of either pathway: (conv -> PReLU) x 2 (Section 3.2, last sentence)."""
    for k in (1, 2):
        x = _conv(filters, kernel_size, init_std, f"{name}_conv{k}")(x)
        x = prelu(f"{name}_prelu{k}")(x)
    return x


#: How the indices of eqs. 3-7 are closed (README, "How the two pathways meet"):
#:
#: * "A": eqs. 3-6 as written (spectral block s at 2^(s-1), spatial blocks at 2^S .. 2^2
#:   with a max-pooling between them); eq. 7 reads the stacked spatial map as the
#:   *max-pooled* output Y_(S-s) of eq. 6 (one more pooling after the last spatial block),
#:   so X_1^Up .. X_(S-1)^Up are fused at 2^1 .. 2^(S-1) and feed blocks 2 .. S; one extra
#:   x2 deconvolution after block S reaches the HR size, then the reconstruction layer.
#: * "B": the spatial pathway is the spectral one minus its smallest block (Sec. 3.2:
#:   "removing the corresponding part with the smallest spatial size block"): the RGB is
#:   max-pooled once, the S-1 spatial blocks work at 2^(S-1) .. 2^1, and each block output
#:   is fused with the X_s^Up of its size (s = 1 .. S-1) to feed block s + 1; an extra x2
#:   deconvolution after block S, then the reconstruction layer.
#: * "C" (the default): one x2 deconvolution after every block (S in all); each X_s^Up is
#:   stacked with the spatial block output of its size at 2^2 .. 2^S (s = 2 .. S, eq. 7's
#:   block index S-s+1); X_1^Up feeds block 2 alone; the HR stack feeds the reconstruction
#:   layer directly.
READINGS = ("A", "B", "C")


def build_ms_ssfnet(
    bands=31,
    scales=4,
    spectral_width=64,
    spatial_width=64,
    level_scales=None,
    kernel_size=3,
    deconv_kernel_size=4,
    init_std=0.001,
    rgb_channels=3,
    reading="C",
    name="ms_ssfnet",
):
    """The training model of MS-SSFNet for a 2^scales upscale.

    Inputs: ``{"lr": (B, h, w, bands), "rgb": (B, 2^S h, 2^S w, rgb_channels)}`` with any
    h, w. Outputs: ``{"z": (B, 2^S h, 2^S w, bands), "z1": (B, 2^S h / f1, ...), ...}``
    where f_l are :func:`intermediate_factors`. ``reading``: one of ``READINGS``.
    Weights start from N(0, init_std^2) (Section 4.2: "Gaussian distribution with
    standard deviation 0.001"); biases at zero.
    """
    scales = int(scales)
    if reading not in READINGS:
        raise ValueError(f"MS-SSFNet: reading must be one of {READINGS}, got {reading!r}")
    level_scales = tuple(level_scales) if level_scales else default_level_scales(scales)
    intermediate_factors(scales, level_scales)  # validates the split
    level_ends = {sum(level_scales[: i + 1]): i for i in range(len(level_scales) - 1)}
    n_levels = len(level_scales)

    lr = keras.Input((None, None, bands), name=INPUT_LR)
    rgb = keras.Input((None, None, rgb_channels), name=INPUT_RGB)

    # Spatial structure reservation pathway (eqs. 5-6): features to stack at 2^s x LR size.
    spatial = {}
    y = rgb
    if reading == "B":  # the first spatial block works at 2^(S-1): the RGB is pooled once
        y = layers.MaxPooling2D(2, name="maxpool0")(y)
    for j in range(1, scales):
        if j > 1 and reading != "A":
            y = layers.MaxPooling2D(2, name=f"maxpool{j - 1}")(y)
        y = conv_block(y, spatial_width, kernel_size, init_std, f"spatial_block{j}")
        if reading == "C":
            spatial[scales - j + 1] = y  # block output Y^_(j-1) at 2^(S-j+1)
        elif reading == "B":
            spatial[scales - j] = y  # block output at 2^(S-j)
        else:  # A: eq. 6's max-pooled map Y_j at 2^(S-j), also the next block's input
            y = layers.MaxPooling2D(2, name=f"maxpool{j}")(y)
            spatial[scales - j] = y

    # Spectral reservation pathway (eqs. 3-4) with stack fusion (eq. 7).
    outputs = {}
    x = lr
    for s in range(1, scales + 1):
        x = conv_block(x, spectral_width, kernel_size, init_std, f"spectral_block{s}")
        x = layers.Conv2DTranspose(
            spectral_width,
            deconv_kernel_size,
            strides=2,
            padding="same",
            kernel_initializer=_normal(init_std),
            name=f"deconv{s}",
        )(x)
        if s in level_ends:  # reconstruction layer of an intermediate level (Fig. 2)
            level = n_levels - 1 - level_ends[s]  # Z^1 is the level closest to HR
            outputs[f"z{level}"] = _conv(bands, kernel_size, init_std, f"z{level}", dtype="float32")(x)
        if s in spatial:
            x = layers.Concatenate(name=f"stack{s}")([x, spatial[s]])
    # The reconstruction layers compute in float32 under --mixed-precision bf16 (no-op in
    # float32), so the outputs, the losses on them and the predictions are float32.
    outputs[OUTPUT_HR] = _conv(bands, kernel_size, init_std, OUTPUT_HR, dtype="float32")(x)

    ordered = {OUTPUT_HR: outputs.pop(OUTPUT_HR)}
    ordered.update(sorted(outputs.items()))
    return keras.Model({INPUT_LR: lr, INPUT_RGB: rgb}, ordered, name=name)


def inference_model(training_model):
    """The test-time network: same weights, intermediate reconstruction layers removed."""
    return keras.Model(
        training_model.inputs,
        training_model.get_layer(OUTPUT_HR).output,
        name=f"{training_model.name}_inference",
    )


def build_from_config(config):
    """Training model from a profile of :mod:`papers.ms_ssfnet.config` (its ``model``)."""
    model = config["model"]
    return build_ms_ssfnet(
        bands=model["bands"],
        scales=model["scales"],
        spectral_width=model["spectral_width"],
        spatial_width=model["spatial_width"],
        level_scales=model.get("level_scales"),
        kernel_size=model["kernel_size"],
        deconv_kernel_size=model["deconv_kernel_size"],
        init_std=model["init_std"],
        reading=model.get("reading", "C"),
    )
