"""The figures every paper's report shows, written as PNGs (atomically).

- training curves from the CSV logs of ``common.training.fit``;
- spectra at a few pixels, truth against reconstruction;
- maps of the mean absolute error over bands and of the spectral angle (degrees);
- sRGB renders of the truth and the reconstruction (``data_prep.render.display_srgb``).

Matplotlib runs headless (Agg); nothing here opens a window.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.io import atomic_path  # noqa: E402
from common.metrics import sam_map  # noqa: E402
from common.training import read_log  # noqa: E402


def _save(fig, png):
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(png)


def plot_training_curves(logs, png, title="Training curves"):
    """``logs``: {label: csv_path}. One panel per logged quantity (loss, val_loss, ...)."""
    histories = {label: read_log(path) for label, path in logs.items()}
    keys = sorted({k for h in histories.values() for k in h if k != "epoch" and not k.startswith("learning")})
    keys = [k for k in keys if "loss" in k] or keys
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4.2 * max(len(keys), 1), 3.2), squeeze=False)
    for axis, key in zip(axes[0], keys):
        for label, history in histories.items():
            if key in history:
                values = np.asarray(history[key], dtype=float)
                axis.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=label)
        axis.set_xlabel("epoch")
        axis.set_title(key)
        if np.all([np.nanmin(h[key]) > 0 for h in histories.values() if key in h and len(h[key])]):
            axis.set_yscale("log")
        axis.legend(fontsize=7)
    fig.suptitle(title, y=1.03)
    return _save(fig, png)


def pick_pixels(truth, count=4, seed=0):
    """A few pixels worth showing: the brightest, a mid-brightness one, and random others."""
    brightness = truth.mean(axis=-1)
    flat = brightness.ravel()
    order = np.argsort(flat)
    picks = [order[-1], order[len(order) // 2]]
    rng = np.random.default_rng(seed)
    picks += list(rng.choice(flat.size, size=max(count - 2, 0), replace=False))
    return [np.unravel_index(int(p), brightness.shape) for p in picks[:count]]


def plot_spectra(truth, pred, wavelengths, png, pixels=None, title="Spectra: truth vs reconstruction"):
    pixels = pixels or pick_pixels(truth)
    fig, axes = plt.subplots(1, len(pixels), figsize=(3.3 * len(pixels), 2.8), squeeze=False)
    for axis, (row, col) in zip(axes[0], pixels):
        axis.plot(wavelengths, truth[row, col], "k-", label="truth")
        axis.plot(wavelengths, pred[row, col], "r--", label="reconstruction")
        axis.set_title(f"pixel ({row}, {col})", fontsize=9)
        axis.set_xlabel("wavelength (nm)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, y=1.03)
    return _save(fig, png)


def plot_error_maps(truth, pred, png, scale=255.0, title="Errors"):
    """Mean absolute error over bands (on a 0-``scale`` range) and the spectral-angle map."""
    error = np.abs(truth.astype(np.float64) - pred).mean(axis=-1) * scale
    angle = sam_map(truth, pred)  # NaN (blank) where a spectrum is all zero
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6))
    shown = axes[0].imshow(error, cmap="magma")
    axes[0].set_title(f"mean |error| over bands (0-{scale:g})")
    fig.colorbar(shown, ax=axes[0], fraction=0.046)
    shown = axes[1].imshow(angle, cmap="viridis")
    axes[1].set_title("spectral angle (degrees)")
    fig.colorbar(shown, ax=axes[1], fraction=0.046)
    for axis in axes:
        axis.axis("off")
    fig.suptitle(title, y=1.03)
    return _save(fig, png)


def plot_renders(truth, pred, wavelengths, png, inputs=None, title="sRGB renders"):
    """sRGB of the truth and the reconstruction (and of an RGB input when given)."""
    from data_prep.render import cube_to_xyz, display_srgb

    # One exposure for both, set by the truth, so a brightness error stays visible.
    peak = float(np.percentile(cube_to_xyz(truth, wavelengths)[..., 1], 99))
    panels = []
    if inputs is not None:
        panels.append(("input", np.clip(inputs, 0, 1)))
    panels += [
        ("truth", display_srgb(truth, wavelengths, peak=peak)),
        ("reconstruction", display_srgb(pred, wavelengths, peak=peak)),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.4))
    for axis, (label, image) in zip(np.atleast_1d(axes), panels):
        axis.imshow(np.clip(image, 0, 1))
        axis.set_title(label)
        axis.axis("off")
    fig.suptitle(title, y=1.03)
    return _save(fig, png)


def standard_figures(run_dir, truth, pred, wavelengths, logs, inputs=None, prefix=""):
    """The four standard figures of a run; returns their paths relative to ``run_dir``."""
    run_dir = Path(run_dir)
    paths = [
        plot_training_curves(logs, run_dir / "figures" / f"{prefix}training_curves.png"),
        plot_spectra(truth, pred, wavelengths, run_dir / "figures" / f"{prefix}spectra.png"),
        plot_error_maps(truth, pred, run_dir / "figures" / f"{prefix}error_maps.png"),
        plot_renders(truth, pred, wavelengths, run_dir / "figures" / f"{prefix}renders.png", inputs=inputs),
    ]
    return [str(p.relative_to(run_dir)) for p in paths]
