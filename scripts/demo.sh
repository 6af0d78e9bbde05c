#!/usr/bin/env bash
# The local demo: sets itself up, then runs InfluxDB, a simulated line and the collector.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m localservices.demo "$@"
