#!/usr/bin/env bash
# Set-up (if needed) and the main job: the whole system on this machine
# (Mosquitto on loopback, the gateway with the shipped model, a replayed
# MIT-BIH excerpt as the Arduino, the caregiver's alert view), then a clean stop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh litert,systemd
exec .venv/bin/ecg-demo "$@"
