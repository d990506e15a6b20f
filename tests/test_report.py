"""The comparison report: gaps computed by hand, datasets labelled, schema errors clear."""

import json
import argparse

import numpy as np
import pytest

from common.cli import Run
from common.io import KitError
from common.report import comparison_markdown, headline_summary, load_published, write_results

PUBLISHED = {
    "paper": "toy",
    "citation": "A. Author (2020). A toy paper.",
    "task": "toy task",
    "headline": {"table": "t1", "method": "Ours", "metric": "RMSE"},
    "baseline": {"table": "t1", "method": "Bicubic"},
    "tables": [
        {
            "id": "t1",
            "caption": "Table 1",
            "dataset": "CAVE, 7 test scenes",
            "dataset_key": "cave",
            "dataset_short": "CAVE",
            "metrics": {"RMSE": {"scale": "0-255", "lower_is_better": True, "convention": "whole cube"},
                        "PSNR": {"scale": "dB, peak 255", "lower_is_better": False}},
            "rows": [
                {"method": "Bicubic", "values": {"RMSE": 4.0, "PSNR": 30.0}},
                {"method": "Ours", "values": {"RMSE": 3.0, "PSNR": 33.0}, "std": {"RMSE": 0.5}},
            ],
        }
    ],
}


def _measured(key="synthetic", ours=2.0, bicubic=2.5):
    return {
        "dataset": {"key": key, "description": "test data"},
        "tables": [
            {"id": "t1", "dataset": f"{key} (2 scenes)", "dataset_key": key,
             "rows": [{"method": "Bicubic", "values": {"RMSE": bicubic, "PSNR": 31.0}},
                      {"method": "Ours", "values": {"RMSE": ours, "PSNR": 32.0}}]}
        ],
    }


def test_gap_to_baseline_by_hand():
    summary = headline_summary(PUBLISHED, _measured())
    # (4 - 3) / 4 = 25 % better in the paper; (2.5 - 2) / 2.5 = 20 % in this run.
    assert summary["baseline"]["published_gap_percent"] == pytest.approx(25.0)
    assert summary["baseline"]["measured_gap_percent"] == pytest.approx(20.0)
    assert summary["beats_baseline"] is None and summary["strongest_baseline"] is None  # no cheap baselines named
    assert summary["comparable"] is False


def test_worse_than_baseline_is_reported():
    summary = headline_summary(PUBLISHED, _measured(ours=3.0, bicubic=2.0))
    assert summary["baseline"]["measured_gap_percent"] == pytest.approx(-50.0)


def test_same_dataset_is_comparable():
    assert headline_summary(PUBLISHED, _measured(key="cave"))["comparable"] is True


def test_markdown_labels_every_column_with_its_data():
    text = comparison_markdown(PUBLISHED, _measured())
    assert "RMSE · paper (CAVE)" in text and "RMSE · this run (synthetic (2 scenes))" in text
    assert "not comparable: different data" in text
    assert "3.0000 ± 0.5000" in text


def test_load_published_rejects_undescribed_metric(tmp_path):
    bad = json.loads(json.dumps(PUBLISHED))
    bad["tables"][0]["rows"][0]["values"]["SAM"] = 1.0
    path = tmp_path / "published.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(KitError, match="SAM"):
        load_published(path)


def test_load_published_rejects_missing_headline_row(tmp_path):
    bad = json.loads(json.dumps(PUBLISHED))
    bad["headline"]["method"] = "Nope"
    path = tmp_path / "published.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(KitError, match="no row 'Nope'"):
        load_published(path)


def test_write_results_writes_both_files(tmp_path):
    args = argparse.Namespace(profile="quick", seed=3, command="reproduce")
    run = Run(paper="toy", args=args, folder=tmp_path)
    write_results(run, PUBLISHED, _measured())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["seed"] == 3 and metrics["beats_baseline"] is None  # no per-image values given
    assert (tmp_path / "comparison.md").read_text().startswith("# toy")


def test_unmeasured_tables_are_listed_not_tabulated():
    published = json.loads(json.dumps(PUBLISHED))
    extra = dict(published["tables"][0], id="t2", caption="Table 2 per image")
    published["tables"].append(extra)
    text = comparison_markdown(published, _measured())
    assert "## t1" in text and "## t2" not in text
    assert "- t2: Table 2 per image (CAVE, 7 test scenes)" in text


# ----------------------------------------------------------------------------- verdicts
def _per_image(values):
    """A ``per_image_values`` over {(method, metric): {image: value}}."""
    return lambda measured, table, method, metric: values.get((method, metric))


def _images(values):
    """{image name: value}: six images, the fewest that can carry a verdict."""
    return {f"img{k}": v for k, v in enumerate(values)}


def test_the_strongest_cheap_baseline_is_the_one_to_beat():
    published = json.loads(json.dumps(PUBLISHED))
    published["cheap_baselines"] = {"table": "t1", "methods": ["Bicubic", "Linear regression (kit)"]}
    measured = _measured(ours=2.0, bicubic=2.5)
    measured["tables"][0]["rows"].append({"method": "Linear regression (kit)", "values": {"RMSE": 1.5}})
    per_image = _per_image({("Ours", "RMSE"): _images([2.1, 1.9, 2.0, 2.1, 1.9, 2.0]),
                            ("Linear regression (kit)", "RMSE"): _images([1.6, 1.4, 1.5, 1.6, 1.4, 1.5])})
    summary = headline_summary(published, measured, per_image)
    strongest = summary["strongest_baseline"]
    assert strongest["method"] == "Linear regression (kit)" and strongest["measured"] == 1.5  # not Bicubic
    verdict = strongest["verdicts"]["RMSE"]
    assert verdict["verdict"] == "no" and summary["beats_baseline"] is False  # worse on every image
    assert verdict["mean_difference"] == pytest.approx(-0.5) and verdict["better_on"] == 0
    assert summary["baseline"]["measured_gap_percent"] == pytest.approx(20.0)  # the paper's baseline: Bicubic


def test_paired_verdicts_yes_no_and_not_distinguishable():
    from common.report import paired_verdict

    base = {f"i{k}": 10.0 for k in range(6)}
    better = {f"i{k}": 10.0 - d for k, d in enumerate([0.5, 0.2, 0.4, 0.3, 0.6, 0.1])}
    mixed = {f"i{k}": 10.0 - d for k, d in enumerate([0.5, -0.6, 0.4, -0.3, 0.2, -0.2])}
    assert paired_verdict(better, base, lower_is_better=True)["verdict"] == "yes"
    assert paired_verdict(better, base, lower_is_better=False)["verdict"] == "no"  # e.g. PSNR went down
    assert paired_verdict(mixed, base, lower_is_better=True)["verdict"] == "not distinguishable"
    one = paired_verdict({"a": 1.0}, {"a": 2.0}, lower_is_better=True)
    assert one["verdict"] == "too few test images" and one["n_images"] == 1
    # Images present for one method only do not count.
    assert paired_verdict({**better, "extra": 0.0}, base, True)["n_images"] == 6
    assert paired_verdict({}, base, True) is None


def test_no_verdict_below_the_image_count_the_exact_sign_test_needs():
    """A method better on every one of n images by a wide margin: the exact two-sided sign
    test (binomial, p = 2 * 0.5**n, computed here) reaches 5 % only from n = 6, so with 5
    images the report must not say "yes" (nor "no" the other way), and with 6 it says so."""
    from common.report import paired_verdict

    for n in range(1, 9):
        p_value = 2 * 0.5**n
        method = {f"i{k}": 1.0 + 0.01 * k for k in range(n)}
        base = {f"i{k}": 5.0 for k in range(n)}
        better = paired_verdict(method, base, lower_is_better=True)
        worse = paired_verdict(base, method, lower_is_better=True)
        expected = ("yes", "no") if p_value < 0.05 else ("too few test images",) * 2
        assert (better["verdict"], worse["verdict"]) == expected, n
        assert better["better_on"] == n and worse["better_on"] == 0


def test_bootstrap_interval_matches_the_normal_theory_interval_for_many_images():
    """For many images the percentile-bootstrap interval of a mean approaches
    mean +- 1.96 s / sqrt(n) (central limit theorem), computed here by hand."""
    from common.report import paired_verdict

    rng = np.random.default_rng(0)
    diffs = rng.normal(0.3, 1.0, 400)
    verdict = paired_verdict({str(i): -d for i, d in enumerate(diffs)}, {str(i): 0.0 for i in range(400)}, True)
    half = 1.96 * diffs.std(ddof=1) / np.sqrt(len(diffs))
    low, high = verdict["interval"]
    assert verdict["mean_difference"] == pytest.approx(diffs.mean())
    assert low == pytest.approx(diffs.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(diffs.mean() + half, abs=0.15 * half)
    assert verdict["verdict"] == "yes"


def test_secondary_metric_gets_its_own_verdict_in_its_direction():
    published = json.loads(json.dumps(PUBLISHED))
    published["cheap_baselines"] = {"table": "t1", "methods": ["Bicubic"]}
    published["secondary_metrics"] = ["PSNR"]
    per_image = _per_image({("Ours", "RMSE"): _images([2.0, 2.1] * 3), ("Bicubic", "RMSE"): _images([2.5, 2.6] * 3),
                            ("Ours", "PSNR"): _images([30.0, 31.0] * 3),
                            ("Bicubic", "PSNR"): _images([31.0, 32.0] * 3)})
    summary = headline_summary(published, _measured(ours=2.0, bicubic=2.5), per_image)
    verdicts = summary["strongest_baseline"]["verdicts"]
    assert verdicts["RMSE"]["verdict"] == "yes" and summary["beats_baseline"] is True
    assert verdicts["PSNR"]["verdict"] == "no"  # higher PSNR is better: 1 dB worse on every image


def test_headline_line_names_the_verdicts():
    from common.report import headline_line

    published = json.loads(json.dumps(PUBLISHED))
    published["cheap_baselines"] = {"table": "t1", "methods": ["Bicubic"]}
    per_image = _per_image({("Ours", "RMSE"): _images([2.0] * 6), ("Bicubic", "RMSE"): _images([2.5] * 6)})
    line = headline_line(headline_summary(published, _measured(ours=2.0, bicubic=2.5), per_image))
    assert line.startswith("RMSE: this run 2.0000 vs paper 3.0000 (different data); Bicubic 2.5000; "
                           "beats Bicubic (2.5000): RMSE yes (mean gain +0.5")
    assert "better on 6/6 images" in line


def test_rows_without_training_are_marked_comparable_on_the_papers_data():
    from common.report import table_markdown

    measured = _measured(key="cave")["tables"][0]
    measured["rows"][0]["trained"] = False  # Bicubic
    text = table_markdown(PUBLISHED["tables"][0], measured, profile="quick")
    assert "| Bicubic ✓ |" in text and "| Ours |" in text
    assert "Rows marked ✓ involve no training and are directly comparable" in text
    assert "✓" not in table_markdown(PUBLISHED["tables"][0], _measured(key="synthetic")["tables"][0], "quick")


def test_the_papers_data_with_a_short_profile_is_not_a_reproduction():
    summary = headline_summary(PUBLISHED, {**_measured(key="cave"), "profile": "cpu"})
    assert summary["same_data"] is True and summary["comparable"] is False
    text = comparison_markdown(PUBLISHED, {**_measured(key="cave"), "profile": "cpu"})
    assert "Same data and protocol as the paper, but the `cpu` profile's short training" in text
    assert headline_summary(PUBLISHED, {**_measured(key="cave"), "profile": "paper"})["comparable"] is True
