"""Train / validation / test splits used by the five papers.

Named splits come from the papers; where a paper only says "randomly", the split here is
seeded and reproducible on any machine and NumPy version: names are ordered by the
SHA-256 of "<seed>:<name>" (``seeded_order``) and the first ones are held out.

- drcnn_sam (Sec. 4): CAVE test scenes balloons, chart_and_stuffed_toy, faces, flowers,
  jelly_beans, real_and_fake_apples, oil_painting; Harvard test img1-img6, imga1-imga4;
  all the other images train. The paper's "Faces" is the CAVE scene folder ``face_ms``.
- unet_ms (Sec. 4): NTIRE 2018 test BGU_HS_00257, 259, 261, 263, 265 (printed as
  "BGU 00257" ...); train on the 256 images BGU_HS_00001-00256.
- pix2pix_hs (Sec. 3.3): two folds of 100 ICVL images, train on one and test on the
  other. The authors published the lists (test0.csv, test1.csv at
  https://aitorshuffle.github.io/files/pbdl2017data/); they are in ``split_lists/``
  and ``icvl_folds`` uses them (one of the 201 images is in neither fold).
- ms_ssfnet (Sec. 4): random Harvard 40/10 (of the 50 daylight images, folder CZ_hsdb),
  ICVL 71/30 (of "the 101 images used in [6]", not listed: a seeded choice of 101),
  NUS 41/25 (the NUS data ships its own training/testing folders; used when present).
- rdab_coordconv (Sec. 3.1): NTIRE 2020 clean track, 400 training / 50 validation images
  of the shared data. Official lists: ARAD_HS_0001-0450 train, 10 validation images
  (``NTIRE2020_VALIDATION``); the test ground truth was never released.
"""

import hashlib
import re
from pathlib import Path

from common.io import KitError

CAVE_TEST_DRCNN_SAM = (
    "balloons", "chart_and_stuffed_toy", "face", "flowers", "jelly_beans",
    "real_and_fake_apples", "oil_painting",
)
HARVARD_TEST_DRCNN_SAM = (
    "img1", "img2", "img3", "img4", "img5", "img6", "imga1", "imga2", "imga3", "imga4",
)
UNET_MS_TEST = ("BGU_HS_00257", "BGU_HS_00259", "BGU_HS_00261", "BGU_HS_00263", "BGU_HS_00265")
NTIRE2018_LAST_TRAIN = 256  # BGU_HS_00001 .. BGU_HS_00256 are the training images
NTIRE2020_TRAIN = tuple(f"ARAD_HS_{i:04d}" for i in range(1, 451))
NTIRE2020_VALIDATION = tuple(
    f"ARAD_HS_{i:04d}" for i in (451, 453, 455, 456, 457, 459, 462, 463, 464, 465))

SPLIT_LISTS = Path(__file__).resolve().parent / "split_lists"
ICVL_FOLD_FILES = (SPLIT_LISTS / "icvl_pix2pix_test0.txt", SPLIT_LISTS / "icvl_pix2pix_test1.txt")
MS_SSFNET_SPLITS = {  # dataset: (images used, test images)
    "harvard": (50, 10),
    "icvl": (101, 30),
    "nus": (66, 25),
}
HARVARD_DAYLIGHT_FOLDER = "CZ_hsdb"


def _key(name):
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def named_split(names, test_names, what="test"):
    """(train, test): ``test_names`` found in ``names`` (ignoring case, '_', '-' and
    spaces) and all the other names, both sorted. KitError if a test name is missing."""
    index = {}
    for name in names:
        if _key(name) in index:
            raise KitError(f"image names {index[_key(name)]!r} and {name!r} are ambiguous")
        index[_key(name)] = name
    missing = [t for t in test_names if _key(t) not in index]
    if missing:
        raise KitError(f"{what} images not in the dataset: {', '.join(map(str, missing))}")
    test = sorted({index[_key(t)] for t in test_names})
    chosen = set(test)
    return sorted(n for n in names if n not in chosen), test


def seeded_order(names, seed=0):
    """``names`` in a pseudo-random order fixed by ``seed`` (SHA-256 of 'seed:name')."""
    return sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())


def random_split(names, n_test, seed=0):
    """(train, test) with ``n_test`` test names chosen by ``seeded_order``; both sorted."""
    names = sorted(names)
    if not 0 < n_test < len(names):
        raise KitError(f"cannot hold out {n_test} of {len(names)} images")
    test = sorted(seeded_order(names, seed)[:n_test])
    chosen = set(test)
    return [n for n in names if n not in chosen], test


def read_name_list(path):
    """Image names from a text file, one per line ('#' starts a comment)."""
    path = Path(path)
    if not path.is_file():
        raise KitError(f"{path}: split list file not found" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise KitError(f"{path}: cannot read the split list ({error})") from None
    names = [line.split("#")[0].strip() for line in lines]
    names = [n for n in names if n]
    if not names:
        raise KitError(f"{path}: the split list is empty")
    return names


def _number(name):
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


def drcnn_sam_split(dataset):
    """{'train', 'test'} for CAVE or Harvard (drcnn_sam Sec. 4)."""
    tests = {"cave": CAVE_TEST_DRCNN_SAM, "harvard": HARVARD_TEST_DRCNN_SAM}
    if dataset.name not in tests:
        raise KitError(f"drcnn_sam uses CAVE and Harvard, not {dataset.name}")
    train, test = named_split(dataset.names, tests[dataset.name])
    return {"train": train, "test": test}


def unet_ms_split(dataset):
    """{'train', 'test'} for NTIRE 2018 (unet_ms): test the five named images, train on
    BGU_HS_00001-00256 (other validation images present under the root are left out)."""
    train, test = named_split(dataset.names, UNET_MS_TEST)
    train = [n for n in train if _number(n) is not None and _number(n) <= NTIRE2018_LAST_TRAIN]
    return {"train": train, "test": test}


def icvl_folds(names, fold_files=ICVL_FOLD_FILES):
    """pix2pix_hs's two ICVL folds, ``[{'train': fold 1, 'test': fold 0}, {'train': fold 0,
    'test': fold 1}]``, from the two list files (the authors' by default). A listed image
    missing from ``names`` raises a ``KitError`` naming the list and the image."""
    folds = []
    for path in fold_files:
        _, listed = named_split(names, read_name_list(path), what=f"ICVL fold list {path}:")
        folds.append(listed)
    return [{"train": folds[1], "test": folds[0]}, {"train": folds[0], "test": folds[1]}]


def ms_ssfnet_split(dataset, seed=0):
    """{'train', 'test'} for Harvard, ICVL or NUS as in ms_ssfnet (Sec. 4)."""
    if dataset.name not in MS_SSFNET_SPLITS:
        raise KitError(f"ms_ssfnet uses Harvard, ICVL and NUS, not {dataset.name}")
    used, n_test = MS_SSFNET_SPLITS[dataset.name]
    names = sorted(dataset.names)
    groups = {n: dataset.group(n) for n in names} if hasattr(dataset, "group") else {}
    if dataset.name == "harvard":
        daylight = [n for n in names if groups.get(n) == HARVARD_DAYLIGHT_FOLDER]
        names = daylight or names
    elif dataset.name == "nus":
        train = [n for n in names if groups.get(n, "").lower().startswith("train")]
        test = [n for n in names if groups.get(n, "").lower().startswith("test")]
        if train and test:
            return {"train": train, "test": test}
    elif dataset.name == "icvl" and len(names) > used:
        names = sorted(seeded_order(names, seed)[:used])
    train, test = random_split(names, min(n_test, len(names) - 1), seed)
    return {"train": train, "test": test}


def ntire2020_split(dataset, seed=0):
    """{'train', 'val', 'test'} for rdab_coordconv: the official training images
    (ARAD_HS_0001-0450 present under the root) split 400 / 50 with ``seeded_order``
    (the paper's 400 / 50), and the official validation images as the test set."""
    official = set(NTIRE2020_TRAIN)
    pool = [n for n in sorted(dataset.names) if n in official]
    if len(pool) < 2:
        raise KitError(f"{dataset.root}: fewer than 2 NTIRE 2020 training images (ARAD_HS_0001-0450)")
    n_val = 50 if len(pool) > 50 else max(1, len(pool) // 9)
    train, val = random_split(pool, n_val, seed)
    test = [n for n in sorted(dataset.names) if n in set(NTIRE2020_VALIDATION)]
    return {"train": train, "val": val, "test": test}
