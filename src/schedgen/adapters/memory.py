"""Process-wide memory settings for long-running service processes (glibc's malloc arenas, the parse
zygote's heap)."""

from __future__ import annotations

import ctypes
import gc
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc mallopt parameter: the most malloc arenas a process may create
SERVICE_ARENAS = 2  # glibc's default is 8 per core: threads that free memory in their own arena keep it
_MALLOC_OVERHEAD = ctypes.sizeof(ctypes.c_size_t)  # glibc's chunk header beyond the bytes asked for
_HOLD_LARGEST = 1 << 20  # the largest free heap chunk looked for (glibc mmaps larger blocks)
_HOLD_SMALLEST = 32  # glibc's smallest chunk on 64-bit
_MALLINFO2_FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


def _libc() -> ctypes.CDLL:
    """The C library this process runs on (its symbols are the process's own: no search, no subprocess)."""
    return ctypes.CDLL(None)


def limit_malloc_arenas(arenas: int = SERVICE_ARENAS) -> bool:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX does); call before starting threads. False elsewhere."""
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, arenas))
    if done:
        log.debug("malloc arenas limited to %d", arenas)
    return done


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later): the main arena's counters in bytes."""

    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2_FIELDS.split()]


def hold_free_heap_chunks() -> list[int]:
    """Allocate glibc's free heap chunks and keep them, so children allocate from the top of the heap.

    Imports and the warm-up leave free chunks all over the heap. A child that reuses one writes to it and
    to its neighbours in glibc's bin lists, each on a page shared with the zygote, so each write costs a
    copy-on-write fault; memory from the top of the heap is contiguous. The chunks' pages are returned to
    the system first (``malloc_trim``), so holding them costs address space, not memory. Returns the
    chunks held (none where the C library is not glibc 2.33 or later).
    """
    try:
        libc = _libc()
        mallinfo2, malloc, free, trim = libc.mallinfo2, libc.malloc, libc.free, libc.malloc_trim
    except (OSError, AttributeError):
        return []
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    mallinfo2.restype = _MallInfo2
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    free.argtypes = [ctypes.c_void_p]
    held: list[int] = []
    size = _HOLD_LARGEST
    while size >= _HOLD_SMALLEST:
        before = mallinfo2()
        if before.fordblks - before.keepcost < size:  # no free chunk this big outside the top chunk
            size //= 2
            continue
        chunk = malloc(size - _MALLOC_OVERHEAD)
        after = mallinfo2()
        fresh = (after.keepcost, after.arena, after.hblks) != (before.keepcost, before.arena, before.hblks)
        if chunk and not fresh:  # a free chunk, from glibc's bins or its per-thread cache
            held.append(chunk)
        else:  # carved from the top chunk (it shrank, or the heap grew) or a new mapping: look smaller
            free(chunk)
            size //= 2
    return held


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now (modules, the app, its container) out of the
    collector's reach.

    A server keeps over 100,000 objects from its imports and start-up; each full collection walked
    them all, a pause of tens of milliseconds in the middle of some request. Frozen, they are never
    walked again (they are never garbage: they live as long as the process).
    """
    gc.collect()
    gc.freeze()
