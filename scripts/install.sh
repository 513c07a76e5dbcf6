#!/usr/bin/env bash
# Install what the project needs on a fresh Debian/Ubuntu machine.
#   bash scripts/install.sh          # the library, the `restoration` command and the app
#   bash scripts/install.sh --dev    # plus training, batch (Ray) and the tests (pytest, playwright, chromium, fluidsynth)
# The project is installed in editable mode (pip install -e), so the checkout stays the source.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_packages="ffmpeg"
[ "$dev" = 1 ] && apt_packages="$apt_packages fluidsynth fluid-soundfont-gm mma chromium"

if command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $apt_packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    . scripts/apt_lock.sh  # waits (with a message) while another package manager holds the apt lock
    apt_get_waiting $sudo apt-get update -qq
    apt_get_waiting $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
else
  echo "no apt-get: install $apt_packages with your package manager" >&2
fi

python3 -m pip install -q --upgrade pip
# Torch first, pinned: on CPU-only machines with a local CPU build this avoids pulling the CUDA wheels;
# elsewhere it is the regular PyPI wheel (CUDA on Linux). An installed torch >= 2.2 is kept.
python3 -c "import torch, sys; sys.exit(0 if tuple(map(int, torch.__version__.split('+')[0].split('.')[:2])) >= (2, 2) else 1)" 2>/dev/null \
  || python3 -m pip install -q "torch==2.13.0"
extras="app"
[ "$dev" = 1 ] && extras="app,train,batch,dev"
python3 -m pip install -q -e ".[$extras]"
