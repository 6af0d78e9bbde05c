#!/usr/bin/env bash
# The test command: sets itself up, lints, runs the whole suite against real services.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_BROWSER=1 bash scripts/setup.sh
.venv/bin/ruff check .
set +e
.venv/bin/python -m pytest -n "${TEST_WORKERS:-4}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
