#!/usr/bin/env bash
# The kit's main job: all five papers end to end, then one report beside the published numbers.
#   bash run_all.sh [--papers a,b] [--profile quick|paper] [--data-root DIR] [--out DIR] [--seed N]
#                   [--epochs N] [--mixed-precision none|bf16]
# Sets up .venv on first use (about a minute), then runs python -m common.run_all.
set -uo pipefail
cd "$(dirname "$0")"
source common/setup_venv.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$PY" -m common.run_all "$@"
