"""ODRL policies in the compact JSON form of Dataspace Protocol messages, both ways.

DSP carries policies as compact JSON-LD (`{"permission": [{"action": "use", "constraint":
[...]}]}`) under a context nobody can be made to fetch at decision time. So this reader does not
run a JSON-LD processor: it accepts the three spellings that occur in practice for every key and
term (`operator`, `odrl:operator`, the full IRI) and refuses anything it cannot read exactly,
naming the path (`permission[0].constraint[1].operator: unknown operator 'foo'`). Silently
skipping a part of a policy could widen what it permits; refusing it keeps the evaluator closed.
"""

from __future__ import annotations

import math
from typing import Any

from dases.policy import vocab
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

MAX_DEPTH = 32

# Keys whose meaning we do not implement and which could restrict a rule; ignoring them would
# read the policy as more permissive than written, so they are refused instead.
_UNSUPPORTED = ("refinement", "rightOperandReference", "inheritFrom", "remedy", "consequence")


def policy_from_json(doc: Any) -> Policy:
    """Read one ODRL policy (Set, Offer, Agreement) from its compact JSON form."""
    if not isinstance(doc, dict):
        raise PolicyError("policy", f"expected a JSON object, got {_kind(doc)}")
    _refuse_unsupported(doc, "policy")
    for name in ("constraint", "duty"):
        if _get(doc, name, "") is not None:
            raise PolicyError(name, "belongs to a rule, not to the policy")
    policy_type = _policy_type(doc)
    action = _get(doc, "action", "")
    return Policy(
        uid=_uid(doc, "policy"),
        type=policy_type,
        permissions=_rules(doc, "permission", RuleKind.PERMISSION, "", action is not None),
        prohibitions=_rules(doc, "prohibition", RuleKind.PROHIBITION, "", action is not None),
        obligations=_rules(doc, "obligation", RuleKind.OBLIGATION, "", action is not None),
        action=None if action is None else _action(action, "action"),
        target=_reference(doc, "target", "target"),
        assigner=_reference(doc, "assigner", "assigner"),
        assignee=_reference(doc, "assignee", "assignee"),
        profile=_profile(doc),
        timestamp=_optional_string(doc, "timestamp", "timestamp"),
    )


def policy_to_json(policy: Policy) -> dict[str, Any]:
    """The compact DSP JSON of a policy; `policy_from_json` reads it back to an equal Policy."""
    doc: dict[str, Any] = {}
    if policy.uid is not None:
        doc["@id"] = policy.uid
    doc["@type"] = vocab.compact(policy.type)
    if policy.profile:
        doc["profile"] = policy.profile[0] if len(policy.profile) == 1 else list(policy.profile)
    for key in ("target", "timestamp", "assigner", "assignee"):
        value = getattr(policy, key)
        if value is not None:
            doc[key] = value
    if policy.action is not None:
        doc["action"] = vocab.compact(policy.action)
    for key, rules in (
        ("permission", policy.permissions),
        ("prohibition", policy.prohibitions),
        ("obligation", policy.obligations),
    ):
        if rules:
            doc[key] = [_rule_to_json(rule) for rule in rules]
    return doc


# --- reading ---------------------------------------------------------------------------------


def _get(doc: dict[str, Any], name: str, path: str) -> Any:
    """The value under `name`, `odrl:name` or the full IRI; two spellings at once are ambiguous."""
    spellings = [key for key in (name, f"odrl:{name}", vocab.ODRL + name) if key in doc]
    if len(spellings) > 1:
        raise PolicyError(_join(path, name), f"given twice (as {', '.join(spellings)})")
    return doc[spellings[0]] if spellings else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _refuse_unsupported(doc: dict[str, Any], path: str) -> None:
    for name in _UNSUPPORTED:
        if _get(doc, name, path) is not None:
            raise PolicyError(_join(path, name), "is not supported by this evaluator")


def _policy_type(doc: dict[str, Any]) -> str:
    raw = doc.get("@type", "Set")
    if not isinstance(raw, str):
        raise PolicyError("@type", f"expected a string, got {_kind(raw)}")
    iri = vocab.expand(raw)
    if iri not in vocab.POLICY_TYPES:
        raise PolicyError(
            "@type", f"unknown policy type {raw!r} (expected Set, Offer or Agreement)"
        )
    return iri


def _uid(doc: dict[str, Any], path: str) -> str | None:
    ids = {key: doc[key] for key in ("@id", "uid", "odrl:uid", vocab.ODRL + "uid") if key in doc}
    values = set()
    for key, value in ids.items():
        if isinstance(value, dict) and set(value) == {"@id"}:
            value = value["@id"]
        if not isinstance(value, str) or not value:
            raise PolicyError(_join(path, key), f"expected a non-empty string, got {_kind(value)}")
        values.add(value)
    if len(values) > 1:
        raise PolicyError(_join(path, "@id"), "@id and uid disagree")
    return values.pop() if values else None


def _iri_term(raw: Any, path: str) -> str:
    """A vocabulary term (action, operator, left operand): a string or {"@id": string}."""
    if isinstance(raw, dict) and set(raw) == {"@id"}:
        raw = raw["@id"]
    if not isinstance(raw, str) or not raw.strip():
        raise PolicyError(path, f"expected a term, got {_kind(raw)}")
    return vocab.expand(raw.strip())


def _reference(doc: dict[str, Any], name: str, path: str) -> str | None:
    """A party or asset: an IRI string, or an object carrying `@id`/`uid` (e.g. a collection)."""
    raw = _get(doc, name, path)
    if raw is None:
        return None
    if isinstance(raw, dict):
        uid = _uid(raw, path)
        if uid is None:
            raise PolicyError(path, "expected an @id")
        return uid
    if not isinstance(raw, str) or not raw:
        raise PolicyError(path, f"expected an identifier, got {_kind(raw)}")
    return raw


def _optional_string(doc: dict[str, Any], name: str, path: str) -> str | None:
    raw = _get(doc, name, "")
    if raw is not None and not isinstance(raw, str):
        raise PolicyError(path, f"expected a string, got {_kind(raw)}")
    return raw


def _profile(doc: dict[str, Any]) -> tuple[str, ...]:
    raw = _get(doc, "profile", "")
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise PolicyError(f"profile[{index}]", f"expected a string, got {_kind(item)}")
    return tuple(items)


def _as_list(raw: Any, path: str) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, dict):
        return [raw]
    if not isinstance(raw, list):
        raise PolicyError(path, f"expected a list of objects, got {_kind(raw)}")
    return raw


def _rules(
    doc: dict[str, Any], name: str, kind: RuleKind, path: str, inherits_action: bool
) -> tuple[Rule, ...]:
    where = _join(path, name)
    return tuple(
        _rule(item, kind, f"{where}[{index}]", inherits_action)
        for index, item in enumerate(_as_list(_get(doc, name, path), where))
    )


def _rule(raw: Any, kind: RuleKind, path: str, inherits_action: bool) -> Rule:
    """One rule; its action may be left to the policy level (an ODRL compact policy)."""
    if not isinstance(raw, dict):
        raise PolicyError(path, f"expected an object, got {_kind(raw)}")
    _refuse_unsupported(raw, path)
    action = _get(raw, "action", path)
    if action is None and not inherits_action:
        raise PolicyError(_join(path, "action"), "missing (every ODRL rule names an action)")
    if kind is not RuleKind.PERMISSION and _get(raw, "duty", path) is not None:
        raise PolicyError(_join(path, "duty"), "only permissions carry duties")
    duties = _rules(raw, "duty", RuleKind.DUTY, path, False) if kind is RuleKind.PERMISSION else ()
    return Rule(
        kind=kind,
        action=None if action is None else _action(action, _join(path, "action")),
        uid=_uid(raw, path),
        target=_reference(raw, "target", _join(path, "target")),
        assignee=_reference(raw, "assignee", _join(path, "assignee")),
        assigner=_reference(raw, "assigner", _join(path, "assigner")),
        constraints=_constraints(_get(raw, "constraint", path), _join(path, "constraint"), 0),
        duties=duties,
    )


def _action(raw: Any, path: str) -> str:
    """An action term; `{"rdf:value": ...}` is accepted, refinements are refused."""
    if isinstance(raw, dict):
        _refuse_unsupported(raw, path)
        if set(raw) == {"rdf:value"}:
            raw = raw["rdf:value"]
        elif set(raw) != {"@id"}:
            raise PolicyError(path, "only an action term (or rdf:value) is supported")
    return _iri_term(raw, path)


def _constraints(raw: Any, path: str, depth: int) -> tuple[AnyConstraint, ...]:
    return tuple(
        _constraint(item, f"{path}[{index}]", depth)
        for index, item in enumerate(_as_list(raw, path))
    )


def _constraint(raw: Any, path: str, depth: int) -> AnyConstraint:
    if depth >= MAX_DEPTH:
        raise PolicyError(path, f"constraints nest deeper than {MAX_DEPTH} levels")
    if not isinstance(raw, dict):
        raise PolicyError(path, f"expected an object, got {_kind(raw)}")
    _refuse_unsupported(raw, path)
    logical = [
        (operator, members)
        for operator in vocab.LOGICAL_OPERATORS
        if (members := _get(raw, vocab.compact(operator), path)) is not None
    ]
    atomic_keys = [
        name
        for name in ("leftOperand", "operator", "rightOperand")
        if _get(raw, name, path) is not None
    ]
    if logical:
        if len(logical) > 1 or atomic_keys:
            raise PolicyError(
                path,
                "a constraint is either one logical operator or leftOperand/operator/rightOperand",
            )
        operator, members = logical[0]
        where = _join(path, vocab.compact(operator))
        if isinstance(members, dict) and set(members) == {"@list"}:
            members = members["@list"]
        if not isinstance(members, list) or not members:
            raise PolicyError(where, "expected a non-empty list of constraints")
        return LogicalConstraint(
            operator=operator,
            members=tuple(
                _constraint(item, f"{where}[{index}]", depth + 1)
                for index, item in enumerate(members)
            ),
            uid=_uid(raw, path),
        )
    for name in ("leftOperand", "operator", "rightOperand"):
        if name not in atomic_keys:
            raise PolicyError(_join(path, name), "missing")
    operator = _iri_term(_get(raw, "operator", path), _join(path, "operator"))
    if operator not in vocab.OPERATORS:
        raw_operator = _get(raw, "operator", path)
        shown = raw_operator.get("@id") if isinstance(raw_operator, dict) else raw_operator
        raise PolicyError(_join(path, "operator"), f"unknown operator {shown!r}")
    return Constraint(
        left_operand=_iri_term(_get(raw, "leftOperand", path), _join(path, "leftOperand")),
        operator=operator,
        right_operand=_right_operand(_get(raw, "rightOperand", path), _join(path, "rightOperand")),
        uid=_uid(raw, path),
        unit=_optional_term(raw, "unit", path),
        data_type=_optional_term(raw, "dataType", path),
    )


def _optional_term(raw: dict[str, Any], name: str, path: str) -> str | None:
    value = _get(raw, name, path)
    return None if value is None else _iri_term(value, _join(path, name))


def _right_operand(raw: Any, path: str) -> RightOperand:
    if isinstance(raw, list):
        if not raw:
            raise PolicyError(path, "expected at least one value")
        return tuple(_value(item, f"{path}[{index}]") for index, item in enumerate(raw))
    return _value(raw, path)


def _literal(raw: Any) -> bool:
    """A JSON scalar usable as a value (finite numbers only: NaN never equals itself)."""
    return isinstance(raw, bool | int | str) or (isinstance(raw, float) and math.isfinite(raw))


def _value(raw: Any, path: str) -> Value:
    if _literal(raw):
        return Value(raw)
    if isinstance(raw, dict):
        if set(raw) == {"@id"} and isinstance(raw["@id"], str):
            return Value(raw["@id"], iri=True)
        if "@value" in raw and set(raw) <= {"@value", "@type"}:
            lexical, datatype = raw["@value"], raw.get("@type")
            if datatype is not None and not isinstance(datatype, str):
                raise PolicyError(
                    _join(path, "@type"), f"expected a datatype IRI, got {_kind(datatype)}"
                )
            if _literal(lexical):
                return Value(lexical, None if datatype is None else vocab.expand(datatype))
    raise PolicyError(path, f"malformed right operand {raw!r}"[:200])


# --- writing ---------------------------------------------------------------------------------


def _rule_to_json(rule: Rule) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if rule.uid is not None:
        doc["@id"] = rule.uid
    if rule.action is not None:
        doc["action"] = vocab.compact(rule.action)
    for key in ("target", "assigner", "assignee"):
        value = getattr(rule, key)
        if value is not None:
            doc[key] = value
    if rule.constraints:
        doc["constraint"] = [_constraint_to_json(item) for item in rule.constraints]
    if rule.duties:
        doc["duty"] = [_rule_to_json(duty) for duty in rule.duties]
    return doc


def _constraint_to_json(constraint: AnyConstraint) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if constraint.uid is not None:
        doc["@id"] = constraint.uid
    if isinstance(constraint, LogicalConstraint):
        doc[vocab.compact(constraint.operator)] = [
            _constraint_to_json(m) for m in constraint.members
        ]
        return doc
    doc["leftOperand"] = vocab.compact(constraint.left_operand)
    doc["operator"] = vocab.compact(constraint.operator)
    right = constraint.right_operand
    doc["rightOperand"] = (
        [_value_to_json(v) for v in right] if isinstance(right, tuple) else _value_to_json(right)
    )
    if constraint.unit is not None:
        doc["unit"] = constraint.unit
    if constraint.data_type is not None:
        doc["dataType"] = constraint.data_type
    return doc


def _value_to_json(value: Value) -> Any:
    if value.iri:
        return {"@id": value.lexical}
    if value.datatype is not None:
        return {"@value": value.lexical, "@type": value.datatype}
    return value.lexical
