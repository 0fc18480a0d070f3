"""The command line: output formats, exit codes and messages a student can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from schedgen.cli import EXIT_OUTPUT, EXIT_REJECTED, EXIT_USAGE, main


@pytest.fixture
def pdf_files(tmp_path: Path, real_pdfs: dict[str, bytes]) -> dict[str, Path]:
    paths = {}
    for kind, data in real_pdfs.items():
        paths[kind] = tmp_path / f"{kind}.pdf"
        paths[kind].write_bytes(data)
    return paths


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_parse_prints_the_json_contract(pdf_files: dict[str, Path]) -> None:
    code, out, _ = run("parse", str(pdf_files["exams"]))
    assert code == 0
    document = json.loads(out)
    assert document["kind"] == "exams"
    assert [e["module"] for e in document["events"]] == [
        "COS 284",
        "COS 214",
        "STK 220",
        "COS 226",
        "WTW 285",
    ]


def test_parse_several_files_gives_a_list_with_names(pdf_files: dict[str, Path]) -> None:
    code, out, _ = run("parse", str(pdf_files["lectures"]), str(pdf_files["tests"]))
    assert code == 0
    documents = json.loads(out)
    assert [(d["file"], d["kind"], len(d["events"])) for d in documents] == [
        ("lectures.pdf", "lectures", 30),
        ("tests.pdf", "tests", 12),
    ]


def test_parse_table_format(pdf_files: dict[str, Path]) -> None:
    code, out, _ = run("parse", "--format", "table", str(pdf_files["tests"]))
    assert code == 0
    assert out.startswith("tests: 12 events\n")
    assert "PTest 1" in out


def test_rejected_file_exits_3_with_code_and_plain_message(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.pdf"
    bogus.write_text("these are my notes, not a PDF")
    code, out, err = run("parse", str(bogus))
    assert code == EXIT_REJECTED
    assert out == ""
    assert "[NOT_A_PDF]" in err
    assert "Traceback" not in err


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("parse", str(tmp_path / "nope.pdf"))
    assert code == EXIT_USAGE
    assert "nope.pdf" in err


def test_export_writes_a_calendar_with_every_chosen_event(pdf_files: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "me.ics"
    code, _, err = run(
        "export",
        *(str(p) for p in pdf_files.values()),
        "-o",
        str(target),
        "--year",
        "2026",
        "--group",
        "COS 214=P02",
        "--exclude",
        "WTW 285",
    )
    assert code == 0, err
    calendar = Calendar.from_ical(target.read_bytes())
    summaries = [str(e["SUMMARY"]) for e in calendar.walk("VEVENT")]
    assert not any(s.startswith("WTW 285") for s in summaries)
    cos214_practicals = [e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]).startswith("COS 214 P")]
    assert len(cos214_practicals) == 1
    start = cos214_practicals[0]["DTSTART"].dt
    assert (start.weekday(), start.hour, start.minute) == (2, 14, 30)  # P02: Wednesday 14:30
    assert not list(tmp_path.glob(".*.partial"))


def test_export_is_byte_identical_across_runs(pdf_files: dict[str, Path], tmp_path: Path) -> None:
    outputs = []
    for name in ("a.ics", "b.ics"):
        files = (str(p) for p in pdf_files.values())
        code, _, err = run("export", *files, "-o", str(tmp_path / name), "--year", "2026")
        assert code == 0, err
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_export_to_unwritable_place_exits_4_and_leaves_nothing(
    pdf_files: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "missing-dir" / "me.ics"
    code, _, err = run("export", str(pdf_files["exams"]), "-o", str(target))
    assert code == EXIT_OUTPUT
    assert "cannot write" in err
    assert not target.parent.exists()


def test_bad_group_choice_is_a_usage_error(pdf_files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run(
        "export", str(pdf_files["lectures"]), "-o", str(tmp_path / "x.ics"), "--group", "COS214"
    )
    assert code == EXIT_USAGE
    assert "COS214=G01" in err


def test_unknown_group_warns(pdf_files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run(
        "export", str(pdf_files["lectures"]), "-o", str(tmp_path / "x.ics"), "--year", "2026",
        "--group", "COS 214=P09",
    )  # fmt: skip
    assert code == 0
    assert "COS 214 has no group P09" in err


def test_help_explains_the_commands() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "parse" in out
    assert "export" in out


def test_env_example_documents_every_setting() -> None:
    from schedgen.config import Settings

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    assert [n for n in Settings.model_fields if f"SCHEDGEN_{n.upper()}=" not in text] == []
