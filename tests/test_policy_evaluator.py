"""What a building block notices when it asks `decide` about a DSP policy: the decision, and a
reason naming what decided it. Evaluation fails closed and never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dases.policy import (
    Context,
    Decision,
    DeonticState,
    PolicyError,
    Request,
    Taxonomy,
    World,
    decide,
    policy_from_json,
)
from dases.policy.report import ConstraintReport, Satisfaction

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CONSUMER = "did:web:consumer.example"
DATASET = "urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88"
EDU = "https://w3id.org/dpv/sector/education#"


@cache
def dpv() -> Taxonomy:
    folder = SPECS / "dpv"
    return Taxonomy.from_turtle(
        folder / "dpv-purposes.ttl",
        folder / "sector-education-purposes.ttl",
        folder / "dpv-consent_status.ttl",
    )


def offer(*constraints: dict[str, Any], action: str = "use", **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"action": action}
    if constraints:
        rule["constraint"] = list(constraints)
    return {"@id": "urn:uuid:offer-1", "@type": "Offer", "permission": [rule], **extra}


def constraint(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def context(request: dict[str, Any] | None = None, **world: Any) -> Context:
    world.setdefault("now", NOW)
    world.setdefault("taxonomy", dpv())
    return Context(
        Request(**{"assignee": CONSUMER, "target": DATASET, **(request or {})}), World(**world)
    )


def check(policy: dict[str, Any], scope: str = "transfer", **kwargs: Any) -> Decision:
    return decide(policy, scope, context(**kwargs))


def denied_because(decision: Decision, *fragments: str) -> str:
    assert not decision.allowed, decision.reasons
    text = " | ".join(decision.reasons)
    for fragment in fragments:
        assert fragment in text, text
    return text


# --- time -----------------------------------------------------------------------------------------


def test_a_permission_until_a_past_date_denies_and_until_a_future_date_allows() -> None:
    past = offer(constraint("dateTime", "lteq", "2024-12-31T23:59:59Z"))
    future = offer(constraint("dateTime", "lteq", "2025-12-31T23:59:59Z"))

    denied_because(check(past), "permission[0].constraint[0]", "dateTime lteq 2024-12-31T23:59:59Z")
    assert check(future).allowed


def test_the_dsp_agreement_example_expires_at_its_date() -> None:
    message = json.loads(
        (SPECS / "dsp/negotiation/example/contract-agreement-message.json").read_text()
    )
    agreement = message["agreement"]  # dateTime lteq "2023-12-31T06:00Z"
    parties = {"assignee": agreement["assignee"], "target": agreement["target"]}

    assert check(agreement, request=parties, now=datetime(2023, 6, 1, tzinfo=UTC)).allowed
    assert not check(agreement, request=parties, now=datetime(2024, 1, 1, tzinfo=UTC)).allowed
    assert not check(agreement, now=datetime(2023, 6, 1, tzinfo=UTC)).allowed  # not our agreement


def test_elapsed_time_counts_from_the_agreement_start() -> None:
    policy = offer(constraint("elapsedTime", "lteq", {"@value": "P30D", "@type": "xsd:duration"}))

    assert check(policy, agreement_start=NOW - timedelta(days=29)).allowed
    denied_because(check(policy, agreement_start=NOW - timedelta(days=31)), "elapsedTime lteq P30D")
    denied_because(check(policy), "elapsedTime", "no agreement start")


def test_elapsed_time_in_months_is_calendar_exact() -> None:
    policy = offer(constraint("elapsedTime", "lt", "P1M"))
    start = datetime(2025, 1, 31, tzinfo=UTC)  # one month later is 28 February

    assert check(policy, agreement_start=start, now=datetime(2025, 2, 27, 23, tzinfo=UTC)).allowed
    assert not check(
        policy, agreement_start=start, now=datetime(2025, 2, 28, 1, tzinfo=UTC)
    ).allowed


def test_before_an_agreement_usage_constraints_count_the_first_use() -> None:
    policy = offer(constraint("elapsedTime", "lteq", "PT1H"), constraint("count", "lteq", 5))

    assert check(policy, scope="catalog").allowed
    assert check(policy, scope="negotiation").allowed


# --- count ----------------------------------------------------------------------------------------


def test_count_allows_exactly_the_permitted_number_of_uses() -> None:
    policy = offer(constraint("count", "lteq", 5))

    assert check(policy, use_count=4).allowed  # this is the fifth use
    denied_because(check(policy, use_count=5), "count lteq 5", "value: 6")
    denied_because(check(policy), "count", "number of uses so far is not known")


# --- purpose --------------------------------------------------------------------------------------


def test_purpose_is_a_broader_education_purpose() -> None:
    policy = offer(constraint("purpose", "isA", "sector-education:StudentManagement"))

    def asking_for(purpose: str | None) -> Decision:
        return check(policy, request={"purpose": purpose})

    assert asking_for(EDU + "StudentPerformanceMonitoring").allowed
    assert asking_for("sector-education:StudentLearningOutcomeAssessment").allowed
    denied_because(asking_for("https://w3id.org/dpv#Marketing"), "purpose isA")
    denied_because(asking_for(EDU + "ResearchDataManagement"), "purpose isA")
    denied_because(
        asking_for(EDU + "StudentAttendanceManagement"), "purpose isA"
    )  # service provision
    denied_because(asking_for(None), "declares no purpose")


def test_purpose_is_a_needs_the_hierarchy() -> None:
    policy = offer(constraint("purpose", "isA", "dpv:Purpose"))
    request = {"purpose": EDU + "StudentPerformanceMonitoring"}

    assert decide(policy, "transfer", context(request)).allowed
    bare = Context(Request(assignee=CONSUMER, purpose=request["purpose"]), World(now=NOW))
    assert not decide(policy, "transfer", bare).allowed


def test_purpose_is_none_of_excluded_purposes() -> None:
    policy = offer(constraint("purpose", "isNoneOf", ["dpv:Marketing", "dpv:Advertising"]))

    assert check(policy, request={"purpose": EDU + "StudentContentDelivery"}).allowed
    assert not check(policy, request={"purpose": "dpv:Advertising"}).allowed


# --- parties, location, consent -------------------------------------------------------------------


def test_spatial_eq_the_region_the_consumer_is_in() -> None:
    catalog = json.loads((SPECS / "dsp/catalog/example/catalog.json").read_text())
    policy = catalog["dataset"][0]["hasPolicy"][0]  # spatial eq http://example.org/EU

    assert check(policy, scope="catalog", spatial={"FR", "http://example.org/EU"}).allowed
    denied_because(
        check(policy, scope="catalog", spatial={"US"}), "spatial eq http://example.org/EU"
    )
    denied_because(check(policy, scope="catalog"), "location is not known")


def test_spatial_is_part_of_follows_memberships() -> None:
    policy = offer(constraint("spatial", "isPartOf", "http://example.org/EU"))
    regions = {"FR": {"http://example.org/EU"}}

    assert check(policy, spatial={"FR"}, part_of=regions).allowed
    assert not check(policy, spatial={"CH"}, part_of=regions).allowed


def test_recipient_is_the_named_party() -> None:
    policy = offer(constraint("recipient", "eq", CONSUMER))

    assert check(policy).allowed
    assert not check(policy, request={"assignee": "did:web:other.example"}).allowed
    assert not check(policy, request={"recipient": "did:web:third.example"}).allowed


def test_role_from_the_registry() -> None:
    policy = offer(constraint("role", "isAnyOf", ["dases:DataConsumer", "dases:ServiceProvider"]))

    assert check(policy, roles={"https://w3id.org/dases/policy#DataConsumer"}).allowed
    assert not check(policy, roles={"dases:DataProvider"}).allowed
    assert not check(policy).allowed  # no roles at all


def test_consent_must_be_valid_for_processing_and_is_not_known_in_the_catalog() -> None:
    policy = offer(constraint("consent", "isA", "dpv:ConsentStatusValidForProcessing"))

    assert check(policy, consent="dpv:ConsentGiven").allowed
    assert check(
        policy, scope="negotiation", consent="https://w3id.org/dpv#RenewedConsentGiven"
    ).allowed
    assert not check(policy, consent="dpv:ConsentWithdrawn").allowed
    denied_because(check(policy), "no consent status is known")
    denied_because(
        check(policy, scope="catalog", consent="dpv:ConsentGiven"),
        "unknown left operand 'consent' in the catalog scope",
    )


def test_party_of_the_agreement_must_be_the_requester() -> None:
    policy = {
        **offer(),
        "@type": "Agreement",
        "assignee": CONSUMER,
        "assigner": "did:web:provider.example",
        "target": DATASET,
    }

    assert check(policy).allowed
    denied_because(
        check(policy, request={"assignee": "did:web:intruder.example"}),
        "party did:web:intruder.example is not",
    )
    denied_because(
        check(policy, request={"target": "urn:other-dataset"}), "target urn:other-dataset is not"
    )
    denied_because(
        check(policy, request={"action": "transfer"}), "action transfer is not covered by use"
    )
    assert check(policy, request={"action": "read"}).allowed  # read is included in use


# --- logical constraints --------------------------------------------------------------------------

IN_2025 = constraint("dateTime", "gteq", "2025-01-01T00:00:00Z")
IN_2024 = constraint("dateTime", "lt", "2025-01-01T00:00:00Z")
CONSUMER_ROLE = constraint("role", "eq", "dases:DataConsumer")
ROLES = {"roles": {"dases:DataConsumer"}}


@pytest.mark.parametrize(
    ("operator", "members", "allowed"),
    [
        ("and", [IN_2025, CONSUMER_ROLE], True),
        ("and", [IN_2024, CONSUMER_ROLE], False),
        ("or", [IN_2024, CONSUMER_ROLE], True),
        ("or", [IN_2024, constraint("role", "eq", "dases:DataProvider")], False),
        ("xone", [IN_2024, CONSUMER_ROLE], True),
        ("xone", [IN_2025, CONSUMER_ROLE], False),
        ("andSequence", [IN_2025, CONSUMER_ROLE], True),
        ("andSequence", [IN_2024, CONSUMER_ROLE], False),
    ],
)
def test_logical_constraints(operator: str, members: list[dict[str, Any]], allowed: bool) -> None:
    assert check(offer({operator: members}), **ROLES).allowed is allowed


def test_nested_logical_constraints_as_in_the_dsp_example() -> None:
    policy = offer(
        {
            "or": [
                {"and": [IN_2024, CONSUMER_ROLE]},
                {"xone": [IN_2025, constraint("role", "eq", "dases:X")]},
            ]
        }
    )

    assert check(policy, **ROLES).allowed
    report = check(policy, **ROLES).report
    assert report is not None
    (outer,) = [p for p in report.rules[0].premises if isinstance(p, ConstraintReport)]
    assert [m.state for m in outer.members] == [Satisfaction.UNSATISFIED, Satisfaction.SATISFIED]
    assert outer.members[0].members[1].path == "permission[0].constraint[0].or[0].and[1]"


def test_and_sequence_stops_at_the_first_unmet_constraint() -> None:
    report = check(offer({"andSequence": [IN_2024, CONSUMER_ROLE]}), **ROLES).report
    assert report is not None
    (sequence,) = [p for p in report.rules[0].premises if isinstance(p, ConstraintReport)]
    assert len(sequence.members) == 1


# --- prohibitions and duties ----------------------------------------------------------------------


def test_an_active_prohibition_wins_over_a_permission() -> None:
    policy = offer(
        prohibition=[{"action": "use", "constraint": [constraint("spatial", "eq", "US")]}]
    )

    assert check(policy, spatial={"FR"}).allowed
    denied_because(check(policy, spatial={"US"}), "prohibition[0]", "prohibits")


def test_a_prohibition_on_another_action_does_not_deny() -> None:
    policy = offer(prohibition=[{"action": "distribute"}])

    assert check(policy, request={"action": "read"}).allowed
    assert not check(policy, request={"action": "distribute"}).allowed


def test_a_violated_duty_or_obligation_denies() -> None:
    with_duty = offer()
    with_duty["permission"][0]["duty"] = [{"@id": "urn:duty:delete", "action": "delete"}]
    with_obligation = offer(obligation=[{"@id": "urn:duty:report", "action": "inform"}])

    assert check(with_duty).allowed  # not yet due (NonSet)
    assert check(with_duty, duty_states={"urn:duty:delete": DeonticState.FULFILLED}).allowed
    denied_because(
        check(with_duty, duty_states={"urn:duty:delete": DeonticState.VIOLATED}),
        "duty[0]",
        "violated",
    )
    denied_because(
        check(with_obligation, duty_states={"urn:duty:report": DeonticState.VIOLATED}),
        "obligation[0]",
    )


def test_a_policy_level_action_applies_to_its_rules() -> None:
    policy = {
        "@id": "urn:p",
        "@type": "Set",
        "action": "read",
        "permission": [{"assignee": CONSUMER}],
    }

    assert check(policy, request={"action": "read"}).allowed
    denied_because(check(policy, request={"action": "use"}), "action use is not covered by read")


def test_a_policy_without_permission_denies() -> None:
    denied_because(
        check({"@id": "urn:p", "@type": "Set", "prohibition": [{"action": "sell"}]}),
        "no permission",
    )


# --- failing closed -------------------------------------------------------------------------------


def test_an_unknown_left_operand_denies_naming_it_even_next_to_a_valid_permission() -> None:
    message = json.loads(
        (SPECS / "dsp/negotiation/example/contract-agreement-message-full.json").read_text()
    )

    decision = check(message["agreement"], now=datetime(2023, 6, 1, tzinfo=UTC))

    denied_because(
        decision, "permission[1].constraint[0].and[0].leftOperand: unknown left operand 'partner'"
    )


def test_an_unknown_operator_denies_naming_its_path() -> None:
    policy = offer(IN_2025, constraint("dateTime", "foo", "2025-01-01T00:00:00Z"))

    denied_because(check(policy), "permission[0].constraint[1].operator: unknown operator 'foo'")


@pytest.mark.parametrize(
    ("left", "right", "fragment"),
    [
        ("dateTime", "next tuesday", "'next tuesday' is not an xsd:dateTime"),
        ("elapsedTime", "30 days", "'30 days' is not an xsd:duration"),
        ("count", "five", "'five' is not a number"),
        ("count", True, "True is not a number"),
        (
            "dateTime",
            {"@value": "2025-01-01", "@type": "xsd:string"},
            "cannot be compared as dateTime",
        ),
        ("purpose", 42, "42 is not an IRI or a term"),
    ],
)
def test_a_malformed_right_operand_denies_naming_it(left: str, right: Any, fragment: str) -> None:
    policy = offer(constraint(left, "eq", right))

    denied_because(
        check(policy, use_count=1, agreement_start=NOW),
        "permission[0].constraint[0].rightOperand",
        fragment,
    )


@pytest.mark.parametrize(
    ("left", "operator", "right", "fragment"),
    [
        ("purpose", "lt", "dpv:Purpose", "cannot be ordered"),
        ("dateTime", "isA", "2025-01-01T00:00:00Z", "isA applies to IRIs and terms"),
        (
            "dateTime",
            "eq",
            ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"],
            "eq compares with one value",
        ),
        ("role", "lt", "dases:A", "lt needs one value on the left"),
    ],
)
def test_an_operator_that_makes_no_sense_for_the_values_denies(
    left: str, operator: str, right: Any, fragment: str
) -> None:
    decision = check(
        offer(constraint(left, operator, right)),
        request={"purpose": "dpv:Purpose"},
        roles={"dases:A", "dases:B"},
    )

    denied_because(decision, "permission[0].constraint[0].operator", fragment)


def test_an_error_in_a_prohibition_denies_rather_than_allowing() -> None:
    policy = offer(
        prohibition=[{"action": "use", "constraint": [constraint("dateTime", "gt", "soon")]}]
    )

    denied_because(check(policy), "prohibition[0].constraint[0].rightOperand")


def test_an_unknown_scope_denies() -> None:
    denied_because(decide(offer(), "marketplace", context()), "unknown scope 'marketplace'")


def test_a_malformed_policy_denies_with_the_loader_reason() -> None:
    decision = decide({"permission": [{"constraint": []}]}, "transfer", context())

    assert decision.report is None
    denied_because(decision, "invalid policy", "permission[0].action: missing")


def test_a_missing_fact_denies() -> None:
    denied_because(
        check(offer(constraint("purpose", "eq", "dpv:Purpose"))),
        "permission[0].constraint[0].leftOperand: purpose",
    )


# --- never raises ---------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "@id",
        "@type",
        "uid",
        "permission",
        "prohibition",
        "obligation",
        "duty",
        "action",
        "target",
        "assignee",
        "assigner",
        "constraint",
        "leftOperand",
        "operator",
        "rightOperand",
        "and",
        "or",
        "xone",
        "andSequence",
        "@value",
        "@list",
        "odrl:permission",
        "odrl:operator",
        "profile",
        "refinement",
        "unit",
        "dataType",
    ]
)
_TERMS = st.sampled_from(
    [
        "use",
        "read",
        "Offer",
        "Agreement",
        "Set",
        "eq",
        "lteq",
        "isA",
        "isAnyOf",
        "foo",
        "dateTime",
        "count",
        "elapsedTime",
        "purpose",
        "spatial",
        "role",
        "consent",
        "recipient",
        "P30D",
        "PT1H",
        "2025-01-01T00:00:00Z",
        "dpv:Purpose",
        "xsd:dateTime",
        "",
        "odrl:eq",
    ]
)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | _TERMS
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=30,
)
_CONSTRAINTS = st.recursive(
    st.fixed_dictionaries(
        {"leftOperand": _TERMS | _SCALARS, "operator": _TERMS | _SCALARS, "rightOperand": _JSON}
    ),
    lambda inner: st.dictionaries(
        st.sampled_from(["and", "or", "xone", "andSequence"]),
        st.lists(inner, max_size=3),
        min_size=1,
        max_size=1,
    ),
    max_leaves=8,
)
_RULES = st.fixed_dictionaries(
    {"action": _TERMS},
    optional={
        "constraint": st.lists(_CONSTRAINTS, max_size=3),
        "duty": st.lists(st.fixed_dictionaries({"action": _TERMS}), max_size=2),
        "assignee": _TERMS,
        "target": _TERMS,
    },
)
# Mostly well-formed policies with arbitrary terms and values, so evaluation is reached.
_POLICIES = st.fixed_dictionaries(
    {"@type": st.sampled_from(["Offer", "Agreement", "Set", "odrl:Offer"])},
    optional={
        "@id": st.text(min_size=1, max_size=5),
        "permission": st.lists(_RULES, max_size=3),
        "prohibition": st.lists(_RULES, max_size=2),
        "obligation": st.lists(_RULES, max_size=1),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=st.dictionaries(_KEYS, _JSON, max_size=6) | _POLICIES,
    scope=st.sampled_from(["catalog", "negotiation", "transfer", "x"]),
)
def test_any_json_is_either_refused_by_the_loader_or_decided(
    doc: dict[str, Any], scope: str
) -> None:
    try:
        policy_from_json(doc)
    except PolicyError:
        pass
    decision = decide(
        doc,
        scope,
        context(use_count=0, agreement_start=NOW, consent="dpv:ConsentGiven", spatial={"FR"}),
    )
    assert isinstance(decision, Decision)
    assert decision.reasons
