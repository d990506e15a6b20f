"""The data check behind unet_ms's verdict (``papers.unet_ms.pixelwise_check``): its linear
map and its RMSE2 against NumPy's least squares and Table 2's RMSE2 written out by hand."""

import json

import numpy as np
import pytest

from papers.unet_ms import pixelwise_check as P


def _config(scenes=8, size=32):
    from common.paper import get_paper

    config = get_paper("unet_ms").config("smoke")
    config["data"].update(synthetic_scenes=scenes, synthetic_size=size, synthetic_test_scenes=2)
    return config


def test_linear_map_and_rmse2_match_an_independent_least_squares():
    from data_prep.render import render_ntire2020_clean
    from data_prep.synthetic import SyntheticDataset

    config = _config()
    result = P.check(config, seed=0, epochs=1)
    # 8 scenes: 5 train / 1 validation / 2 test; 10,000 pixels // 5 images > 32 x 32, so
    # every training pixel is used: the least squares over all of them, by NumPy.
    dataset = SyntheticDataset(n_scenes=8, size=32, n_test=2)
    train, test = dataset.split("train"), dataset.split("test")
    assert result["training_pixels"] == len(train) * 32 * 32
    cubes = {name: dataset.load(name).data for name in train + test}
    rgb = {name: render_ntire2020_clean(cube, quantize=True) for name, cube in cubes.items()}
    X = np.concatenate([rgb[n].reshape(-1, 3) for n in train]).astype(np.float64)
    Y = np.concatenate([cubes[n].reshape(-1, 31) for n in train]).astype(np.float64)
    A = np.linalg.lstsq(X, Y, rcond=None)[0]
    for name in test:
        pred = (rgb[name].reshape(-1, 3) @ A).reshape(cubes[name].shape)
        # Table 2's RMSE2 (released utilities.py batch_RMSE_G): clamp both to [0, 1], x 255,
        # root of the mean square over the whole cube.
        expected = np.sqrt(np.mean((np.clip(cubes[name], 0, 1) * 255 - np.clip(pred, 0, 1) * 255) ** 2))
        unclamped = np.sqrt(np.mean((cubes[name] * 255 - pred * 255) ** 2))
        assert abs(unclamped - expected) > 1e-6 * expected  # the clamp matters on these scenes
        assert result["per_image"]["linear map"][name] == pytest.approx(expected, rel=1e-6)
    assert set(result["per_image"]["per-pixel network"]) == set(test)
    # The verdict's differences are linear minus network (positive: the network is better).
    per_image = result["per_image"]
    gains = [per_image["linear map"][n] - per_image["per-pixel network"][n] for n in test]
    assert result["verdict"]["mean_difference"] == pytest.approx(np.mean(gains))
    assert result["verdict"]["better_on"] == sum(g > 0 for g in gains)
    # Two test images: too few for a verdict (common.report.MIN_IMAGES_FOR_VERDICT).
    assert result["verdict"]["verdict"] == "too few test images" and result["verdict"]["n_images"] == 2


def test_command_writes_its_record(tmp_path, capsys):
    out = tmp_path / "check"
    assert P.main(["--profile", "smoke", "--size", "32", "--scenes", "8", "--test-scenes", "2", "--epochs", "1",
                   "--out", str(out)]) == 0
    record = json.loads((out / "pixelwise_check.json").read_text())
    assert record["profile"] == "smoke" and record["epochs"] == 1
    assert "Per-pixel network beats the linear map: too few test images" in capsys.readouterr().out
