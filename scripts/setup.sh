#!/usr/bin/env bash
# Create .venv with the locked dependencies (runtime + dev tools). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "schedgen needs Python 3.11 or newer: install it (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "schedgen needs Python 3.11 or newer; $("$PYTHON" --version) found. Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || {
    echo "could not create a virtual environment: install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  }
fi
if [ "$(.venv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
# --inexact keeps uv itself, which the lock file does not list. --compile-bytecode writes every module's .pyc
# now: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set (CI, many containers) each process
# would compile its imports from source at every start (slower, and the API holds ~20 MiB more afterwards).
.venv/bin/uv sync --frozen --inexact --quiet --compile-bytecode
