"""drcnn_sam's own figure: one band of every method with its error, as Figs. 4-5.

Figs. 4-5 of the paper show the band at 550 nm of the ground truth and of each
reconstruction, with the absolute difference to the ground truth "in grayscale value"
(0-255). The kit's standard figures (``common.figures``) cover spectra, error maps and
sRGB renders; this one adds the per-method band view.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_path  # noqa: E402


def plot_band_comparison(truth, preds, wavelengths, png, labels, wavelength=550.0, title=None):
    """Top row: the band nearest ``wavelength`` of the truth and of each method in
    ``preds`` ({key: H x W x C}); bottom row: |method - truth| on the 0-255 scale."""
    band = int(np.argmin(np.abs(np.asarray(wavelengths, dtype=float) - wavelength)))
    keys = list(preds)
    fig, axes = plt.subplots(2, len(keys) + 1, figsize=(2.6 * (len(keys) + 1), 5.4), squeeze=False)
    vmax = float(truth[..., band].max()) or 1.0
    axes[0][0].imshow(truth[..., band], cmap="gray", vmin=0, vmax=vmax)
    axes[0][0].set_title(f"ground truth\n{wavelengths[band]:.0f} nm", fontsize=8)
    axes[1][0].axis("off")
    errors = {k: np.abs(preds[k][..., band] - truth[..., band]) * 255.0 for k in keys}
    emax = max(float(e.max()) for e in errors.values()) or 1.0
    for col, key in enumerate(keys, start=1):
        axes[0][col].imshow(preds[key][..., band], cmap="gray", vmin=0, vmax=vmax)
        axes[0][col].set_title(labels.get(key, key), fontsize=8)
        shown = axes[1][col].imshow(errors[key], cmap="magma", vmin=0, vmax=emax)
        below = float(np.mean(errors[key] < 1.0)) * 100.0
        axes[1][col].set_title(f"|error| (0-255)\n{below:.0f}% of pixels < 1", fontsize=8)
    fig.colorbar(shown, ax=axes[1].tolist(), fraction=0.02)
    for axis in axes.ravel():
        axis.set_xticks([])
        axis.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
    return png
