"""unet_ms: the command line end to end (smoke profile), the learning-rate schedule of
Sec. 4.2, the Table 2 metric scaling, and the patch data."""

import json

import numpy as np
import pytest

from common.io import KitError
from papers.unet_ms import data as D
from papers.unet_ms.experiment import lr_at_epoch, table2_metrics
from tests.conftest import paper_command, paper_config

main = paper_command("unet_ms")


def test_learning_rate_schedule_of_the_paper():
    train = paper_config("unet_ms", "paper")["train"]
    # Sec. 4.2: 5e-5, multiplied by 0.93 every 10 epochs.
    assert lr_at_epoch(0, train) == pytest.approx(5e-5)
    assert lr_at_epoch(9, train) == pytest.approx(5e-5)
    assert lr_at_epoch(10, train) == pytest.approx(5e-5 * 0.93)
    assert lr_at_epoch(99, train) == pytest.approx(5e-5 * 0.93**9)


def test_table2_metrics_on_the_0_255_scale():
    truth = np.full((2, 2, 31), 0.4)
    pred = truth.copy()
    pred[0, 0, :] = 0.5  # a quarter of the pixels off by 0.1 (25.5 on 0-255)
    m = {k: f(truth, pred) for k, f in table2_metrics(255.0).items()}
    assert m["RMSE1"] == pytest.approx(25.5 / 4)
    assert m["RMSE2"] == pytest.approx(np.sqrt(25.5**2 / 4))
    assert m["rRMSE1"] == pytest.approx(0.25 / 4)
    assert m["rRMSE2"] == pytest.approx(np.sqrt(0.1**2 / 4) / 0.4)
    assert m["SAM"] == pytest.approx(0.0, abs=1e-6)  # parallel spectra


def test_training_patches_are_aligned_rgb_spectrum_pairs():
    from data_prep.render import render_ntire2020_clean
    from data_prep.synthetic import SyntheticDataset

    dataset = SyntheticDataset(n_scenes=8, size=64)
    parts, _ = D.make_splits(dataset)
    patches = D.patch_arrays(dataset, parts["train"][:2], size=32, stride=16, max_patches=5, seed=0)
    assert patches["rgb"].shape == (5, 32, 32, 3) and patches["hs"].shape == (5, 32, 32, 31)
    for rgb, hs in zip(patches["rgb"], patches["hs"]):
        np.testing.assert_allclose(rgb, render_ntire2020_clean(hs, quantize=True), atol=1e-6)
    assert D.paper_image_name("BGU_HS_00257") == "BGU_00257"


def test_cli_train_then_evaluate(tmp_path):
    out = tmp_path / "run"
    args = ["--profile", "smoke", "--out", str(out), "--seed", "1", "--epochs", "2"]
    assert main(["train", *args]) == 0
    assert (out / "unet_ms.keras").is_file() and (out / "unet_ms_log.csv").is_file()
    # The learning rate of each epoch is the schedule's (Sec. 4.2 form: lr0 * decay ** (epoch // every)).
    import csv

    smoke = paper_config("unet_ms", "smoke")["train"]
    with open(out / "unet_ms_log.csv") as handle:
        logged = [float(row["learning_rate"]) for row in csv.DictReader(handle)]
    assert logged == pytest.approx([lr_at_epoch(e, smoke) for e in (0, 1)], rel=1e-6)
    assert logged[1] == pytest.approx(logged[0] * 0.93, rel=1e-6)
    assert not (out / "COMPLETE").exists()
    assert main(["evaluate", *args]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    table = next(t for t in metrics["tables"] if t["id"] == "table2")
    methods = {row["method"] for row in table["rows"]}
    assert {"Ours (multi-scale U-Net)", "Spline interpolation"} <= methods
    assert set(table["rows"][0]["values"]) == {"RMSE1", "RMSE2", "rRMSE1", "rRMSE2", "SAM"}
    assert metrics["parameters"]["paper_profile"]["unet_ms"]["trainable"] == 26_686_592
    assert metrics["beats_baseline"] in (True, False, None)  # None: not distinguishable
    assert (out / "comparison.md").is_file() and (out / "COMPLETE").is_file()


def test_streamed_patches_cover_every_grid_position_once_per_epoch():
    from data_prep.synthetic import SyntheticDataset

    dataset = SyntheticDataset(n_scenes=8, size=64)
    names = dataset.split("train")[:2]
    stream, count = D.streamed_dataset(dataset, names, size=32, stride=32, batch_size=3, seed=0)
    assert count == 2 * 4  # a 2 x 2 grid of 32 x 32 patches per 64 x 64 image
    batches = list(stream.as_numpy_iterator())
    rgb = np.concatenate([b[0] for b in batches])
    hs = np.concatenate([b[1] for b in batches])
    assert rgb.shape == (8, 32, 32, 3) and hs.shape == (8, 32, 32, 31)
    expected = D.patch_arrays(dataset, names, size=32, stride=32)
    # Same patches, in another order: match them by their sums.
    def by_sum(a):
        return a[np.argsort(a.reshape(len(a), -1).sum(axis=1))]

    np.testing.assert_allclose(by_sum(hs), by_sum(expected["hs"]), atol=1e-6)
    np.testing.assert_allclose(by_sum(rgb), by_sum(expected["rgb"]), atol=1e-6)


def _write_fake_ntire2018(root, names, size=48):
    """A tiny NTIRE 2018 tree: v7.3 .mat cubes of 12-bit counts (h5py, axes reversed as
    MATLAB stores them) and 8-bit *_clean.png renditions."""
    import h5py
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in names:
        folder = root / ("NTIRE2018_Validation_Spectral" if name >= "BGU_HS_00257" else "NTIRE2018_Train1_Spectral")
        folder.mkdir(parents=True, exist_ok=True)
        cube = (rng.random((size, size, 31)) * 4095).round()
        with h5py.File(folder / f"{name}.mat", "w") as handle:
            handle["rad"] = cube.T
            handle["bands"] = np.arange(400, 701, 10, dtype=float)[None, :].T
        png = root / folder.name.replace("Spectral", "Clean") / f"{name}_clean.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(png)


NTIRE_NAMES = ["BGU_HS_00001", "BGU_HS_00002", "BGU_HS_00257", "BGU_HS_00258", "BGU_HS_00259",
               "BGU_HS_00261", "BGU_HS_00263", "BGU_HS_00265"]


def test_cli_on_an_ntire2018_tree_uses_the_paper_split_and_names(tmp_path, monkeypatch):
    from papers.unet_ms import experiment

    root = tmp_path / "ntire2018"
    _write_fake_ntire2018(root, NTIRE_NAMES)
    seen = []
    reconstruct = experiment.reconstruct
    monkeypatch.setattr(experiment, "reconstruct", lambda model, rgb: seen.append(rgb.shape) or reconstruct(model, rgb))
    out = tmp_path / "run"
    assert main(["reproduce", "--profile", "smoke", "--data", f"ntire2018={root}", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"]["name"] == "ntire2018"
    assert metrics["training"]["train_patches"] == 2  # BGU_HS_00001-00002 only; 00258 is left out
    ids = {t["id"] for t in metrics["tables"]}
    assert {"table2", "table2_BGU_00257"} <= ids  # smoke evaluates the first test image
    # The paper's data, but the smoke profile's training: same data, not a reproduction.
    assert metrics["headline"]["same_data"] is True and metrics["headline"]["comparable"] is False
    # The released test protocol: the top-left crop of each 48 x 48 test image goes through
    # the network (the smoke profile crops 32, the paper profile 1280).
    assert seen == [(32, 32, 3)]


def test_cli_on_an_ntire2018_tree_without_a_png_names_the_image(tmp_path):
    root = tmp_path / "ntire2018"
    _write_fake_ntire2018(root, NTIRE_NAMES)
    (root / "NTIRE2018_Train1_Clean" / "BGU_HS_00002_clean.png").unlink()
    out = tmp_path / "run"
    with pytest.raises(KitError, match="BGU_HS_00002_clean.png"):
        main(["train", "--profile", "smoke", "--data", f"ntire2018={root}", "--out", str(out)])
    assert not out.exists()  # nothing trained, no run folder left behind
