"""Evaluate an ODRL policy against a request and the state of the world; fail closed.

Every rule is evaluated and reported (the report explains the decision, so it must be complete),
following the ODRL formal semantics as the FORCE compliance report encodes them:

- a rule's premises are its target, assignee and action (each present only if the rule or the
  policy names one) and its constraints;
- a rule is Active when all its premises are satisfied; a permission additionally needs none of
  its duties Violated (a duty not yet due, NonSet, does not block it).

The caller-facing decision: denied if anything could not be evaluated (unknown scope, left
operand or operator, malformed value, or any unexpected error), if an active prohibition forbids
the request (prohibitions win over permissions), if an obligation is recorded Violated, or if no
permission is active; allowed otherwise. `evaluate` never raises: an error is a denial with the
reason.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from dases.policy import vocab
from dases.policy.context import Context, DeonticState, Request, World
from dases.policy.model import (
    AnyConstraint,
    Constraint,
    LogicalConstraint,
    Policy,
    Rule,
    RuleKind,
    Value,
)
from dases.policy.operators import holds
from dases.policy.report import (
    Activation,
    Attempt,
    ComplianceReport,
    ConstraintReport,
    DutyReport,
    Performance,
    PremiseKind,
    PremiseReport,
    RuleReport,
    Satisfaction,
)
from dases.policy.resolvers import ResolverRegistry, default_resolvers
from dases.policy.values import EvaluationError, Kind, read

_PERFORMANCE = {
    DeonticState.FULFILLED: Performance.PERFORMED,
    DeonticState.VIOLATED: Performance.UNPERFORMED,
    DeonticState.NON_SET: Performance.UNKNOWN,
}


def evaluate(
    policy: Policy,
    request: Request,
    world: World,
    *,
    scope: str | None = None,
    resolvers: ResolverRegistry | None = None,
) -> ComplianceReport:
    """The compliance report of `policy` for `request` in `world`, with the decision.

    `scope` picks the resolvers ("catalog", "negotiation", "transfer"; None: all of them,
    strictly); `resolvers` replaces the default registry.
    """
    try:
        return _Evaluation(policy, request, world, scope, resolvers or default_resolvers()).run()
    except Exception as error:  # noqa: BLE001 - failing closed is the point
        reason = f"policy could not be evaluated: {type(error).__name__}: {error}"
        return ComplianceReport(
            policy=getattr(policy, "uid", None),
            request=getattr(request, "uid", None),
            created=datetime.now(UTC),
            rules=(),
            allowed=False,
            reasons=(reason,),
            errors=(reason,),
        )


class _Evaluation:
    """One evaluation; collects the errors met on the way so the decision can deny on them."""

    def __init__(
        self,
        policy: Policy,
        request: Request,
        world: World,
        scope: str | None,
        registry: ResolverRegistry,
    ) -> None:
        self.policy = policy
        self.context = Context(request, world)
        self.scope = scope
        self.registry = registry
        self.errors: list[str] = []

    def run(self) -> ComplianceReport:
        if not self.registry.knows_scope(self.scope):
            self.errors.append(
                f"unknown scope {self.scope!r} (expected one of catalog, negotiation, transfer)"
            )
        rules = tuple(self._rule(path, rule) for path, rule in self.policy.rules())
        allowed, reasons = self._decide(rules)
        return ComplianceReport(
            policy=self.policy.uid,
            request=self.context.request.uid,
            created=self.context.world.now,
            rules=rules,
            allowed=allowed,
            reasons=tuple(reasons),
            errors=tuple(self.errors),
        )

    # --- rules -------------------------------------------------------------------------------

    def _rule(self, path: str, rule: Rule) -> RuleReport:
        premises: list[PremiseReport | ConstraintReport] = []
        target = rule.target or self.policy.target
        assignee = rule.assignee or self.policy.assignee
        if target is not None:
            premises.append(self._target(target))
        if assignee is not None:
            premises.append(self._party(assignee))
        action = rule.action or (None if rule.kind is RuleKind.DUTY else self.policy.action)
        if action is not None:
            premises.append(self._action(action))
        premises.extend(
            self._constraint(constraint, f"{path}.constraint[{index}]")
            for index, constraint in enumerate(rule.constraints)
        )
        conditions = tuple(
            self._duty(duty, f"{path}.duty[{index}]") for index, duty in enumerate(rule.duties)
        )
        active = all(premise.state is Satisfaction.SATISFIED for premise in premises)
        if rule.kind is RuleKind.PERMISSION:
            active = active and not any(c.deontic is DeonticState.VIOLATED for c in conditions)
        return RuleReport(
            path=path,
            kind=rule.kind,
            rule=rule.uid,
            rule_request=self.context.request.rule,
            attempt=Attempt.ATTEMPTED,
            activation=Activation.ACTIVE if active else Activation.INACTIVE,
            premises=tuple(premises),
            conditions=conditions,
            deontic=self._recorded_state(rule) if rule.kind is RuleKind.OBLIGATION else None,
        )

    def _recorded_state(self, rule: Rule) -> DeonticState:
        if rule.uid is None:
            return DeonticState.NON_SET
        return DeonticState(self.context.world.duty_states.get(rule.uid, DeonticState.NON_SET))

    def _duty(self, duty: Rule, path: str) -> DutyReport:
        state = self._recorded_state(duty)
        return DutyReport(path=path, rule=duty.uid, deontic=state, performance=_PERFORMANCE[state])

    def _target(self, target: str) -> PremiseReport:
        asked = self.context.request.target
        if asked is None:
            return PremiseReport(
                PremiseKind.TARGET,
                Satisfaction.UNSATISFIED,
                f"the request names no target, the rule is about {target}",
            )
        ok = self.context.world.within(asked, target)
        return PremiseReport(
            PremiseKind.TARGET,
            _state(ok),
            f"target {asked} {'is' if ok else 'is not'} {target} or part of it",
        )

    def _party(self, assignee: str) -> PremiseReport:
        asked = self.context.request.assignee
        if asked is None:
            return PremiseReport(
                PremiseKind.PARTY,
                Satisfaction.UNSATISFIED,
                f"the request names no party, the rule is for {assignee}",
            )
        ok = self.context.world.within(asked, assignee)
        return PremiseReport(
            PremiseKind.PARTY,
            _state(ok),
            f"party {asked} {'is' if ok else 'is not'} {assignee} or a member of it",
        )

    def _action(self, action: str) -> PremiseReport:
        asked = self.context.request.action
        ok = vocab.action_covers(action, asked)
        verb = "is" if ok else "is not"
        return PremiseReport(
            PremiseKind.ACTION,
            _state(ok),
            f"action {vocab.compact(asked)} {verb} covered by {vocab.compact(action)}",
        )

    # --- constraints -------------------------------------------------------------------------

    def _constraint(self, constraint: AnyConstraint, path: str) -> ConstraintReport:
        if isinstance(constraint, LogicalConstraint):
            return self._logical(constraint, path)
        return self._atomic(constraint, path)

    def _logical(self, constraint: LogicalConstraint, path: str) -> ConstraintReport:
        name = vocab.compact(constraint.operator)
        members: list[ConstraintReport] = []
        for index, member in enumerate(constraint.members):
            report = self._constraint(member, f"{path}.{name}[{index}]")
            members.append(report)
            if name == "andSequence" and report.state is Satisfaction.UNSATISFIED:
                break  # in a sequence, what follows an unmet constraint is not evaluated
        satisfied = [member.state is Satisfaction.SATISFIED for member in members]
        if name == "or":
            ok = any(satisfied)
        elif name == "xone":
            ok = sum(satisfied) == 1
        else:  # and, andSequence
            ok = all(satisfied) and len(members) == len(constraint.members)
        return ConstraintReport(
            path=path,
            state=_state(ok),
            constraint=constraint.uid,
            logical_operator=constraint.operator,
            members=tuple(members),
        )

    def _atomic(self, constraint: Constraint, path: str) -> ConstraintReport:
        left_name = vocab.compact(constraint.left_operand)
        unmet = ConstraintReport(
            path=path,
            state=Satisfaction.UNSATISFIED,
            constraint=constraint.uid,
            left_operand=constraint.left_operand,
            operator=constraint.operator,
            right_value=constraint.right_operand,
        )
        resolver = self.registry.lookup(self.scope, constraint.left_operand)
        if resolver is None:
            where = "" if self.scope is None else f" in the {self.scope} scope"
            return self._failed(
                unmet, f"{path}.leftOperand: unknown left operand {left_name!r}{where}"
            )
        if constraint.unit is not None:
            return self._failed(
                unmet, f"{path}.unit: units are not supported ({vocab.compact(constraint.unit)})"
            )
        try:
            rights = tuple(
                read(resolver.kind, value, constraint.data_type) for value in _values(constraint)
            )
        except EvaluationError as error:
            return self._failed(unmet, f"{path}.rightOperand: {error}")
        right_value: object = rights if isinstance(constraint.right_operand, tuple) else rights[0]
        try:
            left = _normalise(resolver.resolve(self.context), resolver.kind)
        except EvaluationError as error:
            return self._failed(unmet, f"{path}.leftOperand: {left_name}: {error}")
        try:
            ok = holds(constraint.operator, left, rights, self.context.world)
        except EvaluationError as error:
            failed = ConstraintReport(
                path=path,
                state=Satisfaction.UNSATISFIED,
                constraint=constraint.uid,
                left_operand=constraint.left_operand,
                operator=constraint.operator,
                left_value=left,
                right_value=right_value,
            )
            return self._failed(failed, f"{path}.operator: {error}")
        return ConstraintReport(
            path=path,
            state=_state(ok),
            constraint=constraint.uid,
            left_operand=constraint.left_operand,
            operator=constraint.operator,
            left_value=left,
            right_value=right_value,
        )

    def _failed(self, report: ConstraintReport, reason: str) -> ConstraintReport:
        self.errors.append(reason)
        return replace(report, error=reason)

    # --- decision ----------------------------------------------------------------------------

    def _decide(self, rules: tuple[RuleReport, ...]) -> tuple[bool, list[str]]:
        if self.errors:
            return False, list(self.errors)
        forbidding = [r for r in rules if r.kind is RuleKind.PROHIBITION and r.active]
        if forbidding:
            return False, [f"{r.label()} prohibits this request" for r in forbidding]
        violated = [
            r for r in rules if r.kind is RuleKind.OBLIGATION and r.deontic is DeonticState.VIOLATED
        ]
        if violated:
            return False, [f"{r.label()} is violated" for r in violated]
        permitting = [r for r in rules if r.kind is RuleKind.PERMISSION and r.active]
        if permitting:
            return True, [f"{r.label()} permits this request" for r in permitting]
        permissions = [r for r in rules if r.kind is RuleKind.PERMISSION]
        if not permissions:
            return False, ["the policy has no permission"]
        return False, [reason for r in permissions for reason in _why_inactive(r)]


def _why_inactive(rule: RuleReport) -> list[str]:
    reasons = [
        f"{rule.label()}: {premise.reason}"
        for premise in rule.premises
        if isinstance(premise, PremiseReport) and premise.state is Satisfaction.UNSATISFIED
    ]
    reasons.extend(
        reason
        for premise in rule.premises
        if isinstance(premise, ConstraintReport) and premise.state is Satisfaction.UNSATISFIED
        for reason in _failures(premise)
    )
    reasons.extend(
        f"{condition.path} ({condition.rule}) is violated"
        for condition in rule.conditions
        if condition.deontic is DeonticState.VIOLATED
    )
    return reasons or [f"{rule.label()} does not apply"]


def _failures(report: ConstraintReport) -> list[str]:
    """For `and`, the members that failed say more than "and of 2 constraints does not hold"."""
    operator = vocab.compact(report.logical_operator or "")
    if operator in ("and", "andSequence"):
        return [
            reason
            for member in report.members
            if member.state is Satisfaction.UNSATISFIED
            for reason in _failures(member)
        ]
    return [report.reason]


def _values(constraint: Constraint) -> tuple[Value, ...]:
    right = constraint.right_operand
    return right if isinstance(right, tuple) else (right,)


def _normalise(value: object, kind: Kind) -> object:
    """Terms are compared in their expanded form; a set of terms stays a set."""
    if kind is not Kind.TERM:
        return value
    if isinstance(value, frozenset | set | tuple | list):
        return frozenset(
            vocab.expand_value(item) if isinstance(item, str) else item for item in value
        )
    return vocab.expand_value(value) if isinstance(value, str) else value


def _state(ok: bool) -> Satisfaction:
    return Satisfaction.SATISFIED if ok else Satisfaction.UNSATISFIED
