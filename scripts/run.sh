#!/usr/bin/env bash
# Set up, then run schedgen on embedded defaults (no servers needed): the web service on
# http://127.0.0.1:8000 with SQLite, local files and in-process workers in $SCHEDGEN_DATA_DIR
# (default ~/.local/share/schedgen). Options go to `schedgen serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/schedgen serve "$@"
