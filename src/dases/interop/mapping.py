"""Any CSV or JSON-lines export as xAPI statements, through a declarative mapping file.

A provider whose platform has no converter of its own describes, in a JSON or TOML file, how one
input row becomes one statement: the statement's shape as a template whose strings may name input
values (`"{user_id}"`, `"https://lms.example.org/courses/{course}"`), value maps (`"done"` to a verb
IRI), defaults for missing values, type coercions (integers, numbers, booleans, instants) and
conditions under which a row is skipped. The file is checked whole when the converter is built, so
a typo fails at once, naming the file and the place in it, rather than row by row.

Nothing a user supplies is ever run: the templates are parsed with one regular expression over
`{name}` tokens, never with `str.format`, `format_map`, `eval` or `exec`; a name is a column, or a
dotted path of dictionary keys into a JSON record, looked up with `dict.get` only, so there is no
attribute access, no conversion (`!r`) and no format spec (`:>10`) to abuse.

Every statement is validated (xAPI 1.0.3) before it leaves; a row whose statement the rules refuse
is skipped as `invalid-statement-<rule>`. Statement ids are UUIDv5 over the home page and the `id`
values (or the whole row), so converting the same export twice yields the same statements.
"""

from __future__ import annotations

import csv
import json
import math
import re
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dases.errors import InvalidInput
from dases.interop.moodle import check_home_page, count_lines, open_text
from dases.interop.report import ConversionReport, Skip, skip_unless_valid

SOURCE = "mapping"
DEFAULT_HOME_PAGE = "https://lms.example.org"
#: The statement kind in the report when the mapping names none.
DEFAULT_KIND = "mapping"
#: The one name a template may use that is not an input value: the converter's home page.
HOME_PAGE_NAME = "@home_page"

#: Namespace of the statement ids (see moodle.NAMESPACE on when to change it).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://schema.dases.eu/interop/mapping/v1")

TOP_KEYS = frozenset({"input", "id", "kind", "statement", "value_maps", "defaults", "types", "skip_when"})
TYPE_NAMES = frozenset({"string", "int", "float", "bool", "unix", "datetime"})

_TOKEN_RE = re.compile(r"\{([^{}]*)\}")
#: A column name (letters, digits, `_`, `-`, inner spaces) or a dotted path of them.
_SEGMENT = r"[A-Za-z0-9_](?:[A-Za-z0-9_\- ]*[A-Za-z0-9_\-])?"
_NAME_RE = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})
_PROGRESS_EVERY = 1000


class _Missing:
    """No value: an absent column or key, an empty cell, a JSON null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# -- the templates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A string that is one reference, whole: the value keeps its type (number, boolean, object)."""

    name: str


@dataclass(frozen=True)
class Interpolated:
    """A string with references inside: literal parts and names, in order."""

    parts: tuple[str | Ref, ...]


def parse_string(text: str, where: str) -> str | Ref | Interpolated:
    """A template string, or InvalidInput naming `where` for a brace that is not a `{name}` reference."""
    parts: list[str | Ref] = []
    position = 0
    for match in _TOKEN_RE.finditer(text):
        parts.append(text[position : match.start()])
        parts.append(Ref(check_name(match[1], where)))
        position = match.end()
    parts.append(text[position:])
    for literal in parts:
        if isinstance(literal, str) and ("{" in literal or "}" in literal):
            raise InvalidInput(f"{where}: {text!r} has a brace that is not part of a {{name}} reference (braces cannot be escaped)")
    if len(parts) == 1:
        return text
    if len(parts) == 3 and parts[0] == "" and parts[2] == "":
        return parts[1]
    return Interpolated(tuple(part for part in parts if part != ""))


def check_name(name: str, where: str) -> str:
    """A reference's name: a column or a dotted path of keys; no conversion, format spec or dunder."""
    if name == HOME_PAGE_NAME:
        return name
    if _NAME_RE.fullmatch(name) is None:
        raise InvalidInput(
            f"{where}: {{{name}}} is not a reference: a name is a column or a dotted path of keys "
            "(letters, digits, _, -, inner spaces), with no conversion (!r) or format spec (:...)"
        )
    if any(segment.startswith("__") for segment in name.split(".")):
        raise InvalidInput(f"{where}: {{{name}}} is not a reference: a name part cannot start with '__'")
    return name


def compile_template(node: Any, where: str) -> Any:
    """The statement template with its strings parsed; other JSON values are kept as they are."""
    if isinstance(node, str):
        return parse_string(node, where)
    if isinstance(node, dict):
        for key in node:
            if not isinstance(key, str) or "{" in key or "}" in key:
                raise InvalidInput(f"{where}: the key {key!r} is not a plain string (keys are not templates)")
        return {key: compile_template(value, f"{where}.{key}") for key, value in node.items()}
    if isinstance(node, list):
        return [compile_template(value, f"{where}[{index}]") for index, value in enumerate(node)]
    if node is None or isinstance(node, bool | int | float):
        return node
    raise InvalidInput(f"{where}: {node!r} is not a JSON value")


def template_names(node: Any) -> Iterator[str]:
    if isinstance(node, Ref):
        yield node.name
    elif isinstance(node, Interpolated):
        yield from (part.name for part in node.parts if isinstance(part, Ref))
    elif isinstance(node, dict):
        for value in node.values():
            yield from template_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from template_names(value)


def _text(value: Any, name: str) -> str:
    """A value as it reads inside a string: booleans as JSON writes them; objects are refused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Skip(f"invalid-{name}")


def render(node: Any, values: dict[str, Any], omitted: list[str], where: str) -> Any:
    """The template filled in; a field whose value is missing is left out (and noted), as is an
    object or array left empty by that."""
    if isinstance(node, Ref):
        value = values[node.name]
        if value is MISSING:
            omitted.append(f"{where}: no {node.name}")
        return value
    if isinstance(node, Interpolated):
        pieces = []
        for part in node.parts:
            if isinstance(part, Ref):
                value = values[part.name]
                if value is MISSING:
                    omitted.append(f"{where}: no {part.name}")
                    return MISSING
                pieces.append(_text(value, part.name))
            else:
                pieces.append(part)
        return "".join(pieces)
    if isinstance(node, dict):
        filled = {key: render(value, values, omitted, f"{where}.{key}") for key, value in node.items()}
        kept = {key: value for key, value in filled.items() if value is not MISSING}
        return kept if kept or not filled else MISSING
    if isinstance(node, list):
        items = [render(value, values, omitted, f"{where}[{index}]") for index, value in enumerate(node)]
        kept_items = [value for value in items if value is not MISSING]
        return kept_items if kept_items or not items else MISSING
    return node


# -- coercions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coercion:
    type: str
    format: str | None = None

    def apply(self, value: Any, name: str) -> Any:
        try:
            return self._apply(value)
        except (ValueError, TypeError, OverflowError, OSError):
            raise Skip(f"invalid-{name}") from None

    def _apply(self, value: Any) -> Any:
        if self.type == "string":
            if isinstance(value, dict | list):
                raise ValueError
            return _text(value, "value")
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        if isinstance(value, bool):
            raise TypeError
        if self.type == "int":
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, int) or (isinstance(value, str) and _INT_RE.fullmatch(value.strip())):
                return int(value)
            raise ValueError
        if self.type == "float":
            return _finite(value)
        if self.type == "unix":
            return _iso(datetime.fromtimestamp(_finite(value), UTC))
        if not isinstance(value, str):
            raise TypeError
        moment = datetime.strptime(value.strip(), self.format) if self.format else datetime.fromisoformat(value.strip())
        return _iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _finite(value: Any) -> float:
    if isinstance(value, int | float) or (isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip())):
        number = float(value)
        if math.isfinite(number):
            return number
    raise ValueError


def _iso(moment: datetime) -> str:
    """An instant in UTC as xAPI timestamps are usually written (`Z`, milliseconds when any)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


@dataclass(frozen=True)
class Condition:
    """`skip_when` item: the row is skipped, with `reason`, when `column` is empty or equals a value."""

    column: str
    reason: str
    equals: Any = MISSING

    def holds(self, raw: Any) -> bool:
        if self.equals is MISSING:
            return raw is MISSING
        return raw is not MISSING and (raw == self.equals or _key(raw) == _key(self.equals))


def _key(value: Any) -> str:
    """A value as a key of a value map: strings as they are, other scalars as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


# -- the mapping file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """A mapping file, checked: what every row of the input goes through."""

    path: Path
    format: str
    delimiter: str
    id_names: tuple[str, ...] | None
    kind: str
    statement: dict[str, Any]
    value_maps: dict[str, dict[str, Any]]
    defaults: dict[str, Any]
    types: dict[str, Coercion]
    skip_when: tuple[Condition, ...]
    names: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> Mapping:
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except OSError as error:
            raise InvalidInput(f"{where}: cannot read the mapping file ({error.strerror})") from None
        except (ValueError, tomllib.TOMLDecodeError) as error:
            raise InvalidInput(f"{where}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {error}") from None
        return cls.parse(data, where, path)

    @classmethod
    def parse(cls, data: Any, where: str, path: Path) -> Mapping:
        if not isinstance(data, dict):
            raise InvalidInput(f"{where}: the mapping must be an object")
        unknown = sorted(set(data) - TOP_KEYS)
        if unknown:
            raise InvalidInput(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(sorted(TOP_KEYS))})")
        fmt, delimiter = _input(data.get("input"), f"{where}: input")
        statement = data.get("statement")
        if not isinstance(statement, dict) or not statement:
            raise InvalidInput(f"{where}: statement must be a non-empty object (the statement template)")
        if "id" in statement:
            raise InvalidInput(f"{where}: statement.id is made by the converter: list the identifying columns in the top-level id")
        template = compile_template(statement, f"{where}: statement")
        id_names = _id_names(data.get("id"), f"{where}: id")
        kind = data.get("kind", DEFAULT_KIND)
        if not isinstance(kind, str) or not kind.strip():
            raise InvalidInput(f"{where}: kind must be a non-empty string")
        skip_when = _conditions(data.get("skip_when", []), f"{where}: skip_when")
        names = dict.fromkeys([*template_names(template), *(id_names or ()), *(condition.column for condition in skip_when)])
        names.pop(HOME_PAGE_NAME, None)
        value_maps = _per_name(data.get("value_maps", {}), f"{where}: value_maps", names, _value_map)
        defaults = _per_name(data.get("defaults", {}), f"{where}: defaults", names, _json_value)
        types = _per_name(data.get("types", {}), f"{where}: types", names, _coercion)
        return cls(path, fmt, delimiter, id_names, kind, template, value_maps, defaults, types, tuple(skip_when), tuple(names))


def _input(spec: Any, where: str) -> tuple[str, str]:
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: must be an object such as {{\"format\": \"csv\"}} or {{\"format\": \"jsonl\"}}")
    unknown = sorted(set(spec) - {"format", "delimiter"})
    if unknown:
        raise InvalidInput(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: delimiter, format)")
    fmt = spec.get("format")
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"{where}.format: {fmt!r} is not a format read (csv, jsonl)")
    delimiter = spec.get("delimiter", ",")
    if fmt == "jsonl" and "delimiter" in spec:
        raise InvalidInput(f"{where}.delimiter: only csv input has a delimiter")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise InvalidInput(f"{where}.delimiter: {delimiter!r} is not one character (and not a quote or a line break)")
    return fmt, delimiter


def _id_names(spec: Any, where: str) -> tuple[str, ...] | None:
    if spec is None:
        return None
    if not isinstance(spec, list) or not spec or not all(isinstance(name, str) for name in spec):
        raise InvalidInput(f"{where}: must be a non-empty list of column names")
    return tuple(check_name(name, where) for name in spec)


def _conditions(spec: Any, where: str) -> list[Condition]:
    if not isinstance(spec, list):
        raise InvalidInput(f"{where}: must be a list of conditions")
    conditions = []
    for index, item in enumerate(spec):
        at = f"{where}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("column"), str):
            raise InvalidInput(f"{at}: a condition is an object with a column, and empty: true or equals: VALUE")
        unknown = sorted(set(item) - {"column", "empty", "equals", "reason"})
        if unknown:
            raise InvalidInput(f"{at}: unknown key {', '.join(map(repr, unknown))} (known: column, empty, equals, reason)")
        column = check_name(item["column"], at)
        if ("empty" in item) == ("equals" in item) or item.get("empty", True) is not True:
            raise InvalidInput(f"{at}: give exactly one of empty: true or equals: VALUE")
        equals = _json_value(item["equals"], f"{at}.equals") if "equals" in item else MISSING
        default_reason = f"empty-{column}" if equals is MISSING else f"excluded-{column}"
        reason = item.get("reason", default_reason)
        if not isinstance(reason, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._:\- ]*", reason.lower()):
            raise InvalidInput(f"{at}.reason: {reason!r} is not a short slug")
        conditions.append(Condition(column, reason, equals))
    return conditions


def _per_name(spec: Any, where: str, names: dict[str, None], parse: Callable[[Any, str], Any]) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: must be an object keyed by column")
    for name in spec:
        if name not in names:
            raise InvalidInput(f"{where}: {name!r} is referenced nowhere in statement, id or skip_when")
    return {name: parse(value, f"{where}.{name}") for name, value in spec.items()}


def _value_map(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict) or not spec:
        raise InvalidInput(f"{where}: must be a non-empty object from input values to output values")
    return {key: _json_value(value, f"{where}.{key}") for key, value in spec.items()}


def _json_value(value: Any, where: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{where}: {value!r} has no JSON form")
    if isinstance(value, datetime):  # TOML's own datetimes
        raise InvalidInput(f"{where}: write instants as strings")
    if value is None:
        raise InvalidInput(f"{where}: null is not a value here")
    return value


def _coercion(spec: Any, where: str) -> Coercion:
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: a type is a name ({', '.join(sorted(TYPE_NAMES))}) or {{\"type\": \"datetime\", \"format\": \"%Y-%m-%d %H:%M\"}}")
    unknown = sorted(set(spec) - {"type", "format"})
    if unknown:
        raise InvalidInput(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: format, type)")
    name = spec.get("type")
    if name not in TYPE_NAMES:
        raise InvalidInput(f"{where}: {name!r} is not a type name ({', '.join(sorted(TYPE_NAMES))})")
    fmt = spec.get("format")
    if fmt is not None and (name != "datetime" or not isinstance(fmt, str) or not fmt):
        raise InvalidInput(f"{where}.format: only a datetime has a format, a strptime string such as '%Y-%m-%d %H:%M'")
    return Coercion(name, fmt)


# -- the converter ---------------------------------------------------------------------------------


def _lookup(record: dict[str, Any], name: str) -> Any:
    """A dotted path of keys into a JSON record, with dict.get only: never an attribute."""
    value: Any = record
    for segment in name.split("."):
        if not isinstance(value, dict):
            return MISSING
        value = value.get(segment, MISSING)
    if value is None or (isinstance(value, str) and not value.strip()):
        return MISSING
    return value


class MappingConverter:
    """Converts one CSV or JSON-lines file through a mapping file; `statements()` streams the result."""

    def __init__(self, input_path: Path, *, home_page: str = DEFAULT_HOME_PAGE, mapping: Path) -> None:
        self.home_page = check_home_page(home_page)
        self.input_path = input_path
        if not input_path.is_file():
            raise InvalidInput(f"{input_path} is not a file")
        self.mapping = Mapping.load(mapping)
        self._header: list[str] = []
        if self.mapping.format == "csv":
            self._header = self._read_header()
            absent = [name for name in self.mapping.names if name not in self._header and name not in self.mapping.defaults]
            if absent:
                raise InvalidInput(
                    f"{mapping}: {', '.join(map(repr, absent))} referenced, but {input_path.name} has no such column "
                    f"(its header: {', '.join(self._header)[:300] or 'none'})"
                )

    def _read_header(self) -> list[str]:
        with open_text(self.input_path) as handle:
            header = next(csv.reader(handle, delimiter=self.mapping.delimiter), [])
        return [name.strip() for name in header]

    def estimated_rows(self) -> int:
        """Rows the conversion will read (lines, less the CSV header), for a progress bar."""
        lines = count_lines(self.input_path)
        return max(lines - 1, 0) if self.mapping.format == "csv" else lines

    def statements(self, report: ConversionReport, on_rows: Callable[[int], None] = lambda _n: None) -> Iterator[dict[str, Any]]:
        """Every statement of the input, in the order of its rows; each row read is recorded in
        `report` (converted or skipped, with the reason). `on_rows(n)` hears of rows as they are read."""
        name, pending = self.input_path.name, 0
        rows = self._csv_rows() if self.mapping.format == "csv" else self._jsonl_rows()
        for line, record in rows:
            pending += 1
            if pending == _PROGRESS_EVERY:
                on_rows(pending)
                pending = 0
            omitted: list[str] = []
            try:
                if isinstance(record, Skip):
                    raise record
                statement = self.convert(record, omitted)
                skip_unless_valid(statement)
            except Skip as skip:
                report.skipped(name, skip.reason, line)
                continue
            report.converted(name, self.mapping.kind)
            for what in omitted:
                report.omitted(name, what)
            yield statement
        on_rows(pending)

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, Any] | Skip]]:
        with open_text(self.input_path) as handle:
            reader = csv.reader(handle, delimiter=self.mapping.delimiter)
            next(reader, None)
            failed_at = -1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error:
                    if reader.line_num == failed_at:
                        raise InvalidInput(f"{self.input_path.name} cannot be read as CSV past line {failed_at}") from None
                    failed_at = reader.line_num
                    yield reader.line_num, Skip("malformed-row")
                    continue
                if not row:
                    continue
                if len(row) != len(self._header):
                    yield reader.line_num, Skip("malformed-row")
                else:
                    yield reader.line_num, dict(zip(self._header, row, strict=True))

    def _jsonl_rows(self) -> Iterator[tuple[int, dict[str, Any] | Skip]]:
        with open_text(self.input_path) as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError:
                    yield line, Skip("not-json")
                    continue
                yield line, record if isinstance(record, dict) else Skip("not-an-object")

    def convert(self, record: dict[str, Any], omitted: list[str]) -> dict[str, Any]:
        """The statement of one record (a CSV row by column, or a JSON object), or a Skip naming why there is none."""
        mapping = self.mapping
        raw = {name: _lookup(record, name) if mapping.format == "jsonl" else _lookup_column(record, name) for name in mapping.names}
        for condition in mapping.skip_when:
            if condition.holds(raw[condition.column]):
                raise Skip(condition.reason)
        values = {name: self._value(name, value) for name, value in raw.items()}
        values[HOME_PAGE_NAME] = self.home_page
        body = render(mapping.statement, values, omitted, "statement")
        if body is MISSING or not isinstance(body, dict):
            raise Skip("empty-statement")
        identity = [_key(raw[name]) if raw[name] is not MISSING else "" for name in mapping.id_names] if mapping.id_names else [json.dumps(record, sort_keys=True, ensure_ascii=False)]
        return {"id": str(uuid.uuid5(NAMESPACE, json.dumps([self.home_page, *identity], ensure_ascii=False))), **body}

    def _value(self, name: str, value: Any) -> Any:
        """A raw input value through its default, its value map, then its type."""
        mapping = self.mapping
        if value is MISSING:
            value = mapping.defaults.get(name, MISSING)
            if value is MISSING:
                return MISSING
        if name in mapping.value_maps:
            table = mapping.value_maps[name]
            key = _key(value)
            if key not in table:
                raise Skip(f"unmapped-{name}")
            value = table[key]
        if name in mapping.types:
            value = mapping.types[name].apply(value, name)
        return value


def _lookup_column(record: dict[str, Any], name: str) -> Any:
    value = record.get(name, MISSING)
    if isinstance(value, str):
        value = value.strip()
        return value if value else MISSING
    return value


def convert_mapping(
    input_path: Path,
    report: ConversionReport,
    *,
    mapping: Path,
    home_page: str = DEFAULT_HOME_PAGE,
    on_rows: Callable[[int], None] = lambda _n: None,
) -> Iterator[dict[str, Any]]:
    """Stream the statements of a CSV or JSON-lines file through `mapping`, recording every row in `report`."""
    return MappingConverter(input_path, home_page=home_page, mapping=mapping).statements(report, on_rows)
