"""xAPI Profile statement templates: which template a statement follows, or which rule it breaks.

A data provider converts its native logs to xAPI and promises they follow a DASES profile; this
module holds the statements to that promise. It implements the "Statement Templates" part of the
xAPI Profiles specification (ADL, 1.0, part two section 8 and part three section 2.1):
determining properties decide which templates apply to a statement, and every rule of an
applicable template must then hold. Patterns are out of scope.

Readings the specification leaves open, decided here:

- A step that names a property and meets an array maps over the array's members, so the DASES
  profile's `$.context.contextActivities.category.id` reads the id of every category activity
  of a normalised statement (Goessner's JSONPath alone would find nothing there).
- A JSON null, an empty array and an empty object count as absent: `"category": []` does not
  satisfy `presence: included`.
- When several templates apply, the statement must follow all of them (the specification's
  `validates` reports it invalid otherwise); the match named is the most specific one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dases.errors import BadRequest, FieldError, InvalidInput, NotFound

Presence = Literal["included", "excluded", "recommended"]
Resolver = Callable[[str], dict[str, Any] | None]
"""Looks a statement up by id, for StatementRef templates; None when it is not available."""

_PRESENCES: tuple[Presence, ...] = ("included", "excluded", "recommended")
_CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")


# -- JSONPath -----------------------------------------------------------------------------------


class JsonPathError(InvalidInput):
    """A location or selector outside the JSONPath subset the xAPI Profiles specification allows."""


class _All:
    """The `*` selector: every member of an object or an array."""

    def __repr__(self) -> str:
        return "*"


_ALL = _All()
_Selector = str | int | _All
_Step = tuple[_Selector, ...]  # more than one selector is a union: `['a','b']`, `[0,2]`
_Branch = tuple[_Step, ...]

_NAME = re.compile(r"[^.\[\]|'\"\s*]+")
_INDEX = re.compile(r"\d+")


@dataclass(frozen=True)
class JsonPath:
    """A parsed location: one or more paths joined by `|`, each a chain of child selectors.

    The subset is the one profiles may use: `$`, `.name`, `.*`, `['name']`, `[n]`, `[*]`, unions
    with `,` inside brackets, and `|` between paths. Filters, scripts and `..` are refused when
    the profile is read, so a bad location never surfaces while judging a statement.
    """

    text: str
    branches: tuple[_Branch, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        return cls(text, _PathParser(text).parse())

    def evaluate(self, document: Any) -> list[Any]:
        """Every value the path reaches, branch after branch; nothing reached gives `[]`."""
        values: list[Any] = []
        for branch in self.branches:
            nodes = [document]
            for step in branch:
                nodes = [child for node in nodes for sel in step for child in _children(node, sel)]
            values.extend(nodes)
        return values

    def __str__(self) -> str:
        return self.text


def _children(node: Any, selector: _Selector) -> list[Any]:
    if selector is _ALL:
        if isinstance(node, dict):
            return list(node.values())
        return list(node) if isinstance(node, list) else []
    if isinstance(selector, int):
        return [node[selector]] if isinstance(node, list) and selector < len(node) else []
    if isinstance(node, dict):
        return [node[selector]] if selector in node else []
    if isinstance(node, list):
        # Profiles write `category.id` for "the id of every category activity".
        return [
            member[selector] for member in node if isinstance(member, dict) and selector in member
        ]
    return []


class _PathParser:
    """Reads the subset by hand: no dependency, no eval, and an error that points at the column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> tuple[_Branch, ...]:
        self._skip_space()
        branches = [self._branch()]
        while self._skip_space() == "|":
            self.pos += 1
            self._skip_space()
            branches.append(self._branch())
        if self.pos < len(self.text):
            raise self._error("expected '.', '[' or '|'")
        return tuple(branches)

    def _branch(self) -> _Branch:
        steps: list[_Step] = []
        if self._peek() == "$":
            self.pos += 1
        elif self._peek() not in (".", "["):
            # The specification's own example leaves the root out: `context.contextActivities...`
            steps.append((self._name(),))
        while self._peek() in (".", "["):
            opener = self._peek()
            self.pos += 1
            steps.append(self._dotted() if opener == "." else self._bracketed())
        return tuple(steps)

    def _dotted(self) -> _Step:
        if self._peek() == ".":
            raise self._error("recursive descent '..' is not part of the profile JSONPath subset")
        if self._peek() == "*":
            self.pos += 1
            return (_ALL,)
        return (self._name(),)

    def _name(self) -> str:
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self._error("expected a property name")
        self.pos = match.end()
        return match.group()

    def _bracketed(self) -> _Step:
        selectors = [self._selector()]
        while self._skip_space() == ",":
            self.pos += 1
            selectors.append(self._selector())
        if self._skip_space() != "]":
            raise self._error("expected ',' or ']'")
        self.pos += 1
        return tuple(selectors)

    def _selector(self) -> _Selector:
        char = self._skip_space()
        if char == "*":
            self.pos += 1
            return _ALL
        if char in ("'", '"'):
            return self._quoted(char)
        match = _INDEX.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            return int(match.group())
        if char in ("?", "("):
            raise self._error("filter and script expressions are not allowed in profiles")
        raise self._error("expected a quoted name, a non-negative index or '*'")

    def _quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == quote:
                self.pos += 1
                return "".join(chars)
            else:
                chars.append(char)
                self.pos += 1
        self.pos = start
        raise self._error("unterminated quoted name")

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_space(self) -> str:
        while self._peek().isspace():
            self.pos += 1
        return self._peek()

    def _error(self, expectation: str) -> JsonPathError:
        return JsonPathError(
            f"Invalid JSONPath {self.text!r} at position {self.pos}: {expectation}"
        )


# -- values ---------------------------------------------------------------------------------------


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    return type(left) is type(right) and left == right


def _contains(values: Iterable[Any], value: Any) -> bool:
    return any(_json_equal(value, candidate) for candidate in values)


def _show(values: Iterable[Any]) -> str:
    text = json.dumps(list(values), ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def _normalised(statement: Any) -> dict[str, Any]:
    """The statement with singleton contextActivities made lists, as the specification requires
    before rules are evaluated; the caller's dict is left as it was."""
    if not isinstance(statement, dict):
        raise InvalidInput(
            "An xAPI statement must be a JSON object",
            errors=[FieldError("$", "type", "must be a JSON object")],
        )
    result = dict(statement)
    if isinstance(statement.get("context"), dict):
        result["context"] = _normalised_context(statement["context"])
    sub = statement.get("object")
    if (
        isinstance(sub, dict)
        and sub.get("objectType") == "SubStatement"
        and isinstance(sub.get("context"), dict)
    ):
        result["object"] = {**sub, "context": _normalised_context(sub["context"])}
    return result


def _normalised_context(context: dict[str, Any]) -> dict[str, Any]:
    activities = context.get("contextActivities")
    if not isinstance(activities, dict):
        return context
    lists = {
        kind: [value] if isinstance(value, dict) else value for kind, value in activities.items()
    }
    return {**context, "contextActivities": lists}


# -- templates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleViolation:
    """One broken requirement of one template.

    `rule` is one of: presence-included, presence-excluded, any, all, none,
    determining-property, statement-ref.
    """

    template: str
    location: str
    rule: str
    message: str


@dataclass(frozen=True)
class Match:
    """The template a statement follows; `warnings` name the recommended values it lacks."""

    template: str
    label: str
    warnings: list[str]


@dataclass(frozen=True)
class DeterminingProperty:
    """A determining property: the statement holds every one of `values` at `location`."""

    name: str  # as the profile spells it: verb, objectActivityType, contextGroupingActivityType...
    location: JsonPath
    values: tuple[str, ...]

    def breach(self, statement: dict[str, Any]) -> str | None:
        found = self.location.evaluate(statement)
        missing = [value for value in self.values if not _contains(found, value)]
        if not missing:
            return None
        shown = _show(found) if found else "nothing"
        if len(self.values) == 1:
            return f"{self.location} must be {self.values[0]!r} ({self.name}); found {shown}"
        return f"{self.location} must include each of {_show(self.values)} ({self.name}); found {shown}"


# Where each determining property is read in a statement, and whether the profile lists values.
_DETERMINING: tuple[tuple[str, str, bool], ...] = (
    ("verb", "$.verb.id", False),
    ("objectActivityType", "$.object.definition.type", False),
    *(
        (
            f"context{kind.title()}ActivityType",
            f"$.context.contextActivities.{kind}[*].definition.type",
            True,
        )
        for kind in ("grouping", "parent", "other", "category")
    ),
    ("attachmentUsageType", "$.attachments[*].usageType", True),
)


@dataclass(frozen=True)
class StatementRefRule:
    """`objectStatementRefTemplate` or `contextStatementRefTemplate`: the value at `location` is a
    StatementRef to a statement following one of `templates`."""

    name: str
    location: JsonPath
    templates: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One Statement Template Rule: where to look (`location`, then `selector`), what must hold."""

    location: JsonPath
    selector: JsonPath | None = None
    presence: Presence | None = None
    any_of: tuple[Any, ...] | None = None
    all_of: tuple[Any, ...] | None = None
    none_of: tuple[Any, ...] | None = None

    def values(self, statement: dict[str, Any]) -> tuple[list[Any], int]:
        """The matchable values, and how many located values the selector found nothing in."""
        located = [value for value in self.location.evaluate(statement) if _present(value)]
        if self.selector is None:
            return located, 0
        matchable: list[Any] = []
        unmatchable = 0
        for value in located:
            selected = [item for item in self.selector.evaluate(value) if _present(item)]
            matchable.extend(selected)
            if not selected:
                unmatchable += 1
        return matchable, unmatchable

    def breach(self, statement: dict[str, Any]) -> tuple[str, str] | None:
        """The first requirement of this rule the statement breaks, as (rule, message)."""
        matchable, unmatchable = self.values(statement)
        where = self.where()
        found = _show(matchable) if matchable else "nothing"
        if self.presence == "included":
            if not matchable:
                return "presence-included", f"{where} is required (presence: included) but absent"
            if unmatchable:
                message = f"{where} is required (presence: included) but {unmatchable} located value(s) have nothing at the selector"
                return "presence-included", message
        if self.presence == "excluded" and matchable:
            return (
                "presence-excluded",
                f"{where} must be absent (presence: excluded); found {found}",
            )
        if self.presence == "recommended" and not matchable:
            return None  # any, all and none only judge values that are there
        if self.any_of is not None and not any(_contains(self.any_of, v) for v in matchable):
            return "any", f"{where} must include one of {_show(self.any_of)}; found {found}"
        if self.all_of is not None:
            if unmatchable:
                return (
                    "all",
                    f"{where}: {unmatchable} located value(s) have nothing at the selector",
                )
            outsiders = [value for value in matchable if not _contains(self.all_of, value)]
            if outsiders:
                return (
                    "all",
                    f"{where} may only hold values from {_show(self.all_of)}; found {_show(outsiders)}",
                )
        if self.none_of is not None:
            hits = [value for value in matchable if _contains(self.none_of, value)]
            if hits:
                return (
                    "none",
                    f"{where} must not hold any of {_show(self.none_of)}; found {_show(hits)}",
                )
        return None

    def missing_recommendation(self, statement: dict[str, Any]) -> str | None:
        if self.presence != "recommended" or self.values(statement)[0]:
            return None
        return f"{self.where()} is recommended but absent"

    def where(self) -> str:
        return (
            f"{self.location} (selector {self.selector})" if self.selector else str(self.location)
        )


@dataclass(frozen=True)
class Template:
    """A Statement Template as read from a profile."""

    id: str
    label: str
    determining: tuple[DeterminingProperty, ...] = ()
    statement_refs: tuple[StatementRefRule, ...] = ()
    rules: tuple[Rule, ...] = ()
    deprecated: bool = False


class ProfileMismatch(BadRequest):
    """The statement follows no template of the profile; `violations` say what broke where."""

    slug, title = "profile-mismatch", "Statement does not match the profile"

    def __init__(
        self, detail: str, *, violations: list[RuleViolation], template: str | None = None
    ) -> None:
        errors = [FieldError(field=v.location, rule=v.rule, message=v.message) for v in violations]
        super().__init__(detail, errors=errors)
        self.violations = violations
        self.template = template  # the closest template, when there is one


# -- the profile ----------------------------------------------------------------------------------


class Profile:
    """A profile's statement templates, ready to judge statements."""

    def __init__(self, *, id: str, label: str, templates: list[Template]) -> None:
        self.id = id
        self.label = label
        self.templates = templates
        self._by_id = {template.id: template for template in templates}

    @classmethod
    def load(cls, path: Path) -> Profile:
        """Read a `profile.jsonld`; a missing, unreadable or invalid file raises InvalidInput."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as error:
            raise InvalidInput(
                f"No xAPI profile at {path}: the file does not exist",
                errors=[FieldError("path", "exists", f"{path} does not exist")],
            ) from error
        except IsADirectoryError as error:
            raise InvalidInput(
                f"{path} is a directory; an xAPI profile is a profile.jsonld file",
                errors=[FieldError("path", "file", f"{path} is a directory")],
            ) from error
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInput(
                f"Cannot read the xAPI profile at {path}: {error}",
                errors=[FieldError("path", "readable", str(error))],
            ) from error
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            where = f"line {error.lineno}, column {error.colno}"
            raise InvalidInput(
                f"{path} is not JSON: {error.msg} at {where}",
                errors=[FieldError("$", "json", f"{error.msg} at {where}")],
            ) from error
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(cls, document: Any, *, source: str = "the xAPI profile") -> Profile:
        """Read an already parsed profile document; `source` names it in error messages."""
        return _ProfileReader(source).read(document)

    def template(self, template_id: str) -> Template:
        try:
            return self._by_id[template_id]
        except KeyError:
            raise NotFound(f"Profile {self.id} has no statement template {template_id!r}") from None

    def match(self, statement: dict[str, Any], *, resolve: Resolver | None = None) -> Match:
        """The template the statement follows; raises ProfileMismatch naming what broke.

        `resolve` looks up statements referred to by StatementRef templates; without it, only
        the StatementRef's presence is checked, as the specification allows.
        """
        normalised = _normalised(statement)
        applicable = [t for t in self.templates if not self._determining_violations(t, normalised)]
        if not applicable:
            raise self._unmatched(normalised)
        seen = _own_id(normalised)
        for template in applicable:
            violations = self._rule_violations(template, normalised, resolve, seen)
            if violations:
                raise self._broken(template, violations)
        best = max(applicable, key=lambda template: len(template.determining))
        warnings = [w for rule in best.rules if (w := rule.missing_recommendation(normalised))]
        return Match(template=best.id, label=best.label, warnings=warnings)

    def check(
        self, statement: dict[str, Any], template_id: str, *, resolve: Resolver | None = None
    ) -> list[RuleViolation]:
        """Every requirement of one template the statement breaks, determining properties first."""
        template = self.template(template_id)
        normalised = _normalised(statement)
        return self._determining_violations(template, normalised) + self._rule_violations(
            template, normalised, resolve, _own_id(normalised)
        )

    # -- judging --

    def _determining_violations(
        self, template: Template, statement: dict[str, Any]
    ) -> list[RuleViolation]:
        return [
            RuleViolation(template.id, str(prop.location), "determining-property", message)
            for prop in template.determining
            if (message := prop.breach(statement))
        ]

    def _rule_violations(
        self,
        template: Template,
        statement: dict[str, Any],
        resolve: Resolver | None,
        seen: frozenset[str],
    ) -> list[RuleViolation]:
        violations = [
            violation
            for ref in template.statement_refs
            if (violation := self._statement_ref_violation(template, ref, statement, resolve, seen))
        ]
        for rule in template.rules:
            breach = rule.breach(statement)
            if breach is not None:
                violations.append(RuleViolation(template.id, str(rule.location), *breach))
        return violations

    def _statement_ref_violation(
        self,
        template: Template,
        ref: StatementRefRule,
        statement: dict[str, Any],
        resolve: Resolver | None,
        seen: frozenset[str],
    ) -> RuleViolation | None:
        target = next(iter(ref.location.evaluate(statement)), None)
        wanted = _show(ref.templates)
        if not isinstance(target, dict) or target.get("objectType") != "StatementRef":
            return RuleViolation(
                template.id,
                f"{ref.location}.objectType",
                "statement-ref",
                f"{ref.location} must be a StatementRef to a statement following one of {wanted} ({ref.name})",
            )
        ref_id = target.get("id")
        if resolve is None or not isinstance(ref_id, str) or ref_id in seen:
            return None
        referenced = resolve(ref_id)
        if referenced is None:
            return None  # the specification only judges statements the validator can see
        followed = self._followed(_normalised(referenced), resolve, seen | {ref_id})
        if set(followed) & set(ref.templates):
            return None
        return RuleViolation(
            template.id,
            f"{ref.location}.id",
            "statement-ref",
            f"{ref.location}.id refers to statement {ref_id}, which follows "
            f"{_show(followed) if followed else 'no template'}, not one of {wanted} ({ref.name})",
        )

    def _followed(
        self, statement: dict[str, Any], resolve: Resolver | None, seen: frozenset[str]
    ) -> list[str]:
        return [
            template.id
            for template in self.templates
            if not self._determining_violations(template, statement)
            and not self._rule_violations(template, statement, resolve, seen)
        ]

    def _broken(self, template: Template, violations: list[RuleViolation]) -> ProfileMismatch:
        more = f" ({len(violations) - 1} more broken rule(s))" if len(violations) > 1 else ""
        return ProfileMismatch(
            f"The statement does not follow template {template.label!r} ({template.id}) of profile "
            f"{self.id}: {violations[0].message}{more}",
            violations=violations,
            template=template.id,
        )

    def _unmatched(self, statement: dict[str, Any]) -> ProfileMismatch:
        if not self.templates:
            return ProfileMismatch(f"Profile {self.id} has no statement templates", violations=[])
        scored = [(t, self._determining_violations(t, statement)) for t in self.templates]
        closest, violations = max(scored, key=lambda item: len(item[0].determining) - len(item[1]))
        matched = len(closest.determining) - len(violations)
        return ProfileMismatch(
            f"No statement template of profile {self.id} applies: none has all its determining "
            f"properties in this statement. Closest: {closest.label!r} ({closest.id}), {matched} of "
            f"{len(closest.determining)} determining properties match; {violations[0].message}",
            violations=violations,
            template=closest.id,
        )


def _own_id(statement: dict[str, Any]) -> frozenset[str]:
    own = statement.get("id")
    return frozenset({own}) if isinstance(own, str) else frozenset()


# -- reading a profile document -------------------------------------------------------------------


class _ProfileReader:
    """Reads a profile document, collecting every problem so its author sees them all at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[FieldError] = []

    def read(self, document: Any) -> Profile:
        if not isinstance(document, dict):
            raise InvalidInput(
                f"{self.source} is not an xAPI profile: the document must be a JSON object",
                errors=[FieldError("$", "type", "must be a JSON object")],
            )
        profile_id = self._iri(document, "id", "id")
        if document.get("type") != "Profile":
            self._problem("type", "const", f"must be 'Profile'; found {document.get('type')!r}")
        raw_templates = document.get("templates", [])
        if not isinstance(raw_templates, list):
            self._problem("templates", "type", "must be an array of statement templates")
            raw_templates = []
        read = [
            (f"templates[{i}]", self._template(raw, f"templates[{i}]"))
            for i, raw in enumerate(raw_templates)
        ]
        templates = [(field, template) for field, template in read if template is not None]
        self._check_references(templates)
        if self.problems or profile_id is None:
            raise self._failure()
        label = _label(document.get("prefLabel"), profile_id)
        return Profile(
            id=profile_id, label=label, templates=[template for _, template in templates]
        )

    def _template(self, raw: Any, field: str) -> Template | None:
        if not isinstance(raw, dict):
            self._problem(field, "type", "a statement template must be a JSON object")
            return None
        template_id = self._iri(raw, "id", f"{field}.id")
        if raw.get("type") != "StatementTemplate":
            self._problem(
                f"{field}.type", "const", f"must be 'StatementTemplate'; found {raw.get('type')!r}"
            )
        determining = tuple(
            DeterminingProperty(name, JsonPath.parse(location), values)
            for name, location, many in _DETERMINING
            if name in raw and (values := self._iris(raw, name, f"{field}.{name}", many))
        )
        if "objectStatementRefTemplate" in raw and "objectActivityType" in raw:
            self._problem(
                f"{field}.objectStatementRefTemplate",
                "exclusive",
                "a template cannot have both objectStatementRefTemplate and objectActivityType",
            )
        statement_refs = tuple(
            StatementRefRule(name, JsonPath.parse(location), templates)
            for name, location in (
                ("objectStatementRefTemplate", "$.object"),
                ("contextStatementRefTemplate", "$.context.statement"),
            )
            if name in raw and (templates := self._iris(raw, name, f"{field}.{name}", True))
        )
        raw_rules = raw.get("rules", [])
        if not isinstance(raw_rules, list):
            self._problem(f"{field}.rules", "type", "must be an array of rules")
            raw_rules = []
        rules = [self._rule(rule, f"{field}.rules[{i}]") for i, rule in enumerate(raw_rules)]
        if template_id is None:
            return None
        return Template(
            id=template_id,
            label=_label(raw.get("prefLabel"), template_id),
            determining=determining,
            statement_refs=statement_refs,
            rules=tuple(rule for rule in rules if rule is not None),
            deprecated=raw.get("deprecated") is True,
        )

    def _rule(self, raw: Any, field: str) -> Rule | None:
        if not isinstance(raw, dict):
            self._problem(field, "type", "a rule must be a JSON object")
            return None
        location = self._path(raw, "location", field, required=True)
        selector = self._path(raw, "selector", field, required=False)
        presence = raw.get("presence")
        if presence is not None and presence not in _PRESENCES:
            self._problem(
                f"{field}.presence",
                "enum",
                f"must be included, excluded or recommended; found {presence!r}",
            )
        value_lists: dict[str, tuple[Any, ...]] = {}
        for key in ("any", "all", "none"):
            if key not in raw:
                continue
            if isinstance(raw[key], list):
                value_lists[key] = tuple(raw[key])
            else:
                self._problem(f"{field}.{key}", "type", "must be an array of values")
        if not any(key in raw for key in ("presence", "any", "all", "none")):
            self._problem(
                field, "required", "a rule needs at least one of presence, any, all or none"
            )
        if location is None:
            return None
        return Rule(
            location=location,
            selector=selector,
            presence=presence if presence in _PRESENCES else None,
            any_of=value_lists.get("any"),
            all_of=value_lists.get("all"),
            none_of=value_lists.get("none"),
        )

    def _path(
        self, raw: dict[str, Any], key: str, field: str, *, required: bool
    ) -> JsonPath | None:
        if key not in raw:
            if required:
                self._problem(f"{field}.{key}", "required", f"a rule needs a {key}")
            return None
        if not isinstance(raw[key], str):
            self._problem(f"{field}.{key}", "type", "must be a JSONPath string")
            return None
        try:
            return JsonPath.parse(raw[key])
        except JsonPathError as error:
            self._problem(f"{field}.{key}", "jsonpath", error.detail)
            return None

    def _iri(self, raw: dict[str, Any], key: str, field: str) -> str | None:
        value = raw.get(key)
        if isinstance(value, str) and value:
            return value
        self._problem(field, "required", "must be an IRI (a non-empty string)")
        return None

    def _iris(self, raw: dict[str, Any], key: str, field: str, many: bool) -> tuple[str, ...]:
        value = raw[key]
        if not many:
            if isinstance(value, str) and value:
                return (value,)
            self._problem(field, "type", "must be an IRI (a non-empty string)")
            return ()
        if (
            isinstance(value, list)
            and value
            and all(isinstance(item, str) and item for item in value)
        ):
            return tuple(value)
        self._problem(field, "type", "must be a non-empty array of IRIs")
        return ()

    def _check_references(self, templates: list[tuple[str, Template]]) -> None:
        known: set[str] = set()
        for field, template in templates:
            if template.id in known:
                self._problem(f"{field}.id", "unique", f"template {template.id} is defined twice")
            known.add(template.id)
        for field, template in templates:
            for ref in template.statement_refs:
                for target in ref.templates:
                    if target not in known:
                        self._problem(
                            f"{field}.{ref.name}",
                            "reference",
                            f"{target} is not a template of this profile",
                        )

    def _problem(self, field: str, rule: str, message: str) -> None:
        self.problems.append(FieldError(field=field, rule=rule, message=message))

    def _failure(self) -> InvalidInput:
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        return InvalidInput(
            f"{self.source} is not a valid xAPI profile: {first.field}: {first.message}{more}",
            errors=list(self.problems),
        )


def _label(language_map: Any, fallback: str) -> str:
    """The English label if there is one, else the first one, else the id."""
    if isinstance(language_map, dict):
        if isinstance(language_map.get("en"), str):
            return language_map["en"]
        for value in language_map.values():
            if isinstance(value, str):
                return value
    return fallback
