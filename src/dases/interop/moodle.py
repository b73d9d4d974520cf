"""Moodle's standard log (`logstore_standard_log`, exported as CSV) as xAPI statements of the DASES profiles.

Every Moodle event lands in one row of `mdl_logstore_standard_log`: who (`userid`, and
`relateduserid` for the learner an event is about), what (`eventname`, the PHP class of the event),
where (`courseid`, and `contextinstanceid`, the course module for module events), when
(`timecreated`, Unix seconds) and a free-form `other` column, serialized with PHP's `serialize()`
or, when the site sets `logstore_standard | jsonformat`, as JSON. A provider exports the table as
CSV with its header (`SELECT * ... INTO OUTFILE`, `\\copy ... CSV HEADER`, phpMyAdmin) and each
row of a mapped event becomes one statement; the other rows are skipped with their reason.

`other` is read only for the few values a statement needs (an enrolment method, a completion
state, a forum discussion) and never copied whole: it can hold user names and free text. JSON is
read with `json`; PHP-serialized values with a small parser of PHP's format that builds only
nulls, booleans, numbers, strings and arrays, and refuses objects and references, so nothing in
a log can make it run code. The `ip` column is never read.

Rows are read one at a time (`csv`), gzipped exports are read as they are, and nothing is held
across rows: a conversion runs in constant memory whatever the size of the log. Statement ids
are UUIDv5 over the home page and the log row's `id`, so converting the same export twice yields
the same statements, and an LRS given both stores each once.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from dases.errors import InvalidInput
from dases.interop.oulad import (
    ASSESSMENT,
    ASSESSMENT_PROFILE_VERSION,
    COMPLETED,
    COURSE,
    KIND_COMPLETED,
    KIND_REGISTERED,
    KIND_UNREGISTERED,
    LMS_CATEGORY,
    LMS_PROFILE_VERSION,
    PROFILE,
    REGISTERED,
    UNREGISTERED,
)
from dases.interop.report import ConversionReport, Skip, skip_unless_valid

SOURCE = "moodle"
DEFAULT_HOME_PAGE = "https://moodle.example.org"
XAPI_VERSION = "1.0.3"

#: Namespace of the statement ids: change it (v2, ...) whenever the statement built from the same
#: row changes, or an LRS holding the old ones will refuse the new ones as conflicting (409).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://schema.dases.eu/interop/moodle/v1")

#: The columns read; the table has more (action, target, crud, edulevel, contextid, origin, ip...).
COLUMNS = ("id", "eventname", "component", "objectid", "contextinstanceid", "userid", "courseid", "relateduserid", "anonymous", "other", "timecreated", "realuserid")
#: Moodle creates its guest account first, so it has id 1 on a standard install.
GUEST_USER_ID = 1

# -- the DASES LMS profile: "accessed a page" and "accessed a file" (profile.jsonld) ----------------
ACCESSED = "https://w3id.org/xapi/netc/verbs/accessed"
WEBPAGE = "https://w3id.org/xapi/acrossx/activities/webpage"
FILE = "http://activitystrea.ms/file"
ACROSSX_TYPE = "https://w3id.org/xapi/acrossx/extensions/type"
#: The category the profile's "accessed" templates require (`any` over the category ids).
ADL_LMS_PROFILE = "https://profiles.adlnet.gov/xapi/bf76a8cc-f46a-4065-aa7b-443df4efc2be/v/1"

# -- verbs and activity types for what no DASES template covers ----------------------------------
ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"
LOGGED_IN = "https://w3id.org/xapi/adl/verbs/logged-in"
LOGGED_OUT = "https://w3id.org/xapi/adl/verbs/logged-out"
CREATED = "http://activitystrea.ms/schema/1.0/create"
REPLIED = "http://id.tincanapi.com/verb/replied"
APPLICATION = "http://activitystrea.ms/schema/1.0/application"
LINK = "http://adlnet.gov/expapi/activities/link"
MODULE = "http://adlnet.gov/expapi/activities/module"
DISCUSSION = "http://id.tincanapi.com/activitytype/discussion"
FORUM_TOPIC = "http://id.tincanapi.com/activitytype/forum-topic"

# -- extensions for what Moodle has and no DASES profile defines yet -----------------------------
MOODLE_EXTENSION = "http://schema.dases.eu/xapi/moodle/extension/"
EVENT_NAME = MOODLE_EXTENSION + "event-name"  # context: the event's PHP class, as logged
LOG_ID = MOODLE_EXTENSION + "log-id"  # context: the row's id in logstore_standard_log
ENROL_METHOD = MOODLE_EXTENSION + "enrol-method"  # context: manual, self, cohort... (enrolments)

KIND_ACCESSED_PAGE = "lms: accessed a page"
KIND_ACCESSED_FILE = "lms: accessed a file"
KIND_ACCESSED_MODULE = "xapi: accessed a course module"
KIND_ATTEMPTED = "xapi: attempted an assessment"
KIND_MODULE_COMPLETED = "xapi: completed a course module"
KIND_COURSE_COMPLETED = "xapi: completed a course"
KIND_LOGGED_IN = "xapi: logged in"
KIND_LOGGED_OUT = "xapi: logged out"
KIND_DISCUSSION_CREATED = "xapi: created a forum discussion"
KIND_REPLIED = "xapi: replied to a forum discussion"
KIND_DISCUSSION_ACCESSED = "xapi: accessed a forum discussion"

#: What a course module is, by its Moodle module (the `mod_<name>` component).
MODULE_TYPES = {"page": WEBPAGE, "resource": FILE, "url": LINK, "quiz": ASSESSMENT, "assign": ASSESSMENT, "forum": DISCUSSION}

#: Moodle's completion states (completionlib.php): 0 incomplete, 1 complete, 2 passed, 3 failed.
_COMPLETION_SUCCESS = {1: None, 2: True, 3: False}

_NULLS = ("", "NULL", "null", "\\N")
_EVENT_NAME_RE = re.compile(r"(?:\\[a-z0-9_]+)+")
_MODULE_VIEWED_RE = re.compile(r"\\mod_([a-z0-9_]+)\\event\\course_module_viewed")
_PLUGIN_NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
_PROGRESS_EVERY = 1000


# -- reading `other` -----------------------------------------------------------------------------


class UnreadableOther(ValueError):
    """`other` is neither JSON nor a PHP-serialized array this module reads."""


_PHP_MAX_DEPTH = 32
_PHP_INT_RE = re.compile(rb"-?\d+")
_PHP_FLOAT_RE = re.compile(rb"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def php_unserialize(text: str) -> Any:
    """The value of a PHP `serialize()` string: null, booleans, integers, floats, strings, arrays.

    Objects (`O:`, `C:`), references (`r:`, `R:`) and enums are refused rather than modelled: a
    log value needs none of them, and refusing them keeps this a reader of data only. Arrays
    indexed 0..n-1 become lists, others dicts with string keys (as PHP's `json_encode` does).
    String lengths count bytes, so the text is encoded back to the bytes it was read from."""
    data = text.encode("utf-8", "surrogateescape")
    value, end = _php_value(data, 0, 0)
    if end != len(data):
        raise UnreadableOther(f"trailing data after position {end}")
    return value


def _php_value(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _PHP_MAX_DEPTH:
        raise UnreadableOther("arrays nested too deep")
    kind = data[pos : pos + 2]
    if kind == b"N;":
        return None, pos + 2
    if kind in (b"b:", b"i:", b"d:"):
        end = data.find(b";", pos + 2)
        if end < 0:
            raise UnreadableOther(f"unterminated value at position {pos}")
        raw = data[pos + 2 : end]
        if kind == b"b:":
            if raw not in (b"0", b"1"):
                raise UnreadableOther(f"{raw!r} is not a boolean")
            return raw == b"1", end + 1
        if kind == b"i:":
            return _php_integer(raw), end + 1
        if _PHP_FLOAT_RE.fullmatch(raw) is None:  # INF and NAN have no JSON form
            raise UnreadableOther(f"{raw!r} is not a finite number")
        return float(raw), end + 1
    if kind == b"s:":
        colon = data.find(b":", pos + 2)
        length = _php_integer(data[pos + 2 : colon] if colon >= 0 else b"")
        start = colon + 2
        end = start + length
        if data[colon + 1 : start] != b'"' or length < 0 or data[end : end + 2] != b'";':
            raise UnreadableOther(f"malformed string at position {pos}")
        try:
            return data[start:end].decode("utf-8"), end + 2
        except UnicodeDecodeError:
            raise UnreadableOther(f"string at position {pos} is not UTF-8") from None
    if kind == b"a:":
        colon = data.find(b":", pos + 2)
        count = _php_integer(data[pos + 2 : colon] if colon >= 0 else b"")
        if data[colon + 1 : colon + 2] != b"{" or not 0 <= count <= len(data):
            raise UnreadableOther(f"malformed array at position {pos}")
        pos = colon + 2
        items: dict[int | str, Any] = {}
        for _ in range(count):
            key, pos = _php_value(data, pos, depth + 1)
            if isinstance(key, bool) or not isinstance(key, int | str):
                raise UnreadableOther(f"array key {key!r} is neither an integer nor a string")
            items[key], pos = _php_value(data, pos, depth + 1)
        if data[pos : pos + 1] != b"}":
            raise UnreadableOther(f"unterminated array at position {pos}")
        if list(items) == list(range(count)):
            return list(items.values()), pos + 1
        return {str(key): value for key, value in items.items()}, pos + 1
    raise UnreadableOther(f"unsupported PHP value {kind.decode('ascii', 'replace')!r} at position {pos}")


def _php_integer(raw: bytes) -> int:
    if _PHP_INT_RE.fullmatch(raw) is None:
        raise UnreadableOther(f"{raw!r} is not an integer")
    return int(raw)


def parse_other(text: str) -> dict[str, Any]:
    """The key/value array of a log row's `other`, JSON or PHP-serialized; `{}` when it is empty."""
    text = text.strip()
    if text in _NULLS or text == "N;":
        return {}
    if text[0] in "{[":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise UnreadableOther("invalid JSON") from None
    else:
        value = php_unserialize(text)
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise UnreadableOther("not a key/value array")
    return value


# -- reading the rows ------------------------------------------------------------------------------


def _missing(value: str) -> bool:
    return value.strip() in _NULLS


def _integer(value: str, column: str, *, required: bool = False) -> int | None:
    """A Moodle id column: None when NULL (a Skip when required), a Skip when not an integer."""
    value = value.strip()
    if value in _NULLS:
        if required:
            raise Skip(f"missing-{column}")
        return None
    try:
        return int(value)
    except ValueError:
        raise Skip(f"invalid-{column}") from None


def _user(value: int | None) -> int | None:
    """A user id, or None for "no user" (0: not logged in, or the system)."""
    return value if value is not None and value > 0 else None


def instant(timecreated: int) -> str:
    """Unix seconds as the ISO 8601 instant of an xAPI timestamp (UTC)."""
    return datetime.fromtimestamp(timecreated, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LogRow:
    """The columns of one log row a statement is built from, parsed."""

    log_id: int
    eventname: str
    userid: int | None
    relateduserid: int | None
    courseid: int | None  # None outside a course (0: the system context)
    cmid: int | None  # contextinstanceid: the course module of module events
    objectid: int | None
    timestamp: str
    other_text: str
    _other: dict[str, Any] | None = field(default=None, repr=False)

    def other(self) -> dict[str, Any]:
        """`other`, parsed on first use; a Skip when the statement needs it and it cannot be read."""
        if self._other is None:
            try:
                self._other = parse_other(self.other_text)
            except UnreadableOther:
                raise Skip("unreadable-other") from None
        return self._other

    def other_int(self, key: str) -> int | None:
        value = self.other().get(key)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _PHP_INT_RE.fullmatch(value.strip().encode()):
            return int(value)
        return None


@dataclass(frozen=True)
class Built:
    """A statement, its kind for the report, and what was left out of it."""

    statement: dict[str, Any]
    kind: str
    omitted: tuple[str, ...] = ()


def open_text(path: Path) -> IO[str]:
    """A text file, gunzipped when it starts with gzip's magic bytes (whatever its name).

    Bytes that are not UTF-8 are kept as surrogates, so one bad byte costs at most the row."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def count_lines(path: Path) -> int:
    """Lines of a (possibly gzipped) file: cheap, for a progress bar's total only."""
    lines = 0
    last = b"\n"
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def input_files(input_path: Path, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """The file itself, or the files of a directory whose names end with one of `suffixes`."""
    if input_path.is_file():
        return [input_path]
    if input_path.is_dir():
        found = sorted(path for path in input_path.iterdir() if path.is_file() and path.name.lower().endswith(suffixes))
        if found:
            return found
        raise InvalidInput(f"{input_path} holds no {what} ({', '.join('*' + suffix for suffix in suffixes)})")
    raise InvalidInput(f"{input_path} does not exist")


def check_home_page(home_page: str) -> str:
    parts = urlsplit(home_page)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"the home page must be an http(s) URL, not {home_page!r}")
    return home_page.rstrip("/")


class _LogTable:
    """One CSV export of the log, its header checked once against the columns read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open_text(path) as handle:
            first = handle.readline()
        self.delimiter = "\t" if "\t" in first and "," not in first else ";" if ";" in first and "," not in first else ","
        header = [name.strip().strip('"').lower() for name in next(csv.reader([first], delimiter=self.delimiter), [])]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise InvalidInput(
                f"{path.name} is not an export of logstore_standard_log: it has no column {', '.join(missing)} "
                f"(its header: {', '.join(header)[:300] or 'none'})"
            )
        self.positions = [header.index(name) for name in COLUMNS]

    def rows(self) -> Iterator[tuple[int, dict[str, str] | None]]:
        """(line number, the columns read by name, or None when the row is malformed); blank lines are not rows."""
        width = max(self.positions) + 1
        with open_text(self.path) as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader, None)
            failed_at = -1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error:
                    if reader.line_num == failed_at:
                        raise InvalidInput(f"{self.path.name} cannot be read as CSV past line {failed_at}") from None
                    failed_at = reader.line_num
                    yield reader.line_num, None
                    continue
                if not row:
                    continue
                if len(row) < width:
                    yield reader.line_num, None
                else:
                    yield reader.line_num, {name: row[position] for name, position in zip(COLUMNS, self.positions, strict=True)}


class MoodleConverter:
    """Converts one export of `logstore_standard_log` (or a directory of them); `statements()` streams the result."""

    def __init__(self, input_path: Path, *, home_page: str = DEFAULT_HOME_PAGE, guest_user_id: int | None = GUEST_USER_ID) -> None:
        self.home_page = check_home_page(home_page)
        self.input_path = input_path
        self.guest_user_id = guest_user_id
        self._activities = f"{self.home_page}/xapi/activities"
        self._tables = [_LogTable(path) for path in input_files(input_path, (".csv", ".csv.gz"), "CSV export of logstore_standard_log")]
        self._handlers: dict[str, Callable[[LogRow], Built]] = {
            "\\core\\event\\user_enrolment_created": lambda row: self._enrolment(row, REGISTERED, "registered", KIND_REGISTERED),
            "\\core\\event\\user_enrolment_deleted": lambda row: self._enrolment(row, UNREGISTERED, "unregistered", KIND_UNREGISTERED),
            "\\core\\event\\course_viewed": self._course_viewed,
            "\\core\\event\\course_completed": self._course_completed,
            "\\core\\event\\course_module_completion_updated": self._module_completed,
            "\\core\\event\\user_loggedin": lambda row: self._session(row, LOGGED_IN, "logged in", KIND_LOGGED_IN),
            "\\core\\event\\user_loggedout": lambda row: self._session(row, LOGGED_OUT, "logged out", KIND_LOGGED_OUT),
            "\\mod_quiz\\event\\attempt_started": self._quiz_started,
            "\\mod_quiz\\event\\attempt_submitted": self._quiz_submitted,
            "\\mod_assign\\event\\assessable_submitted": self._assignment_submitted,
            "\\mod_forum\\event\\discussion_created": self._discussion_created,
            "\\mod_forum\\event\\post_created": self._post_created,
            "\\mod_forum\\event\\discussion_viewed": self._discussion_viewed,
        }

    def estimated_rows(self) -> int:
        """Rows the conversion will read (lines less the headers), for a progress bar."""
        return sum(max(count_lines(table.path) - 1, 0) for table in self._tables)

    def statements(self, report: ConversionReport, on_rows: Callable[[int], None] = lambda _n: None) -> Iterator[dict[str, Any]]:
        """Every statement of the export, in the order of its rows; each row read is recorded in
        `report` (converted or skipped, with the reason). `on_rows(n)` hears of rows as they are read."""
        for table in self._tables:
            yield from self._table_statements(table, report, on_rows)

    def _table_statements(self, table: _LogTable, report: ConversionReport, on_rows: Callable[[int], None]) -> Iterator[dict[str, Any]]:
        name, pending = table.path.name, 0
        for line, values in table.rows():
            pending += 1
            if pending == _PROGRESS_EVERY:
                on_rows(pending)
                pending = 0
            try:
                if values is None:
                    raise Skip("malformed-row")
                built = self._convert(values)
                skip_unless_valid(built.statement)
            except Skip as skip:
                report.skipped(name, skip.reason, line)
                continue
            report.converted(name, built.kind)
            for what in built.omitted:
                report.omitted(name, what)
            yield built.statement
        on_rows(pending)

    # -- one row ---------------------------------------------------------------------------------

    def _convert(self, values: dict[str, str]) -> Built:
        """The statement of one row, or a Skip naming why there is none; the checks run cheapest first."""
        log_id = _integer(values["id"], "id", required=True)
        assert log_id is not None
        eventname = "\\" + re.sub(r"\\+", r"\\", values["eventname"].strip()).lstrip("\\")
        if _EVENT_NAME_RE.fullmatch(eventname) is None:
            raise Skip("missing-eventname" if _missing(values["eventname"]) else "invalid-eventname")
        handler = self._handlers.get(eventname)
        module = _MODULE_VIEWED_RE.fullmatch(eventname)
        if handler is None and module is None:
            raise Skip(f"unsupported-event:{eventname}")
        if values["anonymous"].strip() == "1":
            raise Skip("anonymous-event")
        if _user(_integer(values["realuserid"], "realuserid")) is not None:
            # Someone "logged in as" the user: what happened is not the user's own doing.
            raise Skip("logged-in-as")
        timecreated = _integer(values["timecreated"], "timecreated", required=True)
        assert timecreated is not None
        try:
            if timecreated <= 0:
                raise ValueError
            timestamp = instant(timecreated)
        except (ValueError, OverflowError, OSError):
            raise Skip("invalid-timecreated") from None
        row = LogRow(
            log_id=log_id,
            eventname=eventname,
            userid=_user(_integer(values["userid"], "userid")),
            relateduserid=_user(_integer(values["relateduserid"], "relateduserid")),
            courseid=_user(_integer(values["courseid"], "courseid")),
            cmid=_user(_integer(values["contextinstanceid"], "contextinstanceid")),
            objectid=_integer(values["objectid"], "objectid"),
            timestamp=timestamp,
            other_text=values["other"],
        )
        if handler is not None:
            return handler(row)
        assert module is not None
        return self._module_viewed(row, module[1])

    # -- the building blocks of a statement ------------------------------------------------------

    def _learner(self, user: int | None) -> int:
        """The user a statement is about; a Skip for nobody and for the guest account."""
        if user is None:
            raise Skip("missing-user")
        if user == self.guest_user_id:
            raise Skip("guest-user")
        return user

    def _actor(self, user: int) -> dict[str, Any]:
        return {"account": {"homePage": self.home_page, "name": str(user)}}

    def _id(self, *identity: object) -> str:
        return str(uuid.uuid5(NAMESPACE, "|".join((self.home_page, *map(str, identity)))))

    def _course_id(self, row: LogRow) -> int:
        if row.courseid is None:
            raise Skip("missing-courseid")
        return row.courseid

    def _cmid(self, row: LogRow) -> int:
        if row.cmid is None:
            raise Skip("missing-contextinstanceid")
        return row.cmid

    def _course(self, courseid: int) -> dict[str, Any]:
        return {
            "objectType": "Activity",
            "id": f"{self._activities}/course/{courseid}",
            "definition": {"type": COURSE, "name": {"en": f"Moodle course {courseid}"}, "moreInfo": f"{self.home_page}/course/view.php?id={courseid}"},
        }

    def _course_module(self, cmid: int, module: str | None) -> dict[str, Any]:
        """A course module (an activity or resource of a course); typed when its module is known."""
        activity: dict[str, Any] = {"objectType": "Activity", "id": f"{self._activities}/course-module/{cmid}"}
        if module is not None:
            activity["definition"] = {
                "type": MODULE_TYPES.get(module, MODULE),
                "name": {"en": f"Moodle {module} {cmid}"},
                "moreInfo": f"{self.home_page}/mod/{module}/view.php?id={cmid}",
            }
        return activity

    def _discussion(self, discussion: int) -> dict[str, Any]:
        return {
            "objectType": "Activity",
            "id": f"{self._activities}/forum-discussion/{discussion}",
            "definition": {"type": FORUM_TOPIC, "name": {"en": f"Moodle forum discussion {discussion}"}, "moreInfo": f"{self.home_page}/mod/forum/discuss.php?d={discussion}"},
        }

    def _site(self) -> dict[str, Any]:
        return {"objectType": "Activity", "id": self.home_page, "definition": {"type": APPLICATION, "name": {"en": "Moodle site"}}}

    @staticmethod
    def _categories(*iris: str) -> list[dict[str, Any]]:
        return [{"objectType": "Activity", "id": iri, "definition": {"type": PROFILE}} for iri in iris]

    def _context(self, row: LogRow, learner: int, *, parent: dict[str, Any] | None = None, grouping: bool = True, categories: tuple[str, ...] = (), extensions: dict[str, Any] | None = None) -> dict[str, Any]:
        """The context every statement shares: the enrolment, the course, the profiles, the log row."""
        activities: dict[str, Any] = {}
        context: dict[str, Any] = {}
        if row.courseid is not None:
            context["registration"] = self._id("enrolment", row.courseid, learner)
            if grouping:
                activities["parent" if parent is None else "grouping"] = [self._course(row.courseid)]
        if parent is not None:
            activities["parent"] = [parent]
        if categories:
            activities["category"] = self._categories(*categories)
        if activities:
            context["contextActivities"] = activities
        context["platform"] = "Moodle"
        context["extensions"] = {EVENT_NAME: row.eventname, LOG_ID: row.log_id, **(extensions or {})}
        return context

    def _statement(self, row: LogRow, learner: int, verb: str, display: str, obj: dict[str, Any], context: dict[str, Any], result: dict[str, Any] | None = None) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "id": self._id("log", row.log_id),
            "actor": self._actor(learner),
            "verb": {"id": verb, "display": {"en-US": display}},
            "object": obj,
        }
        if result is not None:
            statement["result"] = result
        statement["context"] = context
        statement["timestamp"] = row.timestamp
        return statement

    # -- the events ------------------------------------------------------------------------------

    def _enrolment(self, row: LogRow, verb: str, display: str, kind: str) -> Built:
        """A user enrolled in, or unenrolled from, a course: the DASES registered / unregistered templates.

        `userid` is whoever did it (a teacher, the enrolment plugin, the user); the learner is `relateduserid`."""
        learner = self._learner(row.relateduserid)
        course = self._course(self._course_id(row))
        extensions: dict[str, Any] = {}
        omitted: tuple[str, ...] = ()
        try:
            method = row.other().get("enrol")
        except Skip:
            method, omitted = None, ("enrol method: unreadable other",)
        if isinstance(method, str) and _PLUGIN_NAME_RE.fullmatch(method):
            extensions[ENROL_METHOD] = method
        context = self._context(row, learner, grouping=False, categories=(LMS_PROFILE_VERSION, LMS_CATEGORY, ADL_LMS_PROFILE), extensions=extensions)
        return Built(self._statement(row, learner, verb, display, course, context), kind, omitted)

    def _course_viewed(self, row: LogRow) -> Built:
        """The course's page: the DASES "accessed a page" template, of acrossx type `course`."""
        learner = self._learner(row.userid)
        courseid = self._course_id(row)
        page = {
            "objectType": "Activity",
            "id": f"{self._activities}/course-page/{courseid}",
            "definition": {
                "type": WEBPAGE,
                "name": {"en": f"Moodle course {courseid}, course page"},
                "moreInfo": f"{self.home_page}/course/view.php?id={courseid}",
                "extensions": {ACROSSX_TYPE: "course"},
            },
        }
        context = self._context(row, learner, categories=(LMS_PROFILE_VERSION, LMS_CATEGORY, ADL_LMS_PROFILE))
        return Built(self._statement(row, learner, ACCESSED, "accessed", page, context), KIND_ACCESSED_PAGE)

    def _module_viewed(self, row: LogRow, module: str) -> Built:
        """A course module's page: "accessed a page" for a Page, "accessed a file" for a File, plain "accessed" otherwise."""
        learner = self._learner(row.userid)
        activity = self._course_module(self._cmid(row), module)
        kind = {WEBPAGE: KIND_ACCESSED_PAGE, FILE: KIND_ACCESSED_FILE}.get(activity["definition"]["type"], KIND_ACCESSED_MODULE)
        categories = (LMS_PROFILE_VERSION, LMS_CATEGORY, ADL_LMS_PROFILE) if kind != KIND_ACCESSED_MODULE else ()
        # The log does not say a file's media type, the template's recommended acrossx type.
        omitted = ("file type: not in the log",) if kind == KIND_ACCESSED_FILE else ()
        context = self._context(row, learner, categories=categories)
        return Built(self._statement(row, learner, ACCESSED, "accessed", activity, context), kind, omitted)

    def _quiz_started(self, row: LogRow) -> Built:
        learner = self._learner(row.relateduserid or row.userid)
        quiz = self._course_module(self._cmid(row), "quiz")
        context = self._context(row, learner)
        return Built(self._statement(row, learner, ATTEMPTED, "attempted", quiz, context), KIND_ATTEMPTED)

    def _quiz_submitted(self, row: LogRow) -> Built:
        """A quiz attempt handed in: the DASES assessment "completed" (the quiz is marked afterwards).

        The attempt is the learner's (`relateduserid`); `userid` may be a teacher submitting it for them."""
        return self._submitted(row, self._learner(row.relateduserid or row.userid), "quiz")

    def _assignment_submitted(self, row: LogRow) -> Built:
        return self._submitted(row, self._learner(row.userid), "assign")

    def _submitted(self, row: LogRow, learner: int, module: str) -> Built:
        assessment = self._course_module(self._cmid(row), module)
        context = self._context(row, learner, categories=(ASSESSMENT_PROFILE_VERSION,))
        return Built(self._statement(row, learner, COMPLETED, "completed", assessment, context, {"completion": True}), KIND_COMPLETED)

    def _module_completed(self, row: LogRow) -> Built:
        """A course module's completion changed to complete (passed, failed); back to incomplete is skipped.

        The event names no module, so the course module is given by id only, without a definition."""
        learner = self._learner(row.relateduserid or _user(row.other_int("relateduserid")) or row.userid)
        state = row.other_int("completionstate")
        if state is None:
            raise Skip("missing-completion-state")
        if state not in _COMPLETION_SUCCESS:
            raise Skip("completion-state-incomplete" if state == 0 else "invalid-completion-state")
        result: dict[str, Any] = {"completion": True}
        if _COMPLETION_SUCCESS[state] is not None:
            result["success"] = _COMPLETION_SUCCESS[state]
        activity = self._course_module(self._cmid(row), None)
        context = self._context(row, learner)
        return Built(self._statement(row, learner, COMPLETED, "completed", activity, context, result), KIND_MODULE_COMPLETED)

    def _course_completed(self, row: LogRow) -> Built:
        learner = self._learner(row.relateduserid or row.userid)
        course = self._course(self._course_id(row))
        context = self._context(row, learner, grouping=False)
        return Built(self._statement(row, learner, COMPLETED, "completed", course, context, {"completion": True}), KIND_COURSE_COMPLETED)

    def _session(self, row: LogRow, verb: str, display: str, kind: str) -> Built:
        """Logging in or out of the site (whose `other` holds the user name: never read)."""
        learner = self._learner(row.userid)
        context = self._context(row, learner, grouping=False)
        return Built(self._statement(row, learner, verb, display, self._site(), context), kind)

    def _discussion_created(self, row: LogRow) -> Built:
        learner = self._learner(row.userid)
        if row.objectid is None:
            raise Skip("missing-objectid")
        forum = self._course_module(self._cmid(row), "forum")
        context = self._context(row, learner, parent=forum)
        return Built(self._statement(row, learner, CREATED, "created", self._discussion(row.objectid), context), KIND_DISCUSSION_CREATED)

    def _post_created(self, row: LogRow) -> Built:
        """A post in a discussion: "replied" to the discussion, which `other` names (`objectid` is the post)."""
        learner = self._learner(row.userid)
        discussion = row.other_int("discussionid")
        if discussion is None:
            raise Skip("missing-discussionid")
        forum = self._course_module(self._cmid(row), "forum")
        context = self._context(row, learner, parent=forum)
        return Built(self._statement(row, learner, REPLIED, "replied", self._discussion(discussion), context), KIND_REPLIED)

    def _discussion_viewed(self, row: LogRow) -> Built:
        learner = self._learner(row.userid)
        if row.objectid is None:
            raise Skip("missing-objectid")
        forum = self._course_module(self._cmid(row), "forum")
        context = self._context(row, learner, parent=forum)
        return Built(self._statement(row, learner, ACCESSED, "accessed", self._discussion(row.objectid), context), KIND_DISCUSSION_ACCESSED)


def convert_moodle(
    input_path: Path,
    report: ConversionReport,
    *,
    home_page: str = DEFAULT_HOME_PAGE,
    on_rows: Callable[[int], None] = lambda _n: None,
) -> Iterator[dict[str, Any]]:
    """Stream the statements of a `logstore_standard_log` export, recording every row in `report`."""
    return MoodleConverter(input_path, home_page=home_page).statements(report, on_rows)
