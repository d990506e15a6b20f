#!/usr/bin/env bash
# Quick reproduction of drcnn_sam on the embedded synthetic data (x2 only, shrunk networks):
# train the residual cascade and the SRCNN / ESPCN / VDSR baselines band by band, evaluate
# PSNR and SAM, write metrics.json + comparison.md + figures.
# Extra arguments are passed on, e.g.  bash papers/drcnn_sam/run.sh --data cave=/data/CAVE
set -euo pipefail
cd "$(dirname "$0")/../.."
source common/setup_venv.sh
exec "$PY" -m papers.drcnn_sam reproduce --profile quick "$@"
