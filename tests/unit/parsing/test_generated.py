"""Property tests: random UP timetables drawn as PDFs parse back to exactly the same events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedgen.domain.events import (
    Event,
    ExamSitting,
    Kind,
    LectureSession,
    TestSitting,
    Timetable,
    Weekday,
)
from schedgen.parsing.api import parse_pdf
from schedgen.rendering.contract import timetable_to_dict
from tests.support import strategies as gen
from tests.support import updraw

DRAW: dict[Kind, Callable[..., bytes]] = {
    Kind.LECTURES: updraw.draw_lectures,
    Kind.TESTS: updraw.draw_tests,
    Kind.EXAMS: updraw.draw_exams,
}
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_parses_back(expected: Timetable, pdf: bytes) -> None:
    """The parser returns exactly the drawn events, no warnings, and the true page count."""
    parsed = parse_pdf(pdf)
    assert timetable_to_dict(parsed) == timetable_to_dict(expected)  # warnings would show up here too
    assert parsed.pages == updraw.count_pages(pdf)


def page_lines(pdf: bytes, page: int) -> list[str]:
    """The text objects of one page (0-based) joined per baseline (within 2.5 pt), top to bottom."""
    doc = pdfium.PdfDocument(pdf)
    try:
        pdf_page = doc[page]
        found = pdf_page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT], textpage=pdf_page.get_textpage())
        objects = [(obj.get_matrix(), obj.extract().strip()) for obj in found]
    finally:
        doc.close()
    lines: list[list[tuple[float, float, str]]] = []
    for matrix, text in sorted(objects, key=lambda o: -o[0].f):
        if not text:
            continue
        if not lines or lines[-1][0][0] - matrix.f > 2.5:
            lines.append([])
        lines[-1].append((matrix.f, matrix.e, text))
    return [" ".join(t for _, _, t in sorted(line, key=lambda w: w[1])) for line in lines]


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
@PROPERTY
@given(data=st.data())
def test_random_timetables_parse_back_in_varied_layouts(kind: Kind, data: st.DataObject) -> None:
    timetable = data.draw(gen.timetables(kind), label="timetable")
    layout = data.draw(gen.layouts(kind), label="layout")
    pdf = DRAW[kind](timetable.events, layout)
    if data.draw(st.booleans(), label="encrypted with an empty password"):
        pdf = updraw.encrypt_empty_password(pdf)
    assert_parses_back(timetable, pdf)


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
@PROPERTY
@given(data=st.data())
def test_random_timetables_parse_back_on_short_real_pages(kind: Kind, data: st.DataObject) -> None:
    """UP's own geometry on pages cut short, so most files break rows across pages."""
    timetable = data.draw(gen.timetables(kind), label="timetable")
    height = data.draw(st.integers(170, 420), label="page height")
    pdf = DRAW[kind](timetable.events, page_size=(updraw.A4_LANDSCAPE[0], float(height)))
    assert_parses_back(timetable, pdf)


def _at(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def _lecture(module: str, group: str, activity: str, day: Weekday, *venues: str) -> LectureSession:
    times = {"L": ("08:30", "09:20"), "P": ("14:30", "17:20"), "T": ("07:30", "08:50")}[activity[0]]
    start, end = (_at(t) for t in times)
    return LectureSession(module, "S1", group, "E", activity, day, start, end, venues, "HATFIELD")


WEEK = (Weekday.MONDAY, Weekday.TUESDAY, Weekday.THURSDAY, Weekday.FRIDAY)
LABS = tuple(f"Informatorium CBT Lab {n}" for n in (1, 2, 3))
# nine rows of 4 lines and a row of 2 leave UP's first page room for one line of the 3-venue practical
KNOWN_LECTURES = (
    *(
        _lecture(f"INF {code}", "G01", f"L{n}", day, f"IT 4-{n}")
        for code in (171, 214, 225, 271, 272, 311, 315, 324, 381)
        for n, day in enumerate(WEEK, start=1)
    ),
    _lecture("INF 381", "P01", "P1", Weekday.TUESDAY, "IT Open Gold Lab", "IT Open Silver Lab"),
    _lecture("INF 381", "P02", "P1", Weekday.WEDNESDAY, *LABS),
    _lecture("INF 381", "T01", "T1", Weekday.FRIDAY, "HB 4-3"),
)


def _test(module: str, label: str, date: str, venues: Iterable[str]) -> TestSitting:
    day = dt.date.fromisoformat(date)
    label_day = Weekday(day.weekday()).label
    return TestSitting(module, label, label_day, day, _at("10:00"), _at("11:30"), tuple(venues), "HATFIELD")


PTEST_VENUES = gen.VENUES[13:26]  # thirteen venues, as in UP's biggest practical test
# five rows of 5 venues leave UP's first page room for part of the practical test's venue list
KNOWN_TESTS = (
    *(_test(f"MTX {100 + n}", "Test1", f"2026-03-{n + 2:02d}", gen.VENUES[:5]) for n in range(5)),
    _test("EKN 120", "PTest 1", "2026-03-14", PTEST_VENUES),
    _test("EKN 120", "Test2", "2026-05-09", ("AE du Toit Auditorium",)),
)


def _exam(
    module: str, status: str, day: int, venue: str, campus: str, *, comments: str | None
) -> ExamSitting:
    return ExamSitting(
        module=module,
        activity="Exam Written",
        status=status,
        paper="1",
        date=dt.date(2026, 6, day),
        start=_at("07:30"),
        venues=(venue,) if venue else (),
        campus=campus,
        module_campus=campus[:4],
        comments=comments,
    )


KNOWN_EXAMS = (
    _exam("BME 210", "FINAL", 2, "IT Building CBT Labs 1,2,3", "HATFIELD", comments=None),
    _exam("OBS 310", "PROVISIONAL", 3, "Eng III - 7", "ONDERSTEPOORT", comments="Bring your own calculator"),
    _exam("ALL 121", "FINAL", 5, "", "", comments=None),  # empty venue and campus cells
)


def test_known_lectures_break_a_multi_venue_row_across_pages() -> None:
    pdf = updraw.draw_lectures(KNOWN_LECTURES)
    assert updraw.count_pages(pdf) == 2
    first = "INF 381 S1 P02 E P P1 Wednesday 14:30 - 17:20 Informatorium CBT Lab 1 HATFIELD"
    assert page_lines(pdf, 0)[-1] == first  # "E" then the white "P"
    assert page_lines(pdf, 1)[:2] == [  # no module, offered, group, lang or campus cells, no header
        "P1 Wednesday 14:30 - 17:20 Informatorium CBT Lab 2",
        "P1 Wednesday 14:30 - 17:20 Informatorium CBT Lab 3",
    ]
    assert_parses_back(Timetable(Kind.LECTURES, KNOWN_LECTURES), pdf)


def test_known_lectures_with_the_header_repeated() -> None:
    pdf = updraw.draw_lectures(KNOWN_LECTURES, repeat_header=True)
    assert page_lines(pdf, 1)[0] == "Module Offered Group Lang Activity Day Time Venue Campus Study Prog"
    assert_parses_back(Timetable(Kind.LECTURES, KNOWN_LECTURES), pdf)


def test_known_tests_continue_a_venue_list_on_the_next_page() -> None:
    pdf = updraw.draw_tests(KNOWN_TESTS)
    assert updraw.count_pages(pdf) == 2
    assert page_lines(pdf, 0)[-1] in PTEST_VENUES[:-1]
    assert page_lines(pdf, 1)[0] in PTEST_VENUES[1:]  # only the Venue column is filled
    assert_parses_back(Timetable(Kind.TESTS, KNOWN_TESTS), pdf)


def test_known_tests_break_inside_a_wrapped_test_label() -> None:
    pdf = updraw.draw_tests(KNOWN_TESTS, page_size=(updraw.A4_LANDSCAPE[0], 466.0), split_wrapped=True)
    assert page_lines(pdf, 0)[-1].startswith("EKN 120 PTest Saturday")
    assert page_lines(pdf, 1)[0] == f"1 {PTEST_VENUES[1]}"
    assert_parses_back(Timetable(Kind.TESTS, KNOWN_TESTS), pdf)


@pytest.mark.parametrize("aes256", [True, False], ids=["aes256", "aes128-like-UP"])
def test_known_exams_encrypted_with_an_empty_password(aes256: bool) -> None:
    pdf = updraw.encrypt_empty_password(updraw.draw_exams(KNOWN_EXAMS), aes256=aes256)
    assert_parses_back(Timetable(Kind.EXAMS, KNOWN_EXAMS), pdf)


def test_exam_cells_wrap_like_up() -> None:
    lines = page_lines(updraw.draw_exams(KNOWN_EXAMS), 0)
    assert "Written 1,2,3" in lines  # "Exam Written" and the venue each wrap onto a second line
    assert "Written calculator" in lines


@pytest.mark.parametrize(
    ("kind", "events"),
    [(Kind.LECTURES, KNOWN_LECTURES), (Kind.TESTS, KNOWN_TESTS), (Kind.EXAMS, KNOWN_EXAMS)],
    ids=["lectures", "tests", "exams"],
)
def test_generator_refuses_columns_too_narrow_for_the_text(kind: Kind, events: tuple[Event, ...]) -> None:
    columns = len(gen.SHEET_OF[kind].columns)
    with pytest.raises(updraw.LayoutError):
        DRAW[kind](events, column_widths=(20.0,) * columns)


@pytest.mark.parametrize(
    ("kind", "events"),
    [(Kind.LECTURES, KNOWN_LECTURES), (Kind.TESTS, KNOWN_TESTS), (Kind.EXAMS, KNOWN_EXAMS)],
    ids=["lectures", "tests", "exams"],
)
def test_first_row_set_close_under_the_header_is_kept(kind: Kind, events: tuple[Event, ...]) -> None:
    """UP leaves 0.34 pt between the header's and the first row's font boxes; a tighter file is still read."""
    assert_parses_back(Timetable(kind, events), DRAW[kind](events, row_padding=0.0))
