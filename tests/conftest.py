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
