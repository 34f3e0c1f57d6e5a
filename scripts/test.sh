#!/usr/bin/env bash
# Set-up (if needed) and the whole test suite.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,train,litert,systemd
exec .venv/bin/python -m pytest "$@"
