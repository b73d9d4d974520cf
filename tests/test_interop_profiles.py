"""What the xAPI Profile validator says about a statement: the template it follows, with warnings
for recommended values it lacks, or a refusal naming the broken rule and its location.

The DASES LMS profile is read where the specifications live, never copied. Valid statements are
the examples of its human docs (`lms/statements/*.md`), adjusted where the docs and the profile
disagree (the profile wins); the broken statements are generated from the profile's own rules.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from dases.errors import InvalidInput, NotFound
from dases.interop.profiles import (
    JsonPath,
    JsonPathError,
    Match,
    Profile,
    ProfileMismatch,
    RuleViolation,
)

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "dases-xapi"
LMS_PROFILE = SPECS / "lms" / "profile" / "profile.jsonld"

TEMPLATES = "http://schema.dases.eu/xapi/profile/common/templates/"
EXTENSIONS = "http://schema.dases.eu/xapi/profile/common/extension/"
ACROSSX_TYPE = "https://w3id.org/xapi/acrossx/extensions/type"
SESSION_ID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
# The docs show `https://w3id.org/xapi/lms` as category; the profile requires this one.
LMS_CATEGORY = "https://profiles.adlnet.gov/xapi/bf76a8cc-f46a-4065-aa7b-443df4efc2be/v/1"
PROFILE_TYPE = "http://adlnet.gov/expapi/activities/profile"

ACCESSED = "https://w3id.org/xapi/netc/verbs/accessed"
UPLOADED = "https://w3id.org/xapi/netc/verbs/uploaded"
DOWNLOADED = (
    "http://id.tincanapi.com/verb/downloaded"  # the docs' table says netc; the profile says tincan
)
REGISTERED = (
    "https://w3id.org/xapi/tla/verbs/registered"  # the docs say adlnet; the profile says tla
)
UNREGISTERED = "http://id.tincanapi.com/verb/unregistered"
WEBPAGE = "https://w3id.org/xapi/acrossx/activities/webpage"
FILE = "http://activitystrea.ms/file"
COURSE = "http://adlnet.gov/expapi/activities/course"


@cache
def lms() -> Profile:
    return Profile.load(LMS_PROFILE)


@cache
def lms_document() -> dict[str, Any]:
    return json.loads(LMS_PROFILE.read_text(encoding="utf-8"))


def doc_statement(
    verb: str,
    activity_type: str,
    *,
    object_extensions: dict[str, Any] | None = None,
    context_extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The shape every example of the LMS docs shares."""
    definition: dict[str, Any] = {"type": activity_type, "name": {"en": "Test Course"}}
    if object_extensions:
        definition["extensions"] = object_extensions
    context: dict[str, Any] = {
        "contextActivities": {
            "category": [{"id": LMS_CATEGORY, "definition": {"type": PROFILE_TYPE}}],
        }
    }
    if context_extensions:
        context["extensions"] = context_extensions
    return {
        "actor": {"account": {"name": "john", "homePage": "http://gaiax.org"}},
        "verb": {"id": verb},
        "object": {
            "objectType": "Activity",
            "id": "http://gaiax.org/xapi/activities/ba297687-b1aa-4477-9efd-a782c8fdb90a",
            "definition": definition,
        },
        "context": context,
        "timestamp": "2016-06-09T15:34:26.887Z",
    }


# The docs' registration extensions live under https://w3id.org/xapi/lms/extensions/; the profile
# declares them as its own concepts.
COURSE_DATES = {
    f"{EXTENSIONS}starting-date": "2016-09-01T09:00:00.000Z",
    f"{EXTENSIONS}ending-date": "2016-12-01T00:00:00.000Z",
    f"{EXTENSIONS}role": "learner",
}

EXAMPLES: dict[str, dict[str, Any]] = {
    f"{TEMPLATES}accessed-page": doc_statement(
        ACCESSED, WEBPAGE, object_extensions={ACROSSX_TYPE: "course"}
    ),
    f"{TEMPLATES}accessed-file": doc_statement(
        ACCESSED, FILE, object_extensions={ACROSSX_TYPE: "application/pdf"}
    ),
    f"{TEMPLATES}registered-course": doc_statement(
        REGISTERED, COURSE, context_extensions=COURSE_DATES
    ),
    f"{TEMPLATES}unregistered-course": doc_statement(
        UNREGISTERED, COURSE, context_extensions={**COURSE_DATES, f"{EXTENSIONS}role": "staff"}
    ),
    f"{TEMPLATES}uploaded-file": doc_statement(
        UPLOADED,
        FILE,
        object_extensions={ACROSSX_TYPE: "application/pdf"},
        context_extensions={SESSION_ID: "53ff781a-3c52-11ee-be56-0242ac120002"},
    ),
    f"{TEMPLATES}downloaded-file": doc_statement(
        DOWNLOADED,
        FILE,
        object_extensions={ACROSSX_TYPE: "application/pdf"},
        context_extensions={SESSION_ID: "53ff781a-3c52-11ee-be56-0242ac120002"},
    ),
}


def example(template_id: str) -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES[template_id])


def short(template_id: str) -> str:
    return template_id.rsplit("/", 1)[-1]


# -- writing at a profile location, independently of the implementation's JSONPath ---------------

_KEY = re.compile(r"\.([\w-]+)|\['([^']+)'\]")


def keys(location: str) -> list[str]:
    assert location.startswith("$"), location
    found, pos = [], 1
    while pos < len(location):
        step = _KEY.match(location, pos)
        assert step is not None, f"the test helper cannot read {location}"
        found.append(step.group(1) or step.group(2))
        pos = step.end()
    return found


def parents(statement: dict[str, Any], location: str) -> list[dict[str, Any]]:
    """The objects holding the last key of `location`; arrays on the way are walked member by member."""
    nodes: list[Any] = [statement]
    for key in keys(location)[:-1]:
        members = [m for node in nodes for m in (node if isinstance(node, list) else [node])]
        nodes = [member.setdefault(key, {}) for member in members]
    return [m for node in nodes for m in (node if isinstance(node, list) else [node])]


def put(statement: dict[str, Any], location: str, value: Any) -> dict[str, Any]:
    for parent in parents(statement, location):
        parent[keys(location)[-1]] = value
    return statement


def remove(statement: dict[str, Any], location: str) -> dict[str, Any]:
    for parent in parents(statement, location):
        parent.pop(keys(location)[-1], None)
    return statement


OUTSIDE = "https://example.org/a-value-no-rule-lists"


def breaking_cases() -> list[Any]:
    """For each rule of each template, every requirement it has, and a statement breaking only it."""
    cases = []
    for template in lms_document()["templates"]:
        for index, rule in enumerate(template.get("rules", [])):
            location, presence = rule["location"], rule.get("presence")
            edits: list[tuple[str, Any]] = []
            if presence == "included":
                edits.append(("presence-included", lambda s, loc=location: remove(s, loc)))
            if presence == "excluded":
                edits.append(("presence-excluded", lambda s, loc=location: put(s, loc, OUTSIDE)))
            if "any" in rule:
                edits.append(("any", lambda s, loc=location: put(s, loc, OUTSIDE)))
            if "all" in rule:
                edits.append(("all", lambda s, loc=location: put(s, loc, OUTSIDE)))
            if "none" in rule:
                edits.append(("none", lambda s, loc=location, v=rule["none"][0]: put(s, loc, v)))
            for expected, edit in edits:
                cases.append(
                    pytest.param(
                        template["id"],
                        location,
                        expected,
                        edit,
                        id=f"{short(template['id'])}-rule{index}-{expected}",
                    )
                )
    return cases


def recommended_cases() -> list[Any]:
    return [
        pytest.param(template["id"], rule["location"], id=f"{short(template['id'])}-rule{index}")
        for template in lms_document()["templates"]
        for index, rule in enumerate(template.get("rules", []))
        if rule.get("presence") == "recommended"
    ]


# -- the DASES LMS profile ------------------------------------------------------------------------


def test_the_lms_profile_loads_with_all_its_templates() -> None:
    profile = lms()
    assert profile.id == "http://schema.dases.eu/xapi/profile/common"
    assert [t.id for t in profile.templates] == [t["id"] for t in lms_document()["templates"]]
    assert profile.template(f"{TEMPLATES}accessed-page").label == "Accessed a page"


def test_every_template_of_the_profile_has_an_example() -> None:
    assert set(EXAMPLES) == {template.id for template in lms().templates}


@pytest.mark.parametrize("template_id", sorted(EXAMPLES), ids=short)
def test_each_example_matches_its_template_without_warnings(template_id: str) -> None:
    statement = example(template_id)
    assert lms().match(statement) == Match(
        template=template_id, label=lms().template(template_id).label, warnings=[]
    )
    assert lms().check(statement, template_id) == []
    assert statement == EXAMPLES[template_id], "matching must not change the caller's statement"


@pytest.mark.parametrize(("template_id", "location", "expected", "edit"), breaking_cases())
def test_a_statement_breaking_one_rule_is_refused_naming_it(
    template_id: str, location: str, expected: str, edit: Any
) -> None:
    statement = edit(example(template_id))
    with pytest.raises(ProfileMismatch) as refused:
        lms().match(statement)
    assert refused.value.violations == lms().check(statement, template_id)
    [violation] = refused.value.violations
    assert (violation.template, violation.location, violation.rule) == (
        template_id,
        location,
        expected,
    )
    assert location in refused.value.detail
    assert template_id in refused.value.detail
    assert refused.value.template == template_id
    assert refused.value.status == 400


@pytest.mark.parametrize(("template_id", "location"), recommended_cases())
def test_an_absent_recommended_value_is_a_warning_not_a_refusal(
    template_id: str, location: str
) -> None:
    match = lms().match(remove(example(template_id), location))
    assert match.template == template_id
    [warning] = match.warnings
    assert location in warning
    assert "recommended" in warning


def test_a_recommended_value_that_is_there_must_still_follow_its_any_list() -> None:
    statement = put(
        example(f"{TEMPLATES}accessed-page"),
        f"$.object.definition.extensions['{ACROSSX_TYPE}']",
        "a_forum",
    )
    with pytest.raises(ProfileMismatch) as refused:
        lms().match(statement)
    assert [v.rule for v in refused.value.violations] == ["any"]
    assert '"course_list"' in refused.value.detail


def test_category_ids_are_read_over_every_category_activity() -> None:
    statement = example(f"{TEMPLATES}accessed-file")
    statement["context"]["contextActivities"]["category"].insert(
        0, {"id": "https://w3id.org/xapi/lms", "definition": {"type": PROFILE_TYPE}}
    )
    assert lms().match(statement).template == f"{TEMPLATES}accessed-file"


def test_a_singleton_category_object_is_normalised_to_a_list_first() -> None:
    statement = example(f"{TEMPLATES}accessed-page")
    statement["context"]["contextActivities"]["category"] = {"id": LMS_CATEGORY}
    before = copy.deepcopy(statement)
    assert lms().match(statement).template == f"{TEMPLATES}accessed-page"
    assert statement == before


def test_an_empty_category_list_is_not_an_included_category() -> None:
    statement = example(f"{TEMPLATES}uploaded-file")
    statement["context"]["contextActivities"]["category"] = []
    with pytest.raises(ProfileMismatch) as refused:
        lms().match(statement)
    [violation] = refused.value.violations
    assert (violation.rule, violation.location) == (
        "presence-included",
        "$.context.contextActivities.category",
    )


def test_a_null_timestamp_is_an_absent_timestamp() -> None:
    statement = put(example(f"{TEMPLATES}registered-course"), "$.timestamp", None)
    with pytest.raises(ProfileMismatch) as refused:
        lms().match(statement)
    assert [(v.rule, v.location) for v in refused.value.violations] == [
        ("presence-included", "$.timestamp")
    ]


def test_no_template_applies_names_the_closest_and_its_differing_property() -> None:
    statement = example(f"{TEMPLATES}downloaded-file")
    statement["object"]["definition"]["type"] = "https://w3id.org/xapi/video/activity-type/video"
    with pytest.raises(ProfileMismatch) as refused:
        lms().match(statement)
    error = refused.value
    assert "No statement template" in error.detail
    assert error.template == f"{TEMPLATES}downloaded-file"
    assert "Downloaded a file" in error.detail
    assert error.violations == [
        RuleViolation(
            template=f"{TEMPLATES}downloaded-file",
            location="$.object.definition.type",
            rule="determining-property",
            message=error.violations[0].message,
        )
    ]
    assert FILE in error.violations[0].message


def test_a_refusal_is_a_problem_response_listing_each_broken_rule() -> None:
    statement = remove(example(f"{TEMPLATES}uploaded-file"), "$.timestamp")
    remove(statement, "$.context.contextActivities.category")
    with pytest.raises(ProfileMismatch) as refused:
        lms().match(statement)
    body = refused.value.problem("/lrs/statements")
    assert body["status"] == 400
    assert body["type"] == "urn:dases:problem:profile-mismatch"
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [
        ("$.context.contextActivities.category", "presence-included"),
        ("$.timestamp", "presence-included"),
    ]
    assert "1 more broken rule" in body["detail"]


def test_check_against_another_template_lists_determining_properties_then_rules() -> None:
    statement = example(f"{TEMPLATES}accessed-file")
    violations = lms().check(statement, f"{TEMPLATES}accessed-page")
    assert [(v.rule, v.location) for v in violations] == [
        ("determining-property", "$.object.definition.type"),
        ("any", f"$.object.definition.extensions['{ACROSSX_TYPE}']"),
    ]


def test_check_refuses_a_template_the_profile_does_not_have() -> None:
    with pytest.raises(NotFound, match="no statement template"):
        lms().check(example(f"{TEMPLATES}accessed-file"), f"{TEMPLATES}watched-video")


def test_a_statement_that_is_not_an_object_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="JSON object"):
        lms().match(["not", "a", "statement"])  # type: ignore[arg-type]


# -- loading ---------------------------------------------------------------------------------------


def test_the_assessment_profile_has_no_profile_file_and_loading_says_so() -> None:
    missing = SPECS / "assessment" / "profile" / "profile.jsonld"
    with pytest.raises(InvalidInput) as refused:
        Profile.load(missing)
    assert refused.value.status == 422
    assert str(missing) in refused.value.detail
    assert "does not exist" in refused.value.detail


def test_a_directory_is_not_a_profile(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is a directory"):
        Profile.load(tmp_path)


def test_a_profile_that_is_not_json_names_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "profile.jsonld"
    broken.write_text('{\n  "id": "urn:x",\n  "templates": [,]\n}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 3, column"):
        Profile.load(broken)


def synthetic(*templates: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "https://example.org/profiles/test",
        "type": "Profile",
        "prefLabel": {"en": "Test profile"},
        "templates": list(templates),
    }


def template(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "id": f"https://example.org/profiles/test/templates/{name}",
        "type": "StatementTemplate",
        "prefLabel": {"en": name},
        **properties,
    }


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        ([], "$", "JSON object"),
        ({"type": "Profile"}, "id", "IRI"),
        ({"id": "urn:p", "type": "Concept"}, "type", "Profile"),
        ({**synthetic(), "templates": {}}, "templates", "array"),
        (synthetic(template("t", rules=[{"presence": "included"}])), "templates[0].rules[0].location", "location"),
        (synthetic(template("t", rules=[{"location": "$.a"}])), "templates[0].rules[0]", "at least one of"),
        (synthetic(template("t", rules=[{"location": "$.a", "presence": "maybe"}])), "templates[0].rules[0].presence", "maybe"),
        (synthetic(template("t", rules=[{"location": "$.a[?(@.b)]", "presence": "included"}])), "templates[0].rules[0].location", "filter"),
        (synthetic(template("t", rules=[{"location": "$.a", "selector": "$..b", "presence": "included"}])), "templates[0].rules[0].selector", "recursive"),
        (synthetic(template("t", rules=[{"location": "$.a", "any": "x"}])), "templates[0].rules[0].any", "array"),
        (synthetic(template("t", verb=["urn:v"])), "templates[0].verb", "IRI"),
        (synthetic(template("t", contextParentActivityType="urn:t")), "templates[0].contextParentActivityType", "array"),
        (synthetic(template("t", objectActivityType="urn:a", objectStatementRefTemplate=["urn:t"])), "templates[0].objectStatementRefTemplate", "both"),
        (synthetic(template("t", contextStatementRefTemplate=["urn:elsewhere"])), "templates[0].contextStatementRefTemplate", "urn:elsewhere"),
        (synthetic(template("t"), template("t")), "templates[1].id", "twice"),
        (synthetic({**template("t"), "type": "Pattern"}), "templates[0].type", "StatementTemplate"),
    ],
)  # fmt: skip
def test_an_invalid_profile_is_refused_naming_the_field(
    document: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        Profile.from_document(document, source="test.jsonld")
    assert "test.jsonld" in refused.value.detail
    problems = [e for e in refused.value.errors if e.field == field]
    assert problems, [e.as_dict() for e in refused.value.errors]
    assert words in problems[0].message


# -- the rest of the specification, on a synthetic profile ----------------------------------------

VERB = "https://example.org/verbs/placed"
EVENT = "https://example.org/activitytypes/event"
LEAGUE = "https://example.org/activitytypes/league"
CERTIFICATE = "https://example.org/attachment-usage/certificate"


def placing(**extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
        "actor": {"mbox": "mailto:ann@example.org"},
        "verb": {"id": VERB},
        "object": {"id": "https://example.org/events/1", "definition": {"type": EVENT}},
        "context": {
            "contextActivities": {
                "grouping": [
                    {"id": "https://example.org/leagues/1", "definition": {"type": LEAGUE}},
                    {"id": "https://example.org/events/all", "definition": {"type": EVENT}},
                ]
            }
        },
        "result": {"extensions": {"https://example.org/place": 2}},
    }
    statement.update(extra)
    return statement


def sports(*rules: dict[str, Any], **properties: Any) -> Profile:
    return Profile.from_document(
        synthetic(
            template(
                "placing",
                verb=VERB,
                objectActivityType=EVENT,
                contextGroupingActivityType=[LEAGUE, EVENT],
                rules=list(rules),
                **properties,
            )
        )
    )


PLACING = "https://example.org/profiles/test/templates/placing"
PLACE = "$.result.extensions['https://example.org/place']"


def refused_rules(profile: Profile, statement: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ProfileMismatch) as refused:
        profile.match(statement)
    return [(v.rule, v.location) for v in refused.value.violations]


def test_context_activity_types_must_all_be_present() -> None:
    profile = sports()
    assert profile.match(placing()).template == PLACING
    statement = placing()
    statement["context"]["contextActivities"]["grouping"].pop(0)
    assert refused_rules(profile, statement) == [
        ("determining-property", "$.context.contextActivities.grouping[*].definition.type")
    ]


def test_a_singleton_context_activity_counts_for_its_activity_type() -> None:
    profile = Profile.from_document(
        synthetic(template("placing", verb=VERB, contextGroupingActivityType=[LEAGUE]))
    )
    statement = placing()
    statement["context"]["contextActivities"]["grouping"] = {
        "id": "https://example.org/leagues/1",
        "definition": {"type": LEAGUE},
    }
    assert profile.match(statement).template == PLACING


def test_attachment_usage_types_are_determining() -> None:
    profile = sports(attachmentUsageType=[CERTIFICATE])
    attachment = {"usageType": CERTIFICATE, "display": {"en": "c"}, "contentType": "a/b"}
    assert profile.match(placing(attachments=[attachment])).template == PLACING
    assert refused_rules(profile, placing()) == [
        ("determining-property", "$.attachments[*].usageType")
    ]


def test_excluded_all_and_none() -> None:
    profile = sports(
        {"location": "$.result.success", "presence": "excluded"},
        {"location": PLACE, "all": [1, 2, 3]},
        {"location": "$.context.contextActivities.grouping[*].id", "none": ["https://example.org/leagues/banned"]},
    )  # fmt: skip
    assert profile.match(placing()).warnings == []
    assert refused_rules(profile, placing(result={"success": True, "extensions": {"https://example.org/place": 2}})) == [
        ("presence-excluded", "$.result.success")
    ]  # fmt: skip
    assert refused_rules(profile, placing(result={"extensions": {"https://example.org/place": 4}})) == [
        ("all", PLACE)
    ]  # fmt: skip
    statement = placing()
    statement["context"]["contextActivities"]["grouping"][0]["id"] = (
        "https://example.org/leagues/banned"
    )
    assert refused_rules(profile, statement) == [
        ("none", "$.context.contextActivities.grouping[*].id")
    ]


def test_all_holds_vacuously_when_nothing_is_there() -> None:
    profile = sports({"location": "$.result.score.scaled", "all": [1]})
    assert profile.match(placing()).template == PLACING


def test_any_is_strict_when_presence_is_not_recommended() -> None:
    profile = sports({"location": "$.result.score.scaled", "any": [1]})
    assert refused_rules(profile, placing()) == [("any", "$.result.score.scaled")]


def test_values_compare_as_json_so_true_is_not_one() -> None:
    profile = sports({"location": PLACE, "any": [1]})
    assert profile.match(placing(result={"extensions": {"https://example.org/place": 1.0}}))
    assert refused_rules(profile, placing(result={"extensions": {"https://example.org/place": True}})) == [
        ("any", PLACE)
    ]  # fmt: skip


def test_a_selector_that_finds_nothing_in_a_member_is_unmatchable() -> None:
    rule = {
        "location": "$.context.contextActivities.grouping[*]",
        "selector": "$.definition.name.en",
    }
    named = placing()
    for activity in named["context"]["contextActivities"]["grouping"]:
        activity["definition"]["name"] = {"en": "Cup"}
    one_unnamed = copy.deepcopy(named)
    del one_unnamed["context"]["contextActivities"]["grouping"][1]["definition"]["name"]

    included = sports({**rule, "presence": "included"})
    assert included.match(named).template == PLACING
    assert refused_rules(included, one_unnamed) == [
        ("presence-included", "$.context.contextActivities.grouping[*]")
    ]
    every = sports({**rule, "all": ["Cup"]})
    assert every.match(named).template == PLACING
    assert refused_rules(every, one_unnamed) == [("all", "$.context.contextActivities.grouping[*]")]
    some = sports({**rule, "any": ["Cup"]})
    assert some.match(one_unnamed).template == PLACING


def test_alternation_reads_several_places() -> None:
    profile = sports({"location": "$.result.response | $.result.extensions['https://example.org/place']", "presence": "included"})  # fmt: skip
    assert profile.match(placing()).template == PLACING
    assert refused_rules(profile, placing(result={})) == [
        ("presence-included", "$.result.response | $.result.extensions['https://example.org/place']")
    ]  # fmt: skip


def test_every_applicable_template_must_hold_and_the_most_specific_is_named() -> None:
    broad = template(
        "broad", verb=VERB, rules=[{"location": "$.timestamp", "presence": "recommended"}]
    )
    narrow = template("narrow", verb=VERB, objectActivityType=EVENT)
    profile = Profile.from_document(synthetic(broad, narrow))
    match = profile.match(placing())
    assert match.template == "https://example.org/profiles/test/templates/narrow"
    assert match.warnings == []  # the broad template's recommendation is not the narrow one's
    strict = template(
        "broad", verb=VERB, rules=[{"location": "$.timestamp", "presence": "included"}]
    )
    with pytest.raises(ProfileMismatch) as refused:
        Profile.from_document(synthetic(strict, narrow)).match(placing())
    assert refused.value.template == "https://example.org/profiles/test/templates/broad"


STATEMENT_REFS = synthetic(
    template("placing", verb=VERB, objectActivityType=EVENT),
    template("disputed", verb="https://example.org/verbs/disputed", objectStatementRefTemplate=["https://example.org/profiles/test/templates/placing"]),
)  # fmt: skip


def dispute(ref: str = "6690e6c9-3ef0-4ed3-8b37-7f3964730bee") -> dict[str, Any]:
    return {
        "id": "2d0e0c47-a1b5-4d1e-86b4-8a2e9a3d5b3a",
        "actor": {"mbox": "mailto:bob@example.org"},
        "verb": {"id": "https://example.org/verbs/disputed"},
        "object": {"objectType": "StatementRef", "id": ref},
    }


def test_a_statement_ref_template_needs_a_statement_ref() -> None:
    profile = Profile.from_document(STATEMENT_REFS)
    assert profile.match(dispute()).template.endswith("/disputed")
    activity = {**dispute(), "object": {"id": "https://example.org/events/1"}}
    assert refused_rules(profile, activity) == [("statement-ref", "$.object.objectType")]


def test_a_resolved_statement_ref_must_follow_one_of_the_templates() -> None:
    profile = Profile.from_document(STATEMENT_REFS)
    store = {
        "6690e6c9-3ef0-4ed3-8b37-7f3964730bee": placing(),
        "other": placing(verb={"id": "urn:x"}),
    }
    assert profile.match(dispute(), resolve=store.get).template.endswith("/disputed")
    assert profile.match(dispute("unknown"), resolve=store.get).template.endswith("/disputed")
    with pytest.raises(ProfileMismatch) as refused:
        profile.match(dispute("other"), resolve=store.get)
    [violation] = refused.value.violations
    assert (violation.rule, violation.location) == ("statement-ref", "$.object.id")
    assert "no template" in violation.message


def test_a_profile_without_templates_matches_nothing() -> None:
    with pytest.raises(ProfileMismatch, match="no statement templates"):
        Profile.from_document(synthetic()).match(placing())


# -- JSONPath ----------------------------------------------------------------------------------------

DOCUMENT = {
    "a": {"b": 1, "c/d:e": 2, "it's": 3},
    "list": [{"id": "x", "n": 1}, {"id": "y"}, {"n": 3}],
    "empty": [],
    "nothing": None,
}


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("$", [DOCUMENT]),
        ("$.a.b", [1]),
        ("$['a']['c/d:e']", [2]),
        ('$["a"]["c/d:e"]', [2]),
        ("$.a['it\\'s']", [3]),
        ("$.a[ 'b' , 'c/d:e' ]", [1, 2]),
        ("$.a.*", [1, 2, 3]),
        ("$.a[*]", [1, 2, 3]),
        ("$.list[1]", [{"id": "y"}]),
        ("$.list[0,2].n", [1, 3]),
        ("$.list[7]", []),
        ("$.list[*].id", ["x", "y"]),
        ("$.list.id", ["x", "y"]),  # a name on an array reads each member
        ("$.list", [DOCUMENT["list"]]),  # an array found is one value, not flattened
        ("$.empty", [[]]),
        ("$.nothing", [None]),
        ("$.missing.deeper", []),
        ("$.a.b.c", []),
        ("$.a.b | $.list[0].id", [1, "x"]),
        ("$.a.b|$.missing|$.a['it\\'s']", [1, 3]),
        ("a.b", [1]),  # the specification's own example leaves out the root
    ],
)
def test_jsonpath_evaluates_the_profile_subset(path: str, values: list[Any]) -> None:
    assert JsonPath.parse(path).evaluate(DOCUMENT) == values
    assert str(JsonPath.parse(path)) == path


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("", "property name"),
        ("$a", "expected '.', '[' or '|'"),
        ("$.a[?(@.b)]", "filter"),
        ("$.a[(@.length-1)]", "filter"),
        ("$..a", "recursive descent"),
        ("$.a[", "quoted name"),
        ("$.a[-1]", "non-negative"),
        ("$.a['b]", "unterminated"),
        ("$.a['b'", "expected ',' or ']'"),
        ("$.a |", "property name"),
        ("$.", "property name"),
    ],
)
def test_jsonpath_refuses_what_profiles_may_not_use(path: str, words: str) -> None:
    with pytest.raises(JsonPathError) as refused:
        JsonPath.parse(path)
    assert words in refused.value.detail
    assert isinstance(refused.value, InvalidInput)
