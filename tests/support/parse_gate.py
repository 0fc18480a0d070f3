"""A parse gate: holds the first parse of real `schedgen worker` processes inside its job, for a test to see.

`schedgen worker` has no setting that names its parse function, so `worker_env` puts `worker_site/` (a
`sitecustomize`) first on the workers' PYTHONPATH: it makes every `ParseZygote` in those processes default to
the target named by SCHEDGEN_TEST_PARSE_TARGET, here `first_parse_blocks`. That target runs in the parse
child the zygote forks; the files it writes in the gate folder (SCHEDGEN_TEST_PARSE_GATE) tell the test which
child holds the job and how many parses there were.

This module is imported by the zygote at start: standard library and the parser only.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from schedgen.domain.events import Timetable
from schedgen.parsing.api import parse_pdf

GATE_ENV = "SCHEDGEN_TEST_PARSE_GATE"  # the gate folder, shared by the test and every parse child
TARGET_ENV = "SCHEDGEN_TEST_PARSE_TARGET"  # read by worker_site/sitecustomize.py
TARGET = f"{__name__}:first_parse_blocks"
SITE_DIR = Path(__file__).with_name("worker_site")
REPO_ROOT = Path(__file__).resolve().parents[2]  # so the zygote can import this module
BLOCKED = "blocked"  # holds the pid of the parse child that took the gate
CALLS = "calls"  # one line per parse: the parse child's pid


def first_parse_blocks(data: bytes) -> Timetable:
    """Parse for real, except the first parse child in any process: it records its pid and never returns."""
    if signal.getitimer(signal.ITIMER_REAL)[0] == 0:  # no wall-clock limit: not a parse child (a warm-up)
        return parse_pdf(data)
    gate = Path(os.environ[GATE_ENV])
    pid = os.getpid()
    with (gate / CALLS).open("a") as calls:
        calls.write(f"{pid}\n")
    mine = gate / f"{BLOCKED}-{pid}"
    mine.write_text(f"{pid}\n")
    try:
        os.link(mine, gate / BLOCKED)  # atomic and exclusive: one child ever takes the gate
    except FileExistsError:
        return parse_pdf(data)
    while True:  # held until the parse's wall-clock limit (SIGALRM) ends this child
        time.sleep(60)


def worker_env(gate: Path) -> dict[str, str]:
    """Environment for `schedgen worker` whose parses go through the gate in `gate` (an existing folder)."""
    path = [str(SITE_DIR), str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path), TARGET_ENV: TARGET, GATE_ENV: str(gate)}


def blocked_child(gate: Path) -> int | None:
    """The pid of the parse child holding the gate, once one does."""
    try:
        text = (gate / BLOCKED).read_text()
    except FileNotFoundError:
        return None
    return int(text)


def parse_calls(gate: Path) -> list[int]:
    """The pids of the parse children that entered the target, in order."""
    try:
        return [int(line) for line in (gate / CALLS).read_text().split()]
    except FileNotFoundError:
        return []
