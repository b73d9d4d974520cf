"""Left-operand resolvers, registered per scope: what `dateTime`, `purpose`... mean right now.

The same policy is evaluated at three moments of an exchange, and each knows different facts:

| scope       | when                          | resolvable left operands                         |
|-------------|-------------------------------|--------------------------------------------------|
| catalog     | a consumer browses offers     | dateTime, elapsedTime*, count*, purpose,         |
|             |                               | recipient, role, spatial                         |
| negotiation | a contract is requested       | the catalog's, and consent                       |
| transfer    | data is pulled (agreement)    | all; elapsedTime and count from the agreement    |

(*) Before an agreement exists nothing has been used and no time has elapsed, so in the catalog
and negotiation scopes `count` is 1 (this would be the first use) and `elapsedTime` is PT0S unless
the world says otherwise. At transfer these must be known: a missing agreement start or use
counter is an error, hence a denial.

A left operand with no resolver in the scope is refused by the evaluator with its name: a
consent constraint cannot be decided while browsing the catalog, when no learner is involved.
`count` resolves to the number the use *being decided* would reach (uses so far + 1), so
`count lteq 5` allows exactly five uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from dases.policy import vocab
from dases.policy.context import Context
from dases.policy.values import Elapsed, EvaluationError, Kind, parse_datetime

SCOPES = ("catalog", "negotiation", "transfer")
ANY_SCOPE = "*"
"""The registry key used when `evaluate` is called without a scope: every resolver, strict."""


@dataclass(frozen=True)
class Resolver:
    """Reads the current value of one left operand from the context.

    `kind` says how right operands compared with it are read (a moment, a duration, a number,
    a term). `resolve` returns one value or a frozenset of values (a party has several roles);
    it raises EvaluationError when the context does not know the value.
    """

    left_operand: str
    kind: Kind
    resolve: Callable[[Context], object]


class ResolverRegistry:
    """Resolvers by scope and left-operand IRI; build one with `default_resolvers()` and
    `register` your own (e.g. a profile's left operand) on top."""

    def __init__(self) -> None:
        self._by_scope: dict[str, dict[str, Resolver]] = {}

    def register(self, scope: str, resolver: Resolver) -> None:
        self._by_scope.setdefault(scope, {})[resolver.left_operand] = resolver

    def register_all(self, scopes: Iterable[str], resolvers: Iterable[Resolver]) -> None:
        items = tuple(resolvers)
        for scope in scopes:
            for resolver in items:
                self.register(scope, resolver)

    def knows_scope(self, scope: str | None) -> bool:
        return (ANY_SCOPE if scope is None else scope) in self._by_scope

    def lookup(self, scope: str | None, left_operand: str) -> Resolver | None:
        return self._by_scope.get(ANY_SCOPE if scope is None else scope, {}).get(left_operand)

    def left_operands(self, scope: str | None) -> frozenset[str]:
        return frozenset(self._by_scope.get(ANY_SCOPE if scope is None else scope, {}))


# --- the resolvers ---------------------------------------------------------------------------


def _now(context: Context) -> object:
    return parse_datetime(context.world.now)


def _elapsed_since_agreement(context: Context) -> object:
    start = context.world.agreement_start
    if start is None:
        raise EvaluationError("no agreement start is known, so elapsed time cannot be measured")
    return Elapsed(parse_datetime(start), parse_datetime(context.world.now))


def _elapsed_before_agreement(context: Context) -> object:
    if context.world.agreement_start is not None:
        return _elapsed_since_agreement(context)
    now = parse_datetime(context.world.now)
    return Elapsed(now, now)


def _use_number(context: Context) -> object:
    uses = context.world.use_count
    if uses is None:
        raise EvaluationError("the number of uses so far is not known")
    if isinstance(uses, bool) or not isinstance(uses, int) or uses < 0:
        raise EvaluationError(f"the number of uses so far is invalid: {uses!r}")
    return Decimal(uses + 1)


def _use_number_before_agreement(context: Context) -> object:
    if context.world.use_count is None:
        return Decimal(1)
    return _use_number(context)


def _purpose(context: Context) -> object:
    if not context.request.purpose:
        raise EvaluationError("the request declares no purpose")
    return context.request.purpose


def _recipient(context: Context) -> object:
    recipient = context.request.recipient or context.request.assignee
    if not recipient:
        raise EvaluationError("the request names no recipient or assignee")
    return recipient


def _roles(context: Context) -> object:
    return context.world.roles


def _spatial(context: Context) -> object:
    if not context.world.spatial:
        raise EvaluationError("the requesting party's location is not known")
    return context.world.spatial


def _consent(context: Context) -> object:
    if not context.world.consent:
        raise EvaluationError("no consent status is known for this learner, purpose and consumer")
    return context.world.consent


DATE_TIME = Resolver(vocab.DATE_TIME, Kind.DATETIME, _now)
ELAPSED_TIME = Resolver(vocab.ELAPSED_TIME, Kind.DURATION, _elapsed_since_agreement)
ELAPSED_TIME_BEFORE_AGREEMENT = Resolver(
    vocab.ELAPSED_TIME, Kind.DURATION, _elapsed_before_agreement
)
COUNT = Resolver(vocab.COUNT, Kind.NUMBER, _use_number)
COUNT_BEFORE_AGREEMENT = Resolver(vocab.COUNT, Kind.NUMBER, _use_number_before_agreement)
PURPOSE = Resolver(vocab.PURPOSE, Kind.TERM, _purpose)
RECIPIENT = Resolver(vocab.RECIPIENT, Kind.TERM, _recipient)
ROLE = Resolver(vocab.ROLE, Kind.TERM, _roles)
SPATIAL = Resolver(vocab.SPATIAL, Kind.TERM, _spatial)
CONSENT = Resolver(vocab.CONSENT, Kind.TERM, _consent)


def default_resolvers() -> ResolverRegistry:
    """The DASES resolvers per scope, as the module docstring's table lists them."""
    registry = ResolverRegistry()
    browsing = (
        DATE_TIME,
        ELAPSED_TIME_BEFORE_AGREEMENT,
        COUNT_BEFORE_AGREEMENT,
        PURPOSE,
        RECIPIENT,
        ROLE,
        SPATIAL,
    )
    registry.register_all(["catalog"], browsing)
    registry.register_all(["negotiation"], (*browsing, CONSENT))
    strict = (DATE_TIME, ELAPSED_TIME, COUNT, PURPOSE, RECIPIENT, ROLE, SPATIAL, CONSENT)
    registry.register_all(["transfer", ANY_SCOPE], strict)
    return registry
