"""OULAD to xAPI: every row is converted or skipped with a reason, the counts add up to the rows of
the tables (counted here on their own), every statement is valid xAPI 1.0.3 and the registrations
follow a DASES LMS template, a second run gives the same statements, and an LRS stores them with
no reject, from a file (`dases lrs import`) or posted by `dases convert` itself.

The OULAD tables and the DASES profiles are read where they live, never copied into the repository;
the edge cases run on small tables written to the test's temporary directory.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dases.cli import app
from dases.errors import InvalidInput, UpstreamError
from dases.interop import oulad
from dases.interop.oulad import (
    ASSESSMENT,
    ASSESSMENT_PROFILE_VERSION,
    COMPLETED,
    DAYS_AFTER_DUE_DATE,
    IS_BANKED,
    KIND_COMPLETED,
    KIND_REGISTERED,
    KIND_UNREGISTERED,
    PRESENTATION_DAY,
    REGISTERED,
    UNREGISTERED,
    OuladConverter,
    convert_oulad,
    instant,
    presentation_start,
)
from dases.interop.output import JsonLinesWriter, LrsWriter, lrs_message
from dases.interop.profiles import Profile
from dases.interop.report import ConversionReport
from dases.lrs.app import create_lrs_app
from dases.lrs.validation import validate_statement
from dases.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
OULAD = SHARED / "data" / "oulad"
LMS_PROFILE = SHARED / "specs" / "dases-xapi" / "lms" / "profile" / "profile.jsonld"
LMS_TEMPLATES = {
    "http://schema.dases.eu/xapi/profile/common/templates/registered-course": REGISTERED,
    "http://schema.dases.eu/xapi/profile/common/templates/unregistered-course": UNREGISTERED,
}
HOME = "https://oulad.example.org"
LRS_USER, LRS_PASSWORD = "converter", "secret-secret-0123"
SAMPLE_STUDENTS = 200


# -- helpers ------------------------------------------------------------------------------------


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def convert_to_file(input_dir: Path, path: Path, **options: Any) -> ConversionReport:
    report = ConversionReport("oulad")
    started = time.perf_counter()
    with JsonLinesWriter(path) as writer:
        for statement in convert_oulad(input_dir, report, **options):
            writer.write(statement)
    report.seconds = time.perf_counter() - started
    return report


def write_table(path: Path, header: str, rows: list[str]) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def small_oulad(directory: Path, registrations: list[str], submissions: list[str]) -> Path:
    """An OULAD directory with two presentations, three assessments and the given rows."""
    directory.mkdir(parents=True, exist_ok=True)
    write_table(directory / "courses.csv", '"code_module","code_presentation","module_presentation_length"', ['"AAA","2013J","268"', '"BBB","2014B","234"'])
    write_table(
        directory / "assessments.csv",
        '"code_module","code_presentation","id_assessment","assessment_type","date","weight"',
        ['"AAA","2013J","1752","TMA","19","10"', '"AAA","2013J","1763","Exam","?","100"', '"BBB","2014B","15000","CMA","30","12.5"'],
    )
    write_table(directory / "studentRegistration.csv", '"code_module","code_presentation","id_student","date_registration","date_unregistration"', registrations)
    write_table(directory / "studentAssessment.csv", "id_student,id_assessment,date_submitted,is_banked,score", submissions)
    return directory


def lrs_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "lrs", database_url=database_url, lrs_basic_auth=f"{LRS_USER}:{LRS_PASSWORD}", node_secret="oulad-test-secret-0123456789")


@pytest.fixture
def lrs_server(tmp_path: Path, database_url: str) -> Iterator[str]:
    """A standalone LRS served on a loopback port; yields its xAPI endpoint."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_lrs_app(lrs_settings(tmp_path, database_url)), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the test LRS did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/xapi/"
    server.should_exit = True
    thread.join(timeout=10)


def stored(endpoint: str) -> list[dict[str, Any]]:
    headers = {"X-Experience-API-Version": "1.0.3"}
    with httpx.Client(auth=(LRS_USER, LRS_PASSWORD), headers=headers, timeout=30) as client:
        page = client.get(endpoint.rstrip("/") + "/statements", params={"limit": 1000}).json()
        found = page["statements"]
        while page["more"]:
            page = client.get(httpx.URL(endpoint).join(page["more"])).json()
            found.extend(page["statements"])
    return found


# -- the full OULAD tables, converted once for the module ---------------------------------------



@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ConversionReport]:
    path = tmp_path_factory.mktemp("oulad") / "oulad.jsonl.gz"
    return path, convert_to_file(OULAD, path)


def test_every_oulad_row_is_converted_or_skipped_with_a_reason(full: tuple[Path, ConversionReport]) -> None:
    path, report = full
    registrations = csv_rows(OULAD / "studentRegistration.csv")
    submissions = csv_rows(OULAD / "studentAssessment.csv")
    assert report.counts_add_up()
    assert report.tables["studentRegistration.csv"].input_rows == len(registrations) == 32_593
    assert report.tables["studentAssessment.csv"].input_rows == len(submissions) == 173_912
    assert report.input_rows == report.converted_rows + report.skipped_rows == len(registrations) + len(submissions)

    # The outcome the tables call for, worked out here from the rows themselves.
    no_date = [row for row in registrations if row["date_registration"] == "?" and row["date_unregistration"] == "?"]
    only_left = [row for row in registrations if row["date_registration"] == "?" and row["date_unregistration"] != "?"]
    assert dict(report.tables["studentRegistration.csv"].skipped) == {"missing-date-registration": len(no_date)}
    assert report.tables["studentRegistration.csv"].omitted == {"registered statement: missing date_registration": len(only_left)}
    assert dict(report.tables["studentAssessment.csv"].skipped) == {}  # a missing score keeps the submission
    omitted = report.tables["studentAssessment.csv"].omitted
    assert omitted["score: missing score"] == sum(row["score"] == "?" for row in submissions)
    assert omitted["days after due date: banked result"] == sum(row["is_banked"] == "1" for row in submissions)
    assert report.statements == {
        KIND_REGISTERED: sum(row["date_registration"] != "?" for row in registrations),
        KIND_UNREGISTERED: sum(row["date_unregistration"] != "?" for row in registrations),
        KIND_COMPLETED: len(submissions),
    }
    assert sum(1 for _ in read_jsonl(path)) == report.statement_count
    assert report.seconds < 60, f"the full conversion took {report.seconds:.1f} s"


def test_every_statement_is_valid_xapi_and_the_registrations_follow_a_dases_template(full: tuple[Path, ConversionReport]) -> None:
    path, report = full
    profile = Profile.load(LMS_PROFILE)
    templates: Counter[str] = Counter()
    ids: set[str] = set()
    for statement in read_jsonl(path):
        validate_statement(statement, "1.0.3")
        ids.add(statement["id"])
        assert statement["actor"] == {"account": {"homePage": HOME, "name": statement["actor"]["account"]["name"]}}
        assert statement["actor"]["account"]["name"].isdigit()
        if statement["verb"]["id"] == COMPLETED:
            # No DASES assessment profile file to match: its upstream "completed" template, by hand.
            assert statement["object"]["definition"]["type"] == ASSESSMENT and statement["timestamp"]
            assert [c["id"] for c in statement["context"]["contextActivities"]["category"]] == [ASSESSMENT_PROFILE_VERSION]
            score = statement["result"].get("score")
            if score is not None:
                assert score["scaled"] == score["raw"] / 100 and statement["result"]["success"] == (score["raw"] >= 40)
            templates["assessment completed"] += 1
        else:
            match = profile.match(statement)
            assert LMS_TEMPLATES[match.template] == statement["verb"]["id"]
            assert match.warnings == []  # the recommended dates and role are all there
            templates[match.label] += 1
    assert len(ids) == report.statement_count  # no two rows share an id
    assert templates == {
        "Registered to a course": report.statements[KIND_REGISTERED],
        "Unregistered to a course": report.statements[KIND_UNREGISTERED],
        "assessment completed": report.statements[KIND_COMPLETED],
    }


def test_a_second_conversion_gives_the_same_statements(full: tuple[Path, ConversionReport], tmp_path: Path) -> None:
    path, report = full
    again = tmp_path / "again.jsonl.gz"
    second = convert_to_file(OULAD, again)
    assert second.as_dict() | {"seconds": 0} == report.as_dict() | {"seconds": 0}
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_200_students_import_into_the_lrs_with_no_reject(full: tuple[Path, ConversionReport], tmp_path: Path, database_url: str) -> None:
    path, _report = full
    students = sorted({row["id_student"] for row in csv_rows(OULAD / "studentRegistration.csv")}, key=int)
    sample = set(students[:: len(students) // SAMPLE_STUDENTS][:SAMPLE_STUDENTS])
    chosen = tmp_path / "sample.jsonl"
    with chosen.open("w", encoding="utf-8") as handle:
        count = 0
        for statement in read_jsonl(path):
            if statement["actor"]["account"]["name"] in sample:
                handle.write(json.dumps(statement) + "\n")
                count += 1
    assert len(sample) == SAMPLE_STUDENTS and count > 3 * SAMPLE_STUDENTS
    env = {**os.environ, "DASES_DATA_DIR": str(tmp_path / "lrs"), "DASES_DATABASE_URL": database_url, "DASES_NODE_SECRET": "oulad-test-secret-0123456789"}
    for expected in (f"stored {count} statements, 0 already present, 0 rejected", f"stored 0 statements, {count} already present, 0 rejected"):
        done = subprocess.run([sys.executable, "-m", "dases", "lrs", "import", str(chosen)], capture_output=True, text=True, env=env, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert expected in " ".join(done.stderr.split())


# -- the decisions, on small tables -------------------------------------------------------------


def test_presentation_codes_give_the_assumed_start_days() -> None:
    assert presentation_start("2013B") == date(2013, 2, 1)
    assert presentation_start("2014J") == date(2014, 10, 1)
    assert instant(date(2013, 10, 1), -159) == "2013-04-25T00:00:00Z"
    for wrong in ("2013", "2013X", "13J", "2013j"):
        with pytest.raises(ValueError):
            presentation_start(wrong)


def test_statement_ids_are_uuid5_over_the_row_identity() -> None:
    for name in ("x", f"{HOME}|submission|1752|11391", "é|ü"):
        assert oulad.uuid5(name) == str(uuid.uuid5(oulad.NAMESPACE, name))


def test_rows_that_cannot_be_converted_are_skipped_with_their_reason(tmp_path: Path) -> None:
    source = small_oulad(
        tmp_path / "in",
        registrations=[
            '"AAA","2013J","1","-10","?"',  # 2: registered only
            '"AAA","2013J","2","-5","30"',  # 3: registered, then unregistered
            '"AAA","2013J","3","?","12"',  # 4: unregistered only: the registration day is missing
            '"AAA","2013J","4","?","?"',  # 5: nothing to convert
            '"AAA","2013X","5","-1","?"',  # 6: not a presentation code
            '"AAA","2013J","abc","-1","?"',  # 7: not a student id
            '"AAA","2013J","8","soon","?"',  # 8: not a day
            '"AAA","2013J"',  # 9: too short
            '"BBB","2014B","9","0",""',  # 10: empty counts as missing
        ],
        submissions=[
            "1,1752,18,0,78",  # 2: one day early
            "1,1752,25,0,?",  # 3: no score: converted without one
            "2,1752,-1,1,39",  # 4: banked, failed
            "2,1763,230,0,55",  # 5: exam with no due date
            "9,15000,31,0,100",  # 6: the other presentation, one day late
            "1,9999,18,0,78",  # 7: no such assessment
            "1,1752,18,0,101",  # 8: a score over 100
            "1,1752,18,2,78",  # 9: is_banked is 0 or 1
            "1,1752,?,0,78",  # 10: no submission day
        ],
    )
    out = tmp_path / "out.jsonl"
    report = convert_to_file(source, out)
    statements = list(read_jsonl(out))
    assert report.counts_add_up()
    registrations, submissions = report.tables["studentRegistration.csv"], report.tables["studentAssessment.csv"]
    assert (registrations.input_rows, registrations.converted) == (9, 4)
    assert registrations.skipped == {"missing-date-registration": 1, "unknown-presentation": 1, "invalid-id-student": 1, "invalid-date-registration": 1, "malformed-row": 1}
    assert registrations.examples == {"missing-date-registration": [5], "unknown-presentation": [6], "invalid-id-student": [7], "invalid-date-registration": [8], "malformed-row": [9]}
    assert registrations.omitted == {"registered statement: missing date_registration": 1}
    assert (submissions.input_rows, submissions.converted) == (9, 5)
    assert submissions.skipped == {"unknown-assessment": 1, "invalid-score": 1, "invalid-is-banked": 1, "missing-date-submitted": 1}
    assert submissions.omitted == {"score: missing score": 1, "days after due date: banked result": 1, "days after due date: no due date": 1}
    assert report.statements == {KIND_REGISTERED: 3, KIND_UNREGISTERED: 2, KIND_COMPLETED: 5}
    assert len(statements) == report.statement_count == 10
    for statement in statements:
        validate_statement(statement, "1.0.3")

    lms = [(s["actor"]["account"]["name"], s["verb"]["id"], s["timestamp"]) for s in statements if s["verb"]["id"] != COMPLETED]
    assert lms == [
        ("1", REGISTERED, "2013-09-21T00:00:00Z"),
        ("2", REGISTERED, "2013-09-26T00:00:00Z"),
        ("2", UNREGISTERED, "2013-10-31T00:00:00Z"),
        ("3", UNREGISTERED, "2013-10-13T00:00:00Z"),
        ("9", REGISTERED, "2014-02-01T00:00:00Z"),
    ]
    done = {(s["actor"]["account"]["name"], s["object"]["id"].rsplit("/", 1)[1], s["result"]["extensions"].get(DAYS_AFTER_DUE_DATE)): s for s in statements if s["verb"]["id"] == COMPLETED}
    assert set(done) == {("1", "1752", -1), ("1", "1752", 6), ("2", "1752", None), ("2", "1763", None), ("9", "15000", 1)}
    on_time = done[("1", "1752", -1)]
    assert on_time["result"]["score"] == {"raw": 78, "min": 0, "max": 100, "scaled": 0.78} and on_time["result"]["success"] is True
    assert on_time["result"]["extensions"][IS_BANKED] is False
    assert on_time["context"]["extensions"][PRESENTATION_DAY] == 18 and on_time["timestamp"] == "2013-10-19T00:00:00Z"
    assert on_time["context"]["contextActivities"]["parent"][0]["id"] == f"{HOME}/xapi/activities/course/AAA/2013J"
    assert on_time["object"]["definition"]["extensions"][oulad.DUE_DATE] == "2013-10-20T00:00:00Z"
    assert "score" not in done[("1", "1752", 6)]["result"] and "success" not in done[("1", "1752", 6)]["result"]
    banked = done[("2", "1752", None)]
    assert banked["result"]["extensions"] == {IS_BANKED: True} and banked["result"]["success"] is False
    assert done[("9", "15000", 1)]["object"]["definition"]["extensions"][oulad.WEIGHT] == 12.5
    # One learner's statements in one presentation share the xAPI registration (the enrolment).
    learner_1 = {s["context"]["registration"] for s in statements if s["actor"]["account"]["name"] == "1"}
    assert len(learner_1) == 1


def test_the_home_page_names_the_accounts_and_changes_the_ids(tmp_path: Path) -> None:
    source = small_oulad(tmp_path / "in", registrations=['"AAA","2013J","1","-10","?"'], submissions=["1,1752,18,0,78"])
    first = list(convert_oulad(source, ConversionReport("oulad")))
    again = list(convert_oulad(source, ConversionReport("oulad")))
    other = list(convert_oulad(source, ConversionReport("oulad"), home_page="https://vle.example.ac.uk/"))
    assert first == again
    assert {s["actor"]["account"]["homePage"] for s in other} == {"https://vle.example.ac.uk"}
    assert not {s["id"] for s in first} & {s["id"] for s in other}
    with pytest.raises(InvalidInput, match="home page"):
        OuladConverter(source, home_page="oulad.example.org")


def test_a_directory_that_is_not_oulad_is_refused_with_what_is_missing(tmp_path: Path) -> None:
    source = small_oulad(tmp_path / "in", registrations=[], submissions=[])
    write_table(source / "studentAssessment.csv", "id_student,id_assessment,score", ["1,1752,78"])
    with pytest.raises(InvalidInput, match="studentAssessment.csv has no column date_submitted, is_banked"):
        OuladConverter(source)
    write_table(source / "studentAssessment.csv", "id_student,id_assessment,date_submitted,is_banked,score", [])
    (source / "assessments.csv").unlink()
    with pytest.raises(InvalidInput, match="assessments.csv is missing"):
        OuladConverter(source)


def test_the_report_adds_up_and_prints_as_json_and_as_a_table() -> None:
    report = ConversionReport("oulad")
    report.converted("a.csv", KIND_REGISTERED, KIND_UNREGISTERED)
    report.skipped("a.csv", "missing-date-registration", 3)
    report.converted("b.csv", KIND_COMPLETED)
    report.omitted("b.csv", "score: missing score")
    assert report.counts_add_up()
    data = json.loads(report.to_json())
    assert data["input_rows"] == 3 and data["converted_rows"] == 2 and data["skipped_rows"] == 1 and data["statements"] == 3
    assert data["tables"]["a.csv"]["skipped"] == {"missing-date-registration": 1}
    assert data["tables"]["a.csv"]["skipped_examples"] == {"missing-date-registration": [3]}
    assert data["tables"]["b.csv"]["omitted"] == {"score: missing score": 1}
    assert report.rich_table().row_count >= 5
    report.tables["a.csv"].converted += 1  # a row counted twice
    assert not report.counts_add_up()


# -- the writers and the command ----------------------------------------------------------------


def test_the_lrs_writer_posts_batches_and_fails_with_the_lrs_message(tmp_path: Path, database_url: str) -> None:
    source = small_oulad(tmp_path / "in", registrations=[f'"AAA","2013J","{n}","-{n % 50}",""' for n in range(1, 121)], submissions=[])
    statements = list(convert_oulad(source, ConversionReport("oulad")))
    assert len(statements) == 120
    with TestClient(create_lrs_app(lrs_settings(tmp_path, database_url))) as client:
        posts: list[httpx.Request] = []
        client.event_hooks["request"].append(posts.append)
        with LrsWriter("http://testserver/xapi/", (LRS_USER, LRS_PASSWORD), batch=50, client=client) as writer:
            for statement in statements:
                writer.write(statement)
        assert writer.written == 120
        assert [len(json.loads(request.read())) for request in posts] == [50, 50, 20]
        assert {request.headers["X-Experience-API-Version"] for request in posts} == {"1.0.3"}
        assert {request.url.path for request in posts} == {"/xapi/statements"}
        with LrsWriter("http://testserver/xapi/statements", (LRS_USER, LRS_PASSWORD), client=client) as writer:
            for statement in statements:  # the same ids, the same content: accepted, stored once
                writer.write(statement)
        listed = client.get("/xapi/statements", params={"limit": 500}, headers={"X-Experience-API-Version": "1.0.3"}, auth=(LRS_USER, LRS_PASSWORD)).json()
        assert len(listed["statements"]) == 120 and not listed["more"]

        unknown = LrsWriter("http://testserver/xapi/", (LRS_USER, "wrong-password"), client=client)
        with pytest.raises(UpstreamError, match=r"refused statements 1 to 1 \(HTTP 401\): unknown LRS key or wrong secret;"), unknown as writer:
            writer.write(statements[0])
        broken = {**statements[0], "id": str(uuid.uuid4()), "timestamp": "yesterday"}
        rule = r"HTTP 400\): statements\[0\]\.timestamp is invalid \(iso8601-timestamp\)"
        with pytest.raises(UpstreamError, match=rule) as refused, LrsWriter("http://testserver/xapi/", (LRS_USER, LRS_PASSWORD), client=client) as writer:
            writer.write(broken)
        assert "0 statements were stored before" in refused.value.detail


def test_the_lrs_message_is_its_detail_or_message_or_text() -> None:
    assert lrs_message(httpx.Response(400, json={"detail": "bad verb"})) == "bad verb"
    assert lrs_message(httpx.Response(400, json={"message": "bad actor"})) == "bad actor"
    assert lrs_message(httpx.Response(502, text="gateway down")) == "gateway down"
    assert lrs_message(httpx.Response(503)) == "Service Unavailable"


def test_convert_refuses_an_unknown_source_naming_those_that_exist(tmp_path: Path) -> None:
    for source, says in (("xls", "no converter for 'xls'"),):
        result = CliRunner().invoke(app, ["convert", "--from", source, str(tmp_path), "--to", str(tmp_path / "out.jsonl")], env={"COLUMNS": "300"})
        assert result.exit_code == 2, result.output
        assert says in result.output and "available: oulad" in result.output and "moodle" in result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_convert_writes_a_gzipped_file_and_the_report(tmp_path: Path) -> None:
    source = small_oulad(tmp_path / "in", registrations=['"AAA","2013J","1","-10","?"', '"AAA","2013J","4","?","?"'], submissions=["1,1752,18,0,78"])
    out = tmp_path / "out.jsonl.gz"
    args = ["convert", "--from", "oulad", str(source), "--to", str(out), "--home-page", "https://vle.example.ac.uk", "--report-json", "-"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["converted_rows"] == 2 and report["skipped_rows"] == 1 and report["counts_add_up"] is True
    assert "missing-date-registration" in result.output and "2 statements written to" in result.output
    assert [s["actor"]["account"]["homePage"] for s in read_jsonl(out)] == ["https://vle.example.ac.uk"] * 2
    assert not list(tmp_path.glob("*.part"))

    missing = CliRunner().invoke(app, ["convert", "--from", "oulad", str(tmp_path), "--to", str(out)], env={"COLUMNS": "200"})
    assert missing.exit_code == 2 and "studentRegistration.csv is missing" in missing.output


def test_convert_posts_to_an_lrs_and_says_why_it_was_refused(tmp_path: Path, lrs_server: str) -> None:
    source = small_oulad(tmp_path / "in", registrations=['"AAA","2013J","1","-10","20"'], submissions=["1,1752,18,0,78", "1,1763,230,0,55"])
    args = ["convert", "--from", "oulad", str(source), "--to", lrs_server]
    result = CliRunner().invoke(app, [*args, "--lrs-auth", f"{LRS_USER}:{LRS_PASSWORD}"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"4 statements posted to the LRS at {lrs_server}" in result.output
    again = CliRunner().invoke(app, args, env={"COLUMNS": "200", "DASES_LRS_AUTH": f"{LRS_USER}:{LRS_PASSWORD}"})
    assert again.exit_code == 0, again.output
    assert sorted(s["verb"]["id"] for s in stored(lrs_server)) == sorted([REGISTERED, UNREGISTERED, COMPLETED, COMPLETED])

    refused = CliRunner().invoke(app, [*args, "--lrs-auth", f"{LRS_USER}:nope"], env={"COLUMNS": "300"})
    assert refused.exit_code == 1
    said = " ".join(refused.output.split())
    assert "refused statements 1 to 4 (HTTP 401): unknown LRS key or wrong secret" in said and "stores nothing twice" in said
