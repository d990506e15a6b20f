"""MS-SSFNet data assembly (Sections 4.1-4.2), Table 1 metrics and the command line."""

import json

import numpy as np
import pytest

from common.io import KitError
from tests.conftest import paper_command, paper_config
from data_prep.cube import HARVARD_WAVELENGTHS, HSCube
from papers.ms_ssfnet.data import center_crop, observations, pad_to_multiple, patch_geometry


def get_config(profile):
    return paper_config("ms_ssfnet", profile)


def _cube(h, w, c=31, seed=0, wavelengths=None):
    rng = np.random.default_rng(seed)
    grid = np.arange(400, 701, 10) if wavelengths is None else wavelengths
    return HSCube(rng.random((h, w, c), dtype=np.float32), grid, name="t", source="test")


def test_observation_sizes_for_x16():
    config = get_config("paper")
    obs = observations(_cube(64, 96), config)
    assert obs["lr"].shape == (4, 6, 31)
    assert obs["rgb"].shape == obs["hs"].shape[:2] + (3,) == (64, 96, 3)
    assert obs["mid"].shape == (16, 24, 31)  # the x4 intermediate target (Section 4.2)
    assert obs["up"].shape == (64, 96, 31)


def test_flat_spectrum_renders_grey_and_degrades_to_itself():
    # The Nikon response rows are normalised to sum to 1 (white-balanced camera): a flat
    # spectrum of value v gives (v, v, v); every degradation of a constant is the constant.
    cube = HSCube(np.full((32, 48, 31), 0.3, np.float32), np.arange(400, 701, 10), source="flat")
    obs = observations(cube, get_config("paper"))
    for key in ("rgb", "lr", "mid", "up"):
        np.testing.assert_allclose(obs[key], 0.3, atol=1e-5)


def test_rgb_is_the_cube_projected_on_the_camera_response():
    from data_prep.render import nikon_d700_response

    cube = _cube(16, 16, wavelengths=HARVARD_WAVELENGTHS)
    response = nikon_d700_response(HARVARD_WAVELENGTHS)  # Harvard's 420-720 nm rows
    expected = cube.data.reshape(-1, 31).astype(np.float64) @ (response / response.sum(axis=0))
    obs = observations(cube, get_config("paper"))
    np.testing.assert_allclose(obs["rgb"].reshape(-1, 3), expected, rtol=1e-5, atol=1e-6)


def test_sides_not_divisible_by_16_are_reflect_padded():
    data = np.arange(20 * 35, dtype=np.float32).reshape(20, 35, 1)
    padded = pad_to_multiple(data, 16)
    assert padded.shape == (32, 48, 1)
    np.testing.assert_array_equal(padded[:20, :35], data)
    np.testing.assert_array_equal(padded[20, :35, 0], data[18, :, 0])  # reflect: mirror about row 19
    obs = observations(_cube(20, 35), get_config("paper"))
    assert obs["lr"].shape == (2, 3, 31) and obs["hs"].shape == (32, 48, 31)
    with pytest.raises(KitError):
        observations(_cube(8, 40), get_config("paper"))


def test_patch_geometry_matches_section_4_2():
    sizes, strides = patch_geometry(get_config("paper"))
    assert sizes == {"lr": 8, "rgb": 128, "hs": 128, "mid": 32, "up": 128}
    assert strides == {"lr": 2, "rgb": 32, "hs": 32, "mid": 8, "up": 32}


def test_center_crop():
    patches = {"hs": np.arange(2 * 8 * 8).reshape(2, 8, 8, 1)}
    out = center_crop(patches, ("hs",), 4)["hs"]
    np.testing.assert_array_equal(out, patches["hs"][:, 2:6, 2:6])


def test_table_1_metrics_are_per_band_then_averaged():
    from common.evaluation import summarize
    from papers.ms_ssfnet.experiment import METRICS

    gt = np.zeros((16, 16, 3))
    rec = gt + np.array([1.0, 2.0, 6.0])
    # Per-band RMSE is 1, 2, 6 -> mean 3 (the cube RMSE would be sqrt(41/3) = 3.70).
    assert METRICS["RMSE"](gt, rec) == pytest.approx(3.0)
    expected_psnr = np.mean([10 * np.log10(255**2 / e**2) for e in (1.0, 2.0, 6.0)])
    assert METRICS["PSNR"](gt, rec) == pytest.approx(expected_psnr)
    summary = summarize([{"image": "a", "RMSE": 1.0, "PSNR": 2.0, "SAM": 3.0, "SSIM": 0.5},
                         {"image": "b", "RMSE": 3.0, "PSNR": 2.0, "SAM": 5.0, "SSIM": 0.7}], list(METRICS))
    assert summary["mean"]["RMSE"] == 2.0 and summary["std"]["RMSE"] == 1.0  # population std
    assert summary["std"]["PSNR"] == 0.0


def test_published_table_1_is_complete():
    from common.paper import get_paper
    from common.report import load_published

    published = load_published(get_paper("ms_ssfnet").published_path)
    tables = {t["id"]: t for t in published["tables"]}
    assert sorted(tables) == ["table1a", "table1b", "table1c"]
    counts = {"table1a": 7, "table1b": 5, "table1c": 5}
    for table_id, table in tables.items():
        assert len(table["rows"]) == counts[table_id]
        for row in table["rows"]:
            assert set(row["values"]) == set(row["std"]) == {"RMSE", "PSNR", "SAM", "SSIM"}
    ours = {r["method"]: r for r in tables["table1a"]["rows"]}["MS-SSFNet (ours)"]
    assert ours["values"]["RMSE"] == 1.54 and ours["std"]["PSNR"] == 3.54


@pytest.mark.slow
def test_cli_train_then_evaluate_smoke(tmp_path):
    """``train`` leaves the run open, ``evaluate`` reads its networks and writes the report."""
    main = paper_command("ms_ssfnet")
    out = tmp_path / "run"
    with pytest.raises(KitError, match="train` with the same arguments first"):
        main(["evaluate", "--profile", "smoke", "--out", str(out)])
    assert main(["train", "--profile", "smoke", "--out", str(out)]) == 0
    assert (out / "ms_ssfnet.weights.h5").is_file() and not (out / "COMPLETE").exists()
    assert main(["evaluate", "--profile", "smoke", "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    rows = {row["method"]: row for row in result["tables"][0]["rows"]}
    assert set(rows) == {"Bicubic", "SSF-CNN", "SSF-ResNet", "Spectral-ResNet", "MS-SSFNet (ours)"}
    for row in rows.values():
        assert all(np.isfinite(v) for v in row["values"].values())
    ours = result["parameters"]["paper_profile"]["MS-SSFNet (ours)"]
    assert ours["trainable"] + ours["non_trainable"] == 853_502
    assert result["beats_baseline"] in (True, False, None)  # None: not distinguishable
    assert result["headline"]["strongest_baseline"]["method"] in ("Bicubic", "SSF-CNN")
    assert (out / "comparison.md").is_file() and (out / "COMPLETE").is_file()
