#!/usr/bin/env bash
# Quick reproduction of ms_ssfnet (Han, Zheng, Chen, ICCVW 2019) on the embedded synthetic
# data: train MS-SSFNet (narrowed) and the SSF-CNN / SSF-ResNet / Spectral-ResNet baselines,
# evaluate them and bicubic on whole test images, write metrics.json + comparison.md.
# Extra arguments are passed on, e.g.  bash papers/ms_ssfnet/run.sh --data harvard=/data/harvard
set -euo pipefail
cd "$(dirname "$0")/../.."
source common/setup_venv.sh
exec "$PY" -m papers.ms_ssfnet reproduce --profile quick "$@"
