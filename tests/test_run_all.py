"""run_all: one failing paper does not stop the report; figure links and labels are right."""

import argparse
import time

import pytest

from common import run_all


def _args(**kw):
    base = dict(papers=["x"], profile="quick", data_root=None, out=None, seed=0, epochs=None)
    base.update(kw)
    return argparse.Namespace(**base)


def _metrics(comparable=False):
    return {
        "task": "toy",
        "dataset": {"name": "synthetic"},
        "train_seconds": 12.0,
        "parameters": {"trained": 1000, "paper_profile": 5000},
        "headline": {
            "metric": "RMSE", "scale": "0-255", "published": 1.5, "published_dataset": "CAVE",
            "measured": 2.25, "comparable": comparable, "beats_baseline": True,
            "baseline": {"method": "Bicubic", "published_gap_percent": 25.0, "measured_gap_percent": 10.0},
            "strongest_baseline": {"method": "Linear", "measured": 2.5, "candidates": {"Linear": 2.5},
                                   "verdicts": {"RMSE": {"verdict": "yes", "mean_difference": 0.25,
                                                         "interval": [0.1, 0.4], "n_images": 4, "better_on": 4},
                                                "SAM": {"verdict": "no", "mean_difference": -1.0,
                                                        "interval": [-1.5, -0.5], "n_images": 4, "better_on": 0}}},
        },
    }


def test_failed_paper_is_reported_and_others_kept(tmp_path):
    failed = run_all.run_paper("no_such_paper", _args(), tmp_path, time.monotonic())
    assert failed["returncode"] != 0 and "no_such_paper" in failed["error"]
    ok = {"paper": "toy", "returncode": 0, "out": str(tmp_path / "toy"), "metrics": _metrics()}
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "comparison.md").write_text("# toy\n\n![curves](figures/curves.png)\n")
    report = run_all.build_report([failed, ok], _args(), 1.0)
    assert "**failed**" in report and "no_such_paper" in report
    assert "| toy | toy | synthetic | RMSE (0-255) | 1.5000 (CAVE) | 2.2500 † |" in report
    assert ("25.0 % / 10.0 % vs Bicubic | vs Linear (2.5000): RMSE: yes (mean gain +0.25, 95% CI [+0.1, +0.4], "
            "better on 4/4 images); SAM: **no** (mean gain -1") in report
    assert "1,000 (paper: 5,000)" in report
    assert "![curves](toy/figures/curves.png)" in report
    assert "\n## toy\n" in report and "\n## no_such_paper\n" in report


def test_unknown_paper_is_rejected(capsys):
    with pytest.raises(SystemExit):
        run_all.parse_args(["--papers", "unet_ms,nope"])
    assert "unknown paper(s) nope" in capsys.readouterr().err


def test_parameter_counts_and_times_in_every_recorded_form():
    assert run_all._count(1000) == 1000
    assert run_all._count({"trainable": 231539, "non_trainable": 1520}) == 233059
    assert run_all._count({"proposed": {"total": 233059}, "linear": 124}) == 233059
    assert run_all._count({"drcnn_x2": 67902, "srcnn_x2": 3553}) == 67902
    assert run_all._seconds({"proposed": 88.3, "linear_baseline": 0.2}) == "88 s"
    assert run_all._seconds(None) == "–"
