"""The kit's simplest baseline for rdab_coordconv: a per-pixel linear regression.

The paper compares only its own ablations (Tables 2-3). As a floor every learned method
must clear, the kit fits the affine least-squares map ``[r, g, b, 1] -> 31 bands`` on
training pixels (``common.baselines``): with a clean-track RGB that is itself a linear
projection of the cube, this is the best any per-pixel linear method can do.
"""

from common.baselines import LinearSpectralRegression, sample_pixels
from common.io import KitError


def fit_linear_baseline(pairs, max_pixels=200_000, seed=0):
    """Fit on ``pairs`` (a sequence of (rgb HxWx3, cube HxWx31)), at most ``max_pixels``
    random pixels in all, spread evenly over the images."""
    pairs = list(pairs)
    if not pairs:
        raise KitError("linear regression: no training images")
    rgb, hs = sample_pixels(pairs, per_image=max(1, max_pixels // len(pairs)), seed=seed)
    return LinearSpectralRegression(intercept=True).fit(rgb, hs)


def load_linear_baseline(path):
    return LinearSpectralRegression(intercept=True).load_weights(path)
