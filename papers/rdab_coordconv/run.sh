#!/usr/bin/env bash
# Quick reproduction of rdab_coordconv (NTIRE 2020, light-weight residual dense attention
# net) on the embedded synthetic data: train the released network's structure briefly,
# evaluate it with the released 64x64 tiling (and the authors' released weights, when the
# file is at weights/rdab_coordconv_authors_ntire2020.hdf5), write metrics.json +
# comparison.md.
# Extra arguments are passed on, e.g.
#   bash papers/rdab_coordconv/run.sh --data ntire2020=/data/ARAD
set -euo pipefail
cd "$(dirname "$0")/../.."
source common/setup_venv.sh
exec "$PY" -m papers.rdab_coordconv reproduce --profile quick "$@"
