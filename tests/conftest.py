"""Test configuration: the repository root on sys.path, the ``slow`` marker, and paths
to the shared reproduction files that some tests read when they are present."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long end-to-end test, excluded from the CI run")
    # Keras' backends call np.array(x, copy=False) on their tensors; NumPy 2 warns on every
    # call. It is Keras' to fix and says nothing about the kit, so keep the logs readable.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )


@pytest.fixture(scope="session")
def shared_dir():
    return SHARED


def rdab_released_weights():
    """The rdab_coordconv authors' weights file: ``$KIT_RDAB_WEIGHTS``, the kit's
    ``weights/`` folder, or the reproduction files beside the repository (CI)."""
    name = "rdab_coordconv_authors_ntire2020.hdf5"
    candidates = [os.environ.get("KIT_RDAB_WEIGHTS"), REPO_ROOT / "weights" / name, SHARED / "weights" / name]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), Path(REPO_ROOT / "weights" / name))


def paper_config(name, profile="quick"):
    """A paper's resolved settings for ``profile`` (``Paper.config``)."""
    from common.paper import get_paper

    return get_paper(name).config(profile)


def paper_command(name):
    """``python -m papers.<name>`` as a function of its argument list."""
    from common.cli import paper_main

    return lambda argv: paper_main(name, argv)
