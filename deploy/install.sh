#!/usr/bin/env bash
# Installs ecg-gateway as a systemd service on Raspberry Pi OS 64-bit
# (Debian bookworm or trixie).  Idempotent: run it again after `git pull` to
# upgrade; an existing /etc/ecg-gateway/gateway.toml is kept.
#
#   sudo deploy/install.sh [--root DIR] [--no-apt] [--no-systemctl] [--no-check]
#                          [--with-mosquitto] [--with-console] [--pip-args "ARGS"]
#
#   --root DIR         install into DIR as the root filesystem (image building,
#                      tests); DIR must have etc/passwd, etc/group, etc/shadow
#                      and etc/gshadow.  The unit is enabled with
#                      `systemctl --root`, nothing is started.
#   --no-apt           do not install Debian packages
#   --no-systemctl     do not reload, enable or restart the unit
#   --no-check         skip the MemoryDenyWriteExecute check (deploy/mdwe_check.py)
#   --with-mosquitto   also install the Mosquitto broker and clients (see
#                      deploy/mosquitto/README.md to configure it)
#   --with-console     also install the web console ecg-web: the [web] extra,
#                      /etc/ecg-web/web.toml from deploy/web.example.toml if
#                      there is none, and the unit ecg-web.service, enabled
#                      (add users with ecg-web adduser; docs/console.md)
#   --pip-args "ARGS"  extra arguments for pip (e.g. a local wheel house)
#
# What it does: apt packages to build systemd-python (python3-venv,
# python3-dev, build-essential, pkg-config, libsystemd-dev); the system
# user and group "ecg"; a virtualenv at /opt/ecg-gateway/venv with this
# project and its runtime extras [litert,systemd] (never TensorFlow);
# /etc/ecg-gateway/gateway.toml from deploy/gateway.example.toml if there is
# none (root:ecg, mode 0640: it holds device tokens and the MQTT password);
# the unit /etc/systemd/system/ecg-gateway.service, enabled.  The service is
# restarted only if it was running (an upgrade); a first install is started
# by you once the configuration is filled in.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=/
APT=1
SYSTEMCTL=1
CHECK=1
MOSQUITTO=0
CONSOLE=0
PIP_ARGS=""

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT="$2"; shift 2 ;;
    --no-apt) APT=0; shift ;;
    --no-systemctl) SYSTEMCTL=0; shift ;;
    --no-check) CHECK=0; shift ;;
    --with-mosquitto) MOSQUITTO=1; shift ;;
    --with-console) CONSOLE=1; shift ;;
    --pip-args) [ $# -ge 2 ] || die "--pip-args needs a value"; PIP_ARGS="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -d "$ROOT" ] || die "--root $ROOT: no such directory"
ROOT="$(cd "$ROOT" && pwd)"
[ "$(id -u)" -eq 0 ] || die "run as root (sudo), it creates a system user and writes under /etc and /opt"
for f in etc/passwd etc/group etc/shadow etc/gshadow; do
  [ -f "$ROOT/$f" ] || die "$ROOT/$f is missing: --root needs a root filesystem"
done
EXAMPLE="$SRC/deploy/gateway.example.toml"
UNIT="$SRC/deploy/ecg-gateway.service"
[ -f "$EXAMPLE" ] || die "$EXAMPLE is missing (is this a full checkout?)"
[ -f "$UNIT" ] || die "$UNIT is missing (is this a full checkout?)"
WEB_EXAMPLE="$SRC/deploy/web.example.toml"
WEB_UNIT="$SRC/deploy/ecg-web.service"
if [ "$CONSOLE" -eq 1 ]; then
  [ -f "$WEB_EXAMPLE" ] && [ -f "$WEB_UNIT" ] || die "deploy/web.example.toml or deploy/ecg-web.service is missing"
fi

# Paths inside the target root.
R="${ROOT%/}"
APP="$R/opt/ecg-gateway"
VENV="$APP/venv"
CONF_DIR="$R/etc/ecg-gateway"
CONF="$CONF_DIR/gateway.toml"
USER_NAME=ecg

# 1. Debian packages.
if [ "$APT" -eq 1 ]; then
  packages=(python3-venv python3-dev build-essential pkg-config libsystemd-dev)
  [ "$MOSQUITTO" -eq 1 ] && packages+=(mosquitto mosquitto-clients)
  say "apt: ${packages[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi

# 2. The service user: a system account with no login and no home of its own
#    (its state lives in /var/lib/ecg-gateway, created by systemd).
prefix=()
[ "$ROOT" = / ] || prefix=(--prefix "$ROOT")
if grep -q "^$USER_NAME:" "$R/etc/passwd"; then
  say "user $USER_NAME exists"
else
  useradd "${prefix[@]}" --system --user-group --home-dir /var/lib/ecg-gateway --no-create-home \
    --shell /usr/sbin/nologin --comment "ECG edge gateway" "$USER_NAME"
  say "created system user $USER_NAME"
fi
GID="$(awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$R/etc/group")"
[ -n "$GID" ] || die "group $USER_NAME not found in $R/etc/group"

# 3. The virtualenv with the runtime set (LiteRT, systemd-python), no TensorFlow.
install -d -m 0755 "$APP"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  say "created $VENV"
fi
# shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
extras=litert,systemd
[ "$CONSOLE" -eq 1 ] && extras=litert,systemd,web
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS "$SRC[$extras]"
if "$VENV/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)'; then
  die "TensorFlow ended up in $VENV; the gateway's runtime must not depend on it"
fi
install -m 0644 "$SRC/deploy/mdwe_check.py" "$APP/mdwe_check.py"
[ -f "$SRC/README.md" ] && install -m 0644 "$SRC/README.md" "$APP/README.md"
say "installed $("$VENV/bin/python" -c 'import importlib.metadata as m; print("ecg-edge", m.version("ecg-edge"))') into $VENV"

# 4. Configuration: root-owned, readable by the service's group only.
install_config() {  # example, destination
  local dir; dir="$(dirname "$2")"
  install -d -m 0750 -o 0 -g "$GID" "$dir"
  if [ -e "$2" ]; then
    say "kept existing $2"
  else
    install -m 0640 -o 0 -g "$GID" "$1" "$2"
    say "wrote $2 from the example: fill it in before starting"
  fi
  chown 0:"$GID" "$2"
  chmod 0640 "$2"
}
install_config "$EXAMPLE" "$CONF"
[ "$CONSOLE" -eq 1 ] && install_config "$WEB_EXAMPLE" "$R/etc/ecg-web/web.toml"

# 5. The units.
install_unit() {  # unit file, name
  local dest="$R/etc/systemd/system/$2"
  install -d -m 0755 "$(dirname "$dest")"
  install -m 0644 "$1" "$dest"
  say "installed $dest"
  [ "$SYSTEMCTL" -eq 1 ] || return 0
  if [ "$ROOT" = / ]; then
    systemctl daemon-reload
    systemctl enable "$2"
    if systemctl is-active --quiet "$2"; then
      systemctl restart "$2"
      say "restarted the running $2"
    else
      say "enabled; start it with: systemctl start $2 (after editing its configuration)"
    fi
  else
    systemctl --root="$ROOT" enable "$2"
    say "enabled $2 in $ROOT"
  fi
}
install_unit "$UNIT" ecg-gateway.service
[ "$CONSOLE" -eq 1 ] && install_unit "$WEB_UNIT" ecg-web.service

# 6. The sandbox's MemoryDenyWriteExecute=yes must suit the installed stack.
if [ "$CHECK" -eq 1 ]; then
  if "$VENV/bin/python" -c 'import gateway.classify.model as m; m.shipped_model_path("seed8")' 2>/dev/null; then
    "$VENV/bin/python" "$APP/mdwe_check.py" ||
      die "the gateway's stack fails under MemoryDenyWriteExecute=yes; add a drop-in with MemoryDenyWriteExecute=no"
  else
    say "no shipped model yet: skipped the MemoryDenyWriteExecute check"
  fi
fi
say "done"
