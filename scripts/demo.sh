#!/usr/bin/env bash
# The local demo: sets itself up, then runs InfluxDB, Mosquitto, simulated Modbus and MQTT
# machines, the collector and the assessor; the first run loads history (docs/demo.md).
# Options go to python -m demo (--var DIR, --exit-when-ready, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_EXTRAS=demo bash scripts/setup.sh
exec .venv/bin/python -m demo "$@"
