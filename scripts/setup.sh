#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine with Python 3.11: Debian services the
# tests and the demo start (influxd 1.6, mosquitto), a virtual environment, the project
# with the extras SETUP_EXTRAS names (default: test).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

need_apt=()
# Debian's python3.11 creates virtual environments only with python3-venv (ensurepip)
"$PY" -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# openssl makes the test certificates (TLS to InfluxDB and Mosquitto)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v influxd >/dev/null 2>&1 || need_apt+=(influxdb)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
# mosquitto_sub: the demo prints a command line to watch its MQTT traffic
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
# socat links two pseudo-terminals: the serial RTU test's stand-in for a cable
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
# Nanum Gothic: Hangul in PDF reports (embedded) and in browser screenshots
[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || need_apt+=(fonts-nanum)
# the web UI tests drive Debian's headless Chromium (SETUP_BROWSER=1 from scripts/test.sh)
if [ "${SETUP_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  # docker-compose (v1, Debian) only to validate docker-compose.yml; no engine runs here
  command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

# a .venv left half-made (no pip, e.g. by a venv call before python3-venv existed) is redone
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  echo "setup: creating .venv with $PY"
  rm -rf .venv
  "$PY" -m venv .venv
fi
# SETUP_EXTRAS: the extras to install (docs/deployment.md); [test] holds all the others,
# so a .venv set up for the tests runs the demo too
extras=${SETUP_EXTRAS:-test}
hash=$(sha256sum pyproject.toml | cut -c1-16)
stamp=.venv/.installed-$hash-$extras
if [ ! -f "$stamp" ] && [ ! -f ".venv/.installed-$hash-test" ]; then
  echo "setup: installing the project into .venv (extras: $extras)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
          .venv/bin/python -m pip install -q -e ".[$extras]"; } >.venv/install.log 2>&1; then
    cat .venv/install.log >&2
    echo "setup: installing the project failed (log above)" >&2
    exit 1
  fi
  find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$hash-*" -delete
  touch "$stamp"
fi
