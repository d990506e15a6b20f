"""rdab_coordconv: the command line end to end on a tiny configuration, and its errors."""

import json

import numpy as np
import pytest

from common.io import KitError
from papers.rdab_coordconv.baselines import fit_linear_baseline
from tests.conftest import paper_command

main = paper_command("rdab_coordconv")


def test_import_weights_needs_a_file_and_a_keras_path(tmp_path):
    with pytest.raises(KitError, match="give the released .hdf5 file"):
        main(["import-weights"])
    with pytest.raises(KitError, match="no such weights file"):
        main(["import-weights", str(tmp_path / "missing.hdf5"), "--out", str(tmp_path / "m.keras")])
    with pytest.raises(KitError, match="ending in .keras"):
        main(["import-weights", str(tmp_path / "missing.hdf5"), "--out", str(tmp_path / "m.h5")])


def test_linear_baseline_recovers_an_affine_map():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(4, 31))
    rgb = rng.random((20, 30, 3))
    cube = rgb @ weights[:3] + weights[3]
    model = fit_linear_baseline([(rgb, cube)], max_pixels=600)
    np.testing.assert_allclose(model.weights, weights, atol=1e-8)
    np.testing.assert_allclose(model.predict(rgb), cube, atol=1e-5)


@pytest.mark.slow
def test_train_then_evaluate_smoke(tmp_path):
    out = tmp_path / "run"
    common = ["--profile", "smoke", "--out", str(out), "--released", "none"]
    assert main(["train", *common]) == 0
    assert (out / "proposed.keras").is_file() and (out / "linear_baseline.npy").is_file()
    assert not (out / "COMPLETE").exists()  # evaluate continues in the same folder
    assert main(["evaluate", *common]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {r["method"]: r["values"] for r in metrics["tables"][0]["rows"]}
    proposed = rows["Proposed (RDAB + CoordConv + CBAM)"]
    assert np.isfinite(proposed["MRAE_test"]) and 0 < proposed["SSIM_test"] <= 1
    counts = metrics["parameters"]["paper_profile"]["proposed"]
    assert counts["trainable"] + counts["non_trainable"] == 233_059
    assert metrics["beats_baseline"] in (True, False, None)  # vs the linear regression (published.json)
    assert metrics["headline"]["strongest_baseline"]["method"] == "Linear regression (kit baseline)"
    assert "tiling" in (out / "comparison.md").read_text()
    assert (out / "COMPLETE").is_file()
