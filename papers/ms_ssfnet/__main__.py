"""``python -m papers.ms_ssfnet train|evaluate|reproduce ...`` (see ``experiment.py``)."""

from common.cli import run_main
from papers.ms_ssfnet.experiment import main

if __name__ == "__main__":
    run_main(main)
