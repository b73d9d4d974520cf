"""The Open University Learning Analytics Dataset (OULAD) as xAPI statements of the DASES profiles.

Two OULAD tables describe what a learner did, and each of their rows becomes statements:

- `studentRegistration.csv`: a "registered to a course" statement of the DASES LMS profile and,
  when the learner left, an "unregistered to a course" statement;
- `studentAssessment.csv` (joined with `assessments.csv`): one "completed" statement per
  submission, on the assessment, with its score, following the DASES assessment profile.

OULAD dates are days relative to the start of the module presentation, never calendar dates; a
presentation code (`2013J`) only says the year and whether it starts in February (`B`) or October
(`J`). Statements need instants, so the presentation is taken to start on the first day of that
month (`presentation_start`); the relative day itself is kept in every statement
(`PRESENTATION_DAY`), so nothing depends on that assumption for good.

Rows are read one at a time (`csv`), the two small reference tables (`assessments.csv`,
`courses.csv`) are held in memory for the join, and statements are yielded as they are built: a
conversion runs in constant memory whatever the size of the tables. Statement ids are UUIDv5 over
the row's identity, so converting the same tables twice yields the same statements, and an LRS
given both stores each once.
"""

from __future__ import annotations

import csv
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from dases.errors import InvalidInput
from dases.interop.report import ConversionReport, Skip, skip_unless_valid

SOURCE = "oulad"
DEFAULT_HOME_PAGE = "https://oulad.example.org"
XAPI_VERSION = "1.0.3"

REGISTRATIONS = "studentRegistration.csv"
SUBMISSIONS = "studentAssessment.csv"
ASSESSMENTS = "assessments.csv"
COURSES = "courses.csv"

#: Namespace of the statement ids: change it (v2, ...) whenever the statements built from the same
#: row change, or an LRS holding the old ones will refuse the new ones as conflicting (409).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://schema.dases.eu/interop/oulad/v1")
_NAMESPACE_BYTES = NAMESPACE.bytes

# -- the DASES LMS profile (lms/profile/profile.jsonld; where its markdown pages name other IRIs,
#    the machine-readable profile wins, since that is what statements are matched against) -------
LMS_PROFILE_VERSION = "http://schema.dases.eu/xapi/profile/common/v/1"
LMS_CATEGORY = "https://w3id.org/xapi/lms"  # the category the profile's markdown pages require
REGISTERED = "https://w3id.org/xapi/tla/verbs/registered"
UNREGISTERED = "http://id.tincanapi.com/verb/unregistered"
COURSE = "http://adlnet.gov/expapi/activities/course"
PROFILE = "http://adlnet.gov/expapi/activities/profile"
STARTING_DATE = "http://schema.dases.eu/xapi/profile/common/extension/starting-date"
ENDING_DATE = "http://schema.dases.eu/xapi/profile/common/extension/ending-date"
ROLE = "http://schema.dases.eu/xapi/profile/common/extension/role"

# -- the DASES assessment profile (published upstream, not in the specs this project holds: its
#    "completed" template is verb `completed` on an activity of type `assessment`) ----------------
ASSESSMENT_PROFILE_VERSION = "http://schema.dases.eu/xapi/profile/assessment/v/1"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"

# -- extensions for what OULAD has and no DASES profile defines yet ------------------------------
OULAD_EXTENSION = "http://schema.dases.eu/xapi/oulad/extension/"
PRESENTATION_DAY = OULAD_EXTENSION + "presentation-day"  # context: OULAD's own relative day
IS_BANKED = OULAD_EXTENSION + "is-banked"  # result: carried over from an earlier presentation
DAYS_AFTER_DUE_DATE = OULAD_EXTENSION + "days-after-due-date"  # result: < 0 early, > 0 late
ASSESSMENT_TYPE = OULAD_EXTENSION + "assessment-type"  # definition: TMA, CMA or Exam
WEIGHT = OULAD_EXTENSION + "weight"  # definition: weight in % of the module's result
DUE_DATE = OULAD_EXTENSION + "due-date"  # definition: ISO 8601 instant of the final submission date

#: OULAD.names: "The score lower than 40 is interpreted as Fail."
PASS_MARK = 40

KIND_REGISTERED = "lms: registered to a course"
KIND_UNREGISTERED = "lms: unregistered to a course"
KIND_COMPLETED = "assessment: completed"

_PRESENTATION_RE = re.compile(r"(\d{4})([BJ])")
_START_MONTH = {"B": 2, "J": 10}
_MISSING = ("", "?")
_PROGRESS_EVERY = 1000


def presentation_start(code_presentation: str) -> date:
    """The assumed first day of a module presentation: `2013B` -> 2013-02-01, `2013J` -> 2013-10-01.

    OULAD.names only says that B presentations start in February and J ones in October; the day
    is not published, so the first of the month stands for it."""
    match = _PRESENTATION_RE.fullmatch(code_presentation)
    if match is None:
        raise ValueError(f"{code_presentation!r} is not a presentation code (a year, then B or J)")
    return date(int(match[1]), _START_MONTH[match[2]], 1)


@lru_cache(maxsize=8192)
def instant(start: date, day: int) -> str:
    """The ISO 8601 instant of OULAD's `day` (relative to `start`): midnight UTC, as only the day is known."""
    return f"{(start + timedelta(days=day)).isoformat()}T00:00:00Z"


def uuid5(name: str) -> str:
    """`str(uuid.uuid5(NAMESPACE, name))`, three times faster: one per statement adds up."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hexa = digest.hex()
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


def count_rows(path: Path) -> int:
    """Data rows of a CSV file, by counting lines: cheap, for a progress bar's total only."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def _integer(value: str, field: str, *, required: bool = True) -> int | None:
    """An OULAD integer; `?` or empty is missing (a Skip when required)."""
    value = value.strip()
    if value in _MISSING:
        if required:
            raise Skip(f"missing-{field.replace('_', '-')}")
        return None
    try:
        return int(value)
    except ValueError:
        raise Skip(f"invalid-{field.replace('_', '-')}") from None


def _number(value: str) -> int | float | None:
    """A weight such as `10` or `12.5`; None when missing or not a number."""
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


@dataclass(frozen=True)
class Presentation:
    """A module presentation (a run of a course): what every statement about it shares."""

    code_module: str
    code_presentation: str
    start: date
    length_days: int | None
    course_id: str  # the activity of the presentation: the object of registrations
    module_id: str  # the activity of the module, across its presentations


@dataclass(frozen=True)
class Assessment:
    """A row of `assessments.csv`, held in memory for the join with the submissions."""

    id_assessment: str
    presentation: Presentation | None  # None when its presentation code is not one
    assessment_type: str
    due_day: int | None  # None for the exams whose date OULAD leaves out
    weight: int | float | None


class _Table:
    """A CSV table read row by row, with its columns checked once against what the converter needs."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        if not path.is_file():
            raise InvalidInput(f"{path.name} is missing from {path.parent}: an OULAD directory holds {REGISTRATIONS}, {SUBMISSIONS}, {ASSESSMENTS} and {COURSES}")
        self.path = path
        header = self._header()
        missing = [name for name in columns if name not in header]
        if missing:
            raise InvalidInput(f"{path.name} has no column {', '.join(missing)} (its header: {', '.join(header) or 'none'})")
        self.positions = [header.index(name) for name in columns]

    def _header(self) -> list[str]:
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]

    def rows(self) -> Iterator[tuple[int, list[str] | None]]:
        """(line number, the needed values in `columns` order, or None when the row is too short)."""
        positions = self.positions
        width = max(positions) + 1
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for row in reader:
                if not row:
                    continue
                yield reader.line_num, ([row[position] for position in positions] if len(row) >= width else None)


class OuladConverter:
    """Converts the OULAD tables of one directory; `statements()` streams the result."""

    def __init__(self, input_dir: Path, *, home_page: str = DEFAULT_HOME_PAGE) -> None:
        parts = urlsplit(home_page)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"the home page must be an http(s) URL, not {home_page!r}")
        self.input_dir = input_dir
        self.home_page = home_page.rstrip("/")
        self._activities = f"{self.home_page}/xapi/activities"
        self._registrations = _Table(input_dir / REGISTRATIONS, ("code_module", "code_presentation", "id_student", "date_registration", "date_unregistration"))
        self._submissions = _Table(input_dir / SUBMISSIONS, ("id_assessment", "id_student", "date_submitted", "is_banked", "score"))
        self._assessments_table = _Table(input_dir / ASSESSMENTS, ("code_module", "code_presentation", "id_assessment", "assessment_type", "date", "weight"))
        self._courses_table = _Table(input_dir / COURSES, ("code_module", "code_presentation", "module_presentation_length"))
        self._presentations: dict[tuple[str, str], Presentation | None] = {}
        self._lengths: dict[tuple[str, str], int] = {}

    def estimated_rows(self) -> int:
        """Rows the conversion will read (registrations and submissions), for a progress bar."""
        return count_rows(self._registrations.path) + count_rows(self._submissions.path)

    def statements(self, report: ConversionReport, on_rows: Callable[[int], None] = lambda _n: None) -> Iterator[dict[str, Any]]:
        """Every statement of the directory, registrations first; each row read is recorded in
        `report` (converted or skipped, with the reason). `on_rows(n)` hears of rows as they are read."""
        self._load_courses()
        assessments = self._load_assessments()
        yield from self._registration_statements(report, on_rows)
        yield from self._submission_statements(report, assessments, on_rows)

    # -- reference tables ------------------------------------------------------------------------

    def _load_courses(self) -> None:
        for _line, values in self._courses_table.rows():
            if values is None:
                continue
            code_module, code_presentation, length = (value.strip() for value in values)
            try:
                self._lengths[(code_module, code_presentation)] = int(length)
            except ValueError:
                continue  # an unknown length only leaves the ending date out

    def _presentation(self, code_module: str, code_presentation: str) -> Presentation:
        if not code_module:
            raise Skip("missing-code-module")
        key = (code_module, code_presentation)
        if key not in self._presentations:
            try:
                start = presentation_start(code_presentation)
            except ValueError:
                self._presentations[key] = None
            else:
                module = f"{self._activities}/module/{quote(code_module, safe='')}"
                course = f"{self._activities}/course/{quote(code_module, safe='')}/{quote(code_presentation, safe='')}"
                self._presentations[key] = Presentation(code_module, code_presentation, start, self._lengths.get(key), course, module)
        presentation = self._presentations[key]
        if presentation is None:
            raise Skip("unknown-presentation")
        return presentation

    def _load_assessments(self) -> dict[str, Assessment]:
        assessments: dict[str, Assessment] = {}
        for _line, values in self._assessments_table.rows():
            if values is None:
                continue
            code_module, code_presentation, id_assessment, assessment_type, due, weight = (value.strip() for value in values)
            presentation: Presentation | None
            try:
                presentation = self._presentation(code_module, code_presentation)
            except Skip:
                presentation = None
            try:
                due_day = _integer(due, "date", required=False)
            except Skip:
                due_day = None  # an unreadable due date only leaves the timing out
            assessments[id_assessment] = Assessment(id_assessment, presentation, assessment_type, due_day, _number(weight))
        return assessments

    # -- the building blocks of a statement ------------------------------------------------------

    def _actor(self, id_student: int) -> dict[str, Any]:
        return {"account": {"homePage": self.home_page, "name": str(id_student)}}

    def _id(self, *identity: object) -> str:
        return uuid5("|".join((self.home_page, *map(str, identity))))

    def _enrolment(self, presentation: Presentation, id_student: int) -> str:
        """The xAPI `context.registration` shared by every statement of one learner in one presentation."""
        return self._id("enrolment", presentation.code_module, presentation.code_presentation, id_student)

    def _module(self, presentation: Presentation) -> dict[str, Any]:
        return {
            "objectType": "Activity",
            "id": presentation.module_id,
            "definition": {"type": COURSE, "name": {"en": f"OULAD module {presentation.code_module}"}},
        }

    def _course(self, presentation: Presentation) -> dict[str, Any]:
        return {
            "objectType": "Activity",
            "id": presentation.course_id,
            "definition": {"type": COURSE, "name": {"en": f"OULAD module {presentation.code_module}, presentation {presentation.code_presentation}"}},
        }

    @staticmethod
    def _profile_category(profile_version: str, *more: str) -> list[dict[str, Any]]:
        return [{"objectType": "Activity", "id": iri, "definition": {"type": PROFILE}} for iri in (profile_version, *more)]

    # -- studentRegistration.csv -----------------------------------------------------------------

    def _registration_statements(self, report: ConversionReport, on_rows: Callable[[int], None]) -> Iterator[dict[str, Any]]:
        table, pending = REGISTRATIONS, 0
        for line, values in self._registrations.rows():
            pending += 1
            if pending == _PROGRESS_EVERY:
                on_rows(pending)
                pending = 0
            try:
                if values is None:
                    raise Skip("malformed-row")
                statements, omitted = self._registration(values)
                for statement in statements:
                    skip_unless_valid(statement)
            except Skip as skip:
                report.skipped(table, skip.reason, line)
                continue
            report.converted(table, *(KIND_REGISTERED if s["verb"]["id"] == REGISTERED else KIND_UNREGISTERED for s in statements))
            for what in omitted:
                report.omitted(table, what)
            yield from statements
        on_rows(pending)

    def _registration(self, values: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """The statements of one registration row, and what was left out of them."""
        code_module, code_presentation, student, registered, unregistered = (value.strip() for value in values)
        presentation = self._presentation(code_module, code_presentation)
        id_student = _integer(student, "id_student")
        registered_day = _integer(registered, "date_registration", required=False)
        unregistered_day = _integer(unregistered, "date_unregistration", required=False)
        if registered_day is None and unregistered_day is None:
            raise Skip("missing-date-registration")
        assert id_student is not None
        statements, omitted = [], []
        if registered_day is None:
            # The withdrawal is what a dropout model needs most: keep it, and say what is missing.
            omitted.append("registered statement: missing date_registration")
        else:
            statements.append(self._lms_statement("registered", REGISTERED, presentation, id_student, registered_day))
        if unregistered_day is not None:
            statements.append(self._lms_statement("unregistered", UNREGISTERED, presentation, id_student, unregistered_day))
        return statements, omitted

    def _lms_statement(self, verb: str, verb_id: str, presentation: Presentation, id_student: int, day: int) -> dict[str, Any]:
        extensions: dict[str, Any] = {
            STARTING_DATE: instant(presentation.start, 0),
            ROLE: "learner",
            PRESENTATION_DAY: day,
        }
        if presentation.length_days is not None:
            extensions[ENDING_DATE] = instant(presentation.start, presentation.length_days)
        return {
            "id": self._id(verb, presentation.code_module, presentation.code_presentation, id_student),
            "actor": self._actor(id_student),
            "verb": {"id": verb_id, "display": {"en-US": verb}},
            "object": self._course(presentation),
            "context": {
                "registration": self._enrolment(presentation, id_student),
                "contextActivities": {
                    "grouping": [self._module(presentation)],
                    "category": self._profile_category(LMS_PROFILE_VERSION, LMS_CATEGORY),
                },
                "extensions": extensions,
            },
            "timestamp": instant(presentation.start, day),
        }

    # -- studentAssessment.csv joined with assessments.csv ---------------------------------------

    def _submission_statements(self, report: ConversionReport, assessments: dict[str, Assessment], on_rows: Callable[[int], None]) -> Iterator[dict[str, Any]]:
        table, pending = SUBMISSIONS, 0
        for line, values in self._submissions.rows():
            pending += 1
            if pending == _PROGRESS_EVERY:
                on_rows(pending)
                pending = 0
            try:
                if values is None:
                    raise Skip("malformed-row")
                statement, omitted = self._submission(values, assessments)
                skip_unless_valid(statement)
            except Skip as skip:
                report.skipped(table, skip.reason, line)
                continue
            report.converted(table, KIND_COMPLETED)
            for what in omitted:
                report.omitted(table, what)
            yield statement
        on_rows(pending)

    def _submission(self, values: list[str], assessments: dict[str, Assessment]) -> tuple[dict[str, Any], list[str]]:
        """The statement of one submission row, and what was left out of it."""
        id_assessment, student, submitted, banked, score_text = (value.strip() for value in values)
        assessment = assessments.get(id_assessment)
        if assessment is None:
            raise Skip("unknown-assessment" if id_assessment not in _MISSING else "missing-id-assessment")
        presentation = assessment.presentation
        if presentation is None:
            raise Skip("unknown-presentation")
        id_student = _integer(student, "id_student")
        submitted_day = _integer(submitted, "date_submitted")
        assert id_student is not None and submitted_day is not None
        if banked not in ("0", "1"):
            raise Skip("missing-is-banked" if banked in _MISSING else "invalid-is-banked")
        is_banked = banked == "1"
        score = _integer(score_text, "score", required=False)
        if score is not None and not 0 <= score <= 100:
            raise Skip("invalid-score")

        omitted = []
        result: dict[str, Any] = {"completion": True}
        if score is None:
            omitted.append("score: missing score")
        else:
            result["success"] = score >= PASS_MARK
            result["score"] = {"raw": score, "min": 0, "max": 100, "scaled": score / 100}
        result_extensions: dict[str, Any] = {IS_BANKED: is_banked}
        if is_banked:
            # A banked result comes from an earlier presentation: its day (always -1) is no submission day.
            omitted.append("days after due date: banked result")
        elif assessment.due_day is None:
            omitted.append("days after due date: no due date")
        else:
            result_extensions[DAYS_AFTER_DUE_DATE] = submitted_day - assessment.due_day
        result["extensions"] = result_extensions

        statement = {
            "id": self._id("submission", id_assessment, id_student),
            "actor": self._actor(id_student),
            "verb": {"id": COMPLETED, "display": {"en-US": "completed"}},
            "object": self._assessment(assessment, presentation),
            "result": result,
            "context": {
                "registration": self._enrolment(presentation, id_student),
                "contextActivities": {
                    "parent": [self._course(presentation)],
                    "grouping": [self._module(presentation)],
                    "category": self._profile_category(ASSESSMENT_PROFILE_VERSION),
                },
                "extensions": {PRESENTATION_DAY: submitted_day},
            },
            "timestamp": instant(presentation.start, submitted_day),
        }
        return statement, omitted

    def _assessment(self, assessment: Assessment, presentation: Presentation) -> dict[str, Any]:
        extensions: dict[str, Any] = {ASSESSMENT_TYPE: assessment.assessment_type}
        if assessment.weight is not None:
            extensions[WEIGHT] = assessment.weight
        if assessment.due_day is not None:
            extensions[DUE_DATE] = instant(presentation.start, assessment.due_day)
        label = f"{assessment.assessment_type} {assessment.id_assessment}".strip()
        return {
            "objectType": "Activity",
            "id": f"{self._activities}/assessment/{quote(assessment.id_assessment, safe='')}",
            "definition": {
                "type": ASSESSMENT,
                "name": {"en": f"OULAD {presentation.code_module} {presentation.code_presentation} {label}"},
                "extensions": extensions,
            },
        }


def convert_oulad(
    input_dir: Path,
    report: ConversionReport,
    *,
    home_page: str = DEFAULT_HOME_PAGE,
    on_rows: Callable[[int], None] = lambda _n: None,
) -> Iterator[dict[str, Any]]:
    """Stream the statements of the OULAD tables in `input_dir`, recording every row in `report`."""
    return OuladConverter(input_dir, home_page=home_page).statements(report, on_rows)
