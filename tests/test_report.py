"""The comparison report: gaps computed by hand, datasets labelled, schema errors clear."""

import json
import argparse

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
    assert summary["beats_baseline"] is True
    assert summary["comparable"] is False


def test_worse_than_baseline_is_reported():
    summary = headline_summary(PUBLISHED, _measured(ours=3.0, bicubic=2.0))
    assert summary["beats_baseline"] is False
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
    assert metrics["seed"] == 3 and metrics["beats_baseline"] is True
    assert (tmp_path / "comparison.md").read_text().startswith("# toy")


def test_unmeasured_tables_are_listed_not_tabulated():
    published = json.loads(json.dumps(PUBLISHED))
    extra = dict(published["tables"][0], id="t2", caption="Table 2 per image")
    published["tables"].append(extra)
    text = comparison_markdown(published, _measured())
    assert "## t1" in text and "## t2" not in text
    assert "- t2: Table 2 per image (CAVE, 7 test scenes)" in text


def test_simplest_baseline_measured_by_the_kit_decides_beats_baseline():
    published = json.loads(json.dumps(PUBLISHED))
    published["simplest_baseline"] = {"table": "t1", "method": "Linear regression (kit)"}
    measured = _measured(ours=2.0, bicubic=2.5)
    measured["tables"][0]["rows"].append({"method": "Linear regression (kit)", "values": {"RMSE": 1.5}})
    summary = headline_summary(published, measured)
    assert summary["beats_baseline"] is False  # 2.0 is worse than the linear regression's 1.5
    assert summary["simplest_baseline"] == {"method": "Linear regression (kit)", "measured": 1.5}
    assert summary["baseline"]["measured_gap_percent"] == pytest.approx(20.0)  # still vs Bicubic


def test_headline_line_names_both_baselines():
    published = json.loads(json.dumps(PUBLISHED))
    published["simplest_baseline"] = {"table": "t1", "method": "Bicubic"}
    line = headline_summary(published, _measured(ours=2.0, bicubic=2.5))
    from common.report import headline_line

    assert headline_line(line) == (
        "RMSE: this run 2.0000 vs paper 3.0000 (different data); Bicubic 2.5000; "
        "beats Bicubic (2.5000): yes"
    )
