"""drcnn_sam on real CAVE data: the paper profile's degradation protocol reproduces the
published bicubic rows (Table 1), which need no training.

On the ``balloons`` sample scene the profile's pipeline (``Source.load`` then
``degrade_pair``) must give the row that tests/test_cave_real.py recomputes from the PNGs
with integers, scipy.ndimage and a hand-built bicubic matrix. With the complete CAVE
download (``KIT_CAVE_ROOT=<folder>``; marked slow) the mean over the paper's 7 test scenes
must be within 0.3 dB and 0.3 degrees of the paper's Table 1 at x2, x3 and x4.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from common import metrics
from data_prep import readers
from papers.drcnn_sam import data as D
from tests.conftest import paper_config
from tests.test_cave_real import BALLOONS_ROW

#: Table 1 of the paper, bicubic row: PSNR (dB) and SAM (degrees) at x2, x3, x4.
PAPER_BICUBIC = {2: (31.73, 6.00), 3: (31.58, 5.99), 4: (30.14, 6.36)}


def _bicubic_row(source, names, scale):
    protocol = D.Degradation.of(paper_config("drcnn_sam", "paper"))
    psnrs, sams = [], []
    for name in names:
        truth, _ = source.load(name)
        up, _ = D.degrade_pair(truth, scale, protocol=protocol)
        psnrs.append(metrics.psnr(truth, np.clip(up, 0, 1), peak=1.0, mode="cube"))
        sams.append(metrics.sam(truth, np.clip(up, 0, 1), degrees=True))
    return float(np.mean(psnrs)), float(np.mean(sams))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_paper_profile_gives_balloons_independent_bicubic_row(shared_dir, scale):
    root = Path(shared_dir) / "data" / "cave_sample"
    if not (root / "balloons_ms").is_dir():
        pytest.skip(f"{root} (the balloons scene of the CAVE download) is absent")
    config = paper_config("drcnn_sam", "paper")
    source = D.Source(readers.open_dataset("cave", root), "cave", train=["watercolors"], test=["balloons"],
                      degradation=D.Degradation.of(config))
    psnr, sam = _bicubic_row(source, ["balloons"], scale)
    assert (psnr, sam) == pytest.approx(BALLOONS_ROW[scale], abs=2e-3)


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_table1_bicubic_rows_on_the_complete_cave(scale):
    root = os.environ.get("KIT_CAVE_ROOT")
    if not root:
        pytest.skip("KIT_CAVE_ROOT (the complete CAVE download) is not set")
    source = D._source_for(readers.open_dataset("cave", root), paper_config("drcnn_sam", "paper"))
    assert len(source.test) == 7
    psnr, sam = _bicubic_row(source, source.test, scale)
    paper_psnr, paper_sam = PAPER_BICUBIC[scale]
    assert abs(psnr - paper_psnr) <= 0.3 and abs(sam - paper_sam) <= 0.3, (psnr, sam)
