"""Open edX tracking logs as xAPI 1.0.3 statements: the video profile, ADL verbs and the DASES LMS profile.

An Open edX LMS writes one JSON event per line to its tracking log (`tracking.log`, often rotated
and gzipped). Each line becomes at most one statement:

- enrollments (`edx.course.enrollment.activated` / `deactivated`): "registered to a course" and
  "unregistered to a course" of the DASES LMS profile;
- page views (a server event whose `event_type` is the requested path), outline selections and
  clicked links: "accessed a page" of the DASES LMS profile; `page_close`: "terminated" the page;
- video events (`load_video`, `play_video`, `pause_video`, `seek_video`, `stop_video`,
  `complete_video`, speed and closed captions changes, and their `edx.video.*` names): the xAPI
  video profile's verbs and extensions;
- graded answers (`problem_check`, server): ADL "answered" a question, with the score;
- moves inside a sequence (`edx.ui.lms.sequence.*_selected`, the older `seq_next` / `seq_prev` /
  `seq_goto`): "navigated", as Open edX's own event-routing-backends says it.

Any other event type, and every line that cannot be converted, is skipped with a reason kind
(`unsupported-event:<event_type>`, `not-json`, `anonymous`...): the report accounts for every line.

The learner is the account `{homePage: HOME, name: "<LMS user id>"}`. The numeric user id is the
LMS's own surrogate key (`auth_user.id`): stable, opaque, the one Ralph uses too. The username is
chosen by the learner, often their name, and is left out of statements.

Lines are read one at a time (each at most `MAX_LINE_BYTES`) and statements are yielded as they
are built; nothing grows with the input but the report's counters (one per reason kind) and
bounded caches of IRIs, so a conversion runs in constant memory.
Statement ids are UUIDv5 over the home page and the line itself: converting the same log twice
yields the same statements, and a line repeated in a log (a replayed shipper) is stored once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from dases.errors import InvalidInput
from dases.interop.report import ConversionReport, Skip, skip_unless_valid
from dases.lrs.validation import is_iri

SOURCE = "openedx"
DEFAULT_HOME_PAGE = "https://openedx.example.org"
XAPI_VERSION = "1.0.3"

#: Namespace of the statement ids: change it (v2, ...) whenever the statement built from the same
#: line changes, or an LRS holding the old ones will refuse the new ones as conflicting (409).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://schema.dases.eu/interop/openedx/v1")
_NAMESPACE_BYTES = NAMESPACE.bytes

#: Longer lines are skipped (`line-too-long`) without being held whole: real events stay far below
#: (the LMS truncates request payloads to 512 characters; a graded problem is a few kB).
MAX_LINE_BYTES = 1 << 20

# -- the DASES LMS profile (lms/profile/profile.jsonld, which wins over its markdown pages) -------
LMS_PROFILE_VERSION = "http://schema.dases.eu/xapi/profile/common/v/1"
LMS_CATEGORY = "https://w3id.org/xapi/lms"  # the category the profile's markdown pages require
#: The category the JSON-LD's "accessed a page" template requires (an ADL-registered profile IRI).
ACCESSED_PAGE_CATEGORY = "https://profiles.adlnet.gov/xapi/bf76a8cc-f46a-4065-aa7b-443df4efc2be/v/1"
REGISTERED = "https://w3id.org/xapi/tla/verbs/registered"
UNREGISTERED = "http://id.tincanapi.com/verb/unregistered"
ACCESSED = "https://w3id.org/xapi/netc/verbs/accessed"
COURSE = "http://adlnet.gov/expapi/activities/course"
WEBPAGE = "https://w3id.org/xapi/acrossx/activities/webpage"
PAGE_TYPE = "https://w3id.org/xapi/acrossx/extensions/type"  # course, course_list or user_space
PROFILE = "http://adlnet.gov/expapi/activities/profile"
ROLE = "http://schema.dases.eu/xapi/profile/common/extension/role"

# -- the xAPI video profile (https://w3id.org/xapi/video) ----------------------------------------
VIDEO_PROFILE = "https://w3id.org/xapi/video"
VIDEO = "https://w3id.org/xapi/video/activity-type/video"
INITIALIZED = "http://adlnet.gov/expapi/verbs/initialized"
PLAYED = "https://w3id.org/xapi/video/verbs/played"
PAUSED = "https://w3id.org/xapi/video/verbs/paused"
SEEKED = "https://w3id.org/xapi/video/verbs/seeked"
TERMINATED = "http://adlnet.gov/expapi/verbs/terminated"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
INTERACTED = "http://adlnet.gov/expapi/verbs/interacted"
VIDEO_EXTENSION = "https://w3id.org/xapi/video/extensions/"
VIDEO_TIME = VIDEO_EXTENSION + "time"
VIDEO_TIME_FROM = VIDEO_EXTENSION + "time-from"
VIDEO_TIME_TO = VIDEO_EXTENSION + "time-to"
VIDEO_LENGTH = VIDEO_EXTENSION + "length"
VIDEO_SESSION = VIDEO_EXTENSION + "session-id"
VIDEO_SPEED = VIDEO_EXTENSION + "speed"
VIDEO_CC_ENABLED = VIDEO_EXTENSION + "cc-enabled"

# -- ADL and registry vocabulary for what no DASES template covers ------------------------------
ANSWERED = "http://adlnet.gov/expapi/verbs/answered"
QUESTION = "http://adlnet.gov/expapi/activities/question"
NAVIGATED = "https://w3id.org/xapi/dod-isd/verbs/navigated"  # as Open edX's event-routing-backends
RESOURCE = "http://id.tincanapi.com/activitytype/resource"
STARTING_POSITION = "http://id.tincanapi.com/extension/starting-position"
ENDING_POINT = "http://id.tincanapi.com/extension/ending-point"
TOTAL_ITEMS = "https://w3id.org/xapi/acrossx/extensions/total-items"

# -- extensions for what Open edX has and no profile defines yet ---------------------------------
OPENEDX_EXTENSION = "http://schema.dases.eu/xapi/openedx/extension/"
ENROLLMENT_MODE = OPENEDX_EXTENSION + "enrollment-mode"  # context: audit, honor, verified...
ATTEMPTS = OPENEDX_EXTENSION + "attempts"  # result: the learner's attempts at the problem so far
NAVIGATION = OPENEDX_EXTENSION + "navigation"  # context: next, previous, tab or goto

#: The language of names taken from the course (display names): the course's language is not in the log.
UNDETERMINED = "und"

KIND_REGISTERED = "lms: registered to a course"
KIND_UNREGISTERED = "lms: unregistered to a course"
KIND_ACCESSED = "lms: accessed a page"
KIND_LEFT_PAGE = "page: terminated"
KIND_NAVIGATED = "navigation: navigated"
KIND_ANSWERED = "problem: answered"

_PROGRESS_EVERY = 1000
_DECODER = json.JSONDecoder()
_LMS_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?\+00:00")
_EVENT_TYPE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_COURSE_PATH_RE = re.compile(r"/(?:courses|learning/course)/[^/]+")


#: What a handler makes of one event (and its type): the statement, its kind, and what was left out.
Handler = Callable[[dict[str, Any], str], tuple[dict[str, Any], str, list[str]]]


def uuid5(name: bytes) -> str:
    """`str(uuid.uuid5(NAMESPACE, name))` for bytes, three times faster: one per statement adds up."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hexa = digest.hex()
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


@lru_cache(maxsize=65536)
def _enrolment_id(home: bytes, course_id: str, user: str) -> str:
    return uuid5(home + f"enrolment|{course_id}|{user}".encode())


def is_gzip(path: Path) -> bool:
    """Gzip by content (its magic number), not by name: rotated logs are named `tracking.log.3.gz` or not."""
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def open_log(path: Path) -> IO[bytes]:
    """The log's bytes, decompressed when gzipped."""
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


def count_lines(path: Path) -> int:
    """Lines of the (decompressed) log, for a progress bar's total: a last line without newline counts."""
    lines = 0
    last = b"\n"
    with open_log(path) as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def read_lines(handle: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) from 1; a line longer than `limit` bytes is drained and given as None."""
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) > limit:
            while (rest := handle.readline(limit)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        else:
            yield number, line


def timestamp(value: object) -> str:
    """The event's `time` as an ISO 8601 UTC instant; a time without offset is UTC (the LMS logs UTC)."""
    if not isinstance(value, str) or not value:
        raise Skip("missing-time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Skip("invalid-time") from None
    if _LMS_TIME_RE.fullmatch(value):
        return value[:-6] + "Z"  # what the LMS writes, already UTC (and a real date): no need to rebuild it
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # the first or last hours of the calendar, moved out of it by the offset
        raise Skip("invalid-time") from None
    return moment.isoformat().replace("+00:00", "Z")


def seconds(value: object, field: str) -> int | float | None:
    """A media time in seconds (rounded to the millisecond); None when absent, Skip when not a time."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Skip(f"invalid-{field}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Skip(f"invalid-{field}") from None
    if not math.isfinite(number) or number < 0:
        raise Skip(f"invalid-{field}")
    return int(number) if number.is_integer() else round(number, 3)


@lru_cache(maxsize=65536)
def _quoted(segment: str) -> str:
    """A path segment as it goes into an IRI; the same courses, blocks and pages come back all day."""
    return quote(segment, safe=":+@/~-._")


@lru_cache(maxsize=65536)
def _quoted_path(path: str) -> str:
    return quote(path, safe="/:+@~-._%!$&'()*,;=")


def _integer(value: object) -> int | None:
    """An integer field such as a tab position; None when absent or not an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def block_usage_key(course_id: str, block_type: str, block_id: str) -> str:
    """The usage key of a block of the course from its short id, as the LMS builds it.

    Video events name the video by its block id only (`0b9e39477cf34507a7a48f74be381fdd`); the
    key of the block is the course's key with the type and that id, in the course key's format."""
    if ":" in block_id and ("@" in block_id or block_id.startswith("i4x://")):
        return block_id  # already a usage key
    if course_id.startswith("course-v1:"):
        return f"block-v1:{course_id[10:]}+type@{block_type}+block@{block_id}"
    if course_id.startswith("ccx-v1:"):
        return f"ccx-block-v1:{course_id[7:]}+type@{block_type}+block@{block_id}"
    parts = course_id.split("/")
    if len(parts) == 3 and all(parts):  # the Org/Number/Run keys of courses made before 2015
        return f"i4x://{parts[0]}/{parts[1]}/{block_type}/{block_id}"
    raise Skip("invalid-course-id")


def page_type(path: str) -> str | None:
    """The DASES "accessed a page" type of an LMS page, from its path; None when it is none of the three."""
    if _COURSE_PATH_RE.match(path):
        return "course"
    if path in ("/courses", "/courses/", "/course_list", "/course_list/"):
        return "course_list"
    if path.startswith(("/dashboard", "/account", "/u/", "/profile", "/learner_profile", "/learner-dashboard")):
        return "user_space"
    return None


#: Requests the LMS logs like page views that no learner sees as a page, by what they are.
_NOT_PAGES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda path: "/handler/" in path or "/handler_noauth/" in path, "xblock-handler"),
    (lambda path: "/api/" in path or path.startswith(("/user_api/", "/notifier_api/", "/login_ajax", "/csrf/", "/oauth2/")), "api"),
    (lambda path: path.startswith(("/static/", "/c4x/", "/favicon")) or "/asset-v1:" in path, "static"),
    (lambda path: path.startswith(("/event", "/segmentio/", "/heartbeat", "/xqueue/", "/jsi18n")), "tracking-or-health"),
)


def not_a_page(path: str) -> str | None:
    """Why a logged request is no page view (`xblock-handler`, `api`...), or None for a page."""
    for test, kind in _NOT_PAGES:
        if test(path):
            return kind
    return None


class OpenEdxConverter:
    """Converts one Open edX tracking log (JSON lines, gzipped or not); `statements()` streams the result."""

    def __init__(self, input_path: Path, *, home_page: str = DEFAULT_HOME_PAGE, full_validation: bool = False) -> None:
        parts = urlsplit(home_page)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"the home page must be an http(s) URL, not {home_page!r}")
        input_path = Path(input_path)
        if not input_path.is_file():
            raise InvalidInput(f"{input_path} is not a file: give the tracking log itself (JSON lines, gzipped or not)")
        self.input_path = input_path
        self.home_page = home_page.rstrip("/")
        #: Also run every statement whole through the LRS's validation (about a third slower), rather
        #: than only what it takes from the log (`check_log_values`); the tests validate every kind whole.
        self.full_validation = full_validation
        self._home_host = parts.netloc.lower()
        self._home_bytes = self.home_page.encode() + b"|"
        self._handlers: dict[str, Handler] = {}
        for names, handler in (
            (("edx.course.enrollment.activated",), self._enrolled),
            (("edx.course.enrollment.deactivated",), self._unenrolled),
            (("load_video", "edx.video.loaded"), self._video_loaded),
            (("play_video", "edx.video.played"), self._video_played),
            (("pause_video", "edx.video.paused"), self._video_paused),
            (("seek_video", "edx.video.position.changed"), self._video_seeked),
            (("stop_video", "edx.video.stopped"), self._video_stopped),
            (("complete_video", "edx.video.completed"), self._video_completed),
            (("speed_change_video",), self._video_speed_changed),
            (("edx.video.closed_captions.shown", "edx.video.closed_captions.hidden"), self._video_captions),
            (("problem_check",), self._problem_checked),
            (("edx.ui.lms.sequence.next_selected", "edx.ui.lms.sequence.previous_selected", "edx.ui.lms.sequence.tab_selected",
              "seq_next", "seq_prev", "seq_goto"), self._navigated),
            (("edx.ui.lms.outline.selected", "edx.ui.lms.sequence.outline.selected"), self._outline_selected),
            (("edx.ui.lms.link_clicked",), self._link_clicked),
            (("page_close",), self._page_closed),
        ):
            for name in names:
                self._handlers[name] = handler

    def estimated_rows(self) -> int:
        """Lines the conversion will read, for a progress bar (decompresses a gzipped log once)."""
        return count_lines(self.input_path)

    def statements(self, report: ConversionReport, on_rows: Callable[[int], None] = lambda _n: None) -> Iterator[dict[str, Any]]:
        """Every statement of the log, in its order; each line read is recorded in `report` (converted,
        or skipped with the reason). `on_rows(n)` hears of lines as they are read."""
        table, pending = self.input_path.name, 0
        check = skip_unless_valid if self.full_validation else check_log_values
        with open_log(self.input_path) as handle:
            for number, line in read_lines(handle, MAX_LINE_BYTES):
                pending += 1
                if pending == _PROGRESS_EVERY:
                    on_rows(pending)
                    pending = 0
                try:
                    statement, kind, omitted = self._convert(line)
                    check(statement)
                except Skip as skip:
                    report.skipped(table, skip.reason, number)
                    continue
                report.converted(table, kind)
                for what in omitted:
                    report.omitted(table, what)
                yield statement
        on_rows(pending)

    # -- one line ----------------------------------------------------------------------------------

    def _convert(self, line: bytes | None) -> tuple[dict[str, Any], str, list[str]]:
        """The statement of one line, its kind, and what was left out of it."""
        if line is None:
            raise Skip("line-too-long")
        line = line.strip()
        if not line:
            raise Skip("blank-line")
        try:
            text = line.decode()
            event, end = _DECODER.raw_decode(text)  # json.loads, less its encoding detection
        except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
            raise Skip("not-json") from None
        if end != len(text):
            raise Skip("not-json")
        if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
            raise Skip("not-an-event")
        event_type: str = event["event_type"]
        handler = self._handlers.get(event_type)
        if handler is None:
            if event_type.startswith("/"):
                handler = self._page_viewed
            else:
                name = event_type if _EVENT_TYPE_RE.fullmatch(event_type) else "other"
                raise Skip(f"unsupported-event:{name}")
        statement, kind, omitted = handler(event, event_type)
        statement["id"] = uuid5(self._home_bytes + line)
        return statement, kind, omitted

    # -- what every statement shares -------------------------------------------------------------------

    def _actor(self, event: dict[str, Any], user_id: object = None) -> dict[str, Any]:
        """The learner's account; `user_id` overrides the context's (an enrollment names its learner)."""
        if user_id is None or user_id == "":
            context = event.get("context")
            user_id = context.get("user_id") if isinstance(context, dict) else None
        if isinstance(user_id, bool) or not isinstance(user_id, int | str) or user_id == "":
            username = event.get("username")
            raise Skip("missing-user-id" if isinstance(username, str) and username and username != "anonymous" else "anonymous")
        return {"account": {"homePage": self.home_page, "name": str(user_id)}}

    @staticmethod
    def _course_id(event: dict[str, Any], payload: dict[str, Any] | None = None) -> str:
        course_id = payload.get("course_id") if payload else None
        if not course_id:
            context = event.get("context")
            course_id = context.get("course_id") if isinstance(context, dict) else None
        if not isinstance(course_id, str) or not course_id.strip():
            raise Skip("missing-course-id")
        return course_id.strip()

    @staticmethod
    def _payload(event: dict[str, Any]) -> dict[str, Any]:
        """The event's own fields: an object in server events, a JSON string in browser events."""
        payload = event.get("event")
        if payload is None or payload == "":
            raise Skip("missing-event-payload")
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                raise Skip("invalid-event-payload") from None
        if not isinstance(payload, dict):
            raise Skip("invalid-event-payload")
        return payload

    def _iri(self, *segments: str) -> str:
        return "/".join((self.home_page, *map(_quoted, segments)))

    def _course(self, course_id: str) -> dict[str, Any]:
        return {"objectType": "Activity", "id": self._iri("courses", course_id), "definition": {"type": COURSE}}

    def _block(self, usage_key: str) -> str:
        return self._iri("xblock", usage_key)

    def _enrolment(self, course_id: str, actor: dict[str, Any]) -> str:
        """The xAPI `context.registration` shared by every statement of one learner in one course."""
        return _enrolment_id(self._home_bytes, course_id, actor["account"]["name"])

    def _page_iri(self, url: str, event: dict[str, Any]) -> str | None:
        """An LMS page's activity id: the home page and the path, so that a page view (a path) and a
        browser event (a full URL, with a query) about one page name the same activity; a link out
        of the LMS keeps its own URL. None when `url` is no http(s) URL or path."""
        parts = urlsplit(url.strip())
        if not parts.scheme and not parts.netloc and parts.path.startswith("/"):
            return self.home_page + _quoted_path(parts.path)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        host = parts.netloc.lower()
        lms_host = event.get("host")
        if host == self._home_host or (isinstance(lms_host, str) and host == lms_host.lower()):
            return self.home_page + _quoted_path(parts.path or "/")
        return parts._replace(fragment="").geturl()

    @staticmethod
    def _categories(*iris: str) -> list[dict[str, Any]]:
        return [{"objectType": "Activity", "id": iri, "definition": {"type": PROFILE}} for iri in iris]

    def _statement(
        self,
        event: dict[str, Any],
        actor: dict[str, Any],
        verb: str,
        display: str,
        obj: dict[str, Any],
        context: dict[str, Any],
        result: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "id": None,  # the line's, set once the statement is built (`_convert`): first, for people reading
            "actor": actor,
            "verb": {"id": verb, "display": {"en-US": display}},
            "object": obj,
        }
        if result:
            statement["result"] = result
        statement["context"] = context
        statement["timestamp"] = timestamp(event.get("time"))
        return statement

    # -- enrollments: the DASES LMS profile -------------------------------------------------------------

    def _enrolled(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        return self._enrollment(event, REGISTERED, "registered"), KIND_REGISTERED, []

    def _unenrolled(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        return self._enrollment(event, UNREGISTERED, "unregistered"), KIND_UNREGISTERED, []

    def _enrollment(self, event: dict[str, Any], verb: str, display: str) -> dict[str, Any]:
        payload = self._payload(event)
        # The enrolled learner is the event's user_id: the context's is whoever made the request,
        # a member of the course team when they enroll learners themselves.
        actor = self._actor(event, payload.get("user_id"))
        course_id = self._course_id(event, payload)
        extensions: dict[str, Any] = {ROLE: "learner"}
        mode = payload.get("mode")
        if isinstance(mode, str) and mode:
            extensions[ENROLLMENT_MODE] = mode
        context = {
            "registration": self._enrolment(course_id, actor),
            "contextActivities": {"category": self._categories(LMS_PROFILE_VERSION, LMS_CATEGORY)},
            "platform": "Open edX",
            "extensions": extensions,
        }
        return self._statement(event, actor, verb, display, self._course(course_id), context)

    # -- pages: the DASES LMS profile ------------------------------------------------------------------

    def _accessed(self, event: dict[str, Any], actor: dict[str, Any], page: str, kind_of_page: str | None,
                  name: str | None = None, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
        definition: dict[str, Any] = {"type": WEBPAGE}
        if name:
            definition["name"] = {UNDETERMINED: name}
        if kind_of_page:
            definition["extensions"] = {PAGE_TYPE: kind_of_page}
        context: dict[str, Any] = {
            "contextActivities": {"category": self._categories(LMS_PROFILE_VERSION, LMS_CATEGORY, ACCESSED_PAGE_CATEGORY)},
            "platform": "Open edX",
        }
        self._add_course(context, event, actor)
        if extensions:
            context["extensions"] = extensions
        return self._statement(event, actor, ACCESSED, "accessed", {"objectType": "Activity", "id": page, "definition": definition}, context)

    def _add_course(self, context: dict[str, Any], event: dict[str, Any], actor: dict[str, Any]) -> None:
        """The course as the context's grouping, and the enrolment, when the event happened in a course."""
        log_context = event.get("context")
        course_id = log_context.get("course_id") if isinstance(log_context, dict) else None
        if isinstance(course_id, str) and course_id.strip():
            course_id = course_id.strip()
            context["registration"] = self._enrolment(course_id, actor)
            context["contextActivities"]["grouping"] = [self._course(course_id)]

    def _page_viewed(self, event: dict[str, Any], path: str) -> tuple[dict[str, Any], str, list[str]]:
        """A request the LMS logged: a page view, unless it is an AJAX call, an asset or a form post."""
        path = path.split("?", 1)[0]
        if (kind := not_a_page(path)) is not None:
            raise Skip(f"not-a-page-view:{kind}")
        if _posted(event.get("event")):
            raise Skip("not-a-page-view:form-post")
        actor = self._actor(event)
        page = self._page_iri(path, event)
        if page is None:
            raise Skip("invalid-path")
        return self._accessed(event, actor, page, page_type(path)), KIND_ACCESSED, []

    def _outline_selected(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        payload = self._payload(event)
        actor = self._actor(event)
        target = payload.get("target_url")
        page = self._page_iri(target, event) if isinstance(target, str) else None
        if page is None:
            raise Skip("missing-target-url" if not target else "invalid-target-url")
        name = payload.get("target_name")
        kind = page_type(urlsplit(page).path) if page.startswith(self.home_page) else None
        statement = self._accessed(event, actor, page, kind, name if isinstance(name, str) else None, {NAVIGATION: "outline"})
        return statement, KIND_ACCESSED, []

    def _link_clicked(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        payload = self._payload(event)
        actor = self._actor(event)
        target = payload.get("target_url")
        page = self._page_iri(target, event) if isinstance(target, str) else None
        if page is None:
            raise Skip("missing-target-url" if not target else "invalid-target-url")
        kind = page_type(urlsplit(page).path) if page.startswith(self.home_page) else None
        return self._accessed(event, actor, page, kind, extensions={NAVIGATION: "link"}), KIND_ACCESSED, []

    def _page_closed(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        """The learner left the page (the browser's unload): ADL "terminated", on the page's activity."""
        actor = self._actor(event)
        url = event.get("page")
        page = self._page_iri(url, event) if isinstance(url, str) else None
        if page is None:
            raise Skip("missing-page" if not url else "invalid-page")
        definition: dict[str, Any] = {"type": WEBPAGE}
        if page.startswith(self.home_page) and (kind := page_type(urlsplit(page).path)):
            definition["extensions"] = {PAGE_TYPE: kind}
        context: dict[str, Any] = {"contextActivities": {}, "platform": "Open edX"}
        self._add_course(context, event, actor)
        if not context["contextActivities"]:
            del context["contextActivities"]
        obj = {"objectType": "Activity", "id": page, "definition": definition}
        return self._statement(event, actor, TERMINATED, "terminated", obj, context), KIND_LEFT_PAGE, []

    # -- videos: the xAPI video profile ------------------------------------------------------------

    def _video(self, event: dict[str, Any], payload: dict[str, Any], verb: str, display: str,
               result: dict[str, Any] | None = None, extensions: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
        """The statement about the event's video, and what was left out of it."""
        actor = self._actor(event)
        video_id = payload.get("id")
        if not isinstance(video_id, str) or not video_id.strip():
            raise Skip("missing-video-id")
        course_id = self._course_id(event)
        omitted: list[str] = []
        context_extensions: dict[str, Any] = {}
        session = event.get("session")
        if isinstance(session, str) and session:
            context_extensions[VIDEO_SESSION] = session
        try:
            length = seconds(payload.get("duration"), "video-duration")
        except Skip:  # the event still happened: only its length is unknown
            length = None
        if length:
            context_extensions[VIDEO_LENGTH] = length
        else:
            omitted.append("length: no duration in the event")
        if extensions:
            context_extensions.update(extensions)
        obj = {"objectType": "Activity", "id": self._block(block_usage_key(course_id, "video", video_id.strip())), "definition": {"type": VIDEO}}
        context: dict[str, Any] = {
            "registration": self._enrolment(course_id, actor),
            "contextActivities": {"parent": [self._course(course_id)], "category": self._categories(VIDEO_PROFILE)},
            "platform": "Open edX",
        }
        if context_extensions:
            context["extensions"] = context_extensions
        return self._statement(event, actor, verb, display, obj, context, result), omitted

    @staticmethod
    def _time_result(payload: dict[str, Any], *names: str) -> tuple[dict[str, Any] | None, list[str]]:
        """`result.extensions.time` from the player's current time (`currentTime`, or `current_time`)."""
        for name in names:
            time = seconds(payload.get(name), "current-time")
            if time is not None:
                return {"extensions": {VIDEO_TIME: time}}, []
        return None, ["time: no current time in the event"]

    def _video_loaded(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        statement, omitted = self._video(event, self._payload(event), INITIALIZED, "initialized")
        return statement, "video: initialized", omitted

    def _video_played(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        return self._video_at(event, PLAYED, "played")

    def _video_paused(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        return self._video_at(event, PAUSED, "paused")

    def _video_stopped(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        return self._video_at(event, TERMINATED, "terminated")

    def _video_at(self, event: dict[str, Any], verb: str, display: str) -> tuple[dict[str, Any], str, list[str]]:
        payload = self._payload(event)
        result, missing = self._time_result(payload, "currentTime", "current_time")
        statement, omitted = self._video(event, payload, verb, display, result)
        return statement, f"video: {display}", missing + omitted

    def _video_completed(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        payload = self._payload(event)
        result, missing = self._time_result(payload, "currentTime", "current_time")
        statement, omitted = self._video(event, payload, COMPLETED, "completed", {"completion": True, **(result or {})})
        return statement, "video: completed", missing + omitted

    def _video_seeked(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        payload = self._payload(event)
        extensions: dict[str, Any] = {}
        missing = []
        for key, extension in (("old_time", VIDEO_TIME_FROM), ("new_time", VIDEO_TIME_TO)):
            time = seconds(payload.get(key), "seek-time")
            if time is None:
                missing.append(f"{extension.rsplit('/', 1)[1]}: no {key} in the event")
            else:
                extensions[extension] = time
        statement, omitted = self._video(event, payload, SEEKED, "seeked", {"extensions": extensions} if extensions else None)
        return statement, "video: seeked", missing + omitted

    def _video_speed_changed(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        payload = self._payload(event)
        speed = seconds(payload.get("new_speed"), "speed")  # a positive number, as a time is
        if not speed:
            raise Skip("invalid-speed")
        result, missing = self._time_result(payload, "current_time", "currentTime")
        statement, omitted = self._video(event, payload, INTERACTED, "interacted", result, {VIDEO_SPEED: f"{speed:g}x"})
        return statement, "video: interacted", missing + omitted

    def _video_captions(self, event: dict[str, Any], event_type: str) -> tuple[dict[str, Any], str, list[str]]:
        payload = self._payload(event)
        result, missing = self._time_result(payload, "current_time", "currentTime")
        shown = event_type.endswith(".shown")
        statement, omitted = self._video(event, payload, INTERACTED, "interacted", result, {VIDEO_CC_ENABLED: shown})
        return statement, "video: interacted", missing + omitted

    # -- problems: ADL "answered" ------------------------------------------------------------------------

    def _problem_checked(self, event: dict[str, Any], _type: str) -> tuple[dict[str, Any], str, list[str]]:
        """A graded submission. The server's event has the grade; the browser's (the same submission,
        sent a moment before, with the raw form data only) is skipped as its duplicate."""
        if event.get("event_source") != "server":
            raise Skip("browser-duplicate:problem_check")
        payload = self._payload(event)
        actor = self._actor(event)
        course_id = self._course_id(event)
        problem_id = payload.get("problem_id")
        if not isinstance(problem_id, str) or not problem_id.strip():
            raise Skip("missing-problem-id")
        definition: dict[str, Any] = {"type": QUESTION}
        log_context = event.get("context")
        module = log_context.get("module") if isinstance(log_context, dict) else None
        if isinstance(module, dict) and isinstance(module.get("display_name"), str) and module["display_name"]:
            definition["name"] = {UNDETERMINED: module["display_name"]}
        omitted: list[str] = []
        result: dict[str, Any] = {}
        grade, max_grade = payload.get("grade"), payload.get("max_grade")
        if _number(grade) and _number(max_grade) and max_grade > 0 and 0 <= grade <= max_grade:
            result["score"] = {"raw": grade, "min": 0, "max": max_grade, "scaled": round(grade / max_grade, 4)}
        else:
            omitted.append("score: no grade out of a positive max_grade")
        if payload.get("success") in ("correct", "incorrect"):
            result["success"] = payload["success"] == "correct"
        attempts = _integer(payload.get("attempts"))
        if attempts is not None and attempts >= 0:
            result["extensions"] = {ATTEMPTS: attempts}
        context = {
            "registration": self._enrolment(course_id, actor),
            "contextActivities": {"parent": [self._course(course_id)]},
            "platform": "Open edX",
        }
        obj = {"objectType": "Activity", "id": self._block(problem_id.strip()), "definition": definition}
        return self._statement(event, actor, ANSWERED, "answered", obj, context, result or None), KIND_ANSWERED, omitted

    # -- moves inside a sequence: "navigated" ------------------------------------------------------------

    def _navigated(self, event: dict[str, Any], event_type: str) -> tuple[dict[str, Any], str, list[str]]:
        """A move between the units of a sequence, on the block the event names (the sequence in the
        LMS's own pages, the unit in the learning app), with the positions it gives."""
        payload = self._payload(event)
        actor = self._actor(event)
        block = payload.get("id")
        if not isinstance(block, str) or not block.strip():
            raise Skip("missing-block-id")
        method = event_type.rsplit(".", 1)[-1].removesuffix("_selected").removeprefix("seq_")
        method = {"prev": "previous"}.get(method, method)
        if event_type.startswith("seq_"):
            start, end, count = _integer(payload.get("old")), _integer(payload.get("new")), None
        else:
            start, end, count = _integer(payload.get("current_tab")), _integer(payload.get("target_tab")), _integer(payload.get("tab_count"))
        definition: dict[str, Any] = {"type": RESOURCE}
        if count is not None:
            definition["extensions"] = {TOTAL_ITEMS: count}
        extensions: dict[str, Any] = {NAVIGATION: method}
        if start is not None:
            extensions[STARTING_POSITION] = start
        if end is not None:
            extensions[ENDING_POINT] = end
        context: dict[str, Any] = {"contextActivities": {}, "platform": "Open edX", "extensions": extensions}
        self._add_course(context, event, actor)
        if not context["contextActivities"]:
            del context["contextActivities"]
        obj = {"objectType": "Activity", "id": self._block(block.strip()), "definition": definition}
        return self._statement(event, actor, NAVIGATED, "navigated", obj, context), KIND_NAVIGATED, []


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _posted(request: object) -> bool:
    """A server event's request data (`{"GET": ..., "POST": ...}`, a JSON string cut at 512
    characters) has form fields: the request sent a form, it did not show a page."""
    if isinstance(request, str):
        if '"POST": {}' in request or '"POST"' not in request:
            return False
        try:
            request = json.loads(request)
        except ValueError:
            return True  # cut short after a non-empty POST
    return isinstance(request, dict) and bool(request.get("POST"))


def check_log_values(statement: dict[str, Any]) -> None:
    """The xAPI rules on what a statement takes from the log, on every statement before it leaves.

    A statement is a fixed shape filled with values. The shape of every kind is validated whole
    (`validate_statement`) by the tests; the values are made valid as they are read (numbers
    checked finite, strings checked strings, times and ids rebuilt, never copied), except the
    IRIs made of the log's paths, URLs and keys, which are checked here with the LRS's own rule.
    A statement breaking it is skipped as `invalid-statement-iri`, as full validation would."""
    if not is_iri(statement["object"]["id"]):
        raise Skip("invalid-statement-iri")
    for activities in statement["context"].get("contextActivities", {}).values():
        for activity in activities:
            if not is_iri(activity["id"]):
                raise Skip("invalid-statement-iri")


def convert_openedx(
    input_path: Path,
    report: ConversionReport,
    *,
    home_page: str = DEFAULT_HOME_PAGE,
    on_rows: Callable[[int], None] = lambda _n: None,
    full_validation: bool = False,
) -> Iterator[dict[str, Any]]:
    """Stream the statements of the tracking log at `input_path`, recording every line in `report`."""
    return OpenEdxConverter(input_path, home_page=home_page, full_validation=full_validation).statements(report, on_rows)
