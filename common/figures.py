"""The figures every paper's report shows, written as PNGs (atomically).

- training curves from the CSV logs of ``common.training.fit``;
- spectra at a few pixels, truth against the reconstruction and, where the run gives
  one, the strongest cheap baseline at the same pixels;
- maps of the mean absolute error over bands and of the spectral angle (degrees), for
  the method and the baseline on one colour scale;
- sRGB renders of the truth, the reconstruction and the baseline side by side, with one
  exposure (``data_prep.render.display_srgb``), so a reader sees which one kept the
  scene's colours.

Matplotlib runs headless (Agg); nothing here opens a window.
"""

import textwrap
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


def plot_spectra(truth, pred, wavelengths, png, pixels=None, title="Spectra: truth vs reconstruction",
                 baseline=None):
    """Spectra at ``pixels`` (default ``pick_pixels``): truth, reconstruction and, with
    ``baseline=(name, cube)``, the baseline at the same pixels."""
    pixels = pixels or pick_pixels(truth)
    fig, axes = plt.subplots(1, len(pixels), figsize=(3.3 * len(pixels), 2.8), squeeze=False)
    for axis, (row, col) in zip(axes[0], pixels):
        axis.plot(wavelengths, truth[row, col], "k-", label="truth")
        axis.plot(wavelengths, pred[row, col], "r--", label="reconstruction")
        if baseline is not None:
            axis.plot(wavelengths, baseline[1][row, col], "b:", label=baseline[0])
        axis.set_title(f"pixel ({row}, {col})", fontsize=9)
        axis.set_xlabel("wavelength (nm)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, y=1.03)
    return _save(fig, png)


def plot_error_maps(truth, pred, png, scale=255.0, title="Errors", baseline=None):
    """Mean absolute error over bands (on a 0-``scale`` range) and the spectral-angle map
    of the reconstruction, and of ``baseline=(name, cube)`` below it on the same scales."""
    rows = [("reconstruction", pred)] + ([baseline] if baseline is not None else [])
    errors = [np.abs(truth.astype(np.float64) - cube).mean(axis=-1) * scale for _, cube in rows]
    angles = [sam_map(truth, cube) for _, cube in rows]  # NaN (blank) where a spectrum is all zero
    error_max = max(float(np.nanmax(e)) for e in errors) or 1.0
    angle_max = max(float(np.nanmax(a)) if np.isfinite(a).any() else 0.0 for a in angles) or 1.0
    fig, axes = plt.subplots(len(rows), 2, figsize=(8.5, 3.6 * len(rows)), squeeze=False)
    for (label, _), error, angle, (left, right) in zip(rows, errors, angles, axes):
        shown = left.imshow(error, cmap="magma", vmin=0, vmax=error_max)
        left.set_title(f"{label}: mean |error| over bands (0-{scale:g})", fontsize=9)
        fig.colorbar(shown, ax=left, fraction=0.046)
        shown = right.imshow(angle, cmap="viridis", vmin=0, vmax=angle_max)
        right.set_title(f"{label}: spectral angle (degrees)", fontsize=9)
        fig.colorbar(shown, ax=right, fraction=0.046)
    for axis in axes.ravel():
        axis.axis("off")
    fig.suptitle(title, y=1.01)
    return _save(fig, png)


def plot_renders(truth, pred, wavelengths, png, inputs=None, title="sRGB renders", baseline=None):
    """sRGB of the truth, the reconstruction and ``baseline=(name, cube)`` (and of an RGB
    input when given), side by side with one exposure."""
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
    if baseline is not None:
        panels.append((baseline[0], display_srgb(baseline[1], wavelengths, peak=peak)))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.4))
    for axis, (label, image) in zip(np.atleast_1d(axes), panels):
        axis.imshow(np.clip(image, 0, 1))
        axis.set_title(textwrap.fill(label, 30), fontsize=9)
        axis.axis("off")
    fig.suptitle(title, y=1.03)
    return _save(fig, png)


def standard_figures(run_dir, truth, pred, wavelengths, logs, inputs=None, prefix="", baseline=None):
    """The four standard figures of a run; returns their paths relative to ``run_dir``.
    ``baseline=(name, cube)``: the strongest cheap baseline's reconstruction of the same
    image, shown beside the method's in the spectra, error maps and renders."""
    run_dir = Path(run_dir)
    folder = run_dir / "figures"
    logs = {label: path for label, path in logs.items() if Path(path).is_file()}
    paths = [
        plot_training_curves(logs, folder / f"{prefix}training_curves.png"),
        plot_spectra(truth, pred, wavelengths, folder / f"{prefix}spectra.png", baseline=baseline),
        plot_error_maps(truth, pred, folder / f"{prefix}error_maps.png", baseline=baseline),
        plot_renders(truth, pred, wavelengths, folder / f"{prefix}renders.png", inputs=inputs, baseline=baseline),
    ]
    return [str(p.relative_to(run_dir)) for p in paths]
