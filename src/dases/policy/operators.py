"""The twelve ODRL 2.2 operators over resolved values.

Left values can be several at once (a party holds several roles; a location lies in a country and
in the EU). The reading chosen is the one a policy author means: `role eq DataConsumer` holds when
one of the roles is DataConsumer, `neq` when none is, `isAllOf` when every right value is among
the left values, `isNoneOf` when none is. Ordering operators need exactly one value on each side.
Whatever does not make sense (ordering two IRIs, `isA` on a date) raises EvaluationError.
"""

from __future__ import annotations

from collections.abc import Callable

from dases.policy import vocab
from dases.policy.context import World
from dases.policy.values import EvaluationError, compare, describe

_ODRL = vocab.ODRL


def holds(operator: str, left: object, right: tuple[object, ...], world: World) -> bool:
    """Whether `left operator right` holds; `right` holds one value or the values of a list."""
    lefts = tuple(left) if isinstance(left, frozenset) else (left,)
    name = operator.removeprefix(_ODRL)
    if name in _SET_OPERATORS:
        return _SET_OPERATORS[name](lefts, right)
    if len(right) != 1:
        raise EvaluationError(f"{name} compares with one value, the policy gives {len(right)}")
    (value,) = right
    if name in _ORDERINGS:
        if len(lefts) != 1:
            raise EvaluationError(f"{name} needs one value on the left, got {describe(left)}")
        return _ORDERINGS[name](compare(lefts[0], value))
    if name == "eq":
        return any(_equal(item, value) for item in lefts)
    if name == "neq":
        return not any(_equal(item, value) for item in lefts)
    if name == "isA":
        return any(world.taxonomy.is_a(_term(item, name), _term(value, name)) for item in lefts)
    if name == "isPartOf":
        return any(world.within(_term(item, name), _term(value, name)) for item in lefts)
    if name == "hasPart":
        return any(world.within(_term(value, name), _term(item, name)) for item in lefts)
    raise EvaluationError(f"unknown operator {vocab.compact(operator)!r}")


def _equal(left: object, right: object) -> bool:
    if isinstance(left, str) or isinstance(right, str):
        return left == right
    return compare(left, right) == 0


def _term(value: object, operator: str) -> str:
    if not isinstance(value, str):
        raise EvaluationError(f"{operator} applies to IRIs and terms, not to {describe(value)}")
    return value


def _any_of(lefts: tuple[object, ...], rights: tuple[object, ...]) -> bool:
    return any(_equal(item, value) for item in lefts for value in rights)


def _all_of(lefts: tuple[object, ...], rights: tuple[object, ...]) -> bool:
    return all(any(_equal(item, value) for item in lefts) for value in rights)


def _none_of(lefts: tuple[object, ...], rights: tuple[object, ...]) -> bool:
    return not _any_of(lefts, rights)


_SET_OPERATORS: dict[str, Callable[[tuple[object, ...], tuple[object, ...]], bool]] = {
    "isAnyOf": _any_of,
    "isAllOf": _all_of,
    "isNoneOf": _none_of,
}
_ORDERINGS: dict[str, Callable[[int], bool]] = {
    "lt": lambda sign: sign < 0,
    "lteq": lambda sign: sign <= 0,
    "gt": lambda sign: sign > 0,
    "gteq": lambda sign: sign >= 0,
}
