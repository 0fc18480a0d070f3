"""The real UP PDFs parse to exactly the events they print (expected files checked by hand against the PDFs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedgen.domain.events import Kind, LectureSession
from schedgen.parsing.api import parse_pdf
from schedgen.rendering.contract import timetable_from_dict, timetable_to_dict

EXPECTED = Path(__file__).parent / "expected"
FILES = {"lectures": "UP_MOD_XLS.json", "tests": "UP_TST_PDF.json", "exams": "UP_EXAM_SS.json"}


@pytest.mark.parametrize("kind", sorted(FILES))
def test_real_pdf_gives_exactly_the_expected_events(real_pdfs: dict[str, bytes], kind: str) -> None:
    expected = json.loads((EXPECTED / FILES[kind]).read_text())
    assert timetable_to_dict(parse_pdf(real_pdfs[kind])) == expected


@pytest.mark.parametrize("kind", sorted(FILES))
def test_contract_round_trips(real_pdfs: dict[str, bytes], kind: str) -> None:
    timetable = parse_pdf(real_pdfs[kind])
    again = timetable_from_dict(timetable_to_dict(timetable))
    assert again.kind is timetable.kind
    assert again.events == timetable.events


def test_kind_comes_from_content_not_name(real_pdfs: dict[str, bytes]) -> None:
    kinds = {kind: parse_pdf(data).kind for kind, data in real_pdfs.items()}
    assert kinds == {"lectures": Kind.LECTURES, "tests": Kind.TESTS, "exams": Kind.EXAMS}


def test_practical_in_four_labs_is_one_event(real_pdfs: dict[str, bytes]) -> None:
    sessions = [
        e
        for e in parse_pdf(real_pdfs["lectures"]).events
        if isinstance(e, LectureSession) and e.module == "COS 284" and e.group == "P01"
    ]
    assert len(sessions) == 1
    assert sessions[0].venues == (
        "Informatorium Brown Lab",
        "Informatorium Green Lab",
        "Informatorium Grey Lab",
        "Informatorium Purple Lab",
    )


def test_row_continued_over_page_break_keeps_its_venues(real_pdfs: dict[str, bytes]) -> None:
    sessions = [
        e
        for e in parse_pdf(real_pdfs["lectures"]).events
        if isinstance(e, LectureSession) and e.group == "P03"
    ]
    stk = [s for s in sessions if s.module == "STK 220"]
    assert [s.venues for s in stk] == [
        ("Informatorium CBT Lab 1", "Informatorium CBT Lab 2", "Informatorium CBT Lab 3")
    ]


def test_test_venues_continue_on_next_page(real_pdfs: dict[str, bytes]) -> None:
    tests = parse_pdf(real_pdfs["tests"]).tests
    ptest2 = next(t for t in tests if t.activity == "PTest 2")
    assert len(ptest2.venues) == 13
    assert ptest2.venues[-1] == "IT Open Silver Lab"


def test_encrypted_exam_file_opens(real_pdfs: dict[str, bytes]) -> None:
    assert b"/Encrypt" in real_pdfs["exams"]
    exams = parse_pdf(real_pdfs["exams"]).exams
    assert [e.module for e in exams] == ["COS 284", "COS 214", "STK 220", "COS 226", "WTW 285"]
    assert all(e.end is None for e in exams)


def test_no_warnings_on_real_files(real_pdfs: dict[str, bytes]) -> None:
    for data in real_pdfs.values():
        assert parse_pdf(data).warnings == ()
