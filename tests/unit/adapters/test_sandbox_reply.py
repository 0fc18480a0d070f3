"""A parse child's reply: any timetable crosses the pipe unchanged; nothing but the domain model is built."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedgen.adapters.sandbox import encode_reply, interpret_reply
from schedgen.domain.events import Kind, ParseWarning, Timetable
from schedgen.errors import SchedgenError
from tests.support.strategies import timetables

ANY_TIMETABLE = st.sampled_from(list(Kind)).flatmap(timetables)


@given(timetable=ANY_TIMETABLE, warnings=st.lists(st.builds(ParseWarning, st.integers(1, 99), st.text())))
def test_any_timetable_comes_back_equal(timetable: Timetable, warnings: list[ParseWarning]) -> None:
    sent = Timetable(timetable.kind, timetable.events, pages=3, warnings=tuple(warnings))
    assert interpret_reply(1, encode_reply(("ok", sent)), 0, timed_out=False) == sent


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("a subverted child ran code in the worker",))


def test_a_reply_naming_any_other_callable_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    reply = encode_reply(("ok", _Evil()))  # what a subverted child could send
    with pytest.raises(SchedgenError):
        interpret_reply(1, reply, 0, timed_out=False)
    assert "unreadable reply" in caplog.text  # refused by the unpickler, before anything was called
