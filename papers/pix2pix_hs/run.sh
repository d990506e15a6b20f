#!/usr/bin/env bash
# Quick reproduction of pix2pix_hs (Alvarez-Gila et al., ICCVW 2017) on the embedded synthetic
# data: train the narrowed cGAN and the per-pixel (1-branch) cGAN, fit the linear regression,
# evaluate on stitched tiles, write metrics.json + comparison.md.
# Extra arguments are passed on, e.g.  bash papers/pix2pix_hs/run.sh --data icvl=/data/ICVL
set -euo pipefail
cd "$(dirname "$0")/../.."
source common/setup_venv.sh
exec "$PY" -m papers.pix2pix_hs reproduce --profile quick "$@"
