"""pix2pix_hs data preparation, splits, metrics pooling and the command line (Sec. 2.3, 3.2, 3.3).

References are computed by hand here (min-max normalisation, per-pixel RMSE with a mask,
pixel-weighted pooling, an exact affine map) or taken from the paper's statements (fold
sizes, the 1280 x 1280 tiled region of a 1392 x 1300 image).
"""

import json

import numpy as np
import pytest

from data_prep.cube import DEFAULT_WAVELENGTHS, HSCube
from papers.pix2pix_hs import baselines
from papers.pix2pix_hs import data as D
from papers.pix2pix_hs import experiment as E


class FakeICVL:
    """A few small ICVL-like radiance cubes (12-bit counts / 4095) with black right borders."""

    name = "icvl"

    def __init__(self, root, names, size=(40, 48)):
        self.root, self.names, self.size = root, list(names), size

    def describe(self):
        return f"fake icvl, {len(self.names)} images"

    def load(self, name):
        rng = np.random.default_rng(abs(hash(name)) % 2**32)
        data = rng.uniform(100, 3000, self.size + (31,)) / 4095.0
        data[:, -5:] = 0.0  # black pixels of a narrower scan
        return HSCube(data=data, wavelengths=DEFAULT_WAVELENGTHS, name=name, source_peak=4095.0)


def test_normalise_cube_is_min_max_over_the_whole_image():
    cube = np.array([[[2.0, 4.0]], [[6.0, 10.0]]])  # min 2, max 10
    np.testing.assert_allclose(D.normalise_cube(cube), [[[0.0, 0.25]], [[0.5, 1.0]]])


def test_prepare_pair_masks_black_pixels_and_renders_srgb():
    cube = FakeICVL(None, ["a"]).load("a")
    rgb, hs, mask = D.prepare_pair(cube)
    assert hs.min() == 0.0 and hs.max() == pytest.approx(1.0)
    assert not mask[:, -5:].any() and mask[:, :-5].all()
    assert rgb.shape == (40, 48, 3) and 0.0 <= rgb.min() and rgb.max() <= 1.0
    np.testing.assert_array_equal(rgb[:, -5:], 0.0)  # zero radiance renders black


def test_pair_store_round_trip_and_random_crops(tmp_path):
    dataset = FakeICVL(tmp_path, ["img_a", "img_b", "img_c"])
    store = D.PairStore(dataset, dataset.names, cache_dir=tmp_path, stage=lambda m: None)
    rgb, hs, mask = store.full("img_b")
    ref_rgb, ref_hs, ref_mask = D.prepare_pair(dataset.load("img_b"))
    np.testing.assert_allclose(hs, ref_hs, atol=0.5 / 65535 + 1e-7)  # uint16 storage
    np.testing.assert_allclose(rgb, ref_rgb, atol=0.5 / 65535 + 1e-7)
    np.testing.assert_array_equal(mask, ref_mask)

    crops = D.RandomCrops(store, dataset.names, crop=16, seed=3)
    assert len(crops) == 3  # Sec. 2.3: one crop per image per epoch, batch 1
    first_epoch = [crops[i] for i in range(len(crops))]
    for (x, y), (name, top, left) in zip(first_epoch, crops._plan):
        assert x.shape == (1, 16, 16, 3) and y.shape == (1, 16, 16, 31)
        assert -1.0 <= x.min() and x.max() <= 1.0 and -1.0 <= y.min() and y.max() <= 1.0
        full_rgb, full_hs, _ = store.full(name)
        np.testing.assert_allclose(y[0], full_hs[top:top + 16, left:left + 16] * 2 - 1, atol=1e-6)
    assert sorted(name for name, _, _ in crops._plan) == sorted(dataset.names)
    before = list(crops._plan)
    crops.on_epoch_end()
    assert crops._plan != before  # new random crops each epoch
    crops.on_epoch_end()
    epoch_2 = list(crops._plan)
    resumed = D.RandomCrops(store, dataset.names, crop=16, seed=3)
    resumed.epoch_clock.start(2)  # what common.training.fit does after 2 completed epochs
    assert resumed._plan == epoch_2
    store.close()


def test_tiles_cover_the_paper_region():
    assert D.tiled_region((1300, 1392, 31), 256) == (1280, 1280)  # Sec. 2.3
    assert D.tiled_region((256, 256, 31), 64) == (256, 256)
    with pytest.raises(ValueError, match="no whole"):
        D.tiled_region((40, 300), 64)


from data_prep.splits import read_name_list  # noqa: E402
from papers.pix2pix_hs.data import ICVL_FOLD_FILES  # noqa: E402


def test_icvl_folds_are_the_authors_lists():
    lists = [read_name_list(path) for path in ICVL_FOLD_FILES]
    assert [len(names) for names in lists] == [100, 100]  # Sec. 3.3: two folds of 100
    assert not set(lists[0]) & set(lists[1])
    dataset = FakeICVL(None, sorted(lists[0] + lists[1] + ["extra_0000-0000"]))
    folds, text = D.make_folds(dataset)
    assert [f["id"] for f in folds] == [0, 1]
    assert sorted(folds[0]["test"]) == sorted(lists[0]) and sorted(folds[0]["train"]) == sorted(lists[1])
    assert sorted(folds[1]["test"]) == sorted(lists[1]) and sorted(folds[1]["train"]) == sorted(lists[0])
    assert "100/100" in text


def test_icvl_folds_name_a_missing_image():
    lists = read_name_list(ICVL_FOLD_FILES[0])
    with pytest.raises(ValueError, match="not in the dataset"):
        D.make_folds(FakeICVL(None, lists))  # fold 1's images are missing


def test_table1_rmse_and_pooling_by_hand():
    fns = E.table1_metrics(DEFAULT_WAVELENGTHS)
    truth = np.full((1, 2, 31), 0.5)
    pred = truth.copy()
    pred[0, 0] += 0.02  # pixel 0: error 0.02 in every band -> RMSE 0.02 * 255 = 5.1
    pred[0, 1] += 0.3  # pixel 1 is masked out
    mask = np.array([[True, False]])
    assert fns["RMSE"](truth, pred, mask) == pytest.approx(5.1)
    assert fns["RMSERel"](truth, pred, mask) == pytest.approx(0.02 / 0.5)
    assert fns["GFC"](truth, pred, mask) == pytest.approx(1.0)  # parallel spectra
    rows = [{"n_pixels": 3, **{m: 1.0 for m in E.METRIC_ORDER}},
            {"n_pixels": 1, **{m: 5.0 for m in E.METRIC_ORDER}}]
    assert E.pooled(rows)["RMSE"] == pytest.approx((3 * 1.0 + 5.0) / 4)


def test_linear_regression_recovers_an_affine_map():
    rng = np.random.default_rng(0)
    weights, bias = rng.uniform(0, 0.3, (3, 31)), rng.uniform(0, 0.1, 31)
    rgb = rng.uniform(0, 1, (500, 3))
    model = baselines.linear_regression().fit(rgb, rgb @ weights + bias)
    image = rng.uniform(0, 1, (4, 5, 3))
    np.testing.assert_allclose(model.predict(image), np.clip(image @ weights + bias, 0, 1), atol=1e-5)


def test_cli_train_then_evaluate_on_the_smoke_profile(tmp_path, monkeypatch):
    from tests.conftest import paper_command

    main = paper_command("pix2pix_hs")
    monkeypatch.setattr(D, "CACHE_DIR", tmp_path / "cache")
    out = tmp_path / "run"
    assert main(["train", "--profile", "smoke", "--out", str(out)]) == 0
    assert (out / "cgan4_foldsynthetic_run0_generator.keras").is_file()
    assert (out / "cgan1_foldsynthetic_run0_generator.keras").is_file()
    assert main(["evaluate", "--profile", "smoke", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {row["method"]: row["values"] for table in metrics["tables"] for row in table["rows"]}
    assert set(rows) >= {E.METHOD, E.branch_row(1), E.branch_row(4), baselines.LINREG_NAME}
    assert all(np.isfinite(v) for values in rows.values() for v in values.values())
    assert metrics["beats_baseline"] in (True, False, None)  # None: not distinguishable
    assert metrics["parameters"]["paper_profile"]["generator"]["trainable"] == 30_684_511
    assert (out / "comparison.md").is_file() and (out / "COMPLETE").is_file()
