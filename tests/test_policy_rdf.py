"""ODRL policies read from RDF refuse what they cannot match exactly, and reports are written in
the FORCE compliance-report vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import rdflib
from rdflib import RDF, URIRef

from dases.policy import PolicyError, Request, World, evaluate
from dases.policy.rdf import REPORT, policy_from_graph, report_to_graph

PREFIXES = "@prefix odrl: <http://www.w3.org/ns/odrl/2/> . @prefix ex: <http://example.org/> .\n"


def _policy(turtle: str) -> object:
    graph = rdflib.Graph().parse(data=PREFIXES + turtle, format="turtle")
    return policy_from_graph(graph, URIRef("urn:p"))


@pytest.mark.parametrize(
    ("turtle", "message"),
    [
        (
            (
                "<urn:p> a odrl:Set ; odrl:permission <urn:r> . <urn:r> odrl:action odrl:read ; "
                "odrl:assignee [ a odrl:PartyCollection ] ."
            ),
            "permission[0].assignee: a blank node without odrl:uid",
        ),
        (
            (
                "<urn:p> a odrl:Set ; odrl:permission <urn:r> . "
                "<urn:r> odrl:action odrl:read ; odrl:target ex:x, ex:y ."
            ),
            "permission[0].target: has 2 values",
        ),
        (
            (
                "<urn:p> a odrl:Set ; odrl:permission <urn:r> . <urn:r> odrl:action odrl:read ; "
                "odrl:constraint [ odrl:leftOperand odrl:count ; odrl:operator ex:about ; "
                "odrl:rightOperand 3 ] ."
            ),
            "permission[0].constraint[0].operator: unknown operator 'http://example.org/about'",
        ),
        (
            (
                "<urn:p> a odrl:Set ; odrl:permission <urn:r> . <urn:r> odrl:action "
                "[ rdf:value odrl:read ; odrl:refinement [ odrl:leftOperand odrl:count ] ] ."
            ),
            "permission[0].action.refinement: is not supported",
        ),
    ],
)
def test_what_cannot_be_matched_exactly_is_refused(turtle: str, message: str) -> None:
    turtle = "@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .\n" + turtle
    with pytest.raises(PolicyError) as raised:
        _policy(turtle)

    assert str(raised.value).startswith(message), str(raised.value)


def test_an_ordered_and_sequence_keeps_its_order() -> None:
    policy = _policy(
        "<urn:p> a odrl:Set ; odrl:permission <urn:r> . <urn:r> odrl:action odrl:read ; "
        "odrl:constraint [ odrl:andSequence ( <urn:c2> <urn:c1> ) ] . "
        "<urn:c1> odrl:leftOperand odrl:count ; odrl:operator odrl:lteq ; odrl:rightOperand 1 . "
        "<urn:c2> odrl:leftOperand odrl:count ; odrl:operator odrl:lteq ; odrl:rightOperand 2 ."
    )

    (sequence,) = policy.permissions[0].constraints  # type: ignore[attr-defined]
    assert [member.uid for member in sequence.members] == ["urn:c2", "urn:c1"]


def test_the_report_graph_uses_the_force_vocabulary() -> None:
    policy = _policy(
        "<urn:p> a odrl:Set ; odrl:permission <urn:r> ; odrl:prohibition <urn:n> . "
        "<urn:r> odrl:action odrl:use ; odrl:target ex:x ; odrl:constraint <urn:c> . "
        '<urn:c> odrl:leftOperand odrl:count ; odrl:operator odrl:lteq ; odrl:rightOperand "5" . '
        "<urn:n> odrl:action odrl:distribute ."
    )
    report = evaluate(
        policy,  # type: ignore[arg-type]
        Request(assignee="ex:alice", action="read", target="http://example.org/x", rule="urn:q"),
        World(now=datetime(2025, 1, 1, tzinfo=UTC), use_count=2),
    )
    graph = report_to_graph(report)

    assert report.allowed
    (policy_report,) = graph.subjects(RDF.type, REPORT.PolicyReport)
    kinds = {
        graph.value(node, RDF.type) for node in graph.objects(policy_report, REPORT.ruleReport)
    }
    assert kinds == {REPORT.PermissionReport, REPORT.ProhibitionReport}
    (constraint,) = graph.subjects(RDF.type, REPORT.ConstraintReport)
    assert graph.value(constraint, REPORT.constraint) == URIRef("urn:c")
    assert graph.value(constraint, REPORT.satisfactionState) == REPORT.Satisfied
    assert graph.value(constraint, REPORT.constraintLeftOperand).toPython() == 3
    (prohibition,) = graph.subjects(RDF.type, REPORT.ProhibitionReport)
    assert graph.value(prohibition, REPORT.activationState) == REPORT.Inactive
