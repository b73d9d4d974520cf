"""What a right operand means once we know its left operand: dates, durations, numbers, terms.

A DSP policy writes `"rightOperand": "2023-12-31T06:00Z"` as a bare string; only the left
operand (`dateTime`) says it is a moment. So values are kept as written in the model and read
here, at evaluation time, according to the kind the left operand's resolver declares. Anything
that does not read cleanly raises `EvaluationError`, which the evaluator turns into a denial
with the reason, never into a guess.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum

from dases.policy import vocab
from dases.policy.model import Value


class EvaluationError(Exception):
    """A constraint that cannot be decided; the message is the reason given to the caller."""


class Kind(str, Enum):
    """How a left operand's values are read and compared."""

    DATETIME = "dateTime"
    DURATION = "duration"
    NUMBER = "number"
    TERM = "term"  # an IRI or a plain word: compared for identity and by hierarchy, never ordered


_DATATYPES: dict[Kind, frozenset[str]] = {
    Kind.DATETIME: frozenset({"dateTime", "dateTimeStamp", "date"}),
    Kind.DURATION: frozenset({"duration", "dayTimeDuration", "yearMonthDuration"}),
    Kind.NUMBER: frozenset(
        {
            "integer",
            "decimal",
            "float",
            "double",
            "int",
            "long",
            "short",
            "byte",
            "nonNegativeInteger",
            "positiveInteger",
            "unsignedInt",
            "unsignedLong",
        }
    ),
    Kind.TERM: frozenset({"anyURI", "string", "token", "NMTOKEN", "language"}),
}

_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<Y>\d+)Y)?(?:(?P<M>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
# XSD's reference moments for comparing durations that mix months and days.
_REFERENCE_MOMENTS = tuple(
    datetime(year, month, 1, tzinfo=UTC)
    for year, month in ((1696, 9), (1697, 2), (1903, 3), (1903, 7))
)


@dataclass(frozen=True)
class Duration:
    """An xsd:duration: months and seconds stay apart because a month has no fixed length."""

    months: int
    seconds: Decimal
    lexical: str

    def add_to(self, moment: datetime) -> datetime:
        try:
            return _add_months(moment, self.months) + timedelta(seconds=float(self.seconds))
        except (OverflowError, ValueError) as error:
            raise EvaluationError(f"duration {self.lexical} is out of range: {error}") from None


@dataclass(frozen=True)
class Elapsed:
    """Time since a start (an agreement's), compared with a duration by adding the duration to
    the start: "less than P1M since 31 January" is then exact, with no 30-day approximation."""

    start: datetime
    end: datetime

    def compare(self, duration: Duration) -> int:
        return _sign_of(self.end, duration.add_to(self.start))

    def as_duration(self) -> Duration:
        seconds = Decimal(str((self.end - self.start).total_seconds()))
        return Duration(0, seconds, format_seconds(seconds))


def format_seconds(seconds: Decimal) -> str:
    """The xsd:duration lexical form of a number of seconds (`PT3600S`, `-PT1.5S`)."""
    sign = "-" if seconds < 0 else ""
    return f"{sign}PT{abs(seconds).normalize():f}S"


def parse_datetime(text: object) -> datetime:
    """An xsd:dateTime (or xsd:date, read as midnight); without a zone it is taken as UTC."""
    if isinstance(text, datetime):
        moment = text
    elif isinstance(text, date):
        moment = datetime(text.year, text.month, text.day)
    elif isinstance(text, str) and len(text) >= 10 and text[:1].isdigit():
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise EvaluationError(f"{text!r} is not an xsd:dateTime") from None
    else:
        raise EvaluationError(f"{text!r} is not an xsd:dateTime")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_duration(text: object) -> Duration:
    """An ISO 8601 / xsd:duration such as P30D, PT1H or P1Y2M3DT4H5M6.5S."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if (
        match is None
        or not any(match.group(key) for key in "YMWDhms")
        or ("T" in text and not any(match.group(key) for key in "hms"))
    ):
        raise EvaluationError(f"{text!r} is not an xsd:duration (e.g. P30D, PT1H)")
    try:
        part = {key: int(match.group(key) or 0) for key in "YMWDhm"}
    except ValueError:  # more digits than int() accepts
        raise EvaluationError(f"{text[:40]!r}... is out of range") from None
    seconds = (
        Decimal(match.group("s") or 0)
        + 60 * part["m"]
        + 3600 * part["h"]
        + 86400 * (part["D"] + 7 * part["W"])
    )
    months = 12 * part["Y"] + part["M"]
    if match.group("sign"):
        months, seconds = -months, -seconds
    return Duration(months, seconds, text.strip())


def parse_number(raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise EvaluationError(f"{raw!r} is not a number")
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise EvaluationError(f"{raw!r} is not a number") from None
    if not number.is_finite():
        raise EvaluationError(f"{raw!r} is not a finite number")
    return number


def parse_term(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise EvaluationError(f"{raw!r} is not an IRI or a term")
    return vocab.expand_value(raw.strip())


def read(kind: Kind, value: Value, declared: str | None = None) -> object:
    """The meaning of one right-operand value for a left operand of this kind."""
    datatype = value.datatype or declared
    if datatype is not None:
        local = datatype.removeprefix(vocab.XSD)
        if local not in _DATATYPES[kind]:
            raise EvaluationError(
                f"a value typed {vocab.compact(datatype)} cannot be compared as {kind.value}"
            )
    if kind is Kind.DATETIME:
        return parse_datetime(value.lexical)
    if kind is Kind.DURATION:
        return parse_duration(value.lexical)
    if kind is Kind.NUMBER:
        return parse_number(value.lexical)
    return parse_term(value.lexical)


def compare(left: object, right: object) -> int:
    """-1, 0 or 1 for two ordered values of the same kind; EvaluationError when they are not."""
    if isinstance(left, Elapsed) and isinstance(right, Duration):
        return left.compare(right)
    if isinstance(left, Duration) and isinstance(right, Duration):
        return _compare_durations(left, right)
    if isinstance(left, datetime) and isinstance(right, datetime):
        return _sign_of(left, right)
    if (
        isinstance(left, Decimal | int)
        and isinstance(right, Decimal | int)
        and not isinstance(left, bool)
    ):
        return _sign_of(Decimal(left), Decimal(right))
    raise EvaluationError(f"{describe(left)} and {describe(right)} cannot be ordered")


def describe(value: object) -> str:
    """A value as a reason shows it."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Duration):
        return value.lexical
    if isinstance(value, Elapsed):
        return value.as_duration().lexical
    if isinstance(value, Value):
        return str(value.lexical)
    if isinstance(value, frozenset | tuple | list):
        return "{" + ", ".join(sorted(describe(item) for item in value)) + "}"
    if isinstance(value, str):
        return vocab.compact(value)
    return str(value)


def _compare_durations(left: Duration, right: Duration) -> int:
    results = {_sign_of(left.add_to(moment), right.add_to(moment)) for moment in _REFERENCE_MOMENTS}
    if len(results) != 1:
        raise EvaluationError(f"durations {left.lexical} and {right.lexical} cannot be ordered")
    return results.pop()


def _sign_of(left: object, right: object) -> int:
    return (left > right) - (left < right)  # type: ignore[operator]


def _add_months(moment: datetime, months: int) -> datetime:
    if not months:
        return moment
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
