"""Smoke run of ``python -m common.bench --quick`` on one tiny network (no timing checks).

The FLOPs and parameter count in the report are checked against a hand count of SRCNN
(conv f1 x f1 / n1, ReLU; conv f2 x f2 / n2, ReLU; conv f3 x f3 / 1) at the smoke
profile's sizes, and a network that fails to build must leave a row with its error while
the others are still measured.
"""

import json

import pytest

from common import bench
from common.io import KitError
from tests.conftest import paper_config


def srcnn_hand_count(arch, side):
    """Forward FLOPs and weights of SRCNN on one side x side grey image ('same' padding)."""
    pixels = side * side
    f1, f2, f3, n1, n2 = (arch[k] for k in ("f1", "f2", "f3", "n1", "n2"))
    conv1 = (2 * f1 * f1 * 1 * n1 + n1 + n1) * pixels  # MACs, bias, ReLU
    conv2 = (2 * f2 * f2 * n1 * n2 + n2 + n2) * pixels
    conv3 = (2 * f3 * f3 * n2 * 1 + 1) * pixels  # linear output
    weights = (f1 * f1 * n1 + n1) + (f2 * f2 * n1 * n2 + n2) + (f3 * f3 * n2 + 1)
    return conv1 + conv2 + conv3, weights


def test_quick_bench_of_one_tiny_network(tmp_path, monkeypatch, capsys):
    def broken(quick):
        raise RuntimeError("model still being written")

    cases = bench.all_cases()
    monkeypatch.setattr(bench, "all_cases", lambda: {**cases, "broken/net": broken})
    code = bench.main(["--quick", "--models", "drcnn_sam/srcnn,broken/*", "--steps", "1",
                       "--infer-repeats", "1", "--pipeline-batches", "1", "--out", str(tmp_path)])
    assert code == 0

    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["built"] == ["drcnn_sam/srcnn"]
    assert report["failed"] == {"broken/net": "RuntimeError: model still being written"}
    row = report["results"][0]

    config = paper_config("drcnn_sam", "smoke")
    side = config["data"]["patch_size"]
    flops, weights = srcnn_hand_count(config["baselines"]["srcnn"], side)
    assert row["params"] == weights
    assert row["flops"]["forward"] == flops
    assert row["flops"]["train"] == 3 * flops
    # Whole image: the quick 48 x 48 image, band by band (31 grey images).
    image_flops, _ = srcnn_hand_count(config["baselines"]["srcnn"], 48)
    assert row["flops"]["full_image"] == 31 * image_flops
    assert row["batch"] == config["baselines"]["batch_size"]
    for section in ("train", "inference", "pipeline"):
        assert row[section]  # measured, values not checked (timings)

    table = (tmp_path / "bench.md").read_text()
    assert f"| drcnn_sam/srcnn | {weights:,} | " in table
    assert "`broken/net`: RuntimeError" in table
    assert "| drcnn_sam/srcnn |" in capsys.readouterr().out


def test_unknown_network_is_a_clear_error():
    with pytest.raises(KitError, match="no network named 'nope'"):
        bench.main(["--models", "nope"])


def test_list_names_every_network(capsys):
    assert bench.main(["--list"]) == 0
    names = capsys.readouterr().out.split()
    assert names == list(bench.all_cases())
    assert {"unet_ms", "pix2pix_hs", "rdab_coordconv", "drcnn_sam", "ms_ssfnet"} <= set(names)
