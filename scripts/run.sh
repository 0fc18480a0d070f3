#!/usr/bin/env bash
# Set up, then read UP timetable PDFs and write one calendar file (embedded defaults: no servers).
# Usage: scripts/run.sh [PDF ...]   (default: the three sample PDFs in $SCHEDGEN_FIXTURES_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [ "$#" -eq 0 ]; then
  dir="${SCHEDGEN_FIXTURES_DIR:-../shared/fixtures/up}"
  shopt -s nullglob
  set -- "$dir"/*.pdf
  if [ "$#" -eq 0 ]; then
    echo "No PDFs given and none found in $dir." >&2
    echo "Usage: scripts/run.sh Lectures.pdf [SemesterTests.pdf] [Exams.pdf]" >&2
    exit 2
  fi
fi
mkdir -p out
.venv/bin/schedgen parse --format table "$@"
.venv/bin/schedgen export "$@" -o out/timetable.ics
echo "Calendar written to out/timetable.ics: import it into Google Calendar, Outlook or Apple Calendar."
