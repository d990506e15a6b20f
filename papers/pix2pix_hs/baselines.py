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

import numpy as np

from common.io import KitError

PER_PIXEL_NAME = "Per-pixel cGAN (1 branch, Fig. 4)"
LINREG_NAME = "Linear regression (RGB -> 31 bands, least squares)"


class LinearRegression:
    """``hs = clip(rgb @ W + b, 0, 1)`` with (W, b) minimising the squared error."""

    def __init__(self):
        self.weights = None

    def fit(self, rgb, hs):
        rgb = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
        hs = np.asarray(hs, dtype=np.float64).reshape(rgb.shape[0], -1)
        if rgb.shape[0] < 4:
            raise KitError(f"linear regression: need at least 4 training pixels, got {rgb.shape[0]}")
        design = np.concatenate([rgb, np.ones((rgb.shape[0], 1))], axis=1)
        self.weights, *_ = np.linalg.lstsq(design, hs, rcond=None)
        return self

    def predict(self, rgb):
        if self.weights is None:
            raise KitError("linear regression: predict called before fit")
        rgb = np.asarray(rgb, dtype=np.float64)
        flat = rgb.reshape(-1, 3)
        out = flat @ self.weights[:3] + self.weights[3]
        return np.clip(out, 0.0, 1.0).reshape(rgb.shape[:-1] + (-1,)).astype(np.float32)
