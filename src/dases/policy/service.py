"""The policy decision point: `decide(policy_json, scope, context)`, the one call the catalog,
negotiation and transfer building blocks make.

Contract
--------
- `policy_json` is the ODRL policy exactly as it travels in DSP messages (a dataset's
  `hasPolicy` Offer, the Offer of a ContractRequestMessage, the Agreement): compact JSON with
  `permission`, `prohibition`, `obligation`, `action`, `constraint`, `leftOperand`, `operator`,
  `rightOperand`, `and`/`or`/`xone`/`andSequence`. `odrl:`-prefixed and full-IRI spellings are
  read too.
- `scope` is "catalog", "negotiation" or "transfer". It selects which left operands can be
  resolved (see `resolvers.py`): e.g. `consent` only from negotiation on, `count` and
  `elapsedTime` strictly at transfer.
- `context` holds the request (who asks, for which action, on which target, for which purpose)
  and the world (now, agreement start, uses so far, roles, location, consent status,
  memberships, duty states, DPV taxonomy). Nothing is looked up behind the caller's back.
- The result is a `Decision(allowed, reasons, report)`. `decide` never raises. It fails
  closed: a malformed policy, an unknown scope, left operand or operator, a malformed right
  operand, a fact missing from the context, or any unexpected error gives `allowed=False`,
  with reasons that name the policy path and the rule (`permission[0].constraint[1].operator:
  unknown operator 'foo'`). `report` is the full compliance report, or None when the policy
  could not even be read.
- Reasons quote only the policy and the facts the caller supplied, so they can go to the
  ledger, to logs and into problem responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dases.policy.compact import policy_from_json
from dases.policy.context import Context
from dases.policy.evaluator import evaluate
from dases.policy.model import PolicyError
from dases.policy.report import ComplianceReport
from dases.policy.resolvers import ResolverRegistry


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]
    report: ComplianceReport | None = None


def decide(
    policy_json: Any,
    scope: str,
    context: Context,
    *,
    resolvers: ResolverRegistry | None = None,
) -> Decision:
    """Whether the request in `context` is allowed by the policy at this step of the exchange."""
    try:
        policy = policy_from_json(policy_json)
    except PolicyError as error:
        return Decision(False, (f"invalid policy: {error}",))
    except Exception as error:  # noqa: BLE001 - a reader bug must still deny
        return Decision(False, (f"invalid policy: {type(error).__name__}: {error}",))
    if not isinstance(context, Context):
        return Decision(
            False, (f"invalid context: expected a Context, got {type(context).__name__}",)
        )
    report = evaluate(policy, context.request, context.world, scope=scope, resolvers=resolvers)
    return Decision(report.allowed, report.reasons, report)
