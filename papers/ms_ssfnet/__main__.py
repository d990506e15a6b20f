"""``python -m papers.ms_ssfnet train|evaluate|reproduce ...`` (see ``experiment.py``)."""

from common.cli import run_main
from papers.ms_ssfnet.experiment import main

run_main(main)
