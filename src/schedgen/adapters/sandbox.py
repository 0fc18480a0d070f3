"""Run one PDF parse in a forked child under wall-clock, CPU-time and address-space limits.

The pure parser bounds the work it agrees to do (``ParseLimits``: file size, PDF magic bytes, page count,
objects per page, glyphs per document). It cannot bound the time or memory spent inside the PDF library,
so every untrusted parse goes through :func:`parse_limited`, which adds, in a child made by ``os.fork()``:

- wall time: the parent waits at most ``timeout_s`` (5 s), then SIGKILLs the child;
- CPU time: ``RLIMIT_CPU`` of ``ceil(timeout_s)`` s (SIGXCPU, SIGKILL a second later), which also bounds
  a child whose parent died;
- address space: ``RLIMIT_AS`` set to what the child inherited at fork plus ``memory_bytes`` (512 MiB).
  The inherited part is measured, not assumed: a threaded parent reserves hundreds of MB of address space
  (thread stacks, malloc arenas) that the child never touches;
- no core dumps (``RLIMIT_CORE`` 0) and no inherited descriptors beyond stdio and the reply pipe.

Forking the caller reuses the already-imported PDF library, so a call costs a few ms more than parsing
in-process (measured in docs/limits.md). The child sends one length-prefixed pickle, which the parent loads
allowing only domain classes. A child killed by a signal (timeout, RLIMIT_CPU, a crash in the PDF library)
or out of memory becomes ``ParseLimitError``; any other failure becomes ``SchedgenError`` and its traceback
is logged here, never put in the message. Linux only (``/proc``, pidfd). Safe to call from many threads on
Python 3.11 (later versions warn about forking a threaded process); do not use the PDF library in-process
in other threads, since a fork could copy its locks mid-use.
"""

from __future__ import annotations

import gc
import io
import logging
import math
import os
import pickle
import resource
import select
import signal
import struct
import time
import traceback
from collections.abc import Callable
from typing import NoReturn

from schedgen.domain import events
from schedgen.domain.events import Timetable
from schedgen.errors import ParseLimitError, SchedgenError, error_for_code
from schedgen.parsing.limits import MIB, ParseLimits

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0  # wall-clock budget of one parse
DEFAULT_MEMORY_BYTES = 512 * MIB  # address space one parse may add to what it inherits
_HEADER = struct.Struct("!Q")  # reply framing: payload length, then the pickled reply
_MAX_REPLY_BYTES = 64 * MIB  # no timetable comes near this; a larger reply is a broken child
_READ_CHUNK = 1 << 16  # one pipe buffer
_EXIT_NO_MEMORY = 3  # child exit status: out of memory and the reply could not be sent
_EXIT_FAILED = 70  # child exit status: the reply could not be sent (EX_SOFTWARE)

# Globals a reply may name: the domain model and the datetime values inside it.
_REPLY_GLOBALS = frozenset(
    {
        (events.__name__, cls.__name__)
        for cls in (
            events.Timetable,
            events.Kind,
            events.Weekday,
            events.LectureSession,
            events.TestSitting,
            events.ExamSitting,
            events.ParseWarning,
        )
    }
    | {("datetime", "date"), ("datetime", "time")}
)

Reply = tuple[object, ...]


def parse_limited(
    data: bytes,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    limits: ParseLimits | None = None,
) -> Timetable:
    """Parse untrusted PDF bytes in a child process under time and memory limits."""
    from schedgen.parsing.api import parse_pdf  # imported here, in the parent, so every child starts warm

    chosen = limits if limits is not None else ParseLimits()

    def target(payload: bytes) -> Timetable:
        return parse_pdf(payload, chosen)

    return run_limited(target, data, timeout_s=timeout_s, memory_bytes=memory_bytes)


def run_limited(
    func: Callable[[bytes], Timetable],
    data: bytes,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> Timetable:
    """Call ``func(data)`` in a forked child under the limits and return its timetable or raise its error."""
    if timeout_s <= 0 or memory_bytes <= 0:
        raise ValueError("timeout_s and memory_bytes must be positive")
    read_fd, write_fd = _pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        log.exception("Could not fork a parse sandbox")
        raise SchedgenError() from None
    if pid == 0:  # pragma: no cover - runs in the child, which never returns
        _child_main(func, data, write_fd, timeout_s, memory_bytes)
    os.close(write_fd)
    try:
        return _supervise(pid, read_fd, timeout_s)
    finally:
        os.close(read_fd)


def _pipe() -> tuple[int, int]:
    try:
        return os.pipe()
    except OSError:
        log.exception("Could not open a pipe for a parse sandbox")
        raise SchedgenError() from None


# --- child side -------------------------------------------------------------------------------------------


def _child_main(
    func: Callable[[bytes], Timetable], data: bytes, write_fd: int, timeout_s: float, memory_bytes: int
) -> NoReturn:  # pragma: no cover - runs in the child
    """Apply the limits, run the target, send one reply and exit without returning into the caller."""
    status = _EXIT_FAILED
    try:
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, _max_fds())
        gc.freeze()  # the inherited heap is never collected here: fewer copied pages, faster GC
        apply_limits(timeout_s, memory_bytes)
        send_reply(write_fd, run_target(func, data))
        status = 0
    except MemoryError:
        status = _EXIT_NO_MEMORY
    except BaseException:  # noqa: S110 - nothing may escape the child; the parent reports the lost reply
        pass
    finally:
        os._exit(status)


def run_target(func: Callable[[bytes], Timetable], data: bytes) -> Reply:
    """Run the target and turn its outcome into a reply tuple of plain values."""
    try:
        return ("ok", func(data))
    except (MemoryError, RecursionError):
        return ("error", ParseLimitError.code, None, None, None)
    except SchedgenError as exc:
        return ("error", exc.code, exc.message, exc.page, exc.row)
    except Exception:
        return ("internal", traceback.format_exc())


def apply_limits(timeout_s: float, memory_bytes: int) -> None:
    """Lower this process's rlimits (soft and hard, so the parse cannot raise them again)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu_s = max(1, math.ceil(timeout_s))
    _lower_limit(resource.RLIMIT_CPU, cpu_s, cpu_s + 1)
    budget = _address_space() + memory_bytes
    _lower_limit(resource.RLIMIT_AS, budget, budget)


def _lower_limit(which: int, soft: int, hard: int) -> None:
    """Set an rlimit, never above the hard limit already in force."""
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
    resource.setrlimit(which, (min(soft, hard), hard))


def _address_space() -> int:
    """Bytes of address space this process maps now (0 where /proc is missing)."""
    try:  # os-level calls, not open(): a file object touches more shared pages in a fresh child
        fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        try:
            pages = int(os.read(fd, 256).split()[0])
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        return 0
    return pages * resource.getpagesize()


def _max_fds() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def encode_reply(reply: Reply) -> bytes:
    """The reply as sent: its length, then its pickle."""
    payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


def send_reply(fd: int, reply: Reply) -> None:
    view = memoryview(encode_reply(reply))
    while view:
        view = view[os.write(fd, view) :]


# --- parent side ------------------------------------------------------------------------------------------


def _supervise(pid: int, read_fd: int, timeout_s: float) -> Timetable:
    """Collect the child's reply within the deadline, reap the child and turn the outcome into a result."""
    started = time.monotonic()
    deadline = started + timeout_s
    pidfd = _open_pidfd(pid)
    try:
        try:
            buffer, finished = _read_reply(read_fd, pidfd, deadline)
        except BaseException:
            _kill(pid, pidfd)
            _reap(pid)
            raise
        timed_out = not finished
        if timed_out or not _exited_by(pidfd, deadline):
            _kill(pid, pidfd)
        status = _reap(pid)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    log.debug("Sandboxed parse in pid %d took %.1f ms", pid, (time.monotonic() - started) * 1000)
    return interpret_reply(pid, buffer, status, timed_out=timed_out)


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _read_reply(read_fd: int, pidfd: int | None, deadline: float) -> tuple[bytes, bool]:
    """Read the reply until it is complete, the child exits or the deadline passes (finished False)."""
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    buffer = bytearray()
    while not reply_complete(buffer):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(buffer), False
        for fd, _ in poller.poll(math.ceil(remaining * 1000)):
            if fd == read_fd:
                chunk = os.read(read_fd, _READ_CHUNK)
                if not chunk:
                    return bytes(buffer), True
                buffer += chunk
            else:  # the child has exited: all it wrote is already in the pipe
                return bytes(buffer + _drain(read_fd)), True
    return bytes(buffer), True


def reply_complete(buffer: bytes | bytearray) -> bool:
    if len(buffer) < _HEADER.size:
        return False
    length: int = _HEADER.unpack_from(buffer)[0]
    return length > _MAX_REPLY_BYTES or len(buffer) >= _HEADER.size + length


def _drain(read_fd: int) -> bytes:
    os.set_blocking(read_fd, False)
    chunks = []
    try:
        while chunk := os.read(read_fd, _READ_CHUNK):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


def _exited_by(pidfd: int | None, deadline: float) -> bool:
    """Wait for the child to exit until the deadline (assume it has without a pidfd: it is past its reply)."""
    if pidfd is None:
        return True
    remaining = max(0.0, deadline - time.monotonic())
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(math.ceil(remaining * 1000)))


def _kill(pid: int, pidfd: int | None) -> None:
    try:
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> int | None:
    """Wait for the child and return its wait status (None if someone else reaped it)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return status


def interpret_reply(pid: int, buffer: bytes, status: int | None, *, timed_out: bool) -> Timetable:
    """A complete reply wins; otherwise the way the child ended decides the error."""
    if reply_complete(buffer):
        return _unpack(pid, _load_reply(pid, buffer[_HEADER.size :]))
    if timed_out:
        log.warning("Sandboxed parse in pid %d hit the wall-clock limit and was killed", pid)
        raise ParseLimitError()
    if status is not None and os.WIFSIGNALED(status):
        log.warning(
            "Sandboxed parse in pid %d was killed by %s", pid, signal.Signals(os.WTERMSIG(status)).name
        )
        raise ParseLimitError()
    if status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == _EXIT_NO_MEMORY:
        log.warning("Sandboxed parse in pid %d ran out of memory", pid)
        raise ParseLimitError()
    log.error("Sandboxed parse in pid %d ended without a reply (wait status %s)", pid, status)
    raise SchedgenError()


def _load_reply(pid: int, payload: bytes) -> object:
    if len(payload) > _MAX_REPLY_BYTES:
        log.error("Sandboxed parse in pid %d sent an oversized reply (%d bytes)", pid, len(payload))
        raise SchedgenError()
    try:
        return _ReplyUnpickler(io.BytesIO(payload)).load()
    except Exception:
        log.exception("Sandboxed parse in pid %d sent an unreadable reply", pid)
        raise SchedgenError() from None


def _unpack(pid: int, reply: object) -> Timetable:
    match reply:
        case ("ok", Timetable() as timetable):
            return timetable
        case ("error", str(code), str() | None as message, int() | None as page, int() | None as row):
            error = error_for_code(code, message)
            error.page, error.row = page, row
            raise error
        case ("internal", str(details)):
            log.error("Unexpected error in sandboxed parse (pid %d):\n%s", pid, details)
            raise SchedgenError()
    log.error("Sandboxed parse in pid %d sent a malformed reply of type %s", pid, type(reply).__name__)
    raise SchedgenError()


class _ReplyUnpickler(pickle.Unpickler):
    """Unpickler that can only build the domain model (a crashed or subverted child cannot run code here)."""

    def find_class(self, module: str, name: str, /) -> object:
        if (module, name) not in _REPLY_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a parse reply")
        return super().find_class(module, name)


__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_TIMEOUT_S",
    "apply_limits",
    "encode_reply",
    "interpret_reply",
    "parse_limited",
    "reply_complete",
    "run_limited",
    "run_target",
    "send_reply",
]
