#!/usr/bin/env bash
# Create (once) the kit's virtual environment in .venv and install the requirements.
# Usage: source common/setup_venv.sh [--test]   (sets $PY to the venv's python)
# --test also installs requirements-test.txt. Reinstalls when a requirements file changed.
set -e
KIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KIT_VENV:-$KIT_ROOT/.venv}"
want=("$KIT_ROOT/requirements.txt")
[ "${1:-}" = "--test" ] && want+=("$KIT_ROOT/requirements-test.txt")
stamp="$VENV/.kit-installed-$(cat "${want[@]}" | cksum | cut -d' ' -f1)"
install() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"'
    echo "[setup] creating $VENV"
    python3 -m venv "$VENV"
  fi
  echo "[setup] installing $(printf '%s ' "${want[@]##*/}")(about a minute the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  args=()
  for f in "${want[@]}"; do args+=(-r "$f"); done
  "$VENV/bin/python" -m pip install -q "${args[@]}"
  touch "$stamp"
}
if [ ! -f "$stamp" ]; then
  # One setup at a time (run_all.sh and tests/run.sh started together in a fresh clone):
  # the second waits for the first, then finds the stamp and installs nothing.
  exec 9>"$VENV.lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    echo "[setup] waiting for another setup of $VENV to finish"
    flock 9
  fi
  [ -f "$stamp" ] || install
  exec 9>&-
fi
PY="$VENV/bin/python"
export PY
