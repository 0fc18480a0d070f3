"""A parse zygote: a small single-threaded helper process that forks one limited child per parse.

Forking the service itself for every parse (``sandbox.run_limited``) copies a large, multi-threaded process
while holding the GIL. A :class:`ParseZygote` starts one helper at boot with only the parser imported, and
each :meth:`ParseZygote.parse` asks it to fork a child from that small image instead. The child gets the
same limits as in ``sandbox`` (RLIMIT_CPU, RLIMIT_AS over what it inherited, no core dumps) plus a wall-clock
timer (``ITIMER_REAL``: SIGALRM ends it), so a fresh process still handles every untrusted PDF.

Per parse the caller makes two socket pairs and passes one end of each to the zygote (SCM_RIGHTS):

- **data**: the caller writes the PDF (length-prefixed) and reads the child's reply (``sandbox`` framing);
- **status**: the zygote writes the child's wait status once it has reaped it, then closes it.

A complete reply is returned at once; otherwise the wait status decides the error, exactly as in
``sandbox.interpret_reply``. The zygote exits when its control socket closes (the caller closed it or died),
and a caller that finds it dead starts a new one. Linux only (SOCK_SEQPACKET, pidfd).

Before serving, the zygote warms up: it runs the target over small built-in PDFs (one per UP layout, fonts
and encodings as UP exports them) and encodes the replies, so pdfium's one-off work (the system font
scan, loaded fonts, resolved symbols) and Python's (specialised bytecode, caches) is done once and shared
with every child instead of redone in each. A warm-up that fails is logged and the zygote serves anyway.
Then it holds the heap's free chunks (see ``hold_free_heap_chunks``), so children allocate fresh memory
instead of writing all over the shared heap.
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import import_module
from typing import NoReturn, cast

from schedgen.adapters.memory import hold_free_heap_chunks
from schedgen.adapters.sandbox import (
    DEFAULT_MEMORY_BYTES,
    DEFAULT_TIMEOUT_S,
    apply_limits,
    interpret_reply,
    reply_complete,
    run_target,
    send_reply,
)
from schedgen.adapters.zygote_warmup import warm_up_target
from schedgen.domain.events import Timetable
from schedgen.errors import ParseLimitError, SchedgenError

log = logging.getLogger(__name__)

DEFAULT_TARGET = "schedgen.parsing.api:parse_pdf"
_REQUEST = struct.Struct("!dQ")  # control message: wall-clock limit (s), address-space allowance (bytes)
_LENGTH = struct.Struct("!Q")  # the PDF's length before its bytes on the data socket
_STATUS = struct.Struct("!i")  # the child's wait status on the status socket
_GRACE_S = 1.0  # how long past the child's own deadline the caller waits for the zygote's word
_START_TIMEOUT_S = 30.0  # a zygote that has not answered its first request by then is replaced
_CHUNK = 1 << 16
_AUTOGROUP_RETRY_S = 0.11  # the kernel lets an unprivileged process change an autogroup once per 100 ms


class ParseZygote:
    """Parses PDFs in children forked by a helper process; thread-safe; start() once, close() at the end."""

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        target: str = DEFAULT_TARGET,
        warm_up: bool = True,
        nice: int = 0,
    ) -> None:
        if timeout_s <= 0 or memory_bytes <= 0:
            raise ValueError("timeout_s and memory_bytes must be positive")
        if not 0 <= nice <= 19:
            raise ValueError("nice must be between 0 and 19")
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.target = target
        self.warm_up = warm_up  # False only for targets that must not run in the zygote (tests' runaways)
        self.nice = (
            nice  # the zygote's (and so every parse's) CPU niceness: requests of the service come first
        )
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the helper process (also done on first use, and again if it died)."""
        with self._lock:
            self._ensure_started()

    def close(self) -> None:
        """Stop the helper: when its control socket closes it kills any child still parsing, and exits."""
        with self._lock:
            self._closed = True
            self._stop()

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _ensure_started(self) -> socket.socket:
        if self._closed:
            raise RuntimeError("the parse zygote is closed")
        if self._control is not None and self._process is not None and self._process.poll() is None:
            return self._control
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            control_fd, warm_up, nice = str(theirs.fileno()), str(int(self.warm_up)), str(self.nice)
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, control_fd, self.target, warm_up, nice],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C for the service is not one for the zygote
            )
        except OSError:
            ours.close()
            log.exception("Could not start the parse zygote")
            raise SchedgenError() from None
        finally:
            theirs.close()
        self._control = ours
        log.info("parse zygote started (pid %d)", self._process.pid)
        return ours

    def _stop(self) -> None:
        control, process = self._control, self._process
        self._control = self._process = None
        if control is not None:
            control.close()
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # --- one parse -----------------------------------------------------------------------------------------

    def parse(self, data: bytes) -> Timetable:
        """Parse untrusted PDF bytes in a fresh child under the limits; raises the parse's error."""
        for attempt in (1, 2):
            data_ours, data_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            status_ours, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            control = None
            try:
                try:
                    control = self._request(data_theirs, status_theirs)
                finally:
                    data_theirs.close()
                    status_theirs.close()
                return _collect(data_ours, status_ours, data, self.timeout_s)
            except _ZygoteGoneError:
                self._discard(control)
                if attempt == 2:
                    log.error("the parse zygote died twice in a row")
                    raise SchedgenError() from None
                log.warning("the parse zygote is gone; starting a new one")
            finally:
                data_ours.close()
                status_ours.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, data_end: socket.socket, status_end: socket.socket) -> socket.socket:
        """Hand both ends to the zygote; returns the control socket used."""
        message = _REQUEST.pack(self.timeout_s, self.memory_bytes)
        with self._lock:
            control = self._ensure_started()
            try:
                socket.send_fds(control, [message], [data_end.fileno(), status_end.fileno()])
            except OSError:
                self._stop()
                raise _ZygoteGoneError() from None
        return control

    def _discard(self, control: socket.socket | None) -> None:
        """Forget a zygote that dropped a request (unless another thread already replaced it)."""
        with self._lock:
            if control is not None and control is self._control:
                self._stop()


class _ZygoteGoneError(Exception):
    """Raised when the zygote could not take a request (it died); the caller starts another."""


def _collect(data_sock: socket.socket, status_sock: socket.socket, pdf: bytes, timeout_s: float) -> Timetable:
    """Send the PDF, then wait for a complete reply or the child's wait status, within the deadline."""
    deadline = time.monotonic() + timeout_s + _GRACE_S
    try:
        data_sock.settimeout(timeout_s + _GRACE_S)
        data_sock.sendall(_LENGTH.pack(len(pdf)) + pdf)
    except TimeoutError:
        log.warning("a parse child did not read its PDF in time")
        raise ParseLimitError() from None
    except OSError:
        pass  # the child died before reading it all; its wait status tells why
    buffer, finished = _read_reply(data_sock, deadline)
    if reply_complete(buffer):
        return interpret_reply(0, bytes(buffer), None, timed_out=False)
    status = _read_status(status_sock, deadline) if finished else None
    if status is None and finished:
        raise _ZygoteGoneError()  # EOF without a reply or a status: the zygote died with the child
    return interpret_reply(0, bytes(buffer), status, timed_out=status is None)


def _read_reply(sock: socket.socket, deadline: float) -> tuple[bytearray, bool]:
    """Read until the reply is complete or the child closed its end (finished), or the deadline passed."""
    buffer = bytearray()
    while not reply_complete(buffer):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return buffer, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(_CHUNK)
        except TimeoutError:
            return buffer, False
        except OSError:
            return buffer, True
        if not chunk:
            return buffer, True
        buffer += chunk
    return buffer, True


def _read_status(sock: socket.socket, deadline: float) -> int | None:
    """The child's wait status from the zygote, or None if it closed the socket without one or took too long."""
    received = b""
    while len(received) < _STATUS.size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(_STATUS.size - len(received))
        except (TimeoutError, OSError):
            return None
        if not chunk:
            return None
        received += chunk
    return cast("int", _STATUS.unpack(received)[0])


# --- the zygote process ------------------------------------------------------------------------------------


def serve(
    control_fd: int, target: Callable[[bytes], Timetable], *, warm_up: bool = False, nice: int = 0
) -> None:
    """The zygote's loop: fork a child per request, report each child's wait status, exit on EOF."""
    if warm_up:
        warm_up_target(target)
    if nice:
        os.nice(nice)  # inherited by every child: parses yield the CPU to the service's requests
        lower_session_priority(nice)
    _Zygote(socket.socket(fileno=control_fd), target).run()


def lower_session_priority(nice: int, *, attempts: int = 5) -> bool:
    """Give this process's session the niceness too, if the process leads a session of its own.

    With the kernel's autogroup scheduling (Debian's and Ubuntu's default), each session is one group in
    the scheduler, and the groups share the CPU equally whatever the niceness of the processes in them.
    The zygote leads a session of its own (a Ctrl-C for the service is not one for it), so a niceness of
    the process alone would make parses yield only to each other, not to the API, the database or the
    object store; the session's niceness (``/proc/self/autogroup``) makes them yield to everything. A
    process that is not a session leader leaves its session alone (it would slow its caller down too).
    Returns whether the session's niceness was set; False where the kernel has no autogroup.
    """
    if os.getsid(0) != os.getpid():
        return False
    for attempt in range(attempts):
        try:
            with open("/proc/self/autogroup", "w") as autogroup:
                autogroup.write(str(nice))
            return True
        except BlockingIOError:  # unprivileged: once per 100 ms across the host; another process just did
            if attempt + 1 < attempts:
                time.sleep(_AUTOGROUP_RETRY_S)
        except OSError:  # no autogroup in this kernel, or not allowed: the process's niceness still holds
            return False
    log.warning("could not lower the parse helper's session priority")
    return False


class _Zygote:
    """The zygote process's state: its control socket and the children it has not reaped yet."""

    def __init__(self, control: socket.socket, target: Callable[[bytes], Timetable]) -> None:
        self.control = control
        self.target = target
        self.children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, status socket)
        self.poller = select.poll()
        self.poller.register(control, select.POLLIN)
        self.held_chunks: list[int] = []  # free heap chunks taken out of the children's way, never freed

    def run(self) -> None:
        gc.collect()  # leave no garbage from imports and warm-up to be frozen for good
        self.held_chunks = hold_free_heap_chunks()
        gc.freeze()  # what is imported now is shared with every child and never collected there
        while True:
            for fd, _ in self.poller.poll():
                if fd != self.control.fileno():
                    self._report(fd)
                    continue
                message, fds, _, _ = socket.recv_fds(self.control, _REQUEST.size, 2)
                if not message:  # the caller closed the control socket or died: nobody wants the results
                    self._kill_children()
                    return
                self._start_child(message, fds)

    def _start_child(self, message: bytes, fds: list[int]) -> None:
        if len(fds) != 2 or len(message) != _REQUEST.size:
            for fd in fds:
                os.close(fd)
            return
        data_fd, status_fd = fds
        timeout_s, memory_bytes = _REQUEST.unpack(message)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            _child(data_fd, timeout_s, memory_bytes, self.target)
        os.close(data_fd)
        pidfd = os.pidfd_open(pid)
        self.children[pidfd] = (pid, socket.socket(fileno=status_fd))
        self.poller.register(pidfd, select.POLLIN)

    def _kill_children(self) -> None:
        for pidfd, (pid, status_sock) in self.children.items():
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(pidfd)
            status_sock.close()
        self.children.clear()

    def _report(self, pidfd: int) -> None:
        pid, status_sock = self.children.pop(pidfd)
        self.poller.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        try:
            status_sock.sendall(_STATUS.pack(status))
        except OSError:
            pass  # the caller stopped waiting
        finally:
            status_sock.close()


def _child(
    data_fd: int, timeout_s: float, memory_bytes: int, target: Callable[[bytes], Timetable]
) -> NoReturn:  # pragma: no cover - runs in the child
    """Limit this process, read the PDF, parse it, send the reply and exit."""
    status = 70
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)  # SIGALRM (default action) ends the child
        os.closerange(3, data_fd)
        os.closerange(data_fd + 1, 1 << 16)
        apply_limits(timeout_s, memory_bytes)
        send_reply(data_fd, run_target(target, _read_pdf(data_fd)))
        status = 0
    except MemoryError:
        status = 3
    except BaseException:  # noqa: S110 - nothing may escape the child; the caller reports the lost reply
        pass
    finally:
        os._exit(status)


def _read_pdf(fd: int) -> bytes:  # pragma: no cover - runs in the child
    header = _read_exactly(fd, _LENGTH.size)
    return _read_exactly(fd, _LENGTH.unpack(header)[0])


def _read_exactly(fd: int, size: int) -> bytes:  # pragma: no cover - runs in the child
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, min(_CHUNK * 4, size - len(chunks)))
        if not chunk:
            raise EOFError("the caller closed the data socket")
        chunks += chunk
    return bytes(chunks)


def _load_target(spec: str) -> Callable[[bytes], Timetable]:
    module, _, name = spec.partition(":")
    return cast("Callable[[bytes], Timetable]", getattr(import_module(module), name))


def main(argv: list[str]) -> None:  # pragma: no cover - the zygote's entry point
    """``python -m schedgen.adapters.zygote CONTROL_FD TARGET [WARM_UP [NICE]]`` (WARM_UP 1 or 0)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides when the zygote ends
    nice = int(argv[3]) if len(argv) > 3 else 0
    serve(int(argv[0]), _load_target(argv[1]), warm_up=argv[2:3] == ["1"], nice=nice)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
