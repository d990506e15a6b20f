"""Per-image evaluation tables: every metric on every test image, then mean and std.

The papers report per-image rows (unet_ms Table 2), averages (all) and standard
deviations over the test images (ms_ssfnet Table 1); one function produces all three so
that each paper's evaluation is the same few lines.
"""

import numpy as np


def evaluate_images(items, metric_fns):
    """Apply ``metric_fns`` ({name: fn(truth, pred, **kwargs)}) to every test image.

    ``items`` yields ``(name, truth, pred)`` or ``(name, truth, pred, kwargs)``, where
    ``kwargs`` (e.g. ``{"mask": ...}``) is passed to every metric for that image.
    Returns ``{"per_image": [{"image": name, metric: value, ...}], "mean": {...},
    "std": {...}, "n_images": N}``; the std is the population standard deviation over
    images (ddof=0), as a spread of the test set rather than an estimate.
    """
    rows = []
    for item in items:
        name, truth, pred, *rest = item
        kwargs = rest[0] if rest else {}
        row = {"image": name}
        for metric, fn in metric_fns.items():
            row[metric] = float(fn(truth, pred, **kwargs))
        rows.append(row)
    return summarize(rows, list(metric_fns))


def summarize(rows, metrics):
    """Mean and population std over images of per-image rows ({"image": ..., metric: value})."""
    if not rows:
        raise ValueError("no test images to summarize")
    summary = {"per_image": rows, "mean": {}, "std": {}, "n_images": len(rows)}
    for metric in metrics:
        values = np.array([row[metric] for row in rows], dtype=np.float64)
        summary["mean"][metric] = float(values.mean())
        summary["std"][metric] = float(values.std())
    return summary


def per_image_markdown(summary, metrics=None, digits=4):
    """The per-image rows and the average as a Markdown table."""
    metrics = list(metrics or summary["mean"].keys())
    lines = ["| image | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for row in summary["per_image"]:
        lines.append(f"| {row['image']} | " + " | ".join(f"{row[m]:.{digits}f}" for m in metrics) + " |")
    lines.append(
        "| **mean ± std** | "
        + " | ".join(f"{summary['mean'][m]:.{digits}f} ± {summary['std'][m]:.{digits}f}" for m in metrics)
        + " |"
    )
    return "\n".join(lines)
