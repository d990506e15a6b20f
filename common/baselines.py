"""The per-pixel linear baseline shared by the RGB -> spectra papers.

A least-squares map from an RGB pixel to its spectrum, ``hs ~ rgb @ W`` (``intercept=False``,
the 3 x 31 projection that Yan et al. fit for Arad's and A+'s baselines) or
``hs ~ [rgb, 1] @ W`` (affine). With an RGB that is itself a linear projection of the
cube (a camera response), this is the best any per-pixel linear method can do, so it is
the floor a learned reconstruction has to clear. unet_ms, pix2pix_hs and rdab_coordconv
all report it beside the paper's own baselines.
"""

import numpy as np

from common.io import KitError, atomic_path


class LinearSpectralRegression:
    """Least-squares RGB -> spectrum map; optional intercept and output clipping."""

    def __init__(self, intercept=True, clip=None, weights=None):
        self.intercept = intercept
        self.clip = clip
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def _design(self, rgb):
        rgb = np.asarray(rgb, dtype=np.float64)
        if rgb.shape[-1] != 3:
            raise KitError(f"linear regression: expected RGB with 3 channels, got shape {rgb.shape}")
        flat = rgb.reshape(-1, 3)
        if self.intercept:
            flat = np.concatenate([flat, np.ones((flat.shape[0], 1))], axis=1)
        return flat

    def fit(self, rgb, hs):
        """Fit on RGB pixels and their spectra: (N, 3) and (N, C), or images (flattened)."""
        design = self._design(rgb)
        hs = np.asarray(hs, dtype=np.float64)
        hs = hs.reshape(-1, hs.shape[-1])
        if design.shape[0] != hs.shape[0]:
            raise KitError(f"linear regression: {design.shape[0]} RGB pixels but {hs.shape[0]} spectra")
        if design.shape[0] < design.shape[1]:
            raise KitError(
                f"linear regression: needs at least {design.shape[1]} training pixels, got {design.shape[0]}"
            )
        self.weights, *_ = np.linalg.lstsq(design, hs, rcond=None)
        return self

    def predict(self, rgb):
        """(..., 3) RGB -> (..., C) spectra, float32."""
        if self.weights is None:
            raise KitError("linear regression: predict called before fit")
        rgb = np.asarray(rgb)
        out = self._design(rgb) @ self.weights
        if self.clip is not None:
            out = np.clip(out, *self.clip)
        return out.reshape(rgb.shape[:-1] + (-1,)).astype(np.float32)

    def save(self, path):
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, self.weights)

    def load_weights(self, path):
        self.weights = np.load(path)
        return self


def sample_pixels(pairs, per_image, seed=0):
    """Random (RGB, spectrum) training pixels, ``per_image`` from each pair.

    ``pairs`` yields (H, W, 3) RGB and (H, W, C) spectra (a generator is fine: one image
    is held at a time). Pixels are drawn without replacement. Returns (N, 3) and (N, C).
    """
    rng = np.random.default_rng(seed)
    rgbs, spectra = [], []
    for rgb, hs in pairs:
        hs = np.asarray(hs)
        rgb = np.asarray(rgb).reshape(-1, 3)
        hs = hs.reshape(-1, hs.shape[-1])
        take = min(int(per_image), rgb.shape[0])
        index = rng.choice(rgb.shape[0], size=take, replace=False)
        rgbs.append(rgb[index])
        spectra.append(hs[index])
    if not rgbs:
        raise KitError("linear regression: no training images")
    return np.concatenate(rgbs), np.concatenate(spectra)
