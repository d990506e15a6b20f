"""The kit's simplest baseline for RGB -> 31 bands: a per-pixel linear regression.

The paper compares only its own ablations (Tables 2-3). As a floor every learned method
must clear, this kit fits the affine least-squares map ``[r, g, b, 1] -> 31 bands`` on
training pixels (the classic linear spectral-recovery baseline): with a clean-track RGB
that is itself a linear projection of the cube, this is the best any per-pixel linear
method can do, so a network earns its keep by beating it.
"""

import numpy as np

from common.io import KitError, atomic_path


class LinearRegression:
    """Affine map fitted by least squares: ``cube ~ [rgb, 1] @ weights`` (weights 4 x 31)."""

    def __init__(self, weights=None):
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def fit(self, pairs, max_pixels=200_000, seed=0):
        """Fit on ``pairs`` (an iterable of (rgb HxWx3, cube HxWx31)), at most ``max_pixels``
        random pixels in all (spread evenly over the images)."""
        pairs = list(pairs)
        if not pairs:
            raise KitError("linear regression: no training images")
        rng = np.random.default_rng(seed)
        per_image = max(1, max_pixels // len(pairs))
        xs, ys = [], []
        for rgb, cube in pairs:
            rgb = rgb.reshape(-1, 3)
            cube = cube.reshape(-1, cube.shape[-1])
            take = rng.choice(rgb.shape[0], min(per_image, rgb.shape[0]), replace=False)
            xs.append(rgb[take])
            ys.append(cube[take])
        x = np.concatenate(xs).astype(np.float64)
        design = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
        self.weights, *_ = np.linalg.lstsq(design, np.concatenate(ys).astype(np.float64), rcond=None)
        return self

    def predict(self, rgb):
        """HxWx3 RGB -> HxWx31 reconstruction (float32)."""
        if self.weights is None:
            raise KitError("linear regression: predict called before fit")
        rgb = np.asarray(rgb, dtype=np.float64)
        out = rgb @ self.weights[:3] + self.weights[3]
        return out.astype(np.float32)

    def save(self, path):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, self.weights)

    @classmethod
    def load(cls, path):
        return cls(np.load(path))
