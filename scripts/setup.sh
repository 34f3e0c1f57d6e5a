#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian or Raspberry Pi OS machine:
# system packages (apt), then the virtual environment at .venv with the
# project installed editable.  Usage: scripts/setup.sh [EXTRAS]
#   EXTRAS  comma-separated pip extras; default "litert,systemd" (the Pi's
#           runtime set, no TensorFlow); the tests use "dev,train,litert,systemd"
#           ("dev" also installs chromium and chromium-driver for the browser tests;
#           "web" is the console's own set, aiohttp).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-litert,systemd}"

apt_packages=(python3-venv python3-dev build-essential pkg-config libsystemd-dev
              mosquitto mosquitto-clients systemd openssl g++)
# the console's browser tests (tests/test_browser.py) drive Debian's headless Chromium
[[ ",$extras," == *",dev,"* ]] && apt_packages+=(chromium chromium-driver)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
  fi
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras//,/-}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing the project into .venv with extras [$extras]"
  log=.venv/setup.log
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e ".[$extras]"; } >"$log" 2>&1; then
    tail -n 40 "$log"; echo "setup: pip failed, full log in $log" >&2; exit 1
  fi
  touch "$stamp"
fi
