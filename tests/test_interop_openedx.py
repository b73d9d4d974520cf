"""Open edX tracking logs to xAPI: every supported event kind becomes one valid xAPI 1.0.3 statement
(following the DASES LMS template where one exists, the video profile for videos), every other line
is skipped with its reason and the counts add up to the lines of the log, ids are the same from one
run to the next, gzipped logs read like plain ones, and an LRS stores the statements with no reject.

The events are written by hand, one per kind, in the shapes the LMS logs them (browser payloads as
JSON strings, server payloads as objects); the benchmark (`bench/convert.py`) generates volume.
"""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dases.errors import InvalidInput
from dases.interop import openedx
from dases.interop.openedx import (
    ACCESSED,
    ANSWERED,
    COMPLETED,
    COURSE,
    ENDING_POINT,
    ENROLLMENT_MODE,
    INITIALIZED,
    INTERACTED,
    NAVIGATED,
    NAVIGATION,
    PAGE_TYPE,
    PAUSED,
    PLAYED,
    QUESTION,
    REGISTERED,
    RESOURCE,
    ROLE,
    SEEKED,
    STARTING_POSITION,
    TERMINATED,
    UNREGISTERED,
    VIDEO,
    VIDEO_CC_ENABLED,
    VIDEO_LENGTH,
    VIDEO_PROFILE,
    VIDEO_SESSION,
    VIDEO_SPEED,
    VIDEO_TIME,
    VIDEO_TIME_FROM,
    VIDEO_TIME_TO,
    WEBPAGE,
    OpenEdxConverter,
    block_usage_key,
    convert_openedx,
    read_lines,
)
from dases.interop.output import LrsWriter
from dases.interop.profiles import Profile
from dases.interop.report import ConversionReport
from dases.lrs.app import create_lrs_app
from dases.lrs.validation import validate_statement
from dases.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
LMS_PROFILE = SHARED / "specs" / "dases-xapi" / "lms" / "profile" / "profile.jsonld"
TEMPLATES = "http://schema.dases.eu/xapi/profile/common/templates/"
HOME = "https://lms.example.org"
COURSE_ID = "course-v1:DemoX+CS101+2024_T1"
VIDEO_ID = "0b9e39477cf34507a7a48f74be381fdd"
VIDEO_IRI = f"{HOME}/xblock/block-v1:DemoX+CS101+2024_T1+type@video+block@{VIDEO_ID}"
SEQUENCE = "block-v1:DemoX+CS101+2024_T1+type@sequential+block@19a30717eff543078a5d94ae9d6c18a5"
PROBLEM = "block-v1:DemoX+CS101+2024_T1+type@problem+block@a0effb954cca4759994f1ac9e9434bf4"
COURSEWARE = f"{HOME}/courses/{COURSE_ID}/courseware/intro/19a30717eff543078a5d94ae9d6c18a5/"
SESSION = "6ad0a24d8303f49d14409a669d430b6f"
LRS_USER, LRS_PASSWORD = "converter", "secret-secret-0123"


# -- events as the LMS logs them ---------------------------------------------------------------


def event(event_type: str, payload: Any = None, *, source: str = "browser", user_id: Any = 42, username: str = "ada",
          course_id: str = COURSE_ID, time: str = "2024-03-04T10:15:30.250000+00:00", **fields: Any) -> dict[str, Any]:
    """One tracking-log event; a browser event's payload is a JSON string, as the LMS writes it."""
    logged: dict[str, Any] = {
        "username": username,
        "event_source": source,
        "event_type": event_type,
        "name": event_type,
        "time": time,
        "ip": "10.0.0.7",
        "agent": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "host": "lms.example.org",
        "referer": COURSEWARE,
        "accept_language": "en-US,en;q=0.9",
        "context": {"course_id": course_id, "org_id": "DemoX", "user_id": user_id, "path": "/event"},
        "page": COURSEWARE if source == "browser" else None,
    }
    if source == "browser":
        logged["session"] = SESSION
        logged["event"] = json.dumps(payload if payload is not None else {})
    else:
        logged["event"] = payload if payload is not None else {}
    logged.update(fields)
    return logged


def page_view(path: str, **fields: Any) -> dict[str, Any]:
    """A request the LMS logged: the event type is the path, the payload the request's data as a string."""
    logged = event(path, source="server", **fields)
    logged.pop("name")
    logged["context"]["path"] = path
    logged["event"] = fields.get("event", json.dumps({"GET": {}, "POST": {}}))
    return logged


def video(event_type: str, **payload: Any) -> dict[str, Any]:
    return event(event_type, {"id": VIDEO_ID, "code": "html5", "duration": 195, **payload})


def enrollment(event_type: str, user_id: int = 42, mode: str = "audit") -> dict[str, Any]:
    logged = event(event_type, {"course_id": COURSE_ID, "user_id": user_id, "mode": mode}, source="server")
    logged["context"]["path"] = "/api/enrollment/v1/enrollment"
    return logged


def problem_check(grade: int = 2, max_grade: int = 4, success: str = "incorrect") -> dict[str, Any]:
    payload = {"problem_id": PROBLEM, "grade": grade, "max_grade": max_grade, "success": success, "attempts": 3,
               "answers": {"a0effb954cca4759994f1ac9e9434bf4_2_1": "blue"}, "correct_map": {}, "state": {}, "submission": {}}
    logged = event("problem_check", payload, source="server", page="x_module")
    logged["context"]["module"] = {"display_name": "Colours", "usage_key": PROBLEM}
    return logged


def write_log(path: Path, *events: dict[str, Any] | str) -> Path:
    """A tracking log: events as JSON lines, and raw strings as they are (to write broken lines)."""
    lines = [item if isinstance(item, str) else json.dumps(item) for item in events]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def convert(path: Path, home_page: str = HOME, *, full_validation: bool = False) -> tuple[list[dict[str, Any]], ConversionReport]:
    report = ConversionReport("openedx")
    statements = list(convert_openedx(path, report, home_page=home_page, full_validation=full_validation))
    return statements, report


def only(tmp_path: Path, logged: dict[str, Any]) -> dict[str, Any]:
    """The one statement of a log holding one event, valid xAPI 1.0.3."""
    statements, report = convert(write_log(tmp_path / "tracking.log", logged))
    assert report.converted_rows == 1, report.as_dict()
    assert len(statements) == 1
    validate_statement(statements[0], "1.0.3")
    return statements[0]


def categories(statement: dict[str, Any]) -> set[str]:
    return {activity["id"] for activity in statement["context"]["contextActivities"].get("category", [])}


# -- every supported kind ------------------------------------------------------------------------

SUPPORTED = {
    "enrollment activated": (enrollment("edx.course.enrollment.activated"), REGISTERED, COURSE),
    "enrollment deactivated": (enrollment("edx.course.enrollment.deactivated"), UNREGISTERED, COURSE),
    "page view": (page_view(f"/courses/{COURSE_ID}/courseware/intro/"), ACCESSED, WEBPAGE),
    "outline selected": (event("edx.ui.lms.outline.selected", {"target_url": f"{HOME}/courses/{COURSE_ID}/jump_to/{SEQUENCE}", "target_name": "Introduction", "widget_placement": "accordion", "current_url": COURSEWARE}), ACCESSED, WEBPAGE),
    "link clicked": (event("edx.ui.lms.link_clicked", {"target_url": "https://en.wikipedia.org/wiki/Colour", "current_url": COURSEWARE}), ACCESSED, WEBPAGE),
    "page close": (event("page_close", {}), TERMINATED, WEBPAGE),
    "load_video": (video("load_video"), INITIALIZED, VIDEO),
    "edx.video.loaded": (video("edx.video.loaded"), INITIALIZED, VIDEO),
    "play_video": (video("play_video", currentTime=12.5), PLAYED, VIDEO),
    "edx.video.played (mobile, payload object)": ({**video("edx.video.played", currentTime=3), "event_source": "mobile", "event": {"id": VIDEO_ID, "currentTime": 3}}, PLAYED, VIDEO),
    "pause_video": (video("pause_video", currentTime=40.0), PAUSED, VIDEO),
    "seek_video": (video("seek_video", old_time=40.0, new_time=12.25, type="onSlideSeek"), SEEKED, VIDEO),
    "stop_video": (video("stop_video", currentTime=195.0), TERMINATED, VIDEO),
    "complete_video": (video("complete_video", currentTime=190.0), COMPLETED, VIDEO),
    "speed_change_video": (video("speed_change_video", current_time=50.0, old_speed="1.0", new_speed="1.50"), INTERACTED, VIDEO),
    "closed captions shown": (video("edx.video.closed_captions.shown", current_time=5.0), INTERACTED, VIDEO),
    "problem_check (server)": (problem_check(), ANSWERED, QUESTION),
    "next_selected": (event("edx.ui.lms.sequence.next_selected", {"id": SEQUENCE, "current_tab": 2, "tab_count": 5, "target_tab": 3, "widget_placement": "top"}), NAVIGATED, RESOURCE),
    "previous_selected": (event("edx.ui.lms.sequence.previous_selected", {"id": SEQUENCE, "current_tab": 2, "tab_count": 5, "widget_placement": "bottom"}), NAVIGATED, RESOURCE),
    "tab_selected": (event("edx.ui.lms.sequence.tab_selected", {"id": SEQUENCE, "current_tab": 4, "tab_count": 10, "target_tab": 8, "widget_placement": "top"}), NAVIGATED, RESOURCE),
    "seq_goto (legacy)": (event("seq_goto", {"id": SEQUENCE, "old": 1, "new": 4}), NAVIGATED, RESOURCE),
}


@pytest.mark.parametrize("name", list(SUPPORTED))
def test_every_supported_kind_converts_to_one_valid_statement(tmp_path: Path, name: str) -> None:
    logged, verb, activity_type = SUPPORTED[name]
    statement = only(tmp_path, logged)
    assert statement["verb"]["id"] == verb
    assert statement["object"]["definition"]["type"] == activity_type
    assert statement["actor"] == {"account": {"homePage": HOME, "name": "42"}}
    assert statement["timestamp"] == "2024-03-04T10:15:30.250000Z"
    assert statement["context"]["platform"] == "Open edX"
    assert next(iter(statement)) == "id"


def test_enrollments_and_pages_follow_the_dases_lms_templates(tmp_path: Path) -> None:
    profile = Profile.load(LMS_PROFILE)
    expected = {
        "enrollment activated": "registered-course",
        "enrollment deactivated": "unregistered-course",
        "page view": "accessed-page",
        "outline selected": "accessed-page",
        "link clicked": "accessed-page",
    }
    for name, template in expected.items():
        statement = only(tmp_path, SUPPORTED[name][0])
        match = profile.match(statement)
        assert match.template == TEMPLATES + template, name
        if template == "accessed-page" and name != "link clicked":
            assert match.warnings == [], name  # a page of the LMS has its type
        if "registered" in template:
            # A tracking log has no course dates: only the recommended starting and ending dates are missing.
            assert len(match.warnings) == 2 and all("date" in warning for warning in match.warnings), match.warnings


def test_an_enrollment_registers_the_enrolled_learner_in_the_course(tmp_path: Path) -> None:
    logged = enrollment("edx.course.enrollment.activated", user_id=1001, mode="verified")
    logged["context"]["user_id"] = 5  # a member of the course team enrolled the learner
    statement = only(tmp_path, logged)
    assert statement["actor"]["account"]["name"] == "1001"
    assert statement["object"]["id"] == f"{HOME}/courses/{COURSE_ID}"
    assert statement["context"]["extensions"] == {ROLE: "learner", ENROLLMENT_MODE: "verified"}
    assert {"http://schema.dases.eu/xapi/profile/common/v/1", "https://w3id.org/xapi/lms"} <= categories(statement)


def test_a_learners_statements_in_a_course_share_the_enrolment_registration(tmp_path: Path) -> None:
    log = write_log(tmp_path / "tracking.log", SUPPORTED["enrollment activated"][0], SUPPORTED["play_video"][0],
                    SUPPORTED["page view"][0], problem_check(), event("play_video", {"id": VIDEO_ID, "currentTime": 1}, user_id=43))
    statements, _ = convert(log)
    registrations = [statement["context"]["registration"] for statement in statements]
    assert len(set(registrations[:4])) == 1 and registrations[4] != registrations[0]


def test_video_statements_carry_the_video_profile_extensions(tmp_path: Path) -> None:
    played = only(tmp_path, SUPPORTED["play_video"][0])
    assert played["object"] == {"objectType": "Activity", "id": VIDEO_IRI, "definition": {"type": VIDEO}}
    assert played["result"] == {"extensions": {VIDEO_TIME: 12.5}}
    assert played["context"]["extensions"] == {VIDEO_SESSION: SESSION, VIDEO_LENGTH: 195}
    assert categories(played) == {VIDEO_PROFILE}
    assert played["context"]["contextActivities"]["parent"][0]["id"] == f"{HOME}/courses/{COURSE_ID}"

    seeked = only(tmp_path, SUPPORTED["seek_video"][0])
    assert seeked["result"]["extensions"] == {VIDEO_TIME_FROM: 40, VIDEO_TIME_TO: 12.25}
    completed = only(tmp_path, SUPPORTED["complete_video"][0])
    assert completed["result"] == {"completion": True, "extensions": {VIDEO_TIME: 190}}
    speed = only(tmp_path, SUPPORTED["speed_change_video"][0])
    assert speed["context"]["extensions"][VIDEO_SPEED] == "1.5x" and speed["result"]["extensions"] == {VIDEO_TIME: 50}
    captions = only(tmp_path, SUPPORTED["closed captions shown"][0])
    assert captions["context"]["extensions"][VIDEO_CC_ENABLED] is True


def test_a_video_event_without_times_is_converted_and_the_report_says_what_is_missing(tmp_path: Path) -> None:
    without_times = event("pause_video", {"id": VIDEO_ID, "code": "html5"})
    bad_duration = video("pause_video", currentTime=3) | {"event": json.dumps({"id": VIDEO_ID, "duration": "n/a", "currentTime": 3})}
    statements, report = convert(write_log(tmp_path / "tracking.log", without_times, bad_duration))
    assert "result" not in statements[0] and VIDEO_LENGTH not in statements[0]["context"]["extensions"]
    assert statements[1]["result"] == {"extensions": {VIDEO_TIME: 3}} and VIDEO_LENGTH not in statements[1]["context"]["extensions"]
    assert dict(report.tables["tracking.log"].omitted) == {"length: no duration in the event": 2, "time: no current time in the event": 1}


def test_usage_keys_of_videos_follow_the_course_key_format() -> None:
    assert block_usage_key("course-v1:A+B+C", "video", "v1") == "block-v1:A+B+C+type@video+block@v1"
    assert block_usage_key("ccx-v1:A+B+C+ccx@1", "video", "v1") == "ccx-block-v1:A+B+C+ccx@1+type@video+block@v1"
    assert block_usage_key("A/B/C", "video", "v1") == "i4x://A/B/video/v1"
    assert block_usage_key("course-v1:A+B+C", "video", "block-v1:A+B+C+type@video+block@v1") == "block-v1:A+B+C+type@video+block@v1"


def test_a_graded_problem_is_answered_with_its_score(tmp_path: Path) -> None:
    statement = only(tmp_path, problem_check(grade=2, max_grade=4, success="incorrect"))
    assert statement["object"] == {"objectType": "Activity", "id": f"{HOME}/xblock/{PROBLEM}", "definition": {"type": QUESTION, "name": {"und": "Colours"}}}
    assert statement["result"] == {"score": {"raw": 2, "min": 0, "max": 4, "scaled": 0.5}, "success": False,
                                    "extensions": {openedx.ATTEMPTS: 3}}
    assert "response" not in statement["result"]  # answers may be free text: left in the log
    correct = only(tmp_path, problem_check(grade=1, max_grade=1, success="correct"))
    assert correct["result"]["success"] is True and correct["result"]["score"]["scaled"] == 1


def test_sequence_moves_say_from_where_to_where(tmp_path: Path) -> None:
    tab = only(tmp_path, SUPPORTED["tab_selected"][0])
    assert tab["object"]["id"] == f"{HOME}/xblock/{SEQUENCE}"
    assert tab["object"]["definition"]["extensions"] == {openedx.TOTAL_ITEMS: 10}
    assert tab["context"]["extensions"] == {NAVIGATION: "tab", STARTING_POSITION: 4, ENDING_POINT: 8}
    previous = only(tmp_path, SUPPORTED["previous_selected"][0])
    assert previous["context"]["extensions"] == {NAVIGATION: "previous", STARTING_POSITION: 2}
    goto = only(tmp_path, SUPPORTED["seq_goto (legacy)"][0])
    assert goto["context"]["extensions"] == {NAVIGATION: "goto", STARTING_POSITION: 1, ENDING_POINT: 4}


def test_a_page_has_one_activity_id_whether_viewed_or_left(tmp_path: Path) -> None:
    path = f"/courses/{COURSE_ID}/courseware/intro/"
    closed = event("page_close", {}, page=f"https://lms.example.org{path}?activate_block_id=x#top")
    viewed, left = (only(tmp_path, logged) for logged in (page_view(path), closed))
    assert viewed["object"]["id"] == left["object"]["id"] == f"{HOME}{path}"
    assert viewed["object"]["definition"]["extensions"] == {PAGE_TYPE: "course"}
    dashboard = only(tmp_path, page_view("/dashboard", context={"course_id": "", "org_id": "", "user_id": 42, "path": "/dashboard"}))
    assert dashboard["object"]["definition"]["extensions"] == {PAGE_TYPE: "user_space"}
    assert "registration" not in dashboard["context"] and "grouping" not in dashboard["context"]["contextActivities"]
    catalog = only(tmp_path, page_view("/courses"))
    assert catalog["object"]["definition"]["extensions"] == {PAGE_TYPE: "course_list"}
    outside = only(tmp_path, SUPPORTED["link clicked"][0])
    assert outside["object"]["id"] == "https://en.wikipedia.org/wiki/Colour" and "extensions" not in outside["object"]["definition"]


def test_times_become_utc_instants(tmp_path: Path) -> None:
    assert only(tmp_path, page_view("/dashboard", time="2024-03-04T12:15:30.250+02:00"))["timestamp"] == "2024-03-04T10:15:30.250000Z"
    assert only(tmp_path, page_view("/dashboard", time="2014-03-04T10:15:30.123456"))["timestamp"] == "2014-03-04T10:15:30.123456Z"
    assert only(tmp_path, page_view("/dashboard", time="2024-03-04T10:15:30Z"))["timestamp"] == "2024-03-04T10:15:30Z"


# -- what is skipped, and why ----------------------------------------------------------------------


def test_lines_that_cannot_be_converted_are_skipped_with_their_reason_and_the_counts_add_up(tmp_path: Path) -> None:
    lines: list[dict[str, Any] | str] = [
        SUPPORTED["play_video"][0],  # 1: converted
        "",  # 2
        "{not json",  # 3
        "[1, 2]",  # 4
        json.dumps({"username": "ada", "time": "2024-03-04T10:15:30+00:00"}),  # 5: no event_type
        event("edx.forum.thread.created", {"title": "Hello"}, source="server"),  # 6
        event("edx.forum.thread.created", {"title": "Again"}, source="server"),  # 7
        event("a strange/type with spaces"),  # 8
        page_view("/dashboard", username="", user_id=None),  # 9: not logged in
        page_view("/dashboard", user_id=None),  # 10: a username and no user id (old logs)
        page_view("/dashboard", time=""),  # 11
        page_view("/dashboard", time="yesterday"),  # 12
        video("play_video", currentTime=-3),  # 13
        event("play_video", {"code": "html5", "currentTime": 1}),  # 14: which video?
        video("play_video", currentTime=1) | {"context": {"course_id": "", "org_id": "", "user_id": 42, "path": "/event"}},  # 15
        event("play_video", "not an object"),  # 16: a JSON string payload that is not JSON
        page_view(f"/courses/{COURSE_ID}/xblock/{PROBLEM}/handler/xmodule_handler/problem_check"),  # 17
        page_view("/api/courseware/sequence/x"),  # 18
        page_view("/static/css/lms.css"),  # 19
        page_view("/change_enrollment", event=json.dumps({"GET": {}, "POST": {"course_id": [COURSE_ID], "enrollment_action": ["enroll"]}})),  # 20
        event("problem_check", "input_a0effb954cca4759994f1ac9e9434bf4_2_1=blue"),  # 21: the browser's copy
        event("page_close", {}, page="x_module"),  # 22
        event("edx.ui.lms.sequence.tab_selected", {"current_tab": 1}),  # 23
        problem_check(),  # 24: converted
        '{"event_type": "page_close"} {"event_type": "page_close"}',  # 25: two events on one line
    ]
    statements, report = convert(write_log(tmp_path / "tracking.log", *lines))
    table = report.tables["tracking.log"]
    assert dict(table.skipped) == {
        "blank-line": 1,
        "not-json": 2,
        "not-an-event": 2,
        "unsupported-event:edx.forum.thread.created": 2,
        "unsupported-event:other": 1,
        "anonymous": 1,
        "missing-user-id": 1,
        "missing-time": 1,
        "invalid-time": 1,
        "invalid-current-time": 1,
        "missing-video-id": 1,
        "missing-course-id": 1,
        "invalid-event-payload": 1,
        "not-a-page-view:xblock-handler": 1,
        "not-a-page-view:api": 1,
        "not-a-page-view:static": 1,
        "not-a-page-view:form-post": 1,
        "browser-duplicate:problem_check": 1,
        "invalid-page": 1,
        "missing-block-id": 1,
    }
    assert table.examples["unsupported-event:edx.forum.thread.created"] == [6, 7]
    assert table.examples["not-an-event"] == [4, 5]
    assert table.examples["not-json"] == [3, 25]
    assert table.input_rows == len(lines) == 25 and table.converted == 2 == len(statements)
    assert report.counts_add_up() and report.input_rows == report.converted_rows + report.skipped_rows
    assert dict(report.statements) == {"video: played": 1, "problem: answered": 1}


def test_the_checks_on_the_log_values_decide_as_the_full_validation_does(tmp_path: Path) -> None:
    events = [logged for logged, _verb, _type in SUPPORTED.values()]
    odd = [
        event("edx.ui.lms.link_clicked", {"target_url": "https://example.org/a page"}),  # a space: no IRI
        event("page_close", {}, page="https://example.org/%zz"),  # a broken escape
        page_view("/courses/%G1/about"),
        page_view("/dashboard", time="0001-01-01T00:30:00+01:00"),  # before the calendar, in UTC
        page_view("/dashboard", time="2024-02-30T10:00:00+00:00"),
        page_view("/dashboard", time="2024-03-04T10:00+00:00"),  # no seconds: rebuilt with them
    ]
    log = write_log(tmp_path / "tracking.log", *events, *odd)
    fast, fast_report = convert(log)
    full, full_report = convert(log, full_validation=True)
    assert fast == full and fast_report.as_dict() == full_report.as_dict()
    assert dict(fast_report.tables["tracking.log"].skipped) == {"invalid-statement-iri": 3, "invalid-time": 2}
    assert fast[-1]["timestamp"] == "2024-03-04T10:00:00Z"
    for statement in fast:
        validate_statement(statement, "1.0.3")


def test_a_line_too_long_is_skipped_without_being_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openedx, "MAX_LINE_BYTES", 2000)
    long = video("play_video", currentTime=1) | {"agent": "x" * 5000}
    statements, report = convert(write_log(tmp_path / "tracking.log", long, SUPPORTED["pause_video"][0]))
    assert dict(report.tables["tracking.log"].skipped) == {"line-too-long": 1}
    assert report.tables["tracking.log"].examples == {"line-too-long": [1]} and len(statements) == 1
    with (tmp_path / "tracking.log").open("rb") as handle:
        assert [(number, line is None) for number, line in read_lines(handle, 100)] == [(1, True), (2, True)]


def test_bytes_that_are_not_utf8_are_not_json(tmp_path: Path) -> None:
    path = tmp_path / "tracking.log"
    path.write_bytes(b'{"event_type": "\xff\xfe"}\n' + json.dumps(SUPPORTED["page view"][0]).encode() + b"\n")
    statements, report = convert(path)
    assert dict(report.tables["tracking.log"].skipped) == {"not-json": 1} and len(statements) == 1


# -- ids, gzip, the interface ---------------------------------------------------------------------


def test_statement_ids_are_deterministic_uuid5_of_the_home_page_and_the_line(tmp_path: Path) -> None:
    events = [logged for logged, _verb, _type in SUPPORTED.values()]
    log = write_log(tmp_path / "tracking.log", *events, events[0])  # the last line repeats the first
    first, _ = convert(log)
    second, _ = convert(log)
    assert first == second
    ids = [statement["id"] for statement in first]
    assert len(set(ids)) == len(events) and ids[-1] == ids[0]
    line = log.read_bytes().splitlines()[0]
    assert ids[0] == str(uuid.uuid5(openedx.NAMESPACE, HOME + "|" + line.decode()))
    other, _ = convert(log, home_page="https://other.example.org")
    assert not set(ids) & {statement["id"] for statement in other}
    assert other[0]["actor"]["account"]["homePage"] == "https://other.example.org"


def test_a_gzipped_log_reads_like_the_plain_one(tmp_path: Path) -> None:
    events = [logged for logged, _verb, _type in SUPPORTED.values()]
    plain = write_log(tmp_path / "tracking.log", *events)
    zipped = write_log(tmp_path / "tracking.log-20240304.gz", *events)
    renamed = tmp_path / "tracking.log.1"  # rotated logs are gzipped whatever their name
    renamed.write_bytes(zipped.read_bytes())
    plain_statements, plain_report = convert(plain)
    for path in (zipped, renamed):
        statements, report = convert(path)
        assert statements == plain_statements
        assert report.tables[path.name].as_dict() == plain_report.tables["tracking.log"].as_dict()
        assert OpenEdxConverter(path, home_page=HOME).estimated_rows() == len(events)
    assert OpenEdxConverter(plain, home_page=HOME).estimated_rows() == len(events)


def test_progress_is_reported_for_every_line(tmp_path: Path) -> None:
    log = write_log(tmp_path / "tracking.log", *([SUPPORTED["page view"][0]] * 2500), "not json")
    heard: list[int] = []
    list(OpenEdxConverter(log, home_page=HOME).statements(ConversionReport("openedx"), on_rows=heard.append))
    assert sum(heard) == 2501 and heard[:2] == [1000, 1000]


def test_a_bad_home_page_or_a_missing_log_is_refused(tmp_path: Path) -> None:
    log = write_log(tmp_path / "tracking.log", SUPPORTED["page view"][0])
    with pytest.raises(InvalidInput, match="home page"):
        OpenEdxConverter(log, home_page="lms.example.org")
    with pytest.raises(InvalidInput, match="is not a file"):
        OpenEdxConverter(tmp_path, home_page=HOME)
    assert openedx.SOURCE == "openedx"


def test_the_lrs_stores_every_statement_with_no_reject(tmp_path: Path, database_url: str) -> None:
    events = [logged for logged, _verb, _type in SUPPORTED.values()]
    statements, _ = convert(write_log(tmp_path / "tracking.log", *events))
    settings = Settings(data_dir=tmp_path / "lrs", database_url=database_url, lrs_basic_auth=f"{LRS_USER}:{LRS_PASSWORD}", node_secret="openedx-test-secret-0123456789")
    with TestClient(create_lrs_app(settings)) as client:
        with LrsWriter("http://testserver/xapi/", (LRS_USER, LRS_PASSWORD), client=client) as writer:
            for statement in statements:
                writer.write(statement)
        assert writer.written == len(events)
        listed = client.get("/xapi/statements", params={"limit": 100}, headers={"X-Experience-API-Version": "1.0.3"}, auth=(LRS_USER, LRS_PASSWORD)).json()
        assert {statement["id"] for statement in listed["statements"]} == {statement["id"] for statement in statements}


def test_dases_convert_from_openedx_writes_the_statements_and_the_report(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dases.cli import app

    log = tmp_path / "tracking.log"
    log.write_text("not json\n" + json.dumps({"event_type": "made_up_event", "time": "2026-01-01T00:00:00Z", "context": {"user_id": 7}}) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["convert", "--from", "openedx", str(log), "--to", str(out), "--report-json", "-"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["skipped_rows"] == 2 and report["converted_rows"] == 0 and report["counts_add_up"] is True
