#!/usr/bin/env bash
# Set-up (if needed) and the main job: the whole system on this machine
# (Mosquitto on loopback, the gateway with the shipped model, a replayed
# MIT-BIH excerpt as the Arduino, the caregivers' console and alert view), then a
# clean stop; --stay keeps it up (for the console) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh litert,systemd,web
exec .venv/bin/ecg-demo "$@"
