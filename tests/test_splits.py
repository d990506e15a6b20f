"""Every paper's split against the paper's own text (its test images, its counts), and the
shared split helpers (seeded, order-free, ambiguous names refused).

The lists below are copied from the papers, not from the kit's constants:
- drcnn_sam, Sec. 4: "The testing set included 7 images from the CAVE dataset (Balloons,
  Chart and stuffed toy, Faces, Flowers, Jelly beans, Real and fake apples, and Oil
  painting) and 10 images from the Harvard dataset (Img1, Img2, Img3, Img4, Img5, Img6,
  Imga1, Imga2, Imga3 and Imga4). The rest 92 images were used for training."
- unet_ms, Table 2: test images BGU 00257, 00259, 00261, 00263, 00265; Sec. 4.1: 256
  training images.
- ms_ssfnet, Sec. 4.1: Harvard 40 of 50 train; ICVL 71 of the 101 images train; NUS 41
  train / 25 test.
- rdab_coordconv, Sec. 3.1: "400 images for training and 50 images for validation".
- pix2pix_hs, Sec. 3.3: two folds of 100 images.
"""

from pathlib import Path

import pytest

from common.io import KitError
from data_prep import splits
from papers.drcnn_sam.data import _source_for
from papers.ms_ssfnet.experiment import paper_split
from papers.pix2pix_hs.data import icvl_folds
from papers.rdab_coordconv.data import ntire2020_split
from papers.unet_ms.data import ntire2018_split
from tests.conftest import paper_config


class _Names:
    def __init__(self, name, names, groups=None):
        self.name, self.names, self.root = name, sorted(names), Path("/data")
        self._groups = groups or {}

    def group(self, n):
        return self._groups.get(n, "")


#: The 32 scenes of the complete CAVE download (folder names without "_ms").
CAVE_SCENES = [
    "balloons", "beads", "cd", "chart_and_stuffed_toy", "clay", "cloth", "egyptian_statue", "face",
    "fake_and_real_beers", "fake_and_real_food", "fake_and_real_lemon_slices", "fake_and_real_lemons",
    "fake_and_real_peppers", "fake_and_real_strawberries", "fake_and_real_sushi", "fake_and_real_tomatoes",
    "feathers", "flowers", "glass_tiles", "hairs", "jelly_beans", "oil_painting", "paints",
    "photo_and_face", "pompoms", "real_and_fake_apples", "real_and_fake_peppers", "sponges",
    "stuffed_toys", "superballs", "thread_spools", "watercolors",
]
#: drcnn_sam Sec. 4, as printed ("Faces" is the CAVE folder face_ms).
DRCNN_CAVE_TEST = {"balloons", "chart_and_stuffed_toy", "face", "flowers", "jelly_beans",
                   "real_and_fake_apples", "oil_painting"}
DRCNN_HARVARD_TEST = {"img1", "img2", "img3", "img4", "img5", "img6", "imga1", "imga2", "imga3", "imga4"}


def test_drcnn_sam_test_scenes_are_the_papers():
    config = paper_config("drcnn_sam", "paper")
    cave = _source_for(_Names("cave", CAVE_SCENES), config)
    assert set(cave.test) == DRCNN_CAVE_TEST and len(cave.train) == 25
    harvard_names = [f"img{i}" for i in range(1, 9)] + [f"img{c}{i}" for c in "abcdefh" for i in range(1, 10)]
    harvard = _source_for(_Names("harvard", harvard_names), config)
    assert set(harvard.test) == DRCNN_HARVARD_TEST
    assert not set(cave.train) & set(cave.test) and not set(harvard.train) & set(harvard.test)


def test_the_kits_cave_split_tests_the_same_seven_scenes():
    split = splits.cave_split(_Names("cave", CAVE_SCENES))
    assert set(split["test"]) == DRCNN_CAVE_TEST and len(split["train"]) == 25


def test_unet_ms_trains_on_the_256_training_images_and_tests_the_five_of_table2():
    names = [f"BGU_HS_{i:05d}" for i in range(1, 267)]
    split = ntire2018_split(_Names("ntire2018", names))
    assert split["test"] == ["BGU_HS_00257", "BGU_HS_00259", "BGU_HS_00261", "BGU_HS_00263", "BGU_HS_00265"]
    assert len(split["train"]) == 256 and split["train"][-1] == "BGU_HS_00256"


def test_ms_ssfnet_split_counts():
    daylight = [f"img{i}" for i in range(50)]
    indoor = [f"imgi{i}" for i in range(27)]
    groups = {**{n: "CZ_hsdb" for n in daylight}, **{n: "CZ_hsdbi" for n in indoor}}
    split = paper_split(_Names("harvard", daylight + indoor, groups))
    assert len(split["train"]) == 40 and len(split["test"]) == 10
    assert set(split["train"] + split["test"]) == set(daylight)
    split = paper_split(_Names("icvl", [f"s{i:03d}" for i in range(201)]))
    assert (len(split["train"]), len(split["test"])) == (71, 30)
    nus = {**{f"a{i}": "train" for i in range(41)}, **{f"b{i}": "test" for i in range(25)}}
    split = paper_split(_Names("nus", list(nus), nus))
    assert split["test"] == sorted(f"b{i}" for i in range(25)) and len(split["train"]) == 41


def test_rdab_coordconv_400_train_50_validation_and_the_official_validation_as_test():
    names = [f"ARAD_HS_{i:04d}" for i in range(1, 466)]
    split = ntire2020_split(_Names("ntire2020", names))
    assert (len(split["train"]), len(split["val"])) == (400, 50)
    # The 10 official NTIRE 2020 validation images (the test cubes were never released).
    assert split["test"] == [f"ARAD_HS_{i:04d}" for i in (451, 453, 455, 456, 457, 459, 462, 463, 464, 465)]
    assert not set(split["train"]) & set(split["val"])


def test_pix2pix_hs_folds_from_list_files(tmp_path):
    names = [f"scene_{i:03d}" for i in range(7)]
    fold0, fold1 = tmp_path / "fold0.txt", tmp_path / "fold1.txt"
    fold0.write_text("# fold 0\nscene_000\nscene_005  # a comment\n\n")
    fold1.write_text("scene_001\nscene_002\nscene_003\n")
    folds = icvl_folds(names, fold_files=(fold0, fold1))
    assert folds[0] == {"train": ["scene_001", "scene_002", "scene_003"], "test": ["scene_000", "scene_005"]}
    assert folds[1] == {"train": ["scene_000", "scene_005"], "test": ["scene_001", "scene_002", "scene_003"]}
    with pytest.raises(KitError, match="missing.txt"):
        icvl_folds(names, fold_files=(tmp_path / "missing.txt", fold1))


def test_named_split_ignores_case_and_separators_and_names_what_is_missing():
    train, test = splits.named_split(["BGU_HS_00257", "BGU_HS_00001"], ["bgu-hs-00257"])
    assert (train, test) == (["BGU_HS_00001"], ["BGU_HS_00257"])
    with pytest.raises(KitError, match="img1"):
        splits.named_split(["imga1"], ["img1"])
    with pytest.raises(KitError, match="ambiguous"):
        splits.named_split(["PRK_x", "prk_x"], ["prk_x"])


def test_random_split_is_seeded_disjoint_and_order_free():
    names = [f"n{i:03d}" for i in range(50)]
    train, test = splits.random_split(names, 10, seed=3)
    assert len(test) == 10 and sorted(train + test) == names
    assert splits.random_split(list(reversed(names)), 10, seed=3) == (train, test)
    assert splits.random_split(names, 10, seed=4)[1] != test
    with pytest.raises(KitError):
        splits.random_split(names, 50)


def test_seeded_order_takes_names_that_are_not_valid_utf8():
    name = b"scene_\xff".decode("utf-8", "surrogateescape")
    assert sorted(splits.seeded_order([name, "a", "b"], seed=1)) == sorted([name, "a", "b"])
