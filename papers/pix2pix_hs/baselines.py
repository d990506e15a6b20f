"""Per-pixel baselines of pix2pix_hs, run through the same evaluation as the cGAN.

- **Per-pixel cGAN** (the paper's own, Sec. 3.3.1 / Fig. 4): the generator with a single
  branch, the skip from the input to the two final 1x1 convolutions, so each output
  spectrum depends on its own RGB pixel only. It is trained exactly like the full net
  (``model.build_generator(n_branches=1)``); this module only names it.
- **Linear regression** (this kit's addition, not in Table 1): the least-squares affine
  map sRGB -> 31 bands (3 x 31 matrix and a bias), fitted on random valid training pixels
  and clipped to [0, 1] like the targets. It is the simplest learned per-pixel method;
  Arad et al.'s sparse coding [2], the paper's only external comparison, needs their
  MATLAB code and is not rerun (its published numbers stay in the table).
"""

from common.baselines import LinearSpectralRegression

PER_PIXEL_NAME = "Per-pixel cGAN (1 branch, Fig. 4)"
LINREG_NAME = "Linear regression (RGB -> 31 bands, least squares)"


def linear_regression():
    """The affine least-squares sRGB -> 31 bands map, clipped to the targets' [0, 1]."""
    return LinearSpectralRegression(intercept=True, clip=(0.0, 1.0))
