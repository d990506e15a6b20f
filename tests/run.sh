#!/usr/bin/env bash
# Set up the environment (once) and run the test suite.
#   bash tests/run.sh            # the CI suite (excludes tests marked slow)
#   bash tests/run.sh --all      # everything, slow tests included
# The suite runs on the TensorFlow backend, then the backend-neutral layer and loss tests
# again under KERAS_BACKEND=jax.
set -uo pipefail
cd "$(dirname "$0")/.."
source common/setup_venv.sh --test || exit 1
marker=(-m "not slow")
[ "${1:-}" = "--all" ] && marker=()

run_pytest() {
  "$PY" -m pytest -q -p no:cacheprovider --durations=8 "$@"
  code=$?
  # pytest exits 5 when it collected no test: not a failure of the suite.
  [ $code -eq 5 ] && return 0
  return $code
}

echo "== tests, TensorFlow backend"
KERAS_BACKEND=tensorflow run_pytest "${marker[@]}" tests || exit 1
echo "== backend-neutral tests, JAX backend"
jax_files=$(ls tests/test_layers.py tests/test_losses.py tests/test_*_jax.py 2>/dev/null)
KERAS_BACKEND=jax run_pytest "${marker[@]}" $jax_files || exit 1
