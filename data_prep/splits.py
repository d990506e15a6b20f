"""Split helpers shared by the papers, and the dataset facts they rest on.

Each paper's own split (its named test images, its fold lists) lives in its folder; this
module gives the tools they are built with and the splits that belong to a dataset rather
than to a paper:

- ``named_split``: named test images found among a dataset's names (case, '_', '-' and
  spaces ignored; names that differ only in those are refused as ambiguous);
- ``seeded_order`` / ``random_split``: where a paper only says "randomly", a split that
  is seeded and reproducible on any machine and NumPy version: names are ordered by the
  SHA-256 of "<seed>:<name>" and the first ones are held out;
- ``read_name_list``: a split list file, one image name per line;
- NTIRE 2020 (ARAD): the official training images ARAD_HS_0001-0450 and the 10
  validation images (the test ground truth was never released);
- ``cave_split``: the kit's CAVE split for papers that did not use CAVE themselves
  (the seven test scenes of ``split_lists/cave_test.txt``).

"""

import hashlib
import re
from pathlib import Path

from common.io import KitError

NTIRE2020_TRAIN = tuple(f"ARAD_HS_{i:04d}" for i in range(1, 451))
NTIRE2020_VALIDATION = tuple(
    f"ARAD_HS_{i:04d}" for i in (451, 453, 455, 456, 457, 459, 462, 463, 464, 465))

SPLIT_LISTS = Path(__file__).resolve().parent / "split_lists"
CAVE_TEST_LIST = SPLIT_LISTS / "cave_test.txt"


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
    return sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode("utf-8", "surrogateescape")).hexdigest())


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


def trailing_number(name):
    """The last run of digits in ``name`` as an int (None when it has none)."""
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


def cave_split(dataset, test_list=CAVE_TEST_LIST):
    """{'train', 'val', 'test'} of a CAVE dataset: the scenes of ``test_list`` test, the
    others train (no validation scenes)."""
    train, test = named_split(dataset.names, read_name_list(test_list), what=f"CAVE test list {test_list}:")
    return {"train": train, "val": [], "test": test}
