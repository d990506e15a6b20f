"""Per-image evaluation tables: every metric on every test image, then mean and std.

The papers report per-image rows (unet_ms Table 2), averages (all) and standard
deviations over the test images (ms_ssfnet Table 1); one function produces all three so
that each paper's evaluation is the same few lines.
"""

import numpy as np


def evaluate_images(items, metric_fns, ddof=0):
    """Apply ``metric_fns`` ({name: fn(truth, pred, **kwargs)}) to every test image.

    ``items`` yields ``(name, truth, pred)`` or ``(name, truth, pred, kwargs)``, where
    ``kwargs`` (e.g. ``{"mask": ...}``) is passed to every metric for that image.
    Returns ``{"per_image": [{"image": name, metric: value, ...}], "mean": {...},
    "std": {...}, "n_images": N, "std_ddof": ddof}``; the std is over images with
    ``ddof`` (see ``summarize``).
    """
    rows = []
    for item in items:
        name, truth, pred, *rest = item
        kwargs = rest[0] if rest else {}
        row = {"image": name}
        for metric, fn in metric_fns.items():
            row[metric] = float(fn(truth, pred, **kwargs))
        rows.append(row)
    return summarize(rows, list(metric_fns), ddof=ddof)


def summarize(rows, metrics, ddof=0):
    """Mean and standard deviation over images of per-image rows ({"image": ..., metric: value}).

    ``ddof=0`` (default): the population standard deviation, sqrt(sum (v - mean)^2 / N),
    a spread of the test set. ``ddof=1``: the sample standard deviation with N - 1, which
    MATLAB's ``std`` computes by default, for papers that report MATLAB's figure. With
    N <= ddof the std is NaN.
    """
    if not rows:
        raise ValueError("no test images to summarize")
    if ddof not in (0, 1):
        raise ValueError(f"summarize: ddof must be 0 or 1, got {ddof!r}")
    summary = {"per_image": rows, "mean": {}, "std": {}, "n_images": len(rows), "std_ddof": ddof}
    for metric in metrics:
        values = np.array([row[metric] for row in rows], dtype=np.float64)
        summary["mean"][metric] = float(values.mean())
        summary["std"][metric] = float(values.std(ddof=ddof)) if len(values) > ddof else float("nan")
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
