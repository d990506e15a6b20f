"""The cheap baselines of unet_ms Table 2, run by the same evaluation as the network.

- **Spline interpolation** (Sec. 4.2, "the most primitive baseline"): each RGB pixel's
  r, g, b values are placed at 700, 550 and 450 nm ("according to the visible spectrum")
  and a cubic spline through those three points is evaluated at the 31 band centres.
  Through three points the not-a-knot cubic spline (scipy's ``CubicSpline`` default, and
  MATLAB's ``spline``/``interp1(..., 'spline')``) is the single parabola through them;
  outside 450-700 nm it is extrapolated. The paper says nothing of clipping, so none is
  applied. Values are used as they come: RGB / 255 and HS / 4095 both on [0, 1], as the
  released code scales them. The map is linear in (r, g, b), so it is a fixed 3 x 31
  matrix applied to every pixel.
- **Linear regression** (this kit's addition, not a row of Table 2): a 3 x 31 matrix
  fitted by least squares from training RGB pixels to their spectra
  (``common.baselines.LinearSpectralRegression(intercept=False)``). The paper fits the
  reverse projection (31 -> 3) "using training data with conventional linear regression"
  for Arad et al. and A+; the forward least-squares map is the simplest learned
  RGB -> spectrum method and shows how much the U-Net gains over any linear one.

Arad et al. (K-SVD + OMP) and A+ need the authors' MATLAB codes and are not reproduced;
Galliani et al.'s FC-DenseNet is left out (see the README).
"""

import numpy as np
from scipy.interpolate import CubicSpline

from common.baselines import LinearSpectralRegression, sample_pixels  # noqa: F401 (re-exported)
from common.io import KitError

#: Sec. 4.2: wavelengths (nm) at which the r, g and b values are placed.
SPLINE_KNOTS_NM = {"r": 700.0, "g": 550.0, "b": 450.0}

SPLINE_NAME = "Spline interpolation"  # the row "Interpolation" of Table 2
LINREG_NAME = "Linear regression (RGB -> 31 bands, least squares)"


def spline_matrix(wavelengths):
    """The (3, C) matrix S with ``rgb @ S`` = the spline through (700, r), (550, g), (450, b)."""
    wavelengths = np.asarray(wavelengths, dtype=np.float64)
    knots = np.array([SPLINE_KNOTS_NM["b"], SPLINE_KNOTS_NM["g"], SPLINE_KNOTS_NM["r"]])
    # One spline per input channel (columns r, g, b), each 1 at its own knot, 0 at the others.
    values_at_knots = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    spline = CubicSpline(knots, values_at_knots, axis=0, bc_type="not-a-knot", extrapolate=True)
    return spline(wavelengths).T


def _check_rgb(rgb, what):
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise KitError(f"{what}: expected RGB values in the last axis (size 3), got shape {rgb.shape}")
    return rgb


def spline_interpolation(rgb, wavelengths):
    """Spline-interpolation baseline: (..., 3) RGB on [0, 1] -> (..., C) spectra."""
    rgb = _check_rgb(rgb, "spline interpolation")
    return (rgb @ spline_matrix(wavelengths)).astype(np.float32)
