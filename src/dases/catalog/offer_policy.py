"""The shape check of an offering's ODRL offer, before it is published.

One function, `validate_offer_policy`. It checks what the DSP catalog schema requires of an `Offer` (an
`@id`, a permission or a prohibition, rules with an action, atomic constraints with a known
operator, logical constraints with one operand list), what the node can store on every backend
(no NUL characters, no non-finite numbers, bounded size and depth), and finally that the ODRL
engine of `dases.policy` can read it (a refinement or a remedy it does not support is refused
at publication, not discovered at negotiation).
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from dases.errors import FieldError, InvalidInput
from dases.policy.compact import policy_from_json
from dases.policy.model import PolicyError

#: The operators the DSP 2025-1 contract schema allows in an atomic constraint.
OPERATORS = frozenset(
    {"eq", "gt", "gteq", "lteq", "hasPart", "isA", "isAllOf", "isAnyOf", "isNoneOf", "isPartOf", "lt", "term-lteq", "neq"}
)
LOGICAL_OPERATORS = ("and", "andSequence", "or", "xone")
RULE_KINDS = ("permission", "prohibition", "obligation")
#: Sub-rules each kind of rule may carry (ODRL 2.2: duties on permissions, remedies on prohibitions, consequences on duties).
SUB_RULES = {"permission": "duty", "prohibition": "remedy", "obligation": "consequence", "duty": "consequence", "remedy": None, "consequence": None}
POLICY_KEYS = frozenset({"@id", "@type", "profile", *RULE_KINDS})
RULE_KEYS = frozenset({"@id", "@type", "action", "constraint", "assigner", "assignee", "duty", "remedy", "consequence"})
ATOMIC_KEYS = frozenset({"@id", "@type", "leftOperand", "operator", "rightOperand", "dataType", "unit"})
MAX_POLICY_BYTES = 16 * 1024
MAX_DEPTH = 8


def new_offer_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def validate_offer_policy(policy: Any, *, field: str = "policy") -> dict[str, Any]:
    """The offer as it will be published (`@type` Offer, a fresh `@id`), or InvalidInput naming
    every broken rule. The `@id` is the node's to give, so that it is unique and negotiations can
    name it; `target` is implied by the dataset that carries the offer (DSP forbids it there)."""
    errors: list[FieldError] = []
    if not isinstance(policy, dict):
        raise InvalidInput("the offer policy must be a JSON object", errors=[FieldError(field, "type", "must be an object")])
    _check_storable(policy, field, errors, depth=0)
    if errors:
        raise InvalidInput(_summary(errors), errors=errors)
    size = len(json.dumps(policy, ensure_ascii=False).encode())
    if size > MAX_POLICY_BYTES:
        raise InvalidInput(
            f"the offer policy is {size} bytes; at most {MAX_POLICY_BYTES} are accepted",
            errors=[FieldError(field, "max_size", f"must be at most {MAX_POLICY_BYTES} bytes of JSON")],
        )
    for key in policy:
        if key == "@id":
            errors.append(FieldError(f"{field}.@id", "assigned_by_node", "the node gives each offer its @id; leave it out"))
        elif key == "target":
            errors.append(FieldError(f"{field}.target", "not_allowed", "an offer in a catalog has no target: it is the dataset carrying it"))
        elif key not in POLICY_KEYS:
            errors.append(FieldError(f"{field}.{key}", "unknown_property", f"an offer has only {', '.join(sorted(POLICY_KEYS - {'@id'}))}"))
    if "@type" in policy and policy["@type"] not in ("Offer", "odrl:Offer"):
        errors.append(FieldError(f"{field}.@type", "const", "must be 'Offer'"))
    profile = policy.get("profile")
    if profile is not None and not (_is_text(profile) or (isinstance(profile, list) and profile and all(_is_text(p) for p in profile))):
        errors.append(FieldError(f"{field}.profile", "type", "must be an IRI or a non-empty list of IRIs"))
    if not any(kind in policy for kind in ("permission", "prohibition")):
        errors.append(FieldError(field, "required", "an offer needs at least one permission or prohibition"))
    for kind in RULE_KINDS:
        if kind in policy:
            _check_rules(policy[kind], kind, f"{field}.{kind}", errors, depth=1)
    if errors:
        raise InvalidInput(_summary(errors), errors=errors)
    published = {"@id": new_offer_id(), "@type": "Offer"}
    published.update({key: value for key, value in policy.items() if key not in ("@id", "@type")})
    try:
        policy_from_json(published)  # an offer the ODRL engine cannot read could never be agreed to
    except PolicyError as error:
        raise InvalidInput(
            f"the offer policy is not one the ODRL engine can evaluate: {error}",
            errors=[FieldError(field, "odrl", str(error))],
        ) from error
    return published


def _summary(errors: list[FieldError]) -> str:
    shown = "; ".join(f"{error.field}: {error.message}" for error in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"the offer policy is not a valid ODRL offer: {shown}{more}"


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_storable(value: Any, path: str, errors: list[FieldError], depth: int) -> None:
    """Anything any backend can store and any peer can parse back: no NUL, finite numbers, bounded nesting."""
    if depth > 4 * MAX_DEPTH:
        errors.append(FieldError(path, "max_depth", "nested too deeply"))
    elif isinstance(value, str):
        if "\x00" in value:
            errors.append(FieldError(path, "nul_character", "must not contain NUL (U+0000) characters"))
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.append(FieldError(path, "finite_number", "must be a finite number"))
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                errors.append(FieldError(path, "nul_character", "property names must not contain NUL (U+0000) characters"))
                continue
            _check_storable(item, f"{path}.{key}", errors, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_storable(item, f"{path}.{index}", errors, depth + 1)


def _check_rules(rules: Any, kind: str, path: str, errors: list[FieldError], depth: int) -> None:
    if not isinstance(rules, list) or not rules:
        errors.append(FieldError(path, "type", f"{kind} must be a non-empty array of rules"))
        return
    for index, rule in enumerate(rules):
        _check_rule(rule, kind, f"{path}.{index}", errors, depth)


def _check_rule(rule: Any, kind: str, path: str, errors: list[FieldError], depth: int) -> None:
    if not isinstance(rule, dict):
        errors.append(FieldError(path, "type", "a rule must be an object"))
        return
    if depth > MAX_DEPTH:
        errors.append(FieldError(path, "max_depth", f"rules nest at most {MAX_DEPTH} deep"))
        return
    allowed_sub_rule = SUB_RULES.get(kind)
    for key in rule:
        if key not in RULE_KEYS or (key in ("duty", "remedy", "consequence") and key != allowed_sub_rule):
            errors.append(FieldError(f"{path}.{key}", "unknown_property", f"not a property of a {kind}"))
    if "action" not in rule:
        errors.append(FieldError(f"{path}.action", "required", "every rule needs an action"))
    elif not _is_text(rule["action"]):
        errors.append(FieldError(f"{path}.action", "type", "must be an action name or IRI, e.g. 'use'"))
    for party in ("assigner", "assignee"):
        if party in rule and not _is_text(rule[party]):
            errors.append(FieldError(f"{path}.{party}", "type", "must be a party identifier"))
    if "constraint" in rule:
        _check_constraints(rule["constraint"], f"{path}.constraint", errors, depth + 1)
    if allowed_sub_rule and allowed_sub_rule in rule:
        _check_rules(rule[allowed_sub_rule], allowed_sub_rule, f"{path}.{allowed_sub_rule}", errors, depth + 1)


def _check_constraints(constraints: Any, path: str, errors: list[FieldError], depth: int) -> None:
    if not isinstance(constraints, list):
        errors.append(FieldError(path, "type", "must be an array of constraints"))
        return
    for index, constraint in enumerate(constraints):
        _check_constraint(constraint, f"{path}.{index}", errors, depth)


def _check_constraint(constraint: Any, path: str, errors: list[FieldError], depth: int) -> None:
    if not isinstance(constraint, dict):
        errors.append(FieldError(path, "type", "a constraint must be an object"))
        return
    if depth > MAX_DEPTH:
        errors.append(FieldError(path, "max_depth", f"constraints nest at most {MAX_DEPTH} deep"))
        return
    logical = [key for key in LOGICAL_OPERATORS if key in constraint]
    if logical:
        if len(logical) > 1:
            errors.append(FieldError(path, "one_operator", f"a logical constraint has exactly one of {', '.join(LOGICAL_OPERATORS)}"))
        for key in constraint:
            if key not in (*LOGICAL_OPERATORS, "@id", "@type"):
                errors.append(FieldError(f"{path}.{key}", "unknown_property", "not a property of a logical constraint"))
        for key in logical:
            operands = constraint[key]
            if not isinstance(operands, list) or not operands:
                errors.append(FieldError(f"{path}.{key}", "type", "must be a non-empty array of constraints"))
            else:
                _check_constraints(operands, f"{path}.{key}", errors, depth + 1)
        return
    for key in constraint:
        if key not in ATOMIC_KEYS:
            errors.append(FieldError(f"{path}.{key}", "unknown_property", "not a property of a constraint"))
    if not _is_text(constraint.get("leftOperand")):
        errors.append(FieldError(f"{path}.leftOperand", "required", "an atomic constraint needs a leftOperand name or IRI"))
    operator = constraint.get("operator")
    if operator is None:
        errors.append(FieldError(f"{path}.operator", "required", "an atomic constraint needs an operator"))
    elif operator not in OPERATORS:
        errors.append(FieldError(f"{path}.operator", "enum", f"must be one of {', '.join(sorted(OPERATORS))}"))
    if "rightOperand" not in constraint:
        errors.append(FieldError(f"{path}.rightOperand", "required", "an atomic constraint needs a rightOperand"))
    elif not isinstance(constraint["rightOperand"], (str, dict, list)):
        errors.append(FieldError(f"{path}.rightOperand", "type", "must be a string, an object (@value / @id) or an array"))
