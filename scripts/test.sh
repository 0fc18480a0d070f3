#!/usr/bin/env bash
# Set up, then run every check: lint, format, types, import contracts and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

bash scripts/services.sh
echo "== ruff"; .venv/bin/ruff check src tests scripts
echo "== ruff format"; .venv/bin/ruff format --check src tests scripts
echo "== mypy"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/pytest "$@"
