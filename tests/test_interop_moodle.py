"""Moodle's standard log to xAPI: every row of a mapped event becomes one valid xAPI 1.0.3 statement
(following its DASES LMS template where one applies), every other row is skipped with its reason,
the counts add up to the rows, `other` is read whether JSON or PHP-serialized (and never run nor
copied), and the same export always gives the same statements.

The rows are written by hand, one or two per mapped event, in the test's temporary directory.
"""

from __future__ import annotations

import csv
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dases.errors import InvalidInput
from dases.interop import moodle
from dases.interop.moodle import (
    ACCESSED,
    ADL_LMS_PROFILE,
    ENROL_METHOD,
    EVENT_NAME,
    FILE,
    LOG_ID,
    WEBPAGE,
    MoodleConverter,
    UnreadableOther,
    convert_moodle,
    parse_other,
    php_unserialize,
)
from dases.interop.oulad import (
    ASSESSMENT,
    ASSESSMENT_PROFILE_VERSION,
    COMPLETED,
    REGISTERED,
    UNREGISTERED,
)
from dases.interop.output import LrsWriter
from dases.interop.profiles import Profile
from dases.interop.report import ConversionReport
from dases.lrs.app import create_lrs_app
from dases.lrs.validation import validate_statement
from dases.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
LMS_PROFILE = SHARED / "specs" / "dases-xapi" / "lms" / "profile" / "profile.jsonld"
HOME = "https://moodle.example.org"
TABLE = "logstore_standard_log.csv"

#: The columns of mdl_logstore_standard_log, in the table's order.
COLUMNS = (
    "id", "eventname", "component", "action", "target", "objecttable", "objectid", "crud", "edulevel", "contextid",
    "contextlevel", "contextinstanceid", "userid", "courseid", "relateduserid", "anonymous", "other", "timecreated",
    "origin", "ip", "realuserid",
)
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def row(log_id: int, eventname: str, **values: Any) -> dict[str, Any]:
    """A log row as Moodle writes it: the defaults of a learner's web request in course 7."""
    parts = eventname.split("\\")
    component = parts[1] if len(parts) > 1 else "core"
    base = {
        "id": log_id, "eventname": eventname, "component": component, "action": "viewed", "target": "course",
        "objecttable": "", "objectid": "", "crud": "r", "edulevel": 2, "contextid": 30, "contextlevel": 50,
        "contextinstanceid": 7, "userid": 5, "courseid": 7, "relateduserid": "", "anonymous": 0, "other": "N;",
        "timecreated": T0 + log_id, "origin": "web", "ip": "192.0.2.55", "realuserid": "",
    }
    return base | values


def write_log(path: Path, rows: list[dict[str, Any]], *, delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def convert(path: Path, **options: Any) -> tuple[list[dict[str, Any]], ConversionReport]:
    report = ConversionReport("moodle")
    statements = list(convert_moodle(path, report, **options))
    return statements, report


#: One row per mapped event, `other` in both of Moodle's formats.
MAPPED = [
    row(1, "\\core\\event\\user_enrolment_created", action="created", target="user_enrolment", objecttable="user_enrolments", objectid=11, userid=2, relateduserid=5, other='a:1:{s:5:"enrol";s:6:"manual";}'),
    row(2, "\\core\\event\\course_viewed"),
    row(3, "\\mod_page\\event\\course_module_viewed", objecttable="page", objectid=3, contextlevel=70, contextinstanceid=42),
    row(4, "\\mod_resource\\event\\course_module_viewed", objecttable="resource", objectid=4, contextlevel=70, contextinstanceid=43),
    row(5, "\\mod_quiz\\event\\course_module_viewed", objecttable="quiz", objectid=2, contextlevel=70, contextinstanceid=44),
    row(6, "\\mod_quiz\\event\\attempt_started", objecttable="quiz_attempts", objectid=31, contextlevel=70, contextinstanceid=44, relateduserid=5, other='a:1:{s:6:"quizid";i:2;}'),
    row(7, "\\mod_quiz\\event\\attempt_submitted", objecttable="quiz_attempts", objectid=31, contextlevel=70, contextinstanceid=44, relateduserid=5, other='a:2:{s:11:"submitterid";i:5;s:6:"quizid";i:2;}'),
    row(8, "\\mod_assign\\event\\assessable_submitted", objecttable="assign_submission", objectid=12, contextlevel=70, contextinstanceid=45, other='a:1:{s:19:"submission_editable";b:0;}'),
    row(9, "\\core\\event\\course_module_completion_updated", objecttable="course_modules_completion", objectid=9, contextlevel=70, contextinstanceid=44, relateduserid=5, other='{"relateduserid":5,"overrideby":null,"completionstate":2}'),
    row(10, "\\core\\event\\course_completed", objecttable="course_completions", objectid=3, relateduserid=5, other='a:1:{s:13:"relateduserid";i:5;}'),
    row(11, "\\core\\event\\user_loggedin", objecttable="user", objectid=5, courseid=0, contextlevel=10, contextinstanceid=0, other='a:1:{s:8:"username";s:5:"alice";}'),
    row(12, "\\mod_forum\\event\\discussion_created", objecttable="forum_discussions", objectid=8, contextlevel=70, contextinstanceid=46, other='{"forumid":3}'),
    row(13, "\\mod_forum\\event\\post_created", objecttable="forum_posts", objectid=20, contextlevel=70, contextinstanceid=46, other='a:3:{s:12:"discussionid";i:8;s:7:"forumid";i:3;s:9:"forumtype";s:7:"general";}'),
    row(14, "\\mod_forum\\event\\discussion_viewed", objecttable="forum_discussions", objectid=8, contextlevel=70, contextinstanceid=46),
    row(15, "\\core\\event\\user_enrolment_deleted", action="deleted", target="user_enrolment", objectid=11, userid=2, relateduserid=5, other='{"userenrolment":{"id":11,"status":0},"enrol":"manual"}'),
    row(16, "\\core\\event\\user_loggedout", objecttable="user", objectid=5, courseid=0, contextlevel=10, contextinstanceid=0, other='{"sessionid":"abc123"}'),
]


@pytest.fixture
def mapped(tmp_path: Path) -> tuple[list[dict[str, Any]], ConversionReport]:
    return convert(write_log(tmp_path / TABLE, MAPPED))


def test_every_mapped_event_becomes_one_valid_statement(mapped: tuple[list[dict[str, Any]], ConversionReport]) -> None:
    statements, report = mapped
    assert report.counts_add_up() and report.skipped_rows == 0
    assert report.input_rows == report.converted_rows == len(statements) == len(MAPPED)
    assert report.statements == {
        "lms: registered to a course": 1,
        "lms: unregistered to a course": 1,
        "lms: accessed a page": 2,
        "lms: accessed a file": 1,
        "xapi: accessed a course module": 1,
        "xapi: attempted an assessment": 1,
        "assessment: completed": 2,
        "xapi: completed a course module": 1,
        "xapi: completed a course": 1,
        "xapi: logged in": 1,
        "xapi: logged out": 1,
        "xapi: created a forum discussion": 1,
        "xapi: replied to a forum discussion": 1,
        "xapi: accessed a forum discussion": 1,
    }
    assert report.tables[TABLE].omitted == {"file type: not in the log": 1}
    for source, statement in zip(MAPPED, statements, strict=True):
        validate_statement(statement, "1.0.3")
        assert statement["id"] == str(uuid.uuid5(moodle.NAMESPACE, f"{HOME}|log|{source['id']}"))
        assert statement["actor"] == {"account": {"homePage": HOME, "name": "5"}}  # the learner, never the teacher
        assert statement["timestamp"] == moodle.instant(T0 + source["id"])
        assert statement["context"]["extensions"][EVENT_NAME] == source["eventname"]
        assert statement["context"]["extensions"][LOG_ID] == source["id"]
        assert statement["context"]["platform"] == "Moodle"
    text = json.dumps(statements)
    assert "alice" not in text and "192.0.2.55" not in text and "abc123" not in text  # other and ip are not copied


def test_the_lms_statements_follow_their_dases_templates(mapped: tuple[list[dict[str, Any]], ConversionReport]) -> None:
    statements, _report = mapped
    profile = Profile.load(LMS_PROFILE)
    by_log = {s["context"]["extensions"][LOG_ID]: s for s in statements}
    expected = {1: "registered-course", 15: "unregistered-course", 2: "accessed-page", 3: "accessed-page", 4: "accessed-file"}
    for log_id, template in expected.items():
        match = profile.match(by_log[log_id])
        assert match.template == f"http://schema.dases.eu/xapi/profile/common/templates/{template}"
    registered, unregistered = by_log[1], by_log[15]
    assert registered["verb"]["id"] == REGISTERED and unregistered["verb"]["id"] == UNREGISTERED
    assert registered["object"]["id"] == unregistered["object"]["id"] == f"{HOME}/xapi/activities/course/7"
    assert registered["object"]["definition"]["moreInfo"] == f"{HOME}/course/view.php?id=7"
    assert registered["context"]["extensions"][ENROL_METHOD] == "manual"  # PHP-serialized other
    assert unregistered["context"]["extensions"][ENROL_METHOD] == "manual"  # JSON other
    course_page = by_log[2]["object"]
    assert course_page["definition"]["type"] == WEBPAGE and course_page["definition"]["extensions"] == {moodle.ACROSSX_TYPE: "course"}
    assert profile.match(by_log[2]).warnings == []
    assert by_log[3]["object"]["id"] == f"{HOME}/xapi/activities/course-module/42"
    assert by_log[3]["object"]["definition"]["moreInfo"] == f"{HOME}/mod/page/view.php?id=42"
    assert by_log[4]["object"]["definition"]["type"] == FILE
    for log_id in (2, 3, 4):
        assert ADL_LMS_PROFILE in [c["id"] for c in by_log[log_id]["context"]["contextActivities"]["category"]]
        assert by_log[log_id]["context"]["contextActivities"]["parent"][0]["id"] == f"{HOME}/xapi/activities/course/7"
    # One learner's statements in one course share the xAPI registration (the enrolment).
    assert len({s["context"]["registration"] for s in statements if "registration" in s["context"]}) == 1
    assert "registration" not in by_log[11]["context"]  # logging in happens outside any course


def test_submissions_completion_and_forum_events_say_what_happened(mapped: tuple[list[dict[str, Any]], ConversionReport]) -> None:
    statements, _report = mapped
    by_log = {s["context"]["extensions"][LOG_ID]: s for s in statements}
    quiz = f"{HOME}/xapi/activities/course-module/44"
    for log_id in (7, 8):  # the DASES assessment "completed" (no profile file: its determining properties by hand)
        submitted = by_log[log_id]
        assert submitted["verb"]["id"] == COMPLETED and submitted["object"]["definition"]["type"] == ASSESSMENT
        assert [c["id"] for c in submitted["context"]["contextActivities"]["category"]] == [ASSESSMENT_PROFILE_VERSION]
        assert submitted["result"] == {"completion": True}
    assert by_log[7]["object"]["id"] == by_log[6]["object"]["id"] == by_log[5]["object"]["id"] == quiz
    assert by_log[6]["verb"]["id"] == moodle.ATTEMPTED and by_log[5]["verb"]["id"] == ACCESSED
    completion = by_log[9]
    assert completion["object"] == {"objectType": "Activity", "id": quiz}  # the event does not name the module
    assert completion["result"] == {"completion": True, "success": True}  # completionstate 2: complete, passed
    assert by_log[10]["object"]["id"] == f"{HOME}/xapi/activities/course/7" and by_log[10]["verb"]["id"] == COMPLETED
    assert by_log[11]["verb"]["id"] == moodle.LOGGED_IN and by_log[11]["object"]["id"] == HOME
    assert by_log[16]["verb"]["id"] == moodle.LOGGED_OUT
    discussion = f"{HOME}/xapi/activities/forum-discussion/8"
    for log_id, verb in ((12, moodle.CREATED), (13, moodle.REPLIED), (14, ACCESSED)):
        assert by_log[log_id]["verb"]["id"] == verb and by_log[log_id]["object"]["id"] == discussion
        activities = by_log[log_id]["context"]["contextActivities"]
        assert activities["parent"][0]["id"] == f"{HOME}/xapi/activities/course-module/46"
        assert activities["grouping"][0]["id"] == f"{HOME}/xapi/activities/course/7"


def test_rows_that_cannot_be_converted_are_skipped_with_their_reason(tmp_path: Path) -> None:
    viewed = "\\core\\event\\course_viewed"
    completion = "\\core\\event\\course_module_completion_updated"
    rows = [
        row(1, viewed),  # line 2: converted
        row(2, "\\core\\event\\dashboard_viewed"),  # 3
        row(3, viewed, anonymous=1),  # 4
        row(4, viewed, realuserid=2),  # 5: an administrator "logged in as" the learner
        row(5, viewed, userid=0),  # 6: not logged in
        row(6, viewed, userid=1),  # 7: the guest account
        row(7, viewed, timecreated="yesterday"),  # 8
        row(8, viewed, timecreated="NULL"),  # 9
        row(9, "\\mod_forum\\event\\post_created", contextinstanceid=46, other='O:8:"stdClass":1:{s:1:"a";i:1;}'),  # 10
        row(10, completion, relateduserid=5, contextinstanceid=44, other='{"completionstate":0}'),  # 11: back to incomplete
        row(11, completion, relateduserid=5, contextinstanceid=44, other='{"overrideby":null}'),  # 12
        row(12, "Course viewed"),  # 13: a display name, not an event class
        row(13, "\\core\\event\\user_enrolment_created", relateduserid="NULL", other="N;"),  # 14: enrolled nobody
        row(14, viewed, courseid=0),  # 15
        row(15, viewed, id="x"),  # 16
        row(16, "\\core\\event\\user_graded", relateduserid=5),  # 17: no maximum grade in the log
    ]
    path = write_log(tmp_path / TABLE, rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("17,\\core\\event\\course_viewed,core\n\n")  # line 18: too few columns; a blank line is no row
    statements, report = convert(path)
    table = report.tables[TABLE]
    assert report.counts_add_up()
    assert (table.input_rows, table.converted, len(statements)) == (17, 1, 1)
    assert table.skipped == {
        "unsupported-event:\\core\\event\\dashboard_viewed": 1,
        "anonymous-event": 1,
        "logged-in-as": 1,
        "missing-user": 2,
        "guest-user": 1,
        "invalid-timecreated": 1,
        "missing-timecreated": 1,
        "unreadable-other": 1,
        "completion-state-incomplete": 1,
        "missing-completion-state": 1,
        "invalid-eventname": 1,
        "missing-courseid": 1,
        "invalid-id": 1,
        "unsupported-event:\\core\\event\\user_graded": 1,
        "malformed-row": 1,
    }
    assert table.examples["missing-user"] == [6, 14] and table.examples["malformed-row"] == [18]
    assert table.examples["unreadable-other"] == [10]


def test_the_guest_account_can_be_kept(tmp_path: Path) -> None:
    path = write_log(tmp_path / TABLE, [row(1, "\\core\\event\\course_viewed", userid=1)])
    assert convert(path)[1].skipped_rows == 1
    report = ConversionReport("moodle")
    assert len(list(MoodleConverter(path, guest_user_id=None).statements(report))) == 1


def test_the_same_export_gives_the_same_statements_whatever_its_form(tmp_path: Path) -> None:
    plain, _report = convert(write_log(tmp_path / "plain" / TABLE, MAPPED))
    again, _report = convert(tmp_path / "plain" / TABLE)
    gzipped, _report = convert(write_log(tmp_path / "gz" / (TABLE + ".gz"), MAPPED))
    tabbed, _report = convert(write_log(tmp_path / "tab" / TABLE, MAPPED, delimiter="\t"))
    # A MySQL dump escapes backslashes: \\core\\event\\course_viewed is the same event.
    doubled_rows = [r | {"eventname": r["eventname"].replace("\\", "\\\\")} for r in MAPPED]
    doubled, _report = convert(write_log(tmp_path / "doubled" / TABLE, doubled_rows))
    for other in (again, gzipped, tabbed):
        assert other == plain
    assert [s["id"] for s in doubled] == [s["id"] for s in plain]
    elsewhere, _report = convert(tmp_path / "plain" / TABLE, home_page="https://vle.example.ac.uk/")
    assert {s["actor"]["account"]["homePage"] for s in elsewhere} == {"https://vle.example.ac.uk"}
    assert not {s["id"] for s in plain} & {s["id"] for s in elsewhere}


def test_a_directory_is_read_file_by_file(tmp_path: Path) -> None:
    write_log(tmp_path / "in" / "2023.csv", MAPPED[:3])
    write_log(tmp_path / "in" / "2024.csv.gz", MAPPED[3:])
    (tmp_path / "in" / "notes.txt").write_text("not a log", encoding="utf-8")
    converter = MoodleConverter(tmp_path / "in")
    assert converter.estimated_rows() == len(MAPPED)
    report = ConversionReport("moodle")
    assert len(list(converter.statements(report, on_rows=lambda _n: None))) == len(MAPPED)
    assert {name: table.input_rows for name, table in report.tables.items()} == {"2023.csv": 3, "2024.csv.gz": len(MAPPED) - 3}


def test_a_file_that_is_not_the_standard_log_is_refused_with_what_is_missing(tmp_path: Path) -> None:
    other = tmp_path / "grades.csv"
    other.write_text("id,userid,finalgrade\n1,5,80\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no column eventname, component, objectid"):
        MoodleConverter(other)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="holds no CSV export"):
        MoodleConverter(empty)
    with pytest.raises(InvalidInput, match="home page"):
        MoodleConverter(other, home_page="moodle.example.org")


# -- `other` ------------------------------------------------------------------------------------


def test_php_serialized_values_are_read_as_data_only() -> None:
    assert php_unserialize("N;") is None
    assert php_unserialize('a:4:{s:1:"a";i:-3;s:1:"b";d:0.5;s:1:"c";b:1;i:7;N;}') == {"a": -3, "b": 0.5, "c": True, "7": None}
    assert php_unserialize('a:2:{i:0;s:3:"one";i:1;a:1:{s:1:"x";s:0:"";}}') == ["one", {"x": ""}]
    assert php_unserialize('s:6:"héllo";') == "héllo"  # lengths count bytes: é is two
    for refused in ('s:5:"héllo";', 'O:8:"stdClass":0:{}', 'a:1:{s:1:"a";r:1;}', 'C:3:"Foo":0:{}', "d:INF;", 's:9:"short";', 'a:2:{i:0;i:1;}', "i:1", "i:1;i:2;", "b:2;"):
        with pytest.raises(UnreadableOther):
            php_unserialize(refused)
    nested = "a:1:{i:0;" * 40 + "N;" + "}" * 40
    with pytest.raises(UnreadableOther, match="too deep"):
        php_unserialize(nested)


def test_other_is_read_whether_json_or_php() -> None:
    assert parse_other('{"completionstate":1}') == parse_other('a:1:{s:15:"completionstate";i:1;}') == {"completionstate": 1}
    for empty in ("", "NULL", "N;", "null", "[]", "a:0:{}"):
        assert parse_other(empty) == {}
    for unreadable in ('{"broken"', '"a string"', "a:1:{"):
        with pytest.raises(UnreadableOther):
            parse_other(unreadable)


# -- an LRS ----------------------------------------------------------------------------------------


def test_an_lrs_stores_every_statement(mapped: tuple[list[dict[str, Any]], ConversionReport], tmp_path: Path, database_url: str) -> None:
    statements, _report = mapped
    settings = Settings(data_dir=tmp_path / "lrs", database_url=database_url, lrs_basic_auth="converter:secret-secret-0123", node_secret="moodle-test-secret-0123456789")
    with TestClient(create_lrs_app(settings)) as client:
        for _ in range(2):  # the second time, the same ids and contents: stored once
            with LrsWriter("http://testserver/xapi/", ("converter", "secret-secret-0123"), client=client) as writer:
                for statement in statements:
                    writer.write(statement)
            assert writer.written == len(statements)
        listed = client.get("/xapi/statements", params={"limit": 100}, headers={"X-Experience-API-Version": "1.0.3"}, auth=("converter", "secret-secret-0123")).json()
        assert len(listed["statements"]) == len(statements)


def test_dases_convert_from_moodle_writes_the_statements_and_the_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dases.cli import app

    source = write_log(tmp_path / "log.csv", [row(1, "\\core\\event\\course_viewed"), row(2, "\\core\\event\\not_mapped")])
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["convert", "--from", "moodle", str(source), "--to", str(out), "--report-json", "-"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["converted_rows"] == 1 and report["skipped_rows"] == 1 and report["counts_add_up"] is True
    [statement] = [json.loads(line) for line in out.read_text().splitlines()]
    assert statement["actor"]["account"]["homePage"] == "https://moodle.example.org"
