#!/usr/bin/env bash
# Quick reproduction of unet_ms (Yan et al., PRCV 2018) on the embedded synthetic data:
# train the narrowed U-Net, run the baselines, evaluate, write metrics.json + comparison.md.
# Extra arguments are passed on, e.g.  bash papers/unet_ms/run.sh --data ntire2018=/data/NTIRE2018
set -euo pipefail
cd "$(dirname "$0")/../.."
source common/setup_venv.sh
exec "$PY" -m papers.unet_ms reproduce --profile quick "$@"
