"""DSP compact JSON policies load into the ODRL model, round-trip, and malformed ones are refused
with the path and the rule broken."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rdflib
from hypothesis import given, settings
from hypothesis import strategies as st

from dases.errors import InvalidInput
from dases.policy import (
    Constraint,
    LogicalConstraint,
    PolicyError,
    RuleKind,
    Value,
    policy_from_json,
    policy_to_json,
)
from dases.policy.rdf import policy_from_graph

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
ODRL = "http://www.w3.org/ns/odrl/2/"


def _example(path: str) -> dict[str, Any]:
    return json.loads((SPECS / "dsp" / path).read_text())


DSP_POLICIES = {
    "catalog offer": _example("catalog/example/catalog.json")["dataset"][0]["hasPolicy"][0],
    "dataset offer": _example("catalog/example/dataset.json")["hasPolicy"][0],
    "request offer": _example("negotiation/example/contract-request-message.json")["offer"],
    "agreement": _example("negotiation/example/contract-agreement-message.json")["agreement"],
    "full agreement": _example("negotiation/example/contract-agreement-message-full.json")[
        "agreement"
    ],
}


@pytest.mark.parametrize("name", DSP_POLICIES)
def test_dsp_example_policies_round_trip_unchanged(name: str) -> None:
    doc = DSP_POLICIES[name]

    assert policy_to_json(policy_from_json(doc)) == doc


def test_the_full_agreement_reads_as_odrl() -> None:
    policy = policy_from_json(DSP_POLICIES["full agreement"])

    assert policy.type == ODRL + "Agreement"
    assert policy.assignee == "http://example.com/Consumer"
    assert policy.timestamp == "2023-01-01T01:00:00Z"
    assert [rule.action for rule in policy.permissions] == [ODRL + "use"] * 7
    first = policy.permissions[0].constraints[0]
    assert first == Constraint(ODRL + "dateTime", ODRL + "lteq", Value("2023-12-31T06:00Z"))
    nested = policy.permissions[6].constraints[0]
    assert isinstance(nested, LogicalConstraint) and nested.operator == ODRL + "or"
    assert (
        isinstance(nested.members[0], LogicalConstraint)
        and nested.members[0].operator == ODRL + "and"
    )


def test_prefixed_and_full_iri_spellings_read_the_same() -> None:
    bare = {
        "@type": "Offer",
        "permission": [
            {
                "action": "use",
                "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 5}],
            }
        ],
    }
    prefixed = {
        "@type": "odrl:Offer",
        "odrl:permission": [
            {
                "odrl:action": "odrl:use",
                "odrl:constraint": [
                    {
                        "odrl:leftOperand": "odrl:count",
                        "odrl:operator": "odrl:lteq",
                        "odrl:rightOperand": 5,
                    }
                ],
            }
        ],
    }
    full = {
        "@type": ODRL + "Offer",
        ODRL + "permission": [
            {
                ODRL + "action": {"@id": ODRL + "use"},
                ODRL + "constraint": [
                    {
                        ODRL + "leftOperand": ODRL + "count",
                        ODRL + "operator": {"@id": ODRL + "lteq"},
                        ODRL + "rightOperand": 5,
                    }
                ],
            }
        ],
    }

    assert policy_from_json(bare) == policy_from_json(prefixed) == policy_from_json(full)


def test_a_compact_policy_shares_its_action_with_its_rules() -> None:
    doc = {
        "@id": "urn:p",
        "@type": "Set",
        "action": "read",
        "permission": [{"assignee": "did:web:a"}],
    }
    policy = policy_from_json(doc)

    assert policy.action == ODRL + "read" and policy.permissions[0].action is None
    assert policy_to_json(policy) == doc


def test_typed_and_iri_right_operands_keep_their_form() -> None:
    doc = {
        "@id": "urn:p",
        "@type": "Set",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {
                        "leftOperand": "dateTime",
                        "operator": "lt",
                        "rightOperand": {"@value": "2025-01-01", "@type": "xsd:date"},
                    },
                    {
                        "leftOperand": "purpose",
                        "operator": "isAnyOf",
                        "rightOperand": [{"@id": "https://w3id.org/dpv#Purpose"}, "x"],
                    },
                ],
            }
        ],
    }
    policy = policy_from_json(doc)

    first, second = policy.permissions[0].constraints
    assert isinstance(first, Constraint) and first.right_operand == Value(
        "2025-01-01", "http://www.w3.org/2001/XMLSchema#date"
    )
    assert isinstance(second, Constraint) and second.right_operand == (
        Value("https://w3id.org/dpv#Purpose", iri=True),
        Value("x"),
    )
    assert policy_from_json(policy_to_json(policy)) == policy


def test_the_same_policy_from_turtle_and_from_json_is_the_same_model() -> None:
    turtle = """
        @prefix odrl: <http://www.w3.org/ns/odrl/2/> .
        <urn:p> a odrl:Offer ; odrl:uid <urn:p> ; odrl:permission <urn:r> .
        <urn:r> odrl:action odrl:use ; odrl:constraint <urn:c> .
        <urn:c> odrl:leftOperand odrl:spatial ; odrl:operator odrl:eq ;
            odrl:rightOperand <http://example.org/EU> .
    """
    graph = rdflib.Graph().parse(data=turtle, format="turtle")
    doc = {
        "@id": "urn:p",
        "@type": "Offer",
        "permission": [
            {
                "@id": "urn:r",
                "action": "use",
                "constraint": [
                    {
                        "@id": "urn:c",
                        "leftOperand": "spatial",
                        "operator": "eq",
                        "rightOperand": {"@id": "http://example.org/EU"},
                    }
                ],
            }
        ],
    }

    assert policy_from_graph(graph, rdflib.URIRef("urn:p")) == policy_from_json(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "policy: expected a JSON object, got a list"),
        ({"@type": "Contract"}, "@type: unknown policy type 'Contract'"),
        ({"permission": {"constraint": []}}, "permission[0].action: missing"),
        ({"permission": "use"}, "permission: expected a list of objects, got a string"),
        (
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [
                            {"leftOperand": "dateTime", "operator": "eq", "rightOperand": "x"},
                            {"leftOperand": "dateTime", "operator": "foo", "rightOperand": "x"},
                        ],
                    }
                ]
            },
            "permission[0].constraint[1].operator: unknown operator 'foo'",
        ),
        (
            {
                "permission": [
                    {"action": "use", "constraint": [{"leftOperand": "count", "operator": "eq"}]}
                ]
            },
            "permission[0].constraint[0].rightOperand: missing",
        ),
        (
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [
                            {"leftOperand": "count", "operator": "eq", "rightOperand": None}
                        ],
                    }
                ]
            },
            "permission[0].constraint[0].rightOperand: missing",
        ),
        (
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [
                            {"leftOperand": "count", "operator": "eq", "rightOperand": {"x": 1}}
                        ],
                    }
                ]
            },
            "permission[0].constraint[0].rightOperand: malformed right operand",
        ),
        (
            {"permission": [{"action": "use", "constraint": [{"and": []}]}]},
            "permission[0].constraint[0].and: expected a non-empty list",
        ),
        (
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [
                            {"and": [{"leftOperand": 1, "operator": "eq", "rightOperand": 1}]}
                        ],
                    }
                ]
            },
            "permission[0].constraint[0].and[0].leftOperand: expected a term, got a number",
        ),
        (
            {"permission": [{"action": "use", "constraint": [{"or": [], "and": []}]}]},
            "permission[0].constraint[0]: a constraint is either",
        ),
        (
            {"permission": [{"action": {"rdf:value": "use", "refinement": []}}]},
            "permission[0].action.refinement: is not supported",
        ),
        (
            {"prohibition": [{"action": "use", "duty": [{"action": "pay"}]}]},
            "prohibition[0].duty: only permissions carry duties",
        ),
        (
            {"permission": [{"action": "use", "assignee": ["a", "b"]}]},
            "permission[0].assignee: expected an identifier, got a list",
        ),
        ({"@id": "urn:a", "uid": "urn:b"}, "policy.@id: @id and uid disagree"),
        ({"constraint": [], "permission": [{"action": "use"}]}, "constraint: belongs to a rule"),
        ({"permission": [{"action": "use"}], "odrl:permission": []}, "permission: given twice"),
    ],
)
def test_malformed_policies_are_refused_naming_the_path(doc: Any, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        policy_from_json(doc)

    assert str(raised.value).startswith(message), str(raised.value)


def test_a_policy_error_is_an_invalid_input_problem_naming_the_field() -> None:
    with pytest.raises(PolicyError) as raised:
        policy_from_json(
            {
                "permission": [
                    {
                        "action": "use",
                        "constraint": [
                            {"leftOperand": "count", "operator": "foo", "rightOperand": 1}
                        ],
                    }
                ]
            }
        )

    assert isinstance(raised.value, InvalidInput) and isinstance(raised.value, ValueError)
    problem = raised.value.problem()
    assert problem["status"] == 422
    assert problem["errors"][0]["field"] == "permission[0].constraint[0].operator"


def test_constraints_nest_only_so_deep() -> None:
    constraint: dict[str, Any] = {"leftOperand": "count", "operator": "eq", "rightOperand": 1}
    for _ in range(40):
        constraint = {"and": [constraint]}

    with pytest.raises(PolicyError, match="nest deeper"):
        policy_from_json({"permission": [{"action": "use", "constraint": [constraint]}]})


_VALUES = (
    st.text(max_size=10)
    | st.integers()
    | st.booleans()
    | st.builds(lambda v: {"@id": v}, st.text(min_size=1, max_size=10))
    | st.builds(
        lambda v, t: {"@value": v, "@type": t},
        st.text(max_size=10),
        st.sampled_from(["xsd:dateTime", "xsd:duration"]),
    )
)
_ATOMIC = st.fixed_dictionaries(
    {
        "leftOperand": st.sampled_from(
            ["dateTime", "count", "purpose", "spatial", "role", "consent", "partner"]
        ),
        "operator": st.sampled_from(
            [
                "eq",
                "neq",
                "lt",
                "lteq",
                "gt",
                "gteq",
                "isA",
                "hasPart",
                "isPartOf",
                "isAllOf",
                "isAnyOf",
                "isNoneOf",
            ]
        ),
        "rightOperand": _VALUES | st.lists(_VALUES, min_size=1, max_size=3),
    }
)
_CONSTRAINT = st.recursive(
    _ATOMIC,
    lambda inner: st.dictionaries(
        st.sampled_from(["and", "or", "xone", "andSequence"]),
        st.lists(inner, min_size=1, max_size=3),
        min_size=1,
        max_size=1,
    ),
    max_leaves=6,
)
_RULE = st.fixed_dictionaries(
    {"action": st.sampled_from(["use", "read", "distribute", "http://example.org/custom"])},
    optional={
        "constraint": st.lists(_CONSTRAINT, min_size=1, max_size=3),
        "assignee": st.just("did:web:x"),
        "@id": st.just("urn:rule"),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    doc=st.fixed_dictionaries(
        {"@id": st.just("urn:p"), "@type": st.sampled_from(["Set", "Offer", "Agreement"])},
        optional={
            "permission": st.lists(_RULE, min_size=1, max_size=3),
            "prohibition": st.lists(_RULE, min_size=1, max_size=2),
        },
    )
)
def test_any_well_formed_policy_round_trips(doc: dict[str, Any]) -> None:
    policy = policy_from_json(doc)

    assert policy_from_json(policy_to_json(policy)) == policy
    assert all(rule.kind is RuleKind.PERMISSION for rule in policy.permissions)
