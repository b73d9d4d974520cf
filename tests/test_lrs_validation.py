"""xAPI statement validation as a client of the LRS meets it: what is stored, and what is refused
with a 400 naming the broken field and rule (xAPI 1.0.3 and 2.0)."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dases.errors import BadRequest
from dases.lrs.validation import (
    is_iri,
    is_language_tag,
    is_uuid,
    normalise_statement,
    parse_timestamp,
    validate_agent,
    validate_statement,
    validate_statements,
)

VERSIONS = ("1.0.3", "2.0.0")
RALPH_STATEMENTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "xapi" / "ralph-statements.json.gz"
DELETE = object()

AGENT = {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.org"}
ACTIVITY = {
    "objectType": "Activity",
    "id": "http://example.org/activities/quiz-1",
    "definition": {
        "name": {"en-US": "Quiz 1", "fr": "Quiz 1"},
        "description": {"en": "Which colours are primary?"},
        "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
        "moreInfo": "https://example.org/quiz-1",
        "interactionType": "choice",
        "correctResponsesPattern": ["red[,]blue"],
        "choices": [{"id": "red", "description": {"en": "Red"}}, {"id": "blue", "description": {"en": "Blue"}}],
        "extensions": {"http://example.org/ext/difficulty": 3},
    },
}


def full_statement() -> dict[str, Any]:
    """A statement using every 1.0.3 property, so each rule has something to break."""
    return copy.deepcopy(
        {
            "id": "5b1e3a6c-2d4f-4e8a-9b0c-1d2e3f4a5b6c",
            "actor": AGENT,
            "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
            "object": ACTIVITY,
            "result": {
                "score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10},
                "success": True,
                "completion": True,
                "response": "red[,]blue",
                "duration": "PT1M30.5S",
                "extensions": {"http://example.org/ext/attempt": 2},
            },
            "context": {
                "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
                "instructor": {"account": {"homePage": "https://lms.example.org", "name": "teacher-7"}},
                "team": {"objectType": "Group", "name": "Team A", "member": [AGENT]},
                "contextActivities": {
                    "parent": [{"id": "http://example.org/courses/c1"}],
                    "grouping": {"id": "http://example.org/programmes/p1", "objectType": "Activity"},
                    "category": [{"id": "https://w3id.org/xapi/video"}],
                    "other": [],
                },
                "revision": "rev-2",
                "platform": "Moodle",
                "language": "en-GB",
                "statement": {"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"},
                "extensions": {"http://example.org/ext/room": None},
            },
            "timestamp": "2024-03-01T10:00:00.123+01:00",
            "stored": "2024-03-01T09:00:01.000Z",
            "authority": {"objectType": "Agent", "account": {"homePage": "https://lrs.example.org", "name": "key-1"}},
            "version": "1.0.3",
            "attachments": [
                {
                    "usageType": "http://adlnet.gov/expapi/attachments/signature",
                    "display": {"en-US": "Signature"},
                    "description": {"en-US": "JWS of the statement"},
                    "contentType": "application/octet-stream",
                    "length": 1024,
                    "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a",
                    "fileUrl": "https://files.example.org/sig",
                }
            ],
        }
    )


def minimal(object_: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({"actor": AGENT, "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": object_})


def put(document: Any, path: str, value: Any) -> Any:
    """Set (or, with DELETE, remove) a dotted path such as `context.contextActivities.parent.0.id`."""
    *parents, last = path.split(".")
    target = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return document


def refusal(statement: object, version: str = "1.0.3") -> tuple[str, str]:
    with pytest.raises(BadRequest) as caught:
        validate_statement(statement, version)
    error = caught.value
    assert error.status == 400
    assert len(error.errors) == 1
    field, rule = error.errors[0].field, error.errors[0].rule
    assert field in error.detail and rule in error.detail
    return field, rule


# -- what is accepted --------------------------------------------------------------------------------

SUBSTATEMENT = {
    "objectType": "SubStatement",
    "actor": {"objectType": "Group", "member": [AGENT, {"openid": "https://openid.example.org/bob"}]},
    "verb": {"id": "http://example.org/verbs/will-attend", "display": {"en": "will attend"}},
    "object": {"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"},
    "result": {"completion": False},
    "context": {"contextActivities": {"parent": {"id": "http://example.org/courses/c1"}}, "language": "fr-CA"},
    "timestamp": "2024-03-01T10:00:00Z",
}

OBJECTS = {
    "activity": ACTIVITY,
    "activity without objectType": {"id": "urn:example:activity:1"},
    "agent": {"objectType": "Agent", "mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
    "identified group": {"objectType": "Group", "account": {"homePage": "https://example.org", "name": "g1"}},
    "anonymous group": {"objectType": "Group", "member": [AGENT]},
    "statement ref": {"objectType": "StatementRef", "id": "6690E6C9-3EF0-4ED3-8B37-7F3964730BEE"},
    "substatement": SUBSTATEMENT,
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", OBJECTS)
def test_a_valid_statement_of_each_object_type_passes(kind: str, version: str) -> None:
    validate_statement(minimal(OBJECTS[kind]), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_statement_using_every_property_passes(version: str) -> None:
    validate_statement(full_statement(), version)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("authority", {"objectType": "Group", "member": [{"account": {"homePage": "http://example.com/OAuth", "name": "app"}}, AGENT]}),
        ("context.extensions", {}),
        ("result.extensions", {"http://example.org/x": {}}),
        ("result.score", {"scaled": -1, "raw": 0, "min": 0}),
        ("result.duration", "P4W"),
        ("result.duration", "P3Y1M29DT4H35M59.14S"),
        ("timestamp", "2008-09-15T15:53:00.601+00:00"),
        ("timestamp", "20080915T155300Z"),
        ("timestamp", "2024-02-29T23:59:59.999999999-05:00"),
        ("stored", "2031-01-01T00:00:00Z"),
        ("version", "1.0"),
        ("version", "1.0.9"),
        ("object.definition.name", {"sr-Latn-RS": "x", "zh-Hant": "x", "es-419": "x", "tlh": "x", "x-private": "x"}),
        ("object.id", "http://example.com/path/../slug"),
        ("verb.display", {}),
    ],
)
def test_values_the_spec_allows_are_accepted(path: str, value: object) -> None:
    validate_statement(put(full_statement(), path, value), "1.0.3")


def test_a_voiding_statement_with_a_statement_ref_passes() -> None:
    statement = minimal({"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"})
    statement["verb"] = {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}}
    validate_statement(statement, "1.0.3")


# -- what is refused, and how the 400 says so --------------------------------------------------------

RULES = [
    # statement
    ("iD", "edc458fc-2376-43c2-99b1-30a1e04c592d", "statement.iD", "unknown-property"),
    ("actor", DELETE, "statement.actor", "required"),
    ("verb", None, "statement.verb", "type"),
    ("id", "AA97B177-9383-4934-8543-0F91A7A028368", "statement.id", "uuid"),
    ("id", 12345, "statement.id", "type"),
    ("timestamp", "01/011/2015", "statement.timestamp", "iso8601-timestamp"),
    ("timestamp", "2008-09-15T15:53:00.601-00:00", "statement.timestamp", "iso8601-timestamp"),
    ("timestamp", "2008-09-15T15:53:00.601-0000", "statement.timestamp", "iso8601-timestamp"),
    ("timestamp", "2023-02-29T10:00:00Z", "statement.timestamp", "iso8601-timestamp"),
    ("stored", "yesterday", "statement.stored", "iso8601-timestamp"),
    ("version", "1.1.0", "statement.version", "version"),
    ("version", "2.0.0", "statement.version", "version"),
    # actor and agents
    ("actor.objectType", "agent", "statement.actor.objectType", "object-type"),
    ("actor.objectType", None, "statement.actor.objectType", "object-type"),
    ("actor.name", 123, "statement.actor.name", "type"),
    ("actor.account", {"homePage": "https://example.org", "name": "ada"}, "statement.actor", "exactly-one-ifi"),
    ("actor.mbox", DELETE, "statement.actor", "exactly-one-ifi"),
    ("actor.mbox", "mailto:should.fail.com", "statement.actor.mbox", "mailto-iri"),
    ("actor.mbox", "ada@example.org", "statement.actor.mbox", "mailto-iri"),
    ("actor.nickname", "ada", "statement.actor.nickname", "unknown-property"),
    ("context.instructor.account.homePage", "ab=c://should.fail.com", "statement.context.instructor.account.homePage", "irl"),
    ("context.instructor.account.name", DELETE, "statement.context.instructor.account.name", "required"),
    ("context.instructor.account.id", "7", "statement.context.instructor.account.id", "unknown-property"),
    ("context.team.member.0", {"objectType": "Group", "member": [AGENT]}, "statement.context.team.member[0].objectType", "group-member"),
    ("context.team.member", [], "statement.context.team.member", "required"),
    ("context.team.member", {"mbox": "mailto:a@b.c"}, "statement.context.team.member", "type"),
    ("context.team", AGENT, "statement.context.team.objectType", "object-type"),
    ("authority", {"objectType": "Group", "member": [AGENT]}, "statement.authority", "oauth-authority"),
    # verb
    ("verb.id", "adlnet.gov/expapi/verbs/answered", "statement.verb.id", "iri"),
    ("verb.id", DELETE, "statement.verb.id", "required"),
    ("verb.display", "answered", "statement.verb.display", "type"),
    ("verb.display", {"a12345": "answered"}, "statement.verb.display.a12345", "language-tag"),
    ("verb.display", {"en": 5}, "statement.verb.display.en", "type"),
    # activity
    ("object.objectType", "activity", "statement.object.objectType", "object-type"),
    ("object.id", "should fail", "statement.object.id", "iri"),
    ("object.id", DELETE, "statement.object.id", "required"),
    ("object.definition.moreInfo", "example.org/info", "statement.object.definition.moreInfo", "irl"),
    ("object.definition.type", 5, "statement.object.definition.type", "type"),
    ("object.definition.name", {"zh-z-aaa-z-bbb": "x"}, "statement.object.definition.name.zh-z-aaa-z-bbb", "language-tag"),
    ("object.definition.extensions", {"not.an/iri": 1}, "statement.object.definition.extensions.not.an/iri", "iri"),
    ("object.definition.interactionType", "Choice", "statement.object.definition.interactionType", "interaction-type"),
    ("object.definition.interactionType", DELETE, "statement.object.definition.interactionType", "required"),
    ("object.definition.correctResponsesPattern", "red", "statement.object.definition.correctResponsesPattern", "type"),
    ("object.definition.choices.1.id", "red", "statement.object.definition.choices[1].id", "duplicate-id"),
    ("object.definition.choices.0.label", "x", "statement.object.definition.choices[0].label", "unknown-property"),
    ("object.definition.colour", "red", "statement.object.definition.colour", "unknown-property"),
    ("object", {"mbox": "mailto:bob@example.org"}, "statement.object.objectType", "required"),
    # result
    ("result.score.scaled", 1.01, "statement.result.score.scaled", "score-range"),
    ("result.score.raw", 11, "statement.result.score.raw", "score-range"),
    ("result.score.min", 10, "statement.result.score.min", "score-range"),
    ("result.score.max", "100", "statement.result.score.max", "type"),
    ("result.score.weight", 1, "statement.result.score.weight", "unknown-property"),
    ("result.success", "true", "statement.result.success", "type"),
    ("result.response", 42, "statement.result.response", "type"),
    ("result.duration", "PA1H0M0S", "statement.result.duration", "iso8601-duration"),
    ("result.duration", "P4W1D", "statement.result.duration", "iso8601-duration"),
    ("result.duration", "P0003-06-04T12:30:05", "statement.result.duration", "iso8601-duration"),
    ("result.extensions", "none", "statement.result.extensions", "type"),
    ("result.grade", "A", "statement.result.grade", "unknown-property"),
    # context
    ("context.registration", "wrong", "statement.context.registration", "uuid"),
    ("context.contextActivities.sibling", [], "statement.context.contextActivities.sibling", "unknown-property"),
    ("context.contextActivities.parent.0.id", "course 1", "statement.context.contextActivities.parent[0].id", "iri"),
    ("context.contextActivities.grouping.id", DELETE, "statement.context.contextActivities.grouping.id", "required"),
    ("context.contextActivities.category", "https://w3id.org/xapi/video", "statement.context.contextActivities.category", "type"),
    ("context.language", "something", "statement.context.language", "language-tag"),
    ("context.revision", 3, "statement.context.revision", "type"),
    ("context.statement.objectType", "statementref", "statement.context.statement.objectType", "object-type"),
    ("context.extensions", {"example.com/wrong": 1}, "statement.context.extensions.example.com/wrong", "iri"),
    ("context.mood", "happy", "statement.context.mood", "unknown-property"),
    ("context", None, "statement.context", "type"),
    # attachments
    ("attachments", {}, "statement.attachments", "type"),
    ("attachments.0.usageType", "should fail", "statement.attachments[0].usageType", "iri"),
    ("attachments.0.length", "27", "statement.attachments[0].length", "type"),
    ("attachments.0.length", -1, "statement.attachments[0].length", "non-negative"),
    ("attachments.0.sha2", 12345, "statement.attachments[0].sha2", "type"),
    ("attachments.0.sha2", "not-a-hash", "statement.attachments[0].sha2", "sha2-hex"),
    ("attachments.0.contentType", "text", "statement.attachments[0].contentType", "media-type"),
    ("attachments.0.fileUrl", "over.there.com/file.txt", "statement.attachments[0].fileUrl", "irl"),
    ("attachments.0.display", DELETE, "statement.attachments[0].display", "required"),
    ("attachments.0.size", 3, "statement.attachments[0].size", "unknown-property"),
]


@pytest.mark.parametrize(("path", "value", "field", "rule"), RULES, ids=[f"{r[2]}:{r[3]}" for r in RULES])
def test_each_rule_refuses_with_the_field_and_rule(path: str, value: object, field: str, rule: str) -> None:
    assert refusal(put(full_statement(), path, value)) == (field, rule)


@pytest.mark.parametrize(
    ("object_", "statement_path", "field", "rule"),
    [
        ({"objectType": "StatementRef"}, None, "statement.object.id", "required"),
        ({"objectType": "StatementRef", "id": "not-a-uuid"}, None, "statement.object.id", "uuid"),
        ({"objectType": "Agent", "name": "no ifi"}, None, "statement.object", "exactly-one-ifi"),
        ({"objectType": "Group", "name": "nobody"}, None, "statement.object.member", "required"),
        ({"objectType": "Person", "mbox": "mailto:a@b.c"}, None, "statement.object.objectType", "object-type"),
        ({**SUBSTATEMENT, "object": SUBSTATEMENT}, None, "statement.object.object.objectType", "nested-substatement"),
        ({**SUBSTATEMENT, "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}, None, "statement.object.id", "substatement-property"),
        ({**SUBSTATEMENT, "authority": AGENT}, None, "statement.object.authority", "substatement-property"),
        ({**SUBSTATEMENT, "timestamp": "noon"}, None, "statement.object.timestamp", "iso8601-timestamp"),
        ({**SUBSTATEMENT, "verb": {"display": {}}}, None, "statement.object.verb.id", "required"),
        ({"objectType": "SubStatement", "verb": {"id": "http://x.org/v"}, "object": ACTIVITY}, None, "statement.object.actor", "required"),
        (AGENT, "revision", "statement.context.revision", "activity-only"),
        ({"objectType": "StatementRef", "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}, "platform", "statement.context.platform", "activity-only"),
    ],
)
def test_object_rules(object_: dict[str, Any], statement_path: str | None, field: str, rule: str) -> None:
    statement = minimal(object_)
    if statement_path:
        statement["context"] = {statement_path: "x"}
    assert refusal(statement) == (field, rule)


def test_a_voiding_statement_must_target_a_statement_ref() -> None:
    statement = minimal(ACTIVITY)
    statement["verb"] = {"id": "http://adlnet.gov/expapi/verbs/voided"}
    assert refusal(statement) == ("statement.object.objectType", "voiding-object")


@pytest.mark.parametrize("payload", [None, "statement", 5, ["statement"]])
def test_a_body_that_is_not_statements_is_refused(payload: object) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_statements(payload, "1.0.3")
    assert caught.value.errors[0].rule == "type"


# -- versions ----------------------------------------------------------------------------------------

CONTEXT_AGENTS = [
    {
        "objectType": "contextAgent",
        "agent": {"objectType": "Agent", "mbox": "mailto:player-1@example.com"},
        "relevantTypes": ["https://example.com/types/quarterback"],
    }
]
CONTEXT_GROUPS = [
    {
        "objectType": "contextGroup",
        "group": {"objectType": "Group", "mbox": "mailto:team-1@example.com", "member": [AGENT]},
        "relevantTypes": ["https://example.com/types/team"],
    }
]


@pytest.mark.parametrize(("name", "value"), [("contextAgents", CONTEXT_AGENTS), ("contextGroups", CONTEXT_GROUPS)])
def test_2_0_context_agents_and_groups_are_refused_under_1_0_3(name: str, value: object) -> None:
    statement = put(full_statement(), f"context.{name}", copy.deepcopy(value))
    validate_statement(statement, "2.0.0")
    assert refusal(statement, "1.0.3") == (f"statement.context.{name}", "unknown-property")


@pytest.mark.parametrize(
    ("path", "value", "field", "rule"),
    [
        ("contextAgents.0.objectType", "Should fail", "contextAgents[0].objectType", "object-type"),
        ("contextAgents.0.agent", {"key": "Should fail"}, "contextAgents[0].agent.key", "unknown-property"),
        ("contextAgents.0.agent", {"objectType": "Group", "member": [AGENT]}, "contextAgents[0].agent.objectType", "object-type"),
        ("contextAgents.0.relevantTypes", [], "contextAgents[0].relevantTypes", "non-empty"),
        ("contextAgents.0.relevantTypes", ["abc"], "contextAgents[0].relevantTypes[0]", "iri"),
        ("contextGroups.0.objectType", "contextAgent", "contextGroups[0].objectType", "object-type"),
        ("contextGroups.0.group", AGENT, "contextGroups[0].group.objectType", "object-type"),
        ("contextGroups.0.relevantTypes", "https://example.com/t", "contextGroups[0].relevantTypes", "type"),
    ],
)
def test_2_0_context_agent_and_group_rules(path: str, value: object, field: str, rule: str) -> None:
    statement = full_statement()
    statement["context"].update(contextAgents=copy.deepcopy(CONTEXT_AGENTS), contextGroups=copy.deepcopy(CONTEXT_GROUPS))
    put(statement["context"], path, value)
    assert refusal(statement, "2.0.0") == (f"statement.context.{field}", rule)


@pytest.mark.parametrize(
    ("version", "value", "accepted"),
    [
        ("1.0.3", "1.0.0", True),
        ("1.0.3", "2.0.0", False),
        ("1.0.3", "0.9.9", False),
        ("2.0.0", "2.0.0", True),
        ("2.0.0", "2.0", True),
        ("2.0.0", "1.0.9", True),
        ("2.0.0", "1.1.0", False),
        ("2.0.0", "should fail", False),
    ],
)
def test_statement_version_values(version: str, value: str, accepted: bool) -> None:
    statement = put(full_statement(), "version", value)
    if accepted:
        validate_statement(statement, version)
    else:
        assert refusal(statement, version) == ("statement.version", "version")


# -- batches and normalisation -----------------------------------------------------------------------


def test_a_single_statement_body_becomes_a_list() -> None:
    statement = full_statement()
    assert validate_statements(statement, "2.0.0") == [statement]


def test_batch_errors_name_the_index() -> None:
    batch = [minimal(ACTIVITY), minimal(ACTIVITY), put(minimal(ACTIVITY), "verb.id", "should fail")]
    with pytest.raises(BadRequest) as caught:
        validate_statements(batch, "1.0.3")
    assert (caught.value.errors[0].field, caught.value.errors[0].rule) == ("statements[2].verb.id", "iri")


def test_a_batch_repeating_an_id_is_refused() -> None:
    first = full_statement()
    second = put(full_statement(), "id", first["id"].upper())
    with pytest.raises(BadRequest) as caught:
        validate_statements([first, second], "1.0.3")
    assert (caught.value.errors[0].field, caught.value.errors[0].rule) == ("statements[1].id", "duplicate-id")


def test_normalise_wraps_single_context_activities_in_lists() -> None:
    statement = full_statement()
    statement["object"] = copy.deepcopy(SUBSTATEMENT)
    del statement["context"]["revision"], statement["context"]["platform"]
    validate_statement(statement, "1.0.3")
    stored = normalise_statement(statement)
    assert stored["context"]["contextActivities"]["grouping"] == [{"id": "http://example.org/programmes/p1", "objectType": "Activity"}]
    assert stored["context"]["contextActivities"]["parent"] == [{"id": "http://example.org/courses/c1"}]
    assert stored["object"]["context"]["contextActivities"]["parent"] == [{"id": "http://example.org/courses/c1"}]


# -- agent parameter and primitives ------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent",
    [
        {"objectType": "Agent", "account": {"homePage": "http://www.example.com/agentId/1", "name": "Rick James"}},
        {"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
        {"objectType": "Group", "openid": "https://openid.example.org/team", "member": [AGENT]},
    ],
)
def test_agent_parameter_accepts_agents_and_identified_groups(agent: dict[str, Any]) -> None:
    validate_agent(agent, "agent", "1.0.3")


@pytest.mark.parametrize(
    ("agent", "field", "rule"),
    [
        ({"objectType": "Agent", "name": "Rick James"}, "agent", "exactly-one-ifi"),
        ({"objectType": "Group", "member": [AGENT]}, "agent", "exactly-one-ifi"),
        ("mailto:a@b.c", "agent", "type"),
        ({"mbox": "mailto:a@b.c", "role": "x"}, "agent.role", "unknown-property"),
    ],
)
def test_agent_parameter_refusals(agent: object, field: str, rule: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_agent(agent, "agent", "2.0.0")
    assert (caught.value.errors[0].field, caught.value.errors[0].rule) == (field, rule)


def test_primitive_predicates() -> None:
    assert is_uuid("5b1e3a6c-2d4f-4e8a-9b0c-1d2e3f4a5b6c") and is_uuid("5B1E3A6C-2D4F-1E8A-CB0C-1D2E3F4A5B6C")
    assert not is_uuid("MA97B177-9383-4934-8543-0F91A7A02836") and not is_uuid("5b1e3a6c2d4f4e8a9b0c1d2e3f4a5b6c")
    assert is_iri("urn:uuid:6690e6c9") and is_iri("course-v1:FUN-MOOC+00002+session01") and is_iri("http://例え.jp/パス")
    assert not is_iri("example.com/x") and not is_iri("ab=c://x") and not is_iri("http://a b") and not is_iri("http://x/%zz")
    assert all(is_language_tag(tag) for tag in ("en", "en-US", "zh-Hans-CN", "de-CH-1901", "i-klingon", "und", "cmn"))
    assert not any(is_language_tag(tag) for tag in ("a12345", "something", "en_US", "de-1901-1901", "", "en-"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-05-04T12:00:00-05:00", datetime(2023, 5, 4, 17, 0, tzinfo=UTC)),
        ("2021-11-29T23:09:00.867219+00:00", datetime(2021, 11, 29, 23, 9, 0, 867219, tzinfo=UTC)),
        ("2015-01-01T00:00:00.1234567Z", datetime(2015, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("20150101T013000+0130", datetime(2015, 1, 1, 0, 0, tzinfo=UTC)),
        ("2015-01-01T00:00:00", datetime(2015, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_gives_aware_utc(value: str, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["2008-09-15T15:53:00.601-00", "2015-13-01T00:00:00Z", "2015-01-01", "1 Jan 2015"])
def test_parse_timestamp_refuses_what_is_not_iso_8601(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_timestamp(value)


# -- real statements ---------------------------------------------------------------------------------


def load_ralph_statements() -> list[dict[str, Any]]:
    text = gzip.decompress(RALPH_STATEMENTS.read_bytes()).decode()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("version", VERSIONS)
def test_real_ralph_statements_all_validate(version: str) -> None:
    statements = load_ralph_statements()
    assert len(statements) == 22_000
    for start in range(0, len(statements), 1000):
        validate_statements(statements[start : start + 1000], version)
