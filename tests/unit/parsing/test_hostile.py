"""Hostile and broken uploads fail with the right typed error, within 5 s, without touching the parent's memory."""

from __future__ import annotations

import ast
import contextlib
import ctypes
import datetime as dt
import functools
import io
import logging
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import pikepdf
import pytest

from schedgen import errors
from schedgen.adapters.sandbox import DEFAULT_TIMEOUT_S, parse_limited, run_limited
from schedgen.domain.events import (
    ExamSitting,
    Kind,
    LectureSession,
    ParseWarning,
    TestSitting,
    Timetable,
    Weekday,
)
from schedgen.parsing.api import parse_pdf
from schedgen.parsing.limits import ParseLimits
from tests.support import hostile
from tests.support.updraw import count_pages, encrypt_empty_password

GIB = 1024 * 1024 * 1024
WALL_LIMIT_S = 5.0  # the requirement: a hostile file fails within 5 s
KILL_MARGIN_S = 0.5  # a child stopped at its wall-clock limit is killed and reaped within this
PARENT_GROWTH_KIB = 64 * 1024  # the parent's peak RSS may grow this much at most while a file is parsed
SHORT_TIMEOUT_S = 0.5  # wall-clock limit for the sandbox's own tests

Target = Callable[[bytes], Timetable]


# --- helpers ----------------------------------------------------------------------------------------------


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _children() -> set[int]:
    """Pids of this process's live and zombie children."""
    pids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        # A thread that has just finished may vanish between listdir and open: it has no children then.
        with contextlib.suppress(FileNotFoundError), open(f"/proc/self/task/{task}/children") as listing:
            pids.update(int(pid) for pid in listing.read().split())
    return pids


@contextlib.contextmanager
def bounded(seconds: float = WALL_LIMIT_S) -> Iterator[None]:
    """Assert that the block ends within `seconds` and leaves the parent's peak memory where it was."""
    peak = _peak_rss_kib()
    started = time.monotonic()
    yield
    assert time.monotonic() - started < seconds
    assert _peak_rss_kib() - peak < PARENT_GROWTH_KIB


def _sandbox_fds() -> set[str]:
    """This process's open pipes and pidfds (the only descriptors the sandbox opens), as fd -> target."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(("pipe:", "anon_inode:[pidfd]")):
                found.add(f"{fd} -> {target}")
    return found


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Every test leaves no new child process (live or zombie) and no pipe or pidfd behind."""
    fds = _sandbox_fds()
    children = _children()  # e.g. a session-wide moto_server started by other tests
    yield
    assert _children() <= children
    assert _sandbox_fds() == fds


def _raised(target: Target, data: bytes = b"", **kwargs: float) -> errors.SchedgenError:
    with pytest.raises(errors.SchedgenError) as info:
        run_limited(target, data, **kwargs)
    return info.value


def _timetable(*texts: str) -> Timetable:
    return Timetable(Kind.TESTS, (), warnings=tuple(ParseWarning(1, "note", text) for text in texts))


# --- every error code through parse_limited ---------------------------------------------------------------

ERROR_CASES = [
    pytest.param(hostile.empty, errors.EmptyFileError, id="empty"),
    pytest.param(hostile.png, errors.NotPdfError, id="png"),
    pytest.param(hostile.text_file, errors.NotPdfError, id="text-file"),
    pytest.param(hostile.docx, errors.NotPdfError, id="docx"),
    pytest.param(hostile.magic_then_garbage, errors.CorruptPdfError, id="magic-then-garbage"),
    pytest.param(
        functools.partial(hostile.magic_then_garbage, with_eof=False),
        errors.CorruptPdfError,
        id="magic-then-garbage-no-eof",
    ),
    pytest.param(hostile.truncated_half, errors.CorruptPdfError, id="truncated-half"),
    pytest.param(hostile.without_eof_tail, errors.CorruptPdfError, id="truncated-eof-tail"),
    pytest.param(hostile.password_protected, errors.PasswordProtectedError, id="password"),
    pytest.param(hostile.too_large, errors.FileTooLargeError, id="over-10-mb"),
    pytest.param(hostile.many_pages, errors.TooManyPagesError, id="101-pages"),
    pytest.param(hostile.scanned, errors.NoTextLayerError, id="scanned"),
    pytest.param(hostile.letter, errors.NotTimetableError, id="letter"),
    pytest.param(hostile.many_text_objects, errors.ParseLimitError, id="50k-text-objects"),
    pytest.param(hostile.many_path_objects, errors.ParseLimitError, id="50k-path-objects"),
    pytest.param(hostile.deflate_bomb, errors.ParseLimitError, id="deflate-bomb-1gib-blanks"),
    pytest.param(hostile.operator_bomb, errors.ParseLimitError, id="deflate-bomb-1gib-operators"),
    pytest.param(hostile.page_tree_cycle, errors.CorruptPdfError, id="page-tree-cycle"),
    pytest.param(hostile.deep_page_tree, errors.CorruptPdfError, id="page-tree-5000-deep"),
    pytest.param(hostile.missing_pages, errors.CorruptPdfError, id="declares-5-pages-holds-1"),
    pytest.param(
        functools.partial(hostile.missing_pages, 1_000_000),
        errors.TooManyPagesError,
        id="declares-1m-pages-holds-1",
    ),
    pytest.param(hostile.deeply_nested_arrays, errors.NotTimetableError, id="arrays-100k-deep"),
    pytest.param(hostile.dense_page, errors.NotTimetableError, id="100k-chars-on-a-page"),
]


@pytest.mark.parametrize(("build", "expected"), ERROR_CASES)
def test_hostile_file_fails_with_its_typed_error_within_limits(
    build: Callable[[], bytes], expected: type[errors.SchedgenError]
) -> None:
    data = build()
    with bounded(), pytest.raises(errors.SchedgenError) as info:
        parse_limited(data)
    assert type(info.value) is expected
    assert info.value.code == expected.code
    assert "Traceback" not in info.value.message


PARSE_ERRORS = {  # every error parse_pdf may raise for a file
    errors.EmptyFileError,
    errors.NotPdfError,
    errors.CorruptPdfError,
    errors.PasswordProtectedError,
    errors.FileTooLargeError,
    errors.TooManyPagesError,
    errors.NoTextLayerError,
    errors.NotTimetableError,
    errors.ParseLimitError,
}


def test_every_parse_error_code_has_a_hostile_file() -> None:
    assert {case.values[1] for case in ERROR_CASES} == PARSE_ERRORS
    assert set(errors.ERROR_TYPES) >= PARSE_ERRORS


def test_parse_errors_keep_their_page() -> None:
    with pytest.raises(errors.ParseLimitError) as info:
        parse_limited(hostile.many_text_objects())
    assert info.value.page == 1


def test_parse_limits_reach_the_parser() -> None:
    with pytest.raises(errors.TooManyPagesError):
        parse_limited(hostile.many_pages(3), limits=ParseLimits(max_pages=2))


# --- pathological layouts: bounded whatever the parser makes of them --------------------------------------


def test_overlapping_rows_are_bounded_and_not_silently_dropped() -> None:
    data = hostile.overlapping_rows()
    with bounded():
        try:
            timetable = parse_limited(data)
        except errors.InputError:
            return
    assert len(timetable.events) <= 1
    assert timetable.warnings


def test_one_row_with_thousands_of_lines_is_cut_off_at_the_wall_clock_limit() -> None:
    data = hostile.one_row_many_lines()
    with bounded(DEFAULT_TIMEOUT_S + KILL_MARGIN_S):
        try:
            timetable = parse_limited(data)
        except errors.ParseLimitError:
            return
    assert len(timetable.events) == 3_000  # a parser fast enough may read it all


# --- good files through the sandbox -----------------------------------------------------------------------


def test_timetable_parses_the_same_in_the_sandbox() -> None:
    data = hostile.timetable()
    timetable = parse_limited(data)
    assert timetable == parse_pdf(data)
    assert len(timetable.events) == 3


def test_empty_user_password_timetable_parses() -> None:
    timetable = parse_limited(hostile.empty_password())
    assert timetable.events == parse_pdf(hostile.timetable()).events
    assert len(timetable.events) == 3


@pytest.mark.real_fixtures
def test_real_pdfs_with_an_empty_user_password_parse(real_pdfs: dict[str, bytes]) -> None:
    for data in real_pdfs.values():
        assert parse_limited(encrypt_empty_password(data)).events == parse_pdf(data).events


# --- the builders make what they claim --------------------------------------------------------------------


def test_deflate_bomb_stream_inflates_to_its_declared_size() -> None:
    stream = hostile.repeated_deflate(b" ", 64 * 1024 * 1024)
    assert hostile.inflated_size(stream) == 64 * 1024 * 1024
    assert len(stream) < 128 * 1024


def test_deflate_bomb_is_small() -> None:
    assert len(hostile.deflate_bomb()) < 2 * 1024 * 1024


def test_size_and_page_builders() -> None:
    assert len(hostile.too_large()) > 10 * 1024 * 1024
    assert count_pages(hostile.many_pages()) == 101


def test_password_protected_needs_its_password() -> None:
    data = hostile.password_protected()
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(data))


# --- the sandbox itself, with its own targets -------------------------------------------------------------


def test_returns_the_targets_timetable() -> None:
    every_kind = Timetable(
        Kind.LECTURES,
        (
            LectureSession(
                "COS 214",
                "S2",
                "G01",
                "E",
                "L1",
                Weekday.MONDAY,
                dt.time(8, 30),
                dt.time(9, 20),
                ("IT 4-4",),
                "HATFIELD",
            ),
            TestSitting(
                "COS 284",
                "Test1",
                "Saturday",
                dt.date(2025, 8, 23),
                dt.time(10),
                dt.time(11, 30),
                (),
                "HATFIELD",
            ),
            ExamSitting(
                "COS 284", "Exam Written", "FINAL", "1", dt.date(2025, 11, 12), dt.time(7, 30), (), ""
            ),
        ),
        pages=2,
        warnings=(ParseWarning(2, "Ignored text", "x"),),
    )
    assert run_limited(lambda _: every_kind, b"") == every_kind


def test_target_sees_the_data() -> None:
    assert run_limited(lambda data: _timetable(data.decode()), b"COS 214").warnings[0].text == "COS 214"


def test_typed_error_crosses_with_code_message_page_and_row() -> None:
    def target(_: bytes) -> Timetable:
        raise errors.NotTimetableError("not this one", page=3, row=7)

    error = _raised(target)
    assert type(error) is errors.NotTimetableError
    assert (error.code, error.message, error.page, error.row) == ("NOT_A_TIMETABLE", "not this one", 3, 7)


def test_unexpected_exception_is_internal_and_logged_not_leaked(caplog: pytest.LogCaptureFixture) -> None:
    def target(_: bytes) -> Timetable:
        raise ValueError("secret detail")

    with caplog.at_level(logging.ERROR, logger="schedgen.adapters.sandbox"):
        error = _raised(target)
    assert type(error) is errors.SchedgenError
    assert error.code == "INTERNAL_ERROR"
    assert "secret detail" not in error.message
    assert "Traceback" in caplog.text
    assert "ValueError: secret detail" in caplog.text


def test_target_that_hangs_is_killed_at_the_timeout() -> None:
    def target(_: bytes) -> Timetable:
        threading.Event().wait()
        raise AssertionError("unreachable")

    with bounded(SHORT_TIMEOUT_S + KILL_MARGIN_S):
        error = _raised(target, timeout_s=SHORT_TIMEOUT_S)
    assert type(error) is errors.ParseLimitError


def test_target_that_spins_is_killed_at_the_timeout() -> None:
    def target(_: bytes) -> Timetable:
        while True:
            pass

    with bounded(SHORT_TIMEOUT_S + KILL_MARGIN_S):
        error = _raised(target, timeout_s=SHORT_TIMEOUT_S)
    assert type(error) is errors.ParseLimitError


def test_target_allocating_2_gib_at_once_is_stopped_by_rlimit_as() -> None:
    def target(_: bytes) -> Timetable:
        bytearray(2 * GIB)
        raise AssertionError("allocated 2 GiB")

    with bounded():
        error = _raised(target)
    assert type(error) is errors.ParseLimitError


def test_target_allocating_2_gib_piecewise_is_stopped_by_rlimit_as() -> None:
    def target(_: bytes) -> Timetable:
        chunks = [b"\x01" * (16 * 1024 * 1024) for _ in range(128)]
        raise AssertionError(f"allocated {len(chunks)} chunks")

    with bounded():
        error = _raised(target)
    assert type(error) is errors.ParseLimitError


def test_target_that_segfaults_is_a_parse_limit_error() -> None:
    def target(_: bytes) -> Timetable:
        ctypes.string_at(0)
        raise AssertionError("read address 0")

    assert type(_raised(target)) is errors.ParseLimitError


def test_target_that_aborts_is_a_parse_limit_error() -> None:
    def target(_: bytes) -> Timetable:
        os.abort()

    assert type(_raised(target)) is errors.ParseLimitError


def test_target_that_recurses_without_end_is_a_parse_limit_error() -> None:
    def target(data: bytes) -> Timetable:
        return target(data)

    assert type(_raised(target)) is errors.ParseLimitError


def test_target_that_exits_without_a_reply_is_internal(caplog: pytest.LogCaptureFixture) -> None:
    def target(_: bytes) -> Timetable:
        os._exit(0)

    with caplog.at_level(logging.ERROR, logger="schedgen.adapters.sandbox"):
        error = _raised(target)
    assert type(error) is errors.SchedgenError
    assert "without a reply" in caplog.text


class _Foreign:
    """A class the parent refuses to unpickle from a child."""


def test_reply_with_a_foreign_class_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="schedgen.adapters.sandbox"):
        error = _raised(lambda _: cast(Timetable, _Foreign()))
    assert type(error) is errors.SchedgenError
    assert "unreadable reply" in caplog.text


def test_child_runs_under_the_rlimits() -> None:
    def target(_: bytes) -> Timetable:
        with open("/proc/self/statm", "rb") as statm:
            mapped = int(statm.read().split()[0]) * resource.getpagesize()
        limits = (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_CORE)
        cpu, address_space, core = (resource.getrlimit(which) for which in limits)
        return _timetable(repr(cpu), repr(core), repr(address_space[0] - mapped), repr(address_space))

    warnings = run_limited(target, b"", timeout_s=2.5, memory_bytes=256 * 1024 * 1024).warnings
    cpu, core, headroom, address_space = (ast.literal_eval(w.text) for w in warnings)
    assert cpu == (3, 4)
    assert core == (0, 0)
    assert 200 * 1024 * 1024 < headroom <= 256 * 1024 * 1024
    assert address_space[0] == address_space[1]


@pytest.mark.parametrize(("timeout_s", "memory_bytes"), [(0.0, 1), (1.0, 0), (-1.0, 1)])
def test_rejects_limits_that_are_not_positive(timeout_s: float, memory_bytes: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        run_limited(lambda _: _timetable(), b"", timeout_s=timeout_s, memory_bytes=memory_bytes)


def test_concurrent_calls_from_threads_each_get_their_own_result() -> None:
    def target(data: bytes) -> Timetable:
        number = int(data)
        if number % 3 == 0:
            raise errors.NotTimetableError(f"refused {number}")
        return _timetable(str(number))

    def call(number: int) -> str:
        try:
            return run_limited(target, str(number).encode()).warnings[0].text
        except errors.NotTimetableError as error:
            return error.message

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(48)))
    assert results == [f"refused {n}" if n % 3 == 0 else str(n) for n in range(48)]


def test_concurrent_parses_of_good_and_hostile_files() -> None:
    good, bomb, letter = hostile.timetable(), hostile.deflate_bomb(), hostile.letter()
    expected = parse_pdf(good)

    def call(index: int) -> object:
        data = (good, bomb, letter)[index % 3]
        try:
            return parse_limited(data)
        except errors.SchedgenError as error:
            return type(error)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(call, range(6)))
    assert results == [expected, errors.ParseLimitError, errors.NotTimetableError] * 2
