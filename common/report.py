"""Published numbers next to measured ones: ``metrics.json`` and ``comparison.md``.

Every paper folder has a ``published.json`` holding the tables it compares against (the
schema is documented in the README, "Published numbers"): each table names the dataset
and split its numbers come from, and each metric its scale and convention. A run
produces measured tables of the same shape, with rows named like the published rows.

A measured number is shown beside a published one only with both datasets labelled, and
the pair is marked "not comparable: different data" unless the run used the paper's own
dataset (``dataset_key`` of the published table). The comparison that stays meaningful
across datasets is the gap between the method and the paper's simplest baseline, so
that gap is reported for both.

Whether the method *beats* a baseline is a verdict the test data must support
(``paired_verdict``): the per-image differences on the headline metric (method against
baseline, positive = the method is better), a 95 % percentile-bootstrap interval for
their mean over test images, and "yes" only when the interval lies above zero, "no"
when it lies below, "not distinguishable" otherwise. Below ``MIN_IMAGES_FOR_VERDICT`` test
images the verdict is "too few test images": a percentile bootstrap of 2-5 values spans
at most their range, and even a method better on every one of 5 images is not
significant at the 5 % level by the exact sign test (two-sided p = 2 / 2**5 = 0.0625).
The baseline is the strongest of the cheap baselines the run measured
(``cheap_baselines`` of ``published.json``: the kit's linear regression, spline,
bicubic, ...), not the paper's weakest row; where the paper's claim is about another
metric too (``secondary_metrics``: drcnn_sam's SAM, pix2pix_hs's CIEDE2000) that metric
gets its own verdict against the same baseline.
"""

import json
import math
from pathlib import Path

import numpy as np

from common.cli import PRECISION_POLICIES
from common.io import KitError, atomic_write_json, atomic_write_text
from common.provenance import short_text

REQUIRED_TOP = ("paper", "citation", "task", "headline", "baseline", "tables")
REQUIRED_TABLE = ("id", "caption", "dataset", "metrics", "rows")


def load_published(path):
    """Read and check a paper's ``published.json``."""
    path = Path(path)
    try:
        published = json.loads(path.read_text())
    except FileNotFoundError:
        raise KitError(f"{path}: missing") from None
    except ValueError as error:
        raise KitError(f"{path}: not valid JSON ({error})") from None
    missing = [key for key in REQUIRED_TOP if key not in published]
    if missing:
        raise KitError(f"{path}: missing key(s) {', '.join(missing)}")
    for table in published["tables"]:
        missing = [key for key in REQUIRED_TABLE if key not in table]
        if missing:
            raise KitError(f"{path}: table {table.get('id', '?')} lacks {', '.join(missing)}")
        for row in table["rows"]:
            unknown = set(row.get("values", {})) - set(table["metrics"])
            if unknown:
                raise KitError(
                    f"{path}: table {table['id']}, row {row.get('method')}: metric(s) "
                    f"{', '.join(sorted(unknown))} not described in the table's 'metrics'"
                )
    for part in ("headline", "baseline"):
        _find_row(published, published[part]["table"], published[part]["method"], path)
    cheap = published.get("cheap_baselines")
    if cheap is not None and _find_table(published["tables"], cheap["table"]) is None:
        raise KitError(f"{path}: cheap_baselines names no table {cheap['table']!r}")
    return published


def _find_table(tables, table_id):
    for table in tables:
        if table["id"] == table_id:
            return table
    return None


def _find_row(container, table_id, method, where="published.json"):
    table = _find_table(container["tables"], table_id)
    if table is None:
        raise KitError(f"{where}: no table {table_id!r}")
    for row in table["rows"]:
        if row["method"] == method:
            return row
    raise KitError(f"{where}: table {table_id!r} has no row {method!r}")


def _measured_value(measured, table_id, method, metric):
    table = _find_table(measured.get("tables", []), table_id)
    if table is None:
        return None
    for row in table["rows"]:
        if row["method"] == method:
            value = row.get("values", {}).get(metric)
            return None if value is None or not math.isfinite(value) else float(value)
    return None


def _gap(method_value, baseline_value, lower_is_better):
    """How much better the method is than the baseline, in % of the baseline (positive = better)."""
    if method_value is None or baseline_value in (None, 0):
        return None
    change = (baseline_value - method_value) / abs(baseline_value) * 100.0
    return change if lower_is_better else -change


#: Bootstrap resamples and interval level of ``paired_verdict``.
BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95
#: Fewest paired test images for a "yes" or "no": the smallest n at which a method better
#: on all n images is significant at 1 - CONFIDENCE by the exact two-sided sign test
#: (2 / 2**6 = 0.031 < 0.05; 2 / 2**5 = 0.0625 is not).
MIN_IMAGES_FOR_VERDICT = 6
TOO_FEW = "too few test images"


def paired_verdict(method, baseline, lower_is_better, resamples=BOOTSTRAP_RESAMPLES, level=CONFIDENCE, seed=0):
    """Does ``method`` beat ``baseline`` by a margin the test images support?

    ``method``, ``baseline``: {test image: metric value}; only images in both count.
    The differences d_i = baseline_i - method_i (negated when higher is better), so
    d_i > 0 where the method is better on image i; their mean's ``level`` interval is the
    percentile interval of ``resamples`` bootstrap means (images drawn with replacement,
    seeded). Returns {'verdict': 'yes' | 'no' | 'not distinguishable' | 'too few test
    images' (under ``MIN_IMAGES_FOR_VERDICT``), 'mean_difference', 'interval': [low, high],
    'n_images', 'better_on'} or None without paired values.
    """
    if not method or not baseline:
        return None
    images = sorted(set(method) & set(baseline))
    if not images:
        return None
    sign = 1.0 if lower_is_better else -1.0
    diffs = np.array([sign * (float(baseline[i]) - float(method[i])) for i in images], dtype=np.float64)
    if not np.all(np.isfinite(diffs)):
        return None
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), (int(resamples), len(diffs)))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = (float(v) for v in np.quantile(means, [tail, 1.0 - tail]))
    if len(diffs) < MIN_IMAGES_FOR_VERDICT:
        verdict = TOO_FEW
    else:
        verdict = "yes" if low > 0 else "no" if high < 0 else "not distinguishable"
    return {"verdict": verdict, "mean_difference": float(diffs.mean()), "interval": [low, high],
            "n_images": len(diffs), "better_on": int(np.sum(diffs > 0)), "level": level}


def _lower(table, metric):
    return bool(table["metrics"].get(metric, {}).get("lower_is_better", True))


def strongest_cheap_baseline(published, measured, per_image=None):
    """The verdicts of the method against the strongest cheap baseline the run measured
    (best measured headline value among ``cheap_baselines``), on the headline metric and
    on each of ``secondary_metrics``. None when the paper names no cheap baselines or the
    run measured none of them."""
    cheap = published.get("cheap_baselines")
    if not cheap:
        return None
    head = published["headline"]
    table = _find_table(published["tables"], head["table"])
    metric, lower = head["metric"], _lower(table, head["metric"])
    values = {m: _measured_value(measured, cheap["table"], m, metric) for m in cheap["methods"]}
    values = {m: v for m, v in values.items() if v is not None}
    if not values:
        return None
    best = (min if lower else max)(values, key=values.get)
    result = {"method": best, "measured": values[best], "candidates": values, "verdicts": {}}
    for name in [metric] + list(published.get("secondary_metrics", [])):
        pair = None
        if per_image is not None:
            pair = paired_verdict(per_image(measured, head["table"], head["method"], name),
                                  per_image(measured, cheap["table"], best, name), _lower(table, name))
        result["verdicts"][name] = {
            "method": _measured_value(measured, head["table"], head["method"], name),
            "baseline": _measured_value(measured, cheap["table"], best, name),
            "lower_is_better": _lower(table, name),
            **(pair or {"verdict": "not measured per image"}),
        }
    return result


def verdict_text(entry):
    """'yes (+0.52 [0.31, 0.70] dB better, 4/4 images)' from one ``paired_verdict``."""
    if entry is None or "mean_difference" not in entry:
        return (entry or {}).get("verdict", "–")
    low, high = entry["interval"]
    return (f"{entry['verdict']} (mean gain {entry['mean_difference']:+.4g}, 95% CI [{low:+.4g}, {high:+.4g}], "
            f"better on {entry['better_on']}/{entry['n_images']} images)")


def headline_summary(published, measured, per_image=None):
    """The headline metric, the method-vs-baseline gap (published and measured), and the
    verdicts against the strongest cheap baseline (``per_image``: the paper's
    ``per_image_values``; without it the verdicts say "not measured per image")."""
    head = published["headline"]
    base = published["baseline"]
    table = _find_table(published["tables"], head["table"])
    metric = head["metric"]
    convention = table["metrics"][metric]
    lower = bool(convention.get("lower_is_better", True))
    published_value = _find_row(published, head["table"], head["method"])["values"].get(metric)
    published_base = _find_row(published, base["table"], base["method"])["values"].get(metric)
    measured_value = _measured_value(measured, head["table"], head["method"], metric)
    measured_base = _measured_value(measured, base["table"], base["method"], metric)
    measured_table = _find_table(measured.get("tables", []), head["table"]) or {}
    same_data = bool(
        table.get("dataset_key") and table.get("dataset_key") == measured_table.get("dataset_key")
    )
    # The headline method is trained: its value reproduces the paper's only with the
    # paper's data and the paper profile's training.
    comparable = same_data and measured.get("profile") in (None, "paper")
    strongest = strongest_cheap_baseline(published, measured, per_image)
    beats = None
    if strongest is not None:
        beats = {"yes": True, "no": False}.get(strongest["verdicts"][metric]["verdict"])
    return {
        "metric": metric,
        "scale": convention.get("scale"),
        "convention": convention.get("convention"),
        "lower_is_better": lower,
        "method": head["method"],
        "published": published_value,
        "published_dataset": table.get("dataset_short") or table["dataset"],
        "measured": measured_value,
        "measured_dataset": measured_table.get("dataset"),
        "comparable": comparable,
        "same_data": same_data,
        "baseline": {
            "method": base["method"],
            "published": published_base,
            "measured": measured_base,
            "published_gap_percent": _gap(published_value, published_base, lower),
            "measured_gap_percent": _gap(measured_value, measured_base, lower),
        },
        "strongest_baseline": strongest,
        "beats_baseline": beats,
    }


def _fmt(value, digits=4):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _fmt_std(value, std, digits=4):
    text = _fmt(value, digits)
    if std is not None and value is not None:
        text += f" ± {_fmt(std, digits)}"
    return text


def table_markdown(published_table, measured_table, profile=None):
    """One published table beside the run's measurements, every column labelled with its data.

    On the paper's own data, a row that involves no training (``"trained": False``, e.g.
    bicubic interpolation) is comparable as it stands and is marked so; the trained rows
    are comparable only when the run used the paper profile (``profile``)."""
    metrics = list(published_table["metrics"])
    measured_rows = {row["method"]: row for row in (measured_table or {}).get("rows", [])}
    paper_data = published_table.get("dataset_short") or published_table["dataset"]
    run_data = (measured_table or {}).get("dataset_short") or (measured_table or {}).get("dataset", "not run")
    comparable = bool(
        published_table.get("dataset_key")
        and published_table.get("dataset_key") == (measured_table or {}).get("dataset_key")
    )
    lines = [f"**{published_table['caption']}**", ""]
    lines.append(f"- paper: {published_table['dataset']}")
    lines.append(f"- this run: {(measured_table or {}).get('dataset', 'not run')}")
    if not comparable:
        lines.append("- **not comparable: different data.** Compare the gaps between methods, not the values.")
    elif profile not in (None, "paper"):
        lines.append(f"- same data and protocol as the paper. Rows marked ✓ involve no training and are "
                     f"directly comparable; the trained rows come from the `{profile}` profile (a short "
                     "CPU-sized training, not the paper's).")
    lines.append("")
    header = ["method"]
    for metric in metrics:
        header += [f"{metric} · paper ({paper_data})", f"{metric} · this run ({run_data})"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---" * len(header) + "|")
    methods = [row["method"] for row in published_table["rows"]]
    methods += [m for m in measured_rows if m not in methods]
    published_rows = {row["method"]: row for row in published_table["rows"]}
    for method in methods:
        prow = published_rows.get(method, {})
        mrow = measured_rows.get(method, {})
        untrained = comparable and mrow and mrow.get("trained") is False
        cells = [f"{method} ✓" if untrained and profile not in (None, "paper") else method]
        for metric in metrics:
            cells.append(_fmt_std(prow.get("values", {}).get(metric), prow.get("std", {}).get(metric)))
            cells.append(
                _fmt_std(mrow.get("values", {}).get(metric), mrow.get("std", {}).get(metric))
                if mrow
                else "not run"
            )
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Metric conventions:")
    for metric, convention in published_table["metrics"].items():
        direction = "lower is better" if convention.get("lower_is_better", True) else "higher is better"
        lines.append(f"- {metric}: scale {convention.get('scale', '?')}, {direction}; {convention.get('convention', '')}")
    if published_table.get("notes"):
        lines.append(f"\nNotes on the printed table: {published_table['notes']}")
    if (measured_table or {}).get("notes"):
        lines.append(f"\nNotes on this run: {measured_table['notes']}")
    return "\n".join(lines)


def _precision_text(measured):
    """'Precision: ...' for a run with ``--mixed-precision`` other than none; empty otherwise."""
    policy = measured.get("precision_policy")
    if not policy or policy == "float32":
        return ""
    return (f"Precision: {policy} (--mixed-precision {measured.get('mixed_precision')}: bfloat16 "
            "compute, float32 variables, losses and outputs). ")


def verdict_lines(summary):
    """The verdicts against the strongest cheap baseline, as Markdown lines."""
    strongest = summary.get("strongest_baseline")
    if not strongest:
        return []
    others = ", ".join(f"{m} {_fmt(v)}" for m, v in strongest["candidates"].items() if m != strongest["method"])
    lines = [f"Against the strongest cheap baseline this run measured, **{strongest['method']}** "
             f"({summary['metric']} {_fmt(strongest['measured'])}"
             + (f"; the others: {others}" if others else "") + "); does the method beat it?", ""]
    lines += ["| metric | method | baseline | beats it (paired over test images, 95% bootstrap CI of the "
              "mean gain) |", "|---|---|---|---|"]
    for metric, entry in strongest["verdicts"].items():
        lines.append(f"| {metric} | {_fmt(entry['method'])} | {_fmt(entry['baseline'])} | {verdict_text(entry)} |")
    lines.append("")
    return lines


def comparison_markdown(published, measured):
    """The whole ``comparison.md``: headline, gap to the baseline, verdicts, then every table."""
    summary = measured.get("headline") or headline_summary(published, measured)
    base = summary["baseline"]
    lines = [
        f"# {published['paper']}: published vs this run",
        "",
        f"{published['citation']}",
        "",
        f"Task: {published['task']}. Profile: {measured.get('profile', '?')}. "
        + _precision_text(measured) +
        f"Data used by this run: {measured.get('dataset', {}).get('description', '?')}.",
        "",
        f"Code and libraries: {short_text(measured.get('environment') or {})}; seed {measured.get('seed')}. "
        "The resolved settings of every network are in metrics.json (`settings`) and run_args.json.",
        "",
        "## Headline",
        "",
        f"| | {summary['metric']} ({summary['scale']}) | {base['method']} | gain over {base['method']} |",
        "|---|---|---|---|",
        f"| paper ({summary['published_dataset']}) | {_fmt(summary['published'])} | "
        f"{_fmt(base['published'])} | {_fmt(base['published_gap_percent'], 1)} % |",
        f"| this run ({summary['measured_dataset']}) | {_fmt(summary['measured'])} | "
        f"{_fmt(base['measured'])} | {_fmt(base['measured_gap_percent'], 1)} % |",
        "",
    ]
    if not summary.get("same_data", summary["comparable"]):
        lines.append(
            "The two rows are **not comparable: different data**. The gain over the baseline "
            "is the number to compare.\n"
        )
    elif not summary["comparable"]:
        lines.append(
            f"Same data and protocol as the paper, but the `{measured.get('profile')}` profile's short "
            "training, not the paper's: the method's value is **not a reproduction of the paper's**; "
            "the gain over the baseline is the number to compare.\n"
        )
    lines += verdict_lines(summary)
    for note in measured.get("notes", []):
        lines.append(f"- {note}")
    if measured.get("notes"):
        lines.append("")
    unmeasured = []
    for table in published["tables"]:
        measured_table = _find_table(measured.get("tables", []), table["id"])
        if measured_table is None:
            unmeasured.append(table)
            continue
        lines.append(f"## {table['id']}")
        lines.append("")
        lines.append(table_markdown(table, measured_table, measured.get("profile")))
        lines.append("")
    if unmeasured:
        lines += ["## Published tables this run did not measure", ""]
        lines += [f"- {t['id']}: {t['caption']} ({t['dataset']}); see published.json" for t in unmeasured]
        lines.append("")
    extra_tables = [t for t in measured.get("tables", []) if _find_table(published["tables"], t["id"]) is None]
    for table in extra_tables:
        lines.append(f"## {table['id']} (this run only)")
        lines.append("")
        lines.append(table.get("markdown") or json.dumps(table["rows"], indent=1))
        lines.append("")
    if measured.get("per_image_markdown"):
        lines += ["## Per image (this run)", "", measured["per_image_markdown"], ""]
    if measured.get("figures"):
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in measured["figures"]]
        lines.append("")
    return "\n".join(lines)


def write_results(run, published, measured, per_image=None):
    """Write ``metrics.json`` and ``comparison.md`` into the run folder (atomically).

    ``measured`` holds the measured ``tables`` plus the run's facts (``title``,
    ``dataset``, ``train_seconds``, ``parameters``, ``figures``, ``notes``, ...);
    the headline summary (with its verdicts, from ``per_image``: the paper's
    ``per_image_values``) and the run's identity are added here.
    """
    measured = dict(measured)
    measured.setdefault("paper", published["paper"])
    measured.setdefault("task", published["task"])
    measured.setdefault("citation", published["citation"])
    measured["profile"] = run.profile
    measured["seed"] = run.seed
    measured["mixed_precision"] = getattr(run.args, "mixed_precision", None) or "none"
    measured["precision_policy"] = PRECISION_POLICIES[measured["mixed_precision"]]
    measured["headline"] = headline_summary(published, measured, per_image)
    measured["beats_baseline"] = measured["headline"]["beats_baseline"]
    measured["elapsed_seconds"] = run.elapsed()
    atomic_write_json(run.path("metrics.json"), measured)
    atomic_write_text(run.path("comparison.md"), comparison_markdown(published, measured))
    run.stage(f"wrote {run.path('comparison.md')}")
    run.stage(headline_line(measured["headline"]))
    return measured


def headline_line(head):
    """One progress line: the headline metric, this run vs the paper, and the verdicts."""
    base, strongest = head["baseline"], head.get("strongest_baseline")
    line = (f"{head['metric']}: this run {_fmt(head['measured'])} vs paper {_fmt(head['published'])} "
            f"({'comparable' if head['comparable'] else 'same data, short training' if head.get('same_data') else 'different data'}); {base['method']} "
            f"{_fmt(base['measured'])}")
    if strongest:
        line += f"; beats {strongest['method']} ({_fmt(strongest['measured'])}): " + "; ".join(
            f"{metric} {verdict_text(entry)}" for metric, entry in strongest["verdicts"].items())
    return line
