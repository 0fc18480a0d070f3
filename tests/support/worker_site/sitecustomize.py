"""Test seam for `schedgen worker` subprocesses: SCHEDGEN_TEST_PARSE_TARGET names their parse zygote's target.

Python imports this module at start-up when its folder is on PYTHONPATH (tests/support/parse_gate.worker_env
puts it there). `schedgen worker` has no setting for the parse function, so the default `target` of
`ParseZygote` is replaced in the processes that build one. The zygote itself gets its target on its command
line and is left alone (importing its module here would run it twice).
"""

import os
import sys

_target = os.environ.get("SCHEDGEN_TEST_PARSE_TARGET")
if _target and "schedgen.adapters.zygote" not in sys.orig_argv:
    from schedgen.adapters.zygote import ParseZygote

    _defaults = ParseZygote.__init__.__kwdefaults__
    if _defaults is None or "target" not in _defaults:
        raise RuntimeError("ParseZygote(target=...) is gone: update this test seam")
    _defaults["target"] = _target
