"""Training and evaluation settings of pix2pix_hs: the paper's profile and CPU-sized ones.

Every ``paper`` setting names where it comes from in Alvarez-Gila et al. (ICCVW 2017):
Sec. 2.1 (objective), 2.2 (architecture), 2.3 (implementation details), 3.1-3.3 (data,
preparation, protocol). Where the paper is silent the value is this kit's choice and is
marked "kit choice" here and in the README.

``quick`` runs the whole ``reproduce`` (the cGAN, the per-pixel 1-branch cGAN baseline,
the linear-regression baseline, evaluation, figures) on the embedded synthetic data in
about a minute on two CPU cores. To fit, it:

- trains on 64 x 64 random crops instead of 256 x 256 and tests on 64 x 64 tiles, so the
  full U-Net has 7 branches instead of 9 (its 1x1 main branch is reached after 6 stride-2
  convolutions, receptive field 127 x 127, larger than the crop);
- divides every width by 4 (G 16..128 filters instead of 64..512, D from 16 instead of
  64): 1.03 M generator weights instead of 30.7 M;
- takes 8 random crops per scene per epoch (the paper: one) for 8 epochs, 1,536 steps of
  batch 1 on the 24 training scenes (fewer, longer epochs: less per-epoch overhead);
- alternates D 2 / G 4 steps instead of D 50 / G 25 and uses Adam lr 2e-3 instead of
  2e-4: with the paper's ratio and rate, G gets too few and too small updates in 1,536
  steps to get past a linear map (measured: RMSE 9.9 with D 8 / G 4 vs 6.1 with D 2 / G 4).
The objective (cGAN + 100 L1), Adam's beta1, batch 1, the blocks, dropout, the data
preparation and the metrics are unchanged.
``smoke`` is for the tests: tiny widths and images, a few steps.
"""

import copy

PAPER = {
    "model": {
        # Sec. 2.2: eight stride-2 3x3 convolutions from 64 filters doubling to 512, eight
        # transposed-convolution blocks, skip connections at every level: 9 branches.
        "n_branches": 9,
        "g_filters": 64,
        "g_max_filters": 512,
        # Sec. 2.2: "four 3x3 convolutional layers with stride 2 ... filter numbers
        # doubling"; the first width is not given: 64 as pix2pix's D [21] (kit choice).
        "d_filters": 64,
        "bands": 31,  # Sec. 3.1: the 31-band 400-700 nm version of ICVL
        "dropout": 0.1,  # Sec. 2.2: train-time-only Dropout, drop rate 10%
    },
    "train": {
        "crop": 256,  # Sec. 2.3: one random 256x256 crop per image and epoch
        "crops_per_image": 1,
        "batch_size": 1,  # Sec. 2.3
        "l1_weight": 100.0,  # Sec. 2.1, eq. 7: lambda = 100
        "learning_rate": 2e-4,  # Sec. 2.3: Adam, lr 2e-4, beta1 0.5, for G and D
        "beta_1": 0.5,
        "d_iterations": 50,  # Sec. 2.3: D trained for 50 iterations, then G for 25
        "g_iterations": 25,
        # The paper does not give the number of epochs; 200 is pix2pix's schedule for its
        # small datasets [21] (kit choice): 100 training images -> 20,000 steps per run.
        "epochs": 200,
    },
    "data": {
        # Sec. 3.3: two folds of 100 images (train on one, test on the other), two runs
        # per fold, results averaged (the authors' published fold lists, data_prep.splits).
        "folds": [0, 1],
        "runs_per_fold": 2,
        # Synthetic stand-in when no ICVL root is given (data_prep.synthetic).
        "synthetic_scenes": 32,
        "synthetic_size": 256,
        "synthetic_test_scenes": None,  # None: 1/8 of the scenes (data_prep.synthetic.split_sizes)
        "max_test_images": None,
    },
    "eval": {
        # Sec. 2.3: non-overlapping 256x256 tiles, which makes the 1392x1300 images
        # 1280x1280 (the top-left region, kit choice); each tile predicted independently
        # and stitched back before evaluating.
        "tile": 256,
        # Table 1: RMSE on the 0-255 scale of the per-image min-max normalised cube.
        "metric_scale": 255.0,
        # Baselines run by the same evaluation: the 1-branch (per-pixel) cGAN of Fig. 4
        # and a least-squares affine map RGB -> 31 bands (kit addition).
        "baselines": ["per_pixel_cgan", "linear_regression"],
        "linreg_max_pixels": 2_000_000,
        # Fig. 4: the branch-pruning experiment on fold 1 (``ablation`` command).
        "ablation_branches": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "ablation_fold": 1,
        # True for the ``ablation`` command (set from the command line, not a profile).
        "ablation": False,
    },
}

QUICK = copy.deepcopy(PAPER)
QUICK["model"].update(n_branches=7, g_filters=16, g_max_filters=128, d_filters=16)
QUICK["train"].update(crop=64, crops_per_image=8, epochs=8, learning_rate=2e-3, d_iterations=2, g_iterations=4)
# 24 train / 4 validation / 8 test scenes: the report's paired verdict needs 6 test
# images (common.report.MIN_IMAGES_FOR_VERDICT).
QUICK["data"].update(runs_per_fold=1, synthetic_scenes=36, synthetic_test_scenes=8)
QUICK["eval"].update(tile=64, linreg_max_pixels=200_000, ablation_branches=[1, 2, 4, 7])

SMOKE = copy.deepcopy(QUICK)
SMOKE["model"].update(n_branches=4, g_filters=4, g_max_filters=8, d_filters=4)
SMOKE["train"].update(crop=32, crops_per_image=1, epochs=1, d_iterations=1, g_iterations=1)
SMOKE["data"].update(synthetic_scenes=8, synthetic_size=64, synthetic_test_scenes=None, max_test_images=1)
SMOKE["eval"].update(tile=32, linreg_max_pixels=10_000, ablation_branches=[1, 4])

PROFILES = {"paper": PAPER, "quick": QUICK, "smoke": SMOKE}


def model_settings(profile, n_branches=None):
    """The flat settings ``model.build_pix2pix_hs`` takes, for this profile."""
    settings = {**profile["model"], **{k: profile["train"][k] for k in (
        "l1_weight", "learning_rate", "beta_1", "d_iterations", "g_iterations")}}
    if n_branches is not None:
        settings["n_branches"] = n_branches
    return settings
