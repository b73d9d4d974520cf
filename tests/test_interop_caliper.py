"""IMS Caliper 1.1 and 1.2 to xAPI: every event of a mapped type and action becomes one valid xAPI
1.0.3 statement (the DASES "accessed" templates for pages and documents, the xAPI Video Profile
for videos), every other event or entity is skipped with its reason, the counts add up to what was
read, envelopes and thinned events are understood, and the same events always give the same
statements.

The events are written by hand after the examples of the Caliper specification, small, in the
test's temporary directory.
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
from dases.interop import caliper
from dases.interop.caliper import (
    ATTEMPT,
    EVENT,
    SCORED_BY,
    SESSION,
    VIDEO,
    VIDEO_LENGTH,
    VIDEO_PROFILE,
    VIDEO_SESSION_ID,
    VIDEO_TIME,
    CaliperConverter,
    convert_caliper,
    seconds,
    term,
    xapi_duration,
)
from dases.interop.moodle import ACCESSED, ACROSSX_TYPE, FILE, WEBPAGE
from dases.interop.oulad import ASSESSMENT, ASSESSMENT_PROFILE_VERSION, COMPLETED, COURSE, ROLE
from dases.interop.output import LrsWriter
from dases.interop.profiles import Profile
from dases.interop.report import ConversionReport
from dases.lrs.app import create_lrs_app
from dases.lrs.validation import validate_statement
from dases.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
LMS_PROFILE = SHARED / "specs" / "dases-xapi" / "lms" / "profile" / "profile.jsonld"
HOME = "https://caliper.example.org"
V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
V1P2 = "http://purl.imsglobal.org/ctx/caliper/v1p2"
LEARNER = "https://example.edu/users/554433"
SECTION = {"id": "https://example.edu/terms/201601/courses/7/sections/1", "type": "CourseSection", "name": "CPS 435-01"}
MEMBERSHIP = {"id": "https://example.edu/terms/201601/courses/7/sections/1/rosters/1", "type": "Membership", "member": LEARNER, "organization": SECTION["id"], "roles": ["Learner"], "status": "Active"}
SESSION_ENTITY = {"id": "https://example.edu/sessions/1f6442a482de72ea6ad134943812bff564a76259", "type": "Session", "startedAtTime": "2016-11-15T10:00:00.000Z"}
APP = {"id": "https://example.edu", "type": "SoftwareApplication", "version": "v2"}
QUIZ = {"id": "https://example.edu/terms/201601/courses/7/sections/1/assess/1", "type": "Assessment", "name": "Quiz One"}
ATTEMPT_IRI = QUIZ["id"] + "/users/554433/attempts/1"
VIDEO_ENTITY = {"id": "https://example.edu/UQVK-dsU7-Y", "type": "VideoObject", "name": "Information and Welcome", "mediaType": "video/ogg", "duration": "PT20M20S"}


def event(number: int, kind: str, action: str, obj: Any, *, version: str = V1P2, **more: Any) -> dict[str, Any]:
    """A Caliper event of the learner in section 1, at 10:mm on 15 November 2016."""
    return {
        "@context": version,
        "id": f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
        "type": kind,
        "actor": {"id": LEARNER, "type": "Person"},
        "action": action,
        "object": obj,
        "eventTime": f"2016-11-15T10:{number:02d}:00.000Z",
        "edApp": APP["id"],
        "group": SECTION,
        "membership": MEMBERSHIP,
        "session": SESSION_ENTITY,
    } | more


def media(number: int, action: str, at: str | None, obj: Any = VIDEO_ENTITY) -> dict[str, Any]:
    target = {"target": {"id": f"{VIDEO_ENTITY['id']}?t=1", "type": "MediaLocation", "currentTime": at}} if at else {}
    return event(number, "MediaEvent", action, obj, version=V1P1, **target)


#: One event per mapped type and action, 1.1 and 1.2 alike.
MAPPED = [
    event(1, "SessionEvent", "LoggedIn", APP, version=V1P1),
    event(2, "NavigationEvent", "NavigatedTo", {"id": SECTION["id"] + "/pages/2", "type": "WebPage", "name": "Learning Analytics Specifications"}, referrer={"id": SECTION["id"] + "/pages/1", "type": "WebPage"}),
    event(3, "ViewEvent", "Viewed", {"id": "https://example.edu/etexts/201.epub", "type": "Document", "name": "IMS Caliper Implementation Guide", "mediaType": "application/epub+zip"}, version=V1P1),
    event(4, "AssessmentEvent", "Started", QUIZ, generated={"id": ATTEMPT_IRI, "type": "Attempt", "assignee": LEARNER, "assignable": QUIZ["id"], "count": 1}),
    event(5, "AssessmentEvent", "Submitted", QUIZ, version=V1P1, generated={"id": ATTEMPT_IRI, "type": "Attempt", "assignee": LEARNER, "assignable": QUIZ["id"], "count": 1, "duration": "PT10M30S"}),
    event(6, "GradeEvent", "Graded", {"id": ATTEMPT_IRI, "type": "Attempt", "assignee": {"id": LEARNER, "type": "Person"}, "assignable": QUIZ}, actor={"id": "https://example.edu/autograder", "type": "SoftwareApplication"}, generated={"id": ATTEMPT_IRI + "/scores/1", "type": "Score", "scoreGiven": 10.0, "maxScore": 15.0}),
    event(7, "OutcomeEvent", "Graded", {"id": ATTEMPT_IRI, "type": "Attempt", "assignee": LEARNER, "assignable": QUIZ}, version=V1P1, actor="https://example.edu/autograder", generated={"id": ATTEMPT_IRI + "/results/1", "type": "Result", "resultScore": 12, "maxResultScore": 15}),
    media(8, "Started", "PT0S"),
    media(9, "Paused", "PT05M21S"),
    media(10, "Resumed", "PT05M21S"),
    media(11, "Ended", "PT20M20S"),
    event(12, "ToolUseEvent", "Used", APP),
    event(13, "SessionEvent", "LoggedOut", APP),
]


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def convert(path: Path, **options: Any) -> tuple[list[dict[str, Any]], ConversionReport]:
    report = ConversionReport("caliper")
    return list(convert_caliper(path, report, **options)), report


@pytest.fixture
def mapped(tmp_path: Path) -> tuple[list[dict[str, Any]], ConversionReport]:
    return convert(write_lines(tmp_path / "events.jsonl", MAPPED))


def test_every_mapped_event_becomes_one_valid_statement(mapped: tuple[list[dict[str, Any]], ConversionReport]) -> None:
    statements, report = mapped
    assert report.counts_add_up() and report.skipped_rows == 0
    assert report.input_rows == len(statements) == len(MAPPED)
    assert report.statements == {
        "xapi: logged in": 1,
        "xapi: logged out": 1,
        "lms: accessed a page": 1,
        "lms: accessed a file": 1,
        "xapi: attempted an assessment": 1,
        "assessment: completed": 1,
        "xapi: scored": 2,
        "video: played": 2,
        "video: paused": 1,
        "video: completed": 1,
        "xapi: used a tool": 1,
    }
    for source, statement in zip(MAPPED, statements, strict=True):
        validate_statement(statement, "1.0.3")
        assert statement["id"] == str(uuid.uuid5(caliper.NAMESPACE, f"{HOME}|event|{source['id']}"))
        assert statement["actor"] == {"account": {"homePage": HOME, "name": LEARNER}}  # the learner, never the grader
        assert statement["timestamp"] == source["eventTime"]
        context = statement["context"]
        assert context["extensions"][EVENT] == f"{source['type']}.{source['action']}"
        assert context["extensions"][ROLE] == "learner" and context["platform"] == APP["id"]
        assert context["contextActivities"]["grouping"][0]["id"] == SECTION["id"]
        assert context["contextActivities"]["grouping"][0]["definition"]["type"] == COURSE
    # One learner's statements in one course section share the xAPI registration (the enrolment).
    assert len({s["context"]["registration"] for s in statements}) == 1


def test_pages_and_documents_follow_the_dases_accessed_templates(mapped: tuple[list[dict[str, Any]], ConversionReport]) -> None:
    statements, _report = mapped
    profile = Profile.load(LMS_PROFILE)
    page, document = statements[1], statements[2]
    assert profile.match(page).template.endswith("/accessed-page")
    assert profile.match(document).template.endswith("/accessed-file")
    assert profile.match(document).warnings == []  # the recommended file type: the mediaType
    assert page["verb"]["id"] == document["verb"]["id"] == ACCESSED
    assert page["object"]["definition"]["type"] == WEBPAGE and page["object"]["definition"]["name"] == {"und": "Learning Analytics Specifications"}
    assert document["object"]["definition"]["type"] == FILE
    assert document["object"]["definition"]["extensions"][ACROSSX_TYPE] == "application/epub+zip"
    assert page["context"]["extensions"][SESSION] == SESSION_ENTITY["id"]


def test_assessments_grades_videos_and_sessions_say_what_happened(mapped: tuple[list[dict[str, Any]], ConversionReport]) -> None:
    statements, _report = mapped
    logged_in, started, submitted, graded, outcome = statements[0], statements[3], statements[4], statements[5], statements[6]
    assert logged_in["verb"]["id"] == caliper.LOGGED_IN and logged_in["object"]["id"] == APP["id"]
    assert started["verb"]["id"] == caliper.ATTEMPTED and started["context"]["extensions"][ATTEMPT] == ATTEMPT_IRI
    # The DASES assessment "completed" (no profile file to match: its determining properties by hand).
    assert submitted["verb"]["id"] == COMPLETED and submitted["object"]["definition"]["type"] == ASSESSMENT
    assert ASSESSMENT_PROFILE_VERSION in [c["id"] for c in submitted["context"]["contextActivities"]["category"]]
    assert submitted["result"] == {"completion": True, "duration": "PT630S"}
    for grade, raw in ((graded, 10.0), (outcome, 12)):
        assert grade["verb"]["id"] == caliper.SCORED and grade["object"]["id"] == QUIZ["id"]
        assert grade["result"]["score"] == {"raw": raw, "min": 0, "max": 15, "scaled": raw / 15}
        assert grade["context"]["extensions"][SCORED_BY] == "https://example.edu/autograder"
        assert grade["context"]["extensions"][ATTEMPT] == ATTEMPT_IRI
    videos = statements[7:11]
    assert [s["verb"]["id"] for s in videos] == [caliper.PLAYED, caliper.PAUSED, caliper.PLAYED, COMPLETED]
    assert [s["result"]["extensions"][VIDEO_TIME] for s in videos] == [0, 321, 321, 1220]
    assert videos[3]["result"]["completion"] is True
    for video in videos:
        assert video["object"]["definition"]["type"] == VIDEO
        assert [c["id"] for c in video["context"]["contextActivities"]["category"]] == [VIDEO_PROFILE]
        assert video["context"]["extensions"][VIDEO_LENGTH] == 1220
        assert video["context"]["extensions"][VIDEO_SESSION_ID] == SESSION_ENTITY["id"]
    assert statements[11]["verb"]["id"] == caliper.INTERACTED and statements[12]["verb"]["id"] == caliper.LOGGED_OUT


def test_an_envelope_fills_thinned_events_in_from_its_entities(tmp_path: Path) -> None:
    thinned = event(20, "AssessmentEvent", "Submitted", QUIZ["id"], actor=LEARNER, group=SECTION["id"], membership=None, session=None)
    envelope = {
        "sensor": "https://example.edu/sensors/1",
        "sendTime": "2016-11-15T11:05:01.000Z",
        "dataVersion": V1P2,
        "data": [{"@context": V1P2, **QUIZ}, {"@context": V1P2, **SECTION}, {"@context": V1P2, "id": LEARNER, "type": "Person"}, thinned, MAPPED[0]],
    }
    statements, report = convert(write_lines(tmp_path / "envelopes.jsonl", [envelope]))
    assert report.counts_add_up() and report.input_rows == 5
    assert report.tables["envelopes.jsonl"].skipped == {"not-an-event": 3}  # the entities described alongside
    submitted = statements[0]
    assert submitted["object"]["definition"]["name"] == {"und": "Quiz One"}  # from the envelope's Assessment
    assert submitted["context"]["contextActivities"]["grouping"][0]["definition"]["type"] == COURSE
    assert ROLE not in submitted["context"]["extensions"]
    validate_statement(submitted, "1.0.3")


def test_events_that_cannot_be_converted_are_skipped_with_their_reason(tmp_path: Path) -> None:
    no_time = event(31, "ToolUseEvent", "Used", APP)
    del no_time["eventTime"]
    no_action = event(32, "ToolUseEvent", "Used", APP)
    del no_action["action"]
    lines: list[Any] = [
        MAPPED[0],  # 1: converted
        "{not json",  # 2
        event(21, "AnnotationEvent", "Bookmarked", {"id": "https://example.edu/etexts/201.epub#p1", "type": "Page"}),  # 3
        media(22, "JumpedTo", "PT01M"),  # 4
        event(23, "ToolUseEvent", "Used", APP, actor={"id": "http://purl.imsglobal.org/caliper/Person", "type": "Person"}),  # 5: anonymous
        event(24, "SessionEvent", "TimedOut", {"id": SESSION_ENTITY["id"], "type": "Session"}, actor=APP),  # 6
        event(25, "GradeEvent", "Graded", {"id": ATTEMPT_IRI, "type": "Attempt", "assignee": LEARNER, "assignable": QUIZ}, generated={"id": "x:s", "type": "Score", "maxScore": 0.0}),  # 7
        media(26, "Paused", "PT1M", {"id": "https://example.edu/audio/1", "type": "AudioObject"}),  # 8
        event(27, "ToolUseEvent", "Used", APP, eventTime="yesterday"),  # 9
        no_time,  # 10
        "42",  # 11
        {"sensor": "https://example.edu/sensors/1", "data": {"not": "a list"}},  # 12
        event(28, "SessionEvent", "LoggedIn", APP, actor=APP),  # 13
        event(29, "NavigationEvent", "NavigatedTo", {"id": "page two", "type": "WebPage"}),  # 14
        no_action,  # 15
        "",  # 16: a blank line is no event
        [event(33, "ViewEvent", "Viewed", {"id": "https://example.edu/etexts/201.epub", "type": "Document"}), "oops"],  # 17: an array of items
    ]
    statements, report = convert(write_lines(tmp_path / "events.jsonl", lines))
    table = report.tables["events.jsonl"]
    assert report.counts_add_up()
    assert (table.input_rows, table.converted, len(statements)) == (17, 2, 2)
    assert table.skipped == {
        "malformed-json": 1,
        "unsupported-event:AnnotationEvent": 1,
        "unsupported-action:MediaEvent.JumpedTo": 1,
        "anonymous-actor": 1,
        "unsupported-action:SessionEvent.TimedOut": 1,
        "missing-score": 1,
        "unsupported-media:AudioObject": 1,
        "invalid-event-time": 1,
        "missing-event-time": 1,
        "not-an-object": 2,
        "malformed-envelope": 1,
        "actor-not-a-person:SoftwareApplication": 1,
        "invalid-object-id": 1,
        "missing-action": 1,
    }
    assert table.examples["not-an-object"] == [11, 17] and table.examples["malformed-json"] == [2]
    assert table.omitted == {"file type: no mediaType": 1}


def test_the_same_events_give_the_same_statements_whatever_their_form(tmp_path: Path) -> None:
    plain, _report = convert(write_lines(tmp_path / "plain" / "events.jsonl", MAPPED))
    gzipped, _report = convert(write_lines(tmp_path / "gz" / "events.jsonl.gz", MAPPED))
    enveloped, _report = convert(write_lines(tmp_path / "envelope" / "events.jsonl", [{"sensor": "https://example.edu/sensors/1", "sendTime": "2016-11-15T11:05:01.000Z", "dataVersion": V1P2, "data": MAPPED}]))
    assert gzipped == plain and enveloped == plain
    elsewhere, _report = convert(tmp_path / "plain" / "events.jsonl", home_page="https://lms.example.ac.uk/")
    assert {s["actor"]["account"]["homePage"] for s in elsewhere} == {"https://lms.example.ac.uk"}
    assert not {s["id"] for s in plain} & {s["id"] for s in elsewhere}


def test_an_event_without_an_id_is_named_by_its_content(tmp_path: Path) -> None:
    anonymous_id = {key: value for key, value in MAPPED[11].items() if key != "id"}
    first, report = convert(write_lines(tmp_path / "events.jsonl", [anonymous_id, anonymous_id, MAPPED[11] | {"id": None, "eventTime": "2016-11-15T11:00:00Z"}]))
    assert first[0]["id"] == first[1]["id"] != first[2]["id"]
    assert report.tables["events.jsonl"].omitted == {"event id: none, the statement id hashes the event": 3}


def test_a_directory_is_read_file_by_file(tmp_path: Path) -> None:
    write_lines(tmp_path / "in" / "monday.jsonl", MAPPED[:5])
    write_lines(tmp_path / "in" / "tuesday.ndjson.gz", MAPPED[5:])
    converter = CaliperConverter(tmp_path / "in")
    assert converter.estimated_rows() == len(MAPPED)
    report = ConversionReport("caliper")
    assert len(list(converter.statements(report))) == len(MAPPED)
    assert {name: table.input_rows for name, table in report.tables.items()} == {"monday.jsonl": 5, "tuesday.ndjson.gz": len(MAPPED) - 5}


def test_a_pretty_printed_document_is_refused_as_not_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "envelope.json"
    path.write_text(json.dumps({"sensor": "s", "data": MAPPED[:1]}, indent=2), encoding="utf-8")
    with pytest.raises(InvalidInput, match="envelope.json is not JSON lines: line 1"):
        CaliperConverter(path)
    with pytest.raises(InvalidInput, match="does not exist"):
        CaliperConverter(tmp_path / "missing.jsonl")


def test_terms_and_durations_are_read_as_caliper_writes_them() -> None:
    assert term("MediaEvent") == "MediaEvent" and term("http://purl.imsglobal.org/vocab/caliper/v1/action#Paused") == "Paused"
    assert term("Instructor#TeachingAssistant") == "TeachingAssistant" and term("no such term!") is None and term(3) is None
    assert seconds("PT05M21S") == 321 and seconds("PT1H0.5S") == 3600.5 and seconds("P1DT1S") == 86401 and seconds(12) == 12
    for unread in ("P1Y", "P1M", "PT", "P", "P1DT", "5 minutes", -3, True, None):
        assert seconds(unread) is None
    assert xapi_duration(630.0) == "PT630S" and xapi_duration(12.345) == "PT12.35S" and xapi_duration(0) == "PT0S"


def test_an_lrs_stores_every_statement(mapped: tuple[list[dict[str, Any]], ConversionReport], tmp_path: Path, database_url: str) -> None:
    statements, _report = mapped
    settings = Settings(data_dir=tmp_path / "lrs", database_url=database_url, lrs_basic_auth="converter:secret-secret-0123", node_secret="caliper-test-secret-0123456789")
    with TestClient(create_lrs_app(settings)) as client:
        for _ in range(2):  # the second time, the same ids and contents: stored once
            with LrsWriter("http://testserver/xapi/", ("converter", "secret-secret-0123"), client=client) as writer:
                for statement in statements:
                    writer.write(statement)
            assert writer.written == len(statements)
        listed = client.get("/xapi/statements", params={"limit": 100}, headers={"X-Experience-API-Version": "1.0.3"}, auth=("converter", "secret-secret-0123")).json()
        assert len(listed["statements"]) == len(statements)
