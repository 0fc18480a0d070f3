"""Process-wide memory settings for long-running service processes (glibc's malloc arenas)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc mallopt parameter: the most malloc arenas a process may create
SERVICE_ARENAS = 2  # glibc's default is 8 per core: threads that free memory in their own arena keep it


def limit_malloc_arenas(arenas: int = SERVICE_ARENAS) -> bool:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX does); call before starting threads. False elsewhere."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, arenas))
    if done:
        log.debug("malloc arenas limited to %d", arenas)
    return done
