"""ODRL 2.2 policies: the model, an evaluator that fails closed, and operand resolvers per scope.

Other building blocks call `service.decide`; the rest is exported for tests and tools:

- `model`: Policy, Rule, Constraint, LogicalConstraint, Value, PolicyError
- `compact`: policy_from_json / policy_to_json (DSP compact JSON)
- `rdf`: policy_from_graph, request_from_graph, world_from_graph, report_to_graph (FORCE)
- `context`: Request, World, Context; `resolvers`: the per-scope registry
- `evaluator.evaluate` -> `report.ComplianceReport`
"""

from dases.policy.compact import policy_from_json, policy_to_json
from dases.policy.context import Context, DeonticState, Request, World
from dases.policy.evaluator import evaluate
from dases.policy.model import (
    Constraint,
    LogicalConstraint,
    Policy,
    PolicyError,
    Rule,
    RuleKind,
    Value,
)
from dases.policy.report import ComplianceReport
from dases.policy.resolvers import ResolverRegistry, default_resolvers
from dases.policy.service import Decision, decide
from dases.policy.taxonomy import Taxonomy

__all__ = [
    "ComplianceReport",
    "Constraint",
    "Context",
    "Decision",
    "DeonticState",
    "LogicalConstraint",
    "Policy",
    "PolicyError",
    "Request",
    "ResolverRegistry",
    "Rule",
    "RuleKind",
    "Taxonomy",
    "Value",
    "World",
    "decide",
    "default_resolvers",
    "evaluate",
    "policy_from_json",
    "policy_to_json",
]
