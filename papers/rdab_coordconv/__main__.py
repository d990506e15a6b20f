"""``python -m papers.rdab_coordconv``: the kit's command line for this paper (``common.cli``)."""

from common.cli import paper_main, run_main

if __name__ == "__main__":
    run_main(lambda argv: paper_main("rdab_coordconv", argv))
