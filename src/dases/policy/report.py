"""The compliance report: per rule and per premise, what held and why.

The shapes follow the FORCE compliance-report vocabulary (https://w3id.org/force/compliance-report#)
one to one, so that `rdf.report_to_graph` is a plain translation and the ODRL test suite can
compare our reports with its expected ones:

| here                       | FORCE                                                        |
|----------------------------|--------------------------------------------------------------|
| ComplianceReport           | report:PolicyReport (policy, policyRequest, ruleReport)      |
| RuleReport                 | Permission/Prohibition/DutyReport (rule, ruleRequest,        |
|                            | attemptState, activationState, premiseReport, conditionReport)|
| PremiseReport              | Target/Party/ActionReport (satisfactionState)                |
| ConstraintReport           | ConstraintReport (constraint, constraintLeftOperand,         |
|                            | constraintOperator, constraintRightOperand,                  |
|                            | constraintLogicalOperand, premiseReport, satisfactionState)  |
| DutyReport                 | DutyReport (rule, performanceState, deonticState)            |

On top of that the report carries the caller-facing outcome: `allowed`, and `reasons` that name
the rule, constraint path and values that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from dases.policy import vocab
from dases.policy.context import DeonticState
from dases.policy.model import RuleKind
from dases.policy.values import describe


class Satisfaction(str, Enum):
    SATISFIED = "Satisfied"
    UNSATISFIED = "Unsatisfied"


class Activation(str, Enum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class Attempt(str, Enum):
    ATTEMPTED = "Attempted"
    NOT_ATTEMPTED = "NotAttempted"


class Performance(str, Enum):
    PERFORMED = "Performed"
    UNPERFORMED = "Unperformed"
    UNKNOWN = "Unknown"


class PremiseKind(str, Enum):
    TARGET = "Target"
    PARTY = "Party"
    ACTION = "Action"


@dataclass(frozen=True)
class PremiseReport:
    """Whether the request's target, party or action falls under the rule's."""

    kind: PremiseKind
    state: Satisfaction
    reason: str


@dataclass(frozen=True)
class ConstraintReport:
    """One constraint: atomic (left_operand..right_value) or logical (logical_operator, members).

    `error` is set when the constraint could not be decided (unknown left operand, malformed
    right operand...); the state is then Unsatisfied and the whole decision is a denial.
    """

    path: str
    state: Satisfaction
    constraint: str | None = None
    left_operand: str | None = None
    operator: str | None = None
    left_value: object = None
    right_value: object = None
    logical_operator: str | None = None
    members: tuple[ConstraintReport, ...] = ()
    error: str | None = None

    @property
    def reason(self) -> str:
        if self.error is not None:
            return self.error
        verdict = "holds" if self.state is Satisfaction.SATISFIED else "does not hold"
        if self.logical_operator is not None:
            operator = vocab.compact(self.logical_operator)
            return f"{self.path}: {operator} of {len(self.members)} constraints {verdict}"
        left, operator = vocab.compact(self.left_operand or ""), vocab.compact(self.operator or "")
        return (
            f"{self.path}: {left} {operator} {describe(self.right_value)} {verdict}"
            f" (value: {describe(self.left_value)})"
        )


@dataclass(frozen=True)
class DutyReport:
    """A duty's recorded state, the condition a permission depends on."""

    path: str
    rule: str | None
    deontic: DeonticState
    performance: Performance


@dataclass(frozen=True)
class RuleReport:
    path: str
    kind: RuleKind
    rule: str | None
    rule_request: str | None
    attempt: Attempt
    activation: Activation
    premises: tuple[PremiseReport | ConstraintReport, ...] = ()
    conditions: tuple[DutyReport, ...] = ()
    deontic: DeonticState | None = None  # obligations only: their recorded state

    @property
    def active(self) -> bool:
        return self.activation is Activation.ACTIVE

    def label(self) -> str:
        return f"{self.path} ({self.rule})" if self.rule else self.path


@dataclass(frozen=True)
class ComplianceReport:
    policy: str | None
    request: str | None
    created: datetime
    rules: tuple[RuleReport, ...]
    allowed: bool
    reasons: tuple[str, ...]
    errors: tuple[str, ...] = ()
