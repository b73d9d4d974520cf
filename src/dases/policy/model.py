"""The ODRL 2.2 information model as frozen values: what a policy says, not how it was spelled.

Loaders (`compact.py` for DSP JSON, `rdf.py` for RDF graphs) build these; the evaluator only
reads them. Terms are full IRIs (see `vocab.py`) so that a policy loaded from JSON and the same
policy loaded from Turtle evaluate the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from dases.errors import FieldError, InvalidInput


class PolicyError(InvalidInput, ValueError):
    """A policy document that cannot be read as ODRL; the message names the path and the rule.

    It is an `InvalidInput` so an API that receives a bad policy answers 422 naming the field,
    and a `ValueError` so callers outside the web layer can treat it as bad data.
    """

    def __init__(self, path: str, message: str) -> None:
        where = path or "policy"
        super().__init__(
            f"{where}: {message}",
            errors=[FieldError(field=where, rule="odrl", message=message)],
        )
        self.path = where


class RuleKind(str, Enum):
    PERMISSION = "permission"
    PROHIBITION = "prohibition"
    OBLIGATION = "obligation"
    DUTY = "duty"


@dataclass(frozen=True)
class Value:
    """One right-operand value as written, so that it round-trips unchanged.

    `lexical` keeps the JSON type it came with (a number stays a number); `datatype` is the
    declared XSD datatype IRI if any; `iri` marks a node reference (`{"@id": ...}` or an RDF IRI).
    What the value *means* is decided at evaluation time by the left operand it is compared with.
    """

    lexical: str | int | float | bool
    datatype: str | None = None
    iri: bool = False


RightOperand = Value | tuple[Value, ...]


@dataclass(frozen=True)
class Constraint:
    """`left_operand operator right_operand`, e.g. dateTime lteq 2025-12-31T23:59:59Z."""

    left_operand: str
    operator: str
    right_operand: RightOperand
    uid: str | None = None
    unit: str | None = None
    data_type: str | None = None


@dataclass(frozen=True)
class LogicalConstraint:
    """`and`, `or`, `xone` or `andSequence` over constraints (which may nest)."""

    operator: str
    members: tuple[Constraint | LogicalConstraint, ...]
    uid: str | None = None


AnyConstraint = Constraint | LogicalConstraint


@dataclass(frozen=True)
class Rule:
    """A permission, prohibition, obligation or duty. `None` means "not restricted by the rule";
    the evaluator then falls back to the policy-level target, assignee and assigner."""

    kind: RuleKind
    action: str | None
    uid: str | None = None
    target: str | None = None
    assignee: str | None = None
    assigner: str | None = None
    constraints: tuple[AnyConstraint, ...] = ()
    duties: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Policy:
    """An ODRL Set, Offer or Agreement. Policy-level target, parties and action apply to every
    rule that does not name its own (ODRL's compact policy)."""

    uid: str | None
    type: str
    permissions: tuple[Rule, ...] = ()
    prohibitions: tuple[Rule, ...] = ()
    obligations: tuple[Rule, ...] = ()
    target: str | None = None
    assigner: str | None = None
    assignee: str | None = None
    action: str | None = None
    profile: tuple[str, ...] = ()
    timestamp: str | None = None

    def rules(self) -> tuple[tuple[str, Rule], ...]:
        """Every top-level rule with its path (`permission[0]`), the order reports use."""
        return tuple(
            (f"{kind}[{index}]", rule)
            for kind, rules in (
                ("permission", self.permissions),
                ("prohibition", self.prohibitions),
                ("obligation", self.obligations),
            )
            for index, rule in enumerate(rules)
        )
