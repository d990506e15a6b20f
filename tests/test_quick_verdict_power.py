"""Every quick profile tests on enough synthetic scenes for the report's paired verdict.

Below ``common.report.MIN_IMAGES_FOR_VERDICT`` paired test images the report says "too few
test images" (the exact sign test's bound, checked in test_report.py), so a quick profile
with fewer test scenes could never say whether its method beats the baseline.
"""

import argparse

import pytest

from common.paper import all_papers
from common.report import MIN_IMAGES_FOR_VERDICT


@pytest.mark.parametrize("paper", all_papers(), ids=lambda p: p.name)
def test_quick_profile_tests_on_enough_scenes_for_a_verdict(paper):
    config = paper.config("quick")
    args = argparse.Namespace(data=None, data_root=None, seed=0, profile="quick", command="reproduce")
    data = paper.open_data(args, config)
    assert data.name == "synthetic"
    test = list(data.splits.get("test", []))
    limit = (config.get("eval", {}).get("max_test_images") or config.get("data", {}).get("max_test_images"))
    if limit:
        test = test[:limit]
    assert len(test) >= MIN_IMAGES_FOR_VERDICT, f"{paper.name}: {len(test)} test scenes"
    # Test scenes are never trained or validated on.
    assert not set(test) & (set(data.splits.get("train", [])) | set(data.splits.get("val", [])))
