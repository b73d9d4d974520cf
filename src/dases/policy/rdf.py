"""ODRL in RDF (rdflib graphs): policies, requests and states of the world in, reports out.

This is the form the ODRL test suite uses, and the form a report takes when it is published or
compared: `report_to_graph` writes the FORCE compliance-report vocabulary. Rules, constraints and
operands of a logical constraint that are not in an `rdf:List` have no order in RDF; they are
sorted by IRI so that paths in reasons (`permission[0]`) are stable from one run to the next.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import rdflib
from rdflib import RDF, BNode, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, XSD

from dases.policy import vocab
from dases.policy.context import DeonticState, Request, World
from dases.policy.model import (
    AnyConstraint,
    Constraint,
    LogicalConstraint,
    Policy,
    PolicyError,
    RightOperand,
    Rule,
    RuleKind,
    Value,
)
from dases.policy.report import ComplianceReport, ConstraintReport, PremiseReport, RuleReport
from dases.policy.taxonomy import Taxonomy
from dases.policy.values import Duration, Elapsed, parse_datetime

ODRL = Namespace(vocab.ODRL)
REPORT = Namespace("https://w3id.org/force/compliance-report#")
# Where the ODRL test suite's states of the world keep the current time.
CURRENT_TIME = URIRef("http://example.com/request/currentTime")

_MAX_DEPTH = 32
_RULE_REPORT_TYPES = {
    RuleKind.PERMISSION: REPORT.PermissionReport,
    RuleKind.PROHIBITION: REPORT.ProhibitionReport,
    RuleKind.OBLIGATION: REPORT.DutyReport,
    RuleKind.DUTY: REPORT.DutyReport,
}


# --- reading -----------------------------------------------------------------------------------


def policy_from_graph(graph: rdflib.Graph, node: rdflib.term.Node) -> Policy:
    """Read the ODRL policy at `node` (an odrl:Set, Offer or Agreement) from `graph`."""
    types = {str(t) for t in graph.objects(node, RDF.type)} & vocab.POLICY_TYPES
    uid = graph.value(node, ODRL.uid)
    return Policy(
        uid=_identifier(uid if uid is not None else node),
        type=min(types) if types else vocab.ODRL + "Set",
        permissions=_rules(graph, node, ODRL.permission, RuleKind.PERMISSION, "permission"),
        prohibitions=_rules(graph, node, ODRL.prohibition, RuleKind.PROHIBITION, "prohibition"),
        obligations=_rules(graph, node, ODRL.obligation, RuleKind.OBLIGATION, "obligation"),
        target=_reference(graph, node, ODRL.target, "target"),
        assigner=_reference(graph, node, ODRL.assigner, "assigner"),
        assignee=_reference(graph, node, ODRL.assignee, "assignee"),
        action=_reference(graph, node, ODRL.action, "action"),
        profile=tuple(sorted(str(p) for p in graph.objects(node, ODRL.profile))),
    )


def request_from_graph(graph: rdflib.Graph, node: rdflib.term.Node) -> Request:
    """Read an odrl:Request: its (first) permission says who asks for which action on what."""
    rules = sorted(graph.objects(node, ODRL.permission), key=str)
    if not rules:
        raise PolicyError("request", "an odrl:Request needs a permission")
    rule = rules[0]
    action = _reference(graph, rule, ODRL.action, "request.permission.action")
    uid = graph.value(node, ODRL.uid)
    return Request(
        assignee=_reference(graph, rule, ODRL.assignee, "request.permission.assignee"),
        action=action or vocab.USE,
        target=_reference(graph, rule, ODRL.target, "request.permission.target"),
        uid=_identifier(uid if uid is not None else node),
        rule=_identifier(rule),
    )


def world_from_graph(graph: rdflib.Graph, *, taxonomy: Taxonomy | None = None) -> World:
    """Read a state of the world shaped like the ODRL test suite's.

    The current time is `temp:currentTime dct:issued`; membership of parties and assets in
    collections is `odrl:partOf`; duty states are earlier FORCE DutyReports (rule, deonticState).
    """
    issued = graph.value(CURRENT_TIME, DCTERMS.issued)
    if issued is None:
        raise ValueError("the state of the world has no current time (temp:currentTime dct:issued)")
    now = parse_datetime(str(issued))
    part_of: dict[str, set[str]] = {}
    for member, collection in graph.subject_objects(ODRL.partOf):
        part_of.setdefault(str(member), set()).add(str(collection))
    duty_states: dict[str, DeonticState] = {}
    for report in graph.subjects(RDF.type, REPORT.DutyReport):
        rule, state = graph.value(report, REPORT.rule), graph.value(report, REPORT.deonticState)
        if rule is not None and isinstance(state, URIRef) and str(state).startswith(str(REPORT)):
            duty_states[str(rule)] = DeonticState(str(state)[len(str(REPORT)) :])
    return World(
        now=now,
        part_of={key: frozenset(value) for key, value in part_of.items()},
        duty_states=duty_states,
        taxonomy=taxonomy or Taxonomy(),
    )


def _identifier(node: rdflib.term.Node) -> str | None:
    return None if isinstance(node, BNode) else str(node)


def _single(
    graph: rdflib.Graph, node: rdflib.term.Node, predicate: URIRef, path: str
) -> rdflib.term.Node | None:
    """The one value of `predicate`; several would be a choice we must not make silently."""
    values = list(graph.objects(node, predicate))
    if len(values) > 1:
        raise PolicyError(path, f"has {len(values)} values, expected one")
    return values[0] if values else None


def _reference(
    graph: rdflib.Graph, node: rdflib.term.Node, predicate: URIRef, path: str
) -> str | None:
    """A party, asset or action IRI. A blank node must carry an odrl:uid: without one it could
    not be matched, and reading it as "no restriction" would widen the rule."""
    value = _single(graph, node, predicate, path)
    if isinstance(value, BNode):
        uid = graph.value(value, ODRL.uid)
        if uid is None:
            raise PolicyError(path, "a blank node without odrl:uid cannot be matched")
        return str(uid)
    return None if value is None else str(value)


def _rules(
    graph: rdflib.Graph, node: rdflib.term.Node, predicate: URIRef, kind: RuleKind, path: str
) -> tuple[Rule, ...]:
    return tuple(
        _rule(graph, rule, kind, f"{path}[{index}]")
        for index, rule in enumerate(sorted(graph.objects(node, predicate), key=str))
    )


def _rule(graph: rdflib.Graph, node: rdflib.term.Node, kind: RuleKind, path: str) -> Rule:
    for unsupported in ("refinement", "remedy", "consequence"):
        if graph.value(node, ODRL[unsupported]) is not None:
            raise PolicyError(f"{path}.{unsupported}", "is not supported by this evaluator")
    action = _single(graph, node, ODRL.action, f"{path}.action")
    if isinstance(action, BNode):
        if graph.value(action, ODRL.refinement) is not None:
            raise PolicyError(f"{path}.action.refinement", "is not supported by this evaluator")
        action = _single(graph, action, RDF.value, f"{path}.action")
        if action is None:
            raise PolicyError(f"{path}.action", "an action node needs an rdf:value")
    return Rule(
        kind=kind,
        action=None if action is None else str(action),
        uid=_identifier(node),
        target=_reference(graph, node, ODRL.target, f"{path}.target"),
        assignee=_reference(graph, node, ODRL.assignee, f"{path}.assignee"),
        assigner=_reference(graph, node, ODRL.assigner, f"{path}.assigner"),
        constraints=tuple(
            _constraint(graph, item, f"{path}.constraint[{index}]", 0)
            for index, item in enumerate(sorted(graph.objects(node, ODRL.constraint), key=str))
        ),
        duties=_rules(graph, node, ODRL.duty, RuleKind.DUTY, f"{path}.duty"),
    )


def _members(
    graph: rdflib.Graph, node: rdflib.term.Node, predicate: URIRef
) -> list[rdflib.term.Node]:
    """Operands of a logical constraint: an rdf:List keeps its order, plain values get sorted."""
    objects = list(graph.objects(node, predicate))
    if len(objects) == 1 and (
        objects[0] == RDF.nil or graph.value(objects[0], RDF.first) is not None
    ):
        return list(Collection(graph, objects[0]))
    return sorted(objects, key=str)


def _constraint(
    graph: rdflib.Graph, node: rdflib.term.Node, path: str, depth: int
) -> AnyConstraint:
    if depth >= _MAX_DEPTH:
        raise PolicyError(path, f"constraints nest deeper than {_MAX_DEPTH} levels")
    logical = [
        (operator, members)
        for operator in vocab.LOGICAL_OPERATORS
        if (members := _members(graph, node, URIRef(operator)))
    ]
    left = _single(graph, node, ODRL.leftOperand, f"{path}.leftOperand")
    operator = _single(graph, node, ODRL.operator, f"{path}.operator")
    if logical:
        if len(logical) > 1 or left is not None or operator is not None:
            raise PolicyError(path, "a constraint is either one logical operator or an atomic one")
        operator, members = logical[0]
        name = vocab.compact(operator)
        return LogicalConstraint(
            operator=operator,
            members=tuple(
                _constraint(graph, member, f"{path}.{name}[{index}]", depth + 1)
                for index, member in enumerate(members)
            ),
            uid=_identifier(node),
        )
    if left is None:
        raise PolicyError(f"{path}.leftOperand", "missing")
    if operator is None:
        raise PolicyError(f"{path}.operator", "missing")
    if str(operator) not in vocab.OPERATORS:
        raise PolicyError(f"{path}.operator", f"unknown operator {vocab.compact(str(operator))!r}")
    unit = _single(graph, node, ODRL.unit, f"{path}.unit")
    data_type = _single(graph, node, ODRL.dataType, f"{path}.dataType")
    return Constraint(
        left_operand=str(left),
        operator=str(operator),
        right_operand=_right_operand(graph, node, f"{path}.rightOperand"),
        uid=_identifier(node),
        unit=None if unit is None else str(unit),
        data_type=None if data_type is None else str(data_type),
    )


def _right_operand(graph: rdflib.Graph, node: rdflib.term.Node, path: str) -> RightOperand:
    values = _members(graph, node, ODRL.rightOperand)
    if not values:
        raise PolicyError(path, "missing")
    read = tuple(_value(value, path) for value in values)
    return read[0] if len(read) == 1 else read


def _value(node: rdflib.term.Node, path: str) -> Value:
    if isinstance(node, Literal):
        return Value(str(node), None if node.datatype is None else str(node.datatype))
    if isinstance(node, URIRef):
        return Value(str(node), iri=True)
    raise PolicyError(path, "a blank node is not a value")


# --- writing -----------------------------------------------------------------------------------


def report_to_graph(report: ComplianceReport) -> rdflib.Graph:
    """The report in the FORCE vocabulary, https://w3id.org/force/compliance-report#."""
    graph = rdflib.Graph()
    graph.bind("report", REPORT)
    graph.bind("odrl", ODRL)
    node = _new_node()
    graph.add((node, RDF.type, REPORT.PolicyReport))
    graph.add((node, DCTERMS.created, Literal(report.created)))
    if report.policy is not None:
        graph.add((node, REPORT.policy, URIRef(report.policy)))
    if report.request is not None:
        graph.add((node, REPORT.policyRequest, URIRef(report.request)))
    for rule in report.rules:
        graph.add((node, REPORT.ruleReport, _rule_report(graph, rule)))
    return graph


def _new_node() -> URIRef:
    return URIRef(f"urn:uuid:{uuid.uuid4()}")


def _rule_report(graph: rdflib.Graph, rule: RuleReport) -> URIRef:
    node = _new_node()
    graph.add((node, RDF.type, _RULE_REPORT_TYPES[rule.kind]))
    if rule.rule is not None:
        graph.add((node, REPORT.rule, URIRef(rule.rule)))
    if rule.rule_request is not None:
        graph.add((node, REPORT.ruleRequest, URIRef(rule.rule_request)))
    graph.add((node, REPORT.attemptState, REPORT[rule.attempt.value]))
    graph.add((node, REPORT.activationState, REPORT[rule.activation.value]))
    if rule.deontic is not None:
        graph.add((node, REPORT.deonticState, REPORT[rule.deontic.value]))
    for premise in rule.premises:
        graph.add((node, REPORT.premiseReport, _premise_report(graph, premise)))
    for condition in rule.conditions:
        duty = _new_node()
        graph.add((duty, RDF.type, REPORT.DutyReport))
        if condition.rule is not None:
            graph.add((duty, REPORT.rule, URIRef(condition.rule)))
        graph.add((duty, REPORT.performanceState, REPORT[condition.performance.value]))
        graph.add((duty, REPORT.deonticState, REPORT[condition.deontic.value]))
        graph.add((node, REPORT.conditionReport, duty))
    return node


def _premise_report(graph: rdflib.Graph, premise: PremiseReport | ConstraintReport) -> URIRef:
    node = _new_node()
    graph.add((node, REPORT.satisfactionState, REPORT[premise.state.value]))
    if isinstance(premise, PremiseReport):
        graph.add((node, RDF.type, REPORT[f"{premise.kind.value}Report"]))
        return node
    graph.add((node, RDF.type, REPORT.ConstraintReport))
    if premise.constraint is not None:
        graph.add((node, REPORT.constraint, URIRef(premise.constraint)))
    if premise.logical_operator is not None:
        graph.add((node, REPORT.constraintLogicalOperand, URIRef(premise.logical_operator)))
        for member in premise.members:
            graph.add((node, REPORT.premiseReport, _premise_report(graph, member)))
        return node
    if premise.operator is not None:
        graph.add((node, REPORT.constraintOperator, URIRef(premise.operator)))
    for term in _terms(premise.left_value):
        graph.add((node, REPORT.constraintLeftOperand, term))
    for term in _terms(premise.right_value):
        graph.add((node, REPORT.constraintRightOperand, term))
    return node


def _terms(value: object) -> list[rdflib.term.Node]:
    """A resolved or written value as RDF terms (a set of values gives several)."""
    if value is None:
        return []
    if isinstance(value, frozenset | tuple | list):
        return [term for item in sorted(value, key=str) for term in _terms(item)]
    if isinstance(value, Value):
        if value.iri:
            return [URIRef(str(value.lexical))]
        if value.datatype is not None:
            return [Literal(str(value.lexical), datatype=URIRef(value.datatype))]
        return [Literal(value.lexical)]
    if isinstance(value, Elapsed):
        value = value.as_duration()
    if isinstance(value, Duration):
        return [Literal(value.lexical, datatype=XSD.duration)]
    if isinstance(value, datetime | Decimal | int):
        return [Literal(value)]
    if isinstance(value, str):
        return [URIRef(value)] if ":" in value and " " not in value else [Literal(value)]
    return [Literal(str(value))]
