"""The two inputs besides the policy: what is asked (the request) and what is known (the world).

The evaluator never looks anything up itself (no clock, no database, no network): the caller
states the facts, so a decision can be replayed from the ledger and tested with fixed values.
The request is what the requesting party declares; the world is what the deciding party knows
independently of that declaration (time, usage so far, registry roles, consent records).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from types import MappingProxyType

from dases.policy import vocab
from dases.policy.taxonomy import Taxonomy


class DeonticState(str, Enum):
    """Where a duty stands, as the FORCE compliance report vocabulary names it."""

    NON_SET = "NonSet"
    FULFILLED = "Fulfilled"
    VIOLATED = "Violated"


def _terms(value: str | Iterable[str]) -> frozenset[str]:
    """A set of terms; a lone string is one term, not a set of characters."""
    return frozenset({value}) if isinstance(value, str) else frozenset(value)


@dataclass(frozen=True)
class Request:
    """An access request: `assignee` wants to perform `action` on `target`, for `purpose`.

    `uid` and `rule` identify the request and its requested permission when they have
    identifiers (ODRL Request policies do); reports refer back to them.
    """

    assignee: str | None = None
    action: str = vocab.USE
    target: str | None = None
    purpose: str | None = None
    recipient: str | None = None
    uid: str | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", vocab.expand(self.action))


@dataclass(frozen=True)
class World:
    """Facts at decision time.

    - `now`: the moment of the decision (dateTime, elapsedTime).
    - `agreement_start`: when the agreement took effect (elapsedTime); None before agreement.
    - `use_count`: how many times the action was already exercised under the agreement (count).
    - `roles`: the requesting party's roles in the data space registry (role).
    - `spatial`: where the requesting party is: country codes or region IRIs (spatial).
    - `consent`: the DPV consent status for this learner, purpose and consumer (consent).
    - `part_of`: membership, thing -> collections/regions it belongs to (party and asset
      collections, `isPartOf`/`hasPart`); followed transitively.
    - `duty_states`: duty uid -> deontic state recorded so far (duties of permissions).
    - `taxonomy`: concept hierarchies for `isA` (DPV purposes, consent statuses).
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    agreement_start: datetime | None = None
    use_count: int | None = None
    roles: frozenset[str] = frozenset()
    spatial: frozenset[str] = frozenset()
    consent: str | None = None
    part_of: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    duty_states: Mapping[str, DeonticState] = field(default_factory=lambda: MappingProxyType({}))
    taxonomy: Taxonomy = field(default_factory=Taxonomy)

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", _terms(self.roles))
        object.__setattr__(self, "spatial", _terms(self.spatial))
        part_of = {key: _terms(value) for key, value in self.part_of.items()}
        object.__setattr__(self, "part_of", MappingProxyType(part_of))
        object.__setattr__(self, "duty_states", MappingProxyType(dict(self.duty_states)))

    def containers(self, thing: str) -> frozenset[str]:
        """Every collection or region `thing` is part of, however indirectly."""
        seen: set[str] = set()
        pending = list(self.part_of.get(thing, ()))
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self.part_of.get(current, ()))
        return frozenset(seen)

    def within(self, thing: str, container: str) -> bool:
        return thing == container or container in self.containers(thing)


@dataclass(frozen=True)
class Context:
    """Everything a resolver may read: the request and the world."""

    request: Request
    world: World = field(default_factory=World)
