"""Training and evaluation settings of drcnn_sam, with the paper section each comes from.

``paper``: the paper's settings (Sec. 3.1, 3.2, 4.1). Where the paper is silent the value
is marked "choice" and explained in the README.
``quick``: the same pipeline shrunk to run end to end (train + 3 baselines + evaluation +
figures) in about 2 minutes on 2 CPU cores on the embedded synthetic data: one scale
(x2), a narrower and shorter cascade (2 sub-networks of 5x5/32, 3x3/16, 3x3/c, supervised
output after the first, instead of 6 of 9x9/96, 3x3/64, 5x5/c), 600 patches instead of 30,000, batch 16, 4 epochs; the
baselines are shrunk the same way (SRCNN 32/16, ESPCN 32/16, VDSR 6 layers of 16, 2,000
grey patches, 3 epochs, VDSR at lr 0.01 like the others instead of its own 0.1).
``smoke``: tiny shapes for the tests (seconds).
"""

import copy

from common.io import KitError
from papers.drcnn_sam.model import PAPER_ARCHITECTURE
from papers.drcnn_sam.baselines import ESPCN_ARCHITECTURE, SRCNN_ARCHITECTURE, VDSR_ARCHITECTURE

PAPER = {
    # Sec. 4.1: "We trained three independent networks for factor = 2, 3, 4."
    "scales": [2, 3, 4],
    # Sec. 3.1 / 4.1: 6 sub-networks, f = 9/3/5, n = 96/64, supervised output after the 3rd.
    "architecture": dict(PAPER_ARCHITECTURE),
    # Sec. 4.1: Gaussian blur with standard deviation 3, downsample, bicubic upsample.
    "blur_sigma": 3.0,
    # Sec. 4.1: 32x32x31 patches randomly cropped, 30,000 in total.
    "patch_size": 32,
    "n_patches": 30000,
    # Choice: the paper monitors a "validation error" without naming a validation set;
    # 10% of the random training patches are held out for it (the 92 training images stay
    # the training images, as the paper says).
    "val_fraction": 0.1,
    # Sec. 4.1: batch 128, momentum 0.9, weight decay 1e-4, lr 0.01 / 10 after 3 epochs
    # without a lower validation error, stop when lr < 1e-6.
    "batch_size": 128,
    "optimizer": {
        "learning_rate": 0.01,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        # Choice: the paper mentions no clipping; without it the summed loss of eq. (1)
        # diverged (NaN) in the first epoch at lr 0.01; a global-norm clip of 1.0 keeps
        # SGD stable. None disables it.
        "global_clipnorm": 1.0,
    },
    "plateau": {"factor": 0.1, "patience": 3},
    "min_lr": 1e-6,
    # Choice: the paper stops on the learning rate only; a cap on epochs bounds the run.
    "max_epochs": 200,
    # Sec. 3.2, eq. (3): L = alpha * l1 + (1 - alpha) * l2, alpha = 0.5, on both outputs.
    "alpha": 0.5,
    # Eq. (1): l1 sums 1/2 (y - y_hat)^2 over the pixels and bands of each image (Caffe's
    # EuclideanLoss); False = per-element mean (README, "Loss").
    "l1_sum": True,
    "supervised_weight": 1.0,
    # Choice: the SAM term is the mean angle in radians (see README).
    "sam_term": "angle",
    # Metrics (Sec. 4.2, eqs. 4-5): PSNR over the whole cube with the n-bit peak; cubes are
    # divided by their nominal n-bit full scale when read, so the peak is 1.0.
    "psnr_peak": 1.0,
    # Choice: the Harvard images are cropped to their top-left 1024x1024 pixels (Sec. 4).
    "harvard_crop": 1024,
    "baselines": {
        # Sec. 4.2: band by band, "we followed the network settings in their original paper".
        "methods": ["bicubic", "srcnn", "espcn", "vdsr"],
        "srcnn": dict(SRCNN_ARCHITECTURE),
        "espcn": dict(ESPCN_ARCHITECTURE),
        "vdsr": dict(VDSR_ARCHITECTURE),
        # Choice: one grey patch per band of the same 30,000 cube patches would be 930,000
        # images per epoch; the baselines train on a random subset of grey patches.
        "n_grey_patches": 120000,
        "batch_size": 128,
        "max_epochs": 100,
        # Choice: the same SGD recipe and Euclidean loss as the proposed network (the
        # baselines' own papers trained with their own schedules, which the paper does not
        # restate); VDSR keeps its high learning rate 0.1 with its adjustable gradient
        # clipping to [-theta/lr, theta/lr] (Kim et al., Sec. 3.3), theta = 0.01 (choice).
        "optimizer": {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "global_clipnorm": 1.0},
        "vdsr_optimizer": {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "clipvalue": 0.1},
    },
    # Synthetic fallback data (used when no real dataset is given).
    "synthetic": {"n_scenes": 32, "size": 256},
    "figure_scale": 3,  # Figs. 4-5 show x3
}

QUICK = copy.deepcopy(PAPER)
QUICK.update({
    "scales": [2],
    # 2 sub-networks (supervised output after the 1st: half-way, as 3 of 6), n1 = 32 >= c
    # so the first layer does not squeeze the 31 bands.
    "architecture": dict(PAPER_ARCHITECTURE, n_subnets=2, supervised_after=1, f1=5, f2=3, f3=3, n1=32, n2=16),
    "n_patches": 600,
    "batch_size": 16,
    "max_epochs": 4,
    "synthetic": {"n_scenes": 12, "size": 96},
    "figure_scale": 2,
})
QUICK["baselines"] = dict(
    PAPER["baselines"],
    srcnn={"f1": 9, "f2": 1, "f3": 5, "n1": 32, "n2": 16},
    espcn={"f1": 5, "f2": 3, "f3": 3, "n1": 32, "n2": 16},
    vdsr={"depth": 6, "width": 16, "kernel": 3},
    n_grey_patches=2000,
    batch_size=32,
    max_epochs=3,
    # VDSR's lr 0.1 with value clipping only settles once the schedule lowers it; in 3
    # epochs it stayed above bicubic's error, so the quick run uses the common recipe.
    vdsr_optimizer=dict(PAPER["baselines"]["optimizer"]),
)

SMOKE = copy.deepcopy(QUICK)
SMOKE.update({
    "architecture": dict(PAPER_ARCHITECTURE, n_subnets=2, supervised_after=1, f1=3, f2=3, f3=3, n1=4, n2=4),
    "patch_size": 16,
    "n_patches": 32,
    "batch_size": 16,
    "max_epochs": 1,
    "synthetic": {"n_scenes": 6, "size": 48},
})
SMOKE["baselines"] = dict(
    QUICK["baselines"],
    srcnn={"f1": 3, "f2": 1, "f3": 3, "n1": 4, "n2": 4},
    espcn={"f1": 3, "f2": 3, "f3": 3, "n1": 4, "n2": 4},
    vdsr={"depth": 3, "width": 4, "kernel": 3},
    n_grey_patches=64,
    batch_size=32,
    max_epochs=1,
)

PROFILES = {"paper": PAPER, "quick": QUICK, "smoke": SMOKE}


def get_config(profile="quick", epochs=None):
    """A deep copy of a profile; ``epochs`` overrides the epoch caps (the ``--epochs`` flag)."""
    if profile not in PROFILES:
        raise KitError(f"drcnn_sam: unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    config = copy.deepcopy(PROFILES[profile])
    config["profile"] = profile
    if epochs is not None:
        config["max_epochs"] = int(epochs)
        config["baselines"]["max_epochs"] = int(epochs)
    return config
