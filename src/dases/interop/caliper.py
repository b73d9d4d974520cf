"""IMS Caliper 1.1 and 1.2 events as xAPI statements of the DASES profiles.

A Caliper sensor sends events, usually wrapped in envelopes (`{"sensor", "sendTime",
"dataVersion", "data": [...]}`), and a provider that stored them has JSON lines: one event or one
envelope per line (a JSON array of events per line is read too). Every event of a mapped type and
action becomes one statement; every other item of `data` (an entity described alongside the
events, an event of another kind) is skipped with its reason, so the report's counts add up to the
events and entities read.

The learner is the event's `actor` (for a GradeEvent, the attempt's `assignee`: the actor is
whoever graded). Caliper names a Person by an IRI, which is neither a mailbox nor an OpenID, so the
xAPI agent is an account of the provider's platform whose name is that IRI, whole:
`{"account": {"homePage": HOME, "name": "https://example.edu/users/554433"}}`. Pseudonymisation
happens when data is pooled, as for the other converters.

An event may name an entity by its IRI only ("thinned"); the entities described in the same
envelope are used to fill such references in, and nothing is kept from one line to the next: a
conversion runs in constant memory whatever the size of the file (a single line is held whole).
Statement ids are UUIDv5 over the home page and the event's `id` (a `urn:uuid:`), so converting
the same events twice yields the same statements, and an LRS given both stores each once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import IO, Any

from dases.errors import BadRequest, InvalidInput
from dases.interop.moodle import (
    ACCESSED,
    ACROSSX_TYPE,
    ADL_LMS_PROFILE,
    APPLICATION,
    ATTEMPTED,
    FILE,
    KIND_ACCESSED_FILE,
    KIND_ACCESSED_PAGE,
    LOGGED_IN,
    LOGGED_OUT,
    WEBPAGE,
    Built,
    check_home_page,
    count_lines,
    input_files,
)
from dases.interop.oulad import (
    ASSESSMENT,
    ASSESSMENT_PROFILE_VERSION,
    COMPLETED,
    COURSE,
    KIND_COMPLETED,
    LMS_CATEGORY,
    LMS_PROFILE_VERSION,
    PROFILE,
    ROLE,
)
from dases.interop.report import ConversionReport, Skip, skip_unless_valid
from dases.lrs.validation import is_iri, parse_timestamp

SOURCE = "caliper"
DEFAULT_HOME_PAGE = "https://caliper.example.org"

#: Namespace of the statement ids: change it (v2, ...) whenever the statement built from the same
#: event changes, or an LRS holding the old ones will refuse the new ones as conflicting (409).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://schema.dases.eu/interop/caliper/v1")

#: Caliper 1.2's stand-ins for an anonymous person and course section: no learner to speak of.
ANONYMOUS_IRIS = frozenset({"http://purl.imsglobal.org/caliper/Person", "http://purl.imsglobal.org/caliper/CourseSection", "http://purl.imsglobal.org/caliper/Membership"})

# -- the xAPI Video Profile ----------------------------------------------------------------------
VIDEO_PROFILE = "https://w3id.org/xapi/video"
VIDEO = "https://w3id.org/xapi/video/activity-type/video"
PLAYED = "https://w3id.org/xapi/video/verbs/played"
PAUSED = "https://w3id.org/xapi/video/verbs/paused"
VIDEO_TIME = "https://w3id.org/xapi/video/extensions/time"  # result: the playhead, in seconds
VIDEO_LENGTH = "https://w3id.org/xapi/video/extensions/length"  # context: the video's length, in seconds
VIDEO_SESSION_ID = "https://w3id.org/xapi/video/extensions/session-id"  # context

# -- ADL verbs and activity types ----------------------------------------------------------------
SCORED = "http://adlnet.gov/expapi/verbs/scored"
INTERACTED = "http://adlnet.gov/expapi/verbs/interacted"
QUESTION = "http://adlnet.gov/expapi/activities/question"

# -- extensions for what Caliper has and no DASES profile defines yet ----------------------------
CALIPER_EXTENSION = "http://schema.dases.eu/xapi/caliper/extension/"
EVENT = CALIPER_EXTENSION + "event"  # context: the Caliper type and action, `MediaEvent.Paused`
SESSION = CALIPER_EXTENSION + "session"  # context: the Caliper session's IRI (video: session-id)
ATTEMPT = CALIPER_EXTENSION + "attempt"  # context: the Attempt's IRI (assessments, grades)
SCORED_BY = CALIPER_EXTENSION + "scored-by"  # context: who graded, the GradeEvent's actor
ENTITY_TYPE = CALIPER_EXTENSION + "type"  # activity definition: the Caliper entity type

KIND_ACCESSED = "xapi: accessed"
KIND_ATTEMPTED = "xapi: attempted an assessment"
KIND_SCORED = "xapi: scored"
KIND_LOGGED_IN = "xapi: logged in"
KIND_LOGGED_OUT = "xapi: logged out"
KIND_USED = "xapi: used a tool"
KIND_PLAYED = "video: played"
KIND_PAUSED = "video: paused"
KIND_VIDEO_COMPLETED = "video: completed"

#: The xAPI activity type of a Caliper entity, where one says the same thing.
ACTIVITY_TYPES = {
    "WebPage": WEBPAGE,
    "Document": FILE,
    "VideoObject": VIDEO,
    "Assessment": ASSESSMENT,
    "AssessmentItem": QUESTION,
    "CourseSection": COURSE,
    "CourseOffering": COURSE,
    "SoftwareApplication": APPLICATION,
}

#: Caliper membership roles (LIS) as the DASES `role` extension's words.
ROLES = {"Learner": "learner", "Instructor": "teacher", "TeachingAssistant": "teacher", "Administrator": "admin", "Manager": "manager", "ContentDeveloper": "staff"}

_TERM_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_TERM_SEPARATOR_RE = re.compile(r"[/#]")
_DURATION_RE = re.compile(r"P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PROGRESS_EVERY = 1000
#: Stands for an envelope whose `data` is not an array: one item, skipped.
_MALFORMED_ENVELOPE = object()


def term(value: Any) -> str | None:
    """A Caliper type or action by its term: `MediaEvent`, also from a 1.0-style IRI (`...#Paused`)."""
    return _term(value) if isinstance(value, str) else None


@lru_cache(maxsize=4096)
def _term(value: str) -> str | None:
    """Types and actions repeat on every event: each is read once."""
    last = _TERM_SEPARATOR_RE.split(value.strip())[-1]
    return last if _TERM_RE.fullmatch(last) else None


def seconds(value: Any) -> float | None:
    """An ISO 8601 duration (`PT05M21S`) or a number of seconds as seconds; None when neither.

    Years and months have no fixed length, so a duration that uses them is not read."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _DURATION_RE.fullmatch(value.strip())
    if match is None or not any(match.groupdict().values()) or value.strip().endswith("T"):
        return None
    return sum(float(amount) * _SECONDS[unit] for unit, amount in match.groupdict().items() if amount)


def xapi_duration(value: float) -> str:
    """Seconds as an xAPI duration, to the hundredth of a second the specification keeps."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


def instant(value: Any) -> str:
    """A Caliper `eventTime` as the xAPI timestamp: UTC, to the millisecond; a Skip when missing or invalid."""
    if value is None or value == "":
        raise Skip("missing-event-time")
    try:
        moment = parse_timestamp(value)
    except BadRequest:
        raise Skip("invalid-event-time") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_event(item: Any) -> bool:
    """An event, as opposed to an entity described alongside: its type is a `...Event`."""
    kind = term(item.get("type")) if isinstance(item, dict) else None
    return kind is not None and kind.endswith("Event")


def resolve(value: Any, entities: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    """An entity named by its IRI or described inline, completed from the envelope's entities."""
    if isinstance(value, str) and value.strip():
        return entities.get(value) or {"id": value}
    if isinstance(value, dict):
        known = entities.get(value["id"]) if isinstance(value.get("id"), str) else None
        return {**known, **value} if known else value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def open_binary(path: Path) -> IO[bytes]:
    """A file's bytes, gunzipped when it starts with gzip's magic bytes (whatever its name)."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")


@dataclass(frozen=True)
class CaliperEvent:
    """One event, with the entities of its envelope to fill references in."""

    data: dict[str, Any]
    entities: Mapping[str, dict[str, Any]]

    @cached_property
    def type(self) -> str:
        return term(self.data.get("type")) or "unknown"

    @cached_property
    def action(self) -> str | None:
        return term(self.data.get("action"))

    def entity(self, key: str) -> dict[str, Any] | None:
        return resolve(self.data.get(key), self.entities)

    def iri(self, key: str) -> str | None:
        """The IRI of the entity at `key`, when there is one and it is a usable IRI."""
        entity = self.entity(key)
        value = entity.get("id") if entity else None
        return value if isinstance(value, str) and is_iri(value) and value not in ANONYMOUS_IRIS else None


class _EventFile:
    """One file of JSON lines, checked once to be JSON lines and not a pretty-printed document."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open_binary(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except RecursionError:
                    break  # a line of JSON all the same, skipped as malformed when read
                except ValueError:
                    raise InvalidInput(
                        f"{path.name} is not JSON lines: line {number} is not a JSON value on its own "
                        "(write one Caliper event or envelope per line)"
                    ) from None
                break


class CaliperConverter:
    """Converts a file of Caliper events (or a directory of them); `statements()` streams the result."""

    def __init__(self, input_path: Path, *, home_page: str = DEFAULT_HOME_PAGE) -> None:
        self.home_page = check_home_page(home_page)
        self.input_path = input_path
        suffixes = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")
        self._files = [_EventFile(path) for path in input_files(input_path, suffixes, "JSON lines of Caliper events")]
        self._handlers: dict[str, dict[str, Callable[[CaliperEvent], Built]]] = {
            "SessionEvent": {
                "LoggedIn": lambda event: self._session(event, LOGGED_IN, "logged in", KIND_LOGGED_IN),
                "LoggedOut": lambda event: self._session(event, LOGGED_OUT, "logged out", KIND_LOGGED_OUT),
            },
            "NavigationEvent": {"NavigatedTo": self._accessed},
            "ViewEvent": {"Viewed": self._accessed},
            "AssessmentEvent": {"Started": self._assessment_started, "Submitted": self._assessment_submitted},
            "GradeEvent": {"Graded": self._graded},
            "OutcomeEvent": {"Graded": self._graded},
            "MediaEvent": {
                "Started": lambda event: self._media(event, PLAYED, "played", KIND_PLAYED),
                "Resumed": lambda event: self._media(event, PLAYED, "played", KIND_PLAYED),
                "Restarted": lambda event: self._media(event, PLAYED, "played", KIND_PLAYED),
                "Paused": lambda event: self._media(event, PAUSED, "paused", KIND_PAUSED),
                "Ended": lambda event: self._media(event, COMPLETED, "completed", KIND_VIDEO_COMPLETED),
            },
            "ToolUseEvent": {"Used": self._tool_used},
        }

    def estimated_rows(self) -> int:
        """Lines the conversion will read, for a progress bar (an envelope line holds many events)."""
        return sum(count_lines(file.path) for file in self._files)

    def statements(self, report: ConversionReport, on_rows: Callable[[int], None] = lambda _n: None) -> Iterator[dict[str, Any]]:
        """Every statement of the events, in their order; each event or entity read is recorded in
        `report` (converted or skipped, with the reason). `on_rows(n)` hears of lines as they are read."""
        for file in self._files:
            yield from self._file_statements(file.path, report, on_rows)

    def _file_statements(self, path: Path, report: ConversionReport, on_rows: Callable[[int], None]) -> Iterator[dict[str, Any]]:
        table, pending = path.name, 0
        with open_binary(path) as handle:
            for line, raw in enumerate(handle, start=1):
                pending += 1
                if pending == _PROGRESS_EVERY:
                    on_rows(pending)
                    pending = 0
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw)
                except (ValueError, RecursionError):  # bad JSON, bytes that are not UTF-8, absurd nesting
                    report.skipped(table, "malformed-json", line)
                    continue
                for item, entities in self._items(value):
                    try:
                        built = self._convert(item, entities)
                        skip_unless_valid(built.statement)
                    except Skip as skip:
                        report.skipped(table, skip.reason, line)
                        continue
                    report.converted(table, built.kind)
                    for what in built.omitted:
                        report.omitted(table, what)
                    yield built.statement
        on_rows(pending)

    @staticmethod
    def _items(value: Any) -> Iterator[tuple[Any, Mapping[str, dict[str, Any]]]]:
        """The items of a line (one event, an envelope's `data`, an array), each with the entities described beside it."""
        if isinstance(value, dict) and "data" in value and "type" not in value:
            if not isinstance(value["data"], list):
                yield _MALFORMED_ENVELOPE, {}
                return
            items = value["data"]
        elif isinstance(value, list):
            items = value
        else:
            items = [value]
        entities = {item["id"]: item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str) and not is_event(item)}
        for item in items:
            yield item, entities

    # -- one event -------------------------------------------------------------------------------

    def _convert(self, item: Any, entities: Mapping[str, dict[str, Any]]) -> Built:
        if item is _MALFORMED_ENVELOPE:
            raise Skip("malformed-envelope")
        if not isinstance(item, dict):
            raise Skip("not-an-object")
        if not is_event(item):
            raise Skip("not-an-event")
        event = CaliperEvent(item, entities)
        actions = self._handlers.get(event.type)
        if actions is None:
            raise Skip(f"unsupported-event:{event.type}")
        if event.action is None:
            raise Skip("missing-action")
        handler = actions.get(event.action)
        if handler is None:
            raise Skip(f"unsupported-action:{event.type}.{event.action}")
        return handler(event)

    # -- the building blocks of a statement ------------------------------------------------------

    @staticmethod
    def _person(entity: dict[str, Any] | None, missing: str) -> str:
        """A learner's IRI; a Skip for nobody, for Caliper's anonymous person, and for a non-person."""
        person = entity.get("id") if entity else None
        if not isinstance(person, str) or not person.strip():
            raise Skip(missing)
        if person in ANONYMOUS_IRIS:
            raise Skip("anonymous-actor")
        kind = term(entity.get("type")) if entity else None
        if kind is not None and kind != "Person":
            raise Skip(f"actor-not-a-person:{kind}")
        return person

    def _actor(self, person: str) -> dict[str, Any]:
        return {"account": {"homePage": self.home_page, "name": person}}

    def _id(self, *identity: object) -> str:
        return str(uuid.uuid5(NAMESPACE, "|".join((self.home_page, *map(str, identity)))))

    def _event_identity(self, event: CaliperEvent) -> tuple[str, tuple[str, ...]]:
        """The event's own id, or, for an event without one, a digest of the event itself."""
        own = event.data.get("id")
        if isinstance(own, str) and own.strip():
            return own.strip(), ()
        digest = hashlib.sha256(json.dumps(event.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
        return f"sha256:{digest}", ("event id: none, the statement id hashes the event",)

    @staticmethod
    def _activity(entity: dict[str, Any] | None, activity_type: str | None = None, missing: str = "missing-object") -> dict[str, Any]:
        """A Caliper entity as an xAPI activity: its IRI, an xAPI type when one says the same, its name."""
        if entity is None:
            raise Skip(missing)
        iri = entity.get("id")
        if not isinstance(iri, str) or not iri.strip():
            raise Skip(f"{missing}-id")
        if not is_iri(iri):
            raise Skip(f"invalid-{missing.removeprefix('missing-')}-id")
        kind = term(entity.get("type"))
        definition: dict[str, Any] = {}
        if activity_type or kind in ACTIVITY_TYPES:
            definition["type"] = activity_type or ACTIVITY_TYPES[kind or ""]
        name = entity.get("name")
        if isinstance(name, str) and name.strip():
            definition["name"] = {"und": name.strip()}  # Caliper does not say the name's language
        if kind is not None:
            definition["extensions"] = {ENTITY_TYPE: kind}
        activity: dict[str, Any] = {"objectType": "Activity", "id": iri}
        if definition:
            activity["definition"] = definition
        return activity

    @staticmethod
    def _categories(*iris: str) -> list[dict[str, Any]]:
        return [{"objectType": "Activity", "id": iri, "definition": {"type": PROFILE}} for iri in iris]

    def _context(self, event: CaliperEvent, person: str, *, categories: tuple[str, ...] = (), session_key: str = SESSION, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the event says of its circumstances: the course section, the platform, the session, the learner's role."""
        context: dict[str, Any] = {}
        group = event.entity("group")
        group_iri = event.iri("group")
        if group is not None and group_iri is not None:
            context["registration"] = self._id("enrolment", group_iri, person)
            context["contextActivities"] = {"grouping": [self._activity(group)]}
        if categories:
            context.setdefault("contextActivities", {})["category"] = self._categories(*categories)
        app = event.entity("edApp")
        if app is not None and isinstance(app.get("id"), str) and app["id"].strip():
            context["platform"] = app["id"].strip()
        values: dict[str, Any] = {EVENT: f"{event.type}.{event.action}"}
        session = event.iri("session")
        if session is not None:
            values[session_key] = session
        role = self._role(event, person)
        if role is not None:
            values[ROLE] = role
        context["extensions"] = {**values, **(extensions or {})}
        return context

    @staticmethod
    def _role(event: CaliperEvent, person: str) -> str | None:
        """The learner's role in the course section, from the event's membership when it is theirs."""
        membership = event.entity("membership")
        if membership is None:
            return None
        member = resolve(membership.get("member"), event.entities)
        if member is not None and member.get("id") != person:
            return None
        roles = membership.get("roles")
        for role in roles if isinstance(roles, list) else [roles]:
            word = ROLES.get(term(role) or "")
            if word is not None:
                return word
        return None

    def _statement(self, event: CaliperEvent, person: str, verb: str, display: str, obj: dict[str, Any], context: dict[str, Any], result: dict[str, Any] | None = None) -> tuple[dict[str, Any], tuple[str, ...]]:
        identity, omitted = self._event_identity(event)
        statement: dict[str, Any] = {
            "id": self._id("event", identity),
            "actor": self._actor(person),
            "verb": {"id": verb, "display": {"en-US": display}},
            "object": obj,
        }
        if result:
            statement["result"] = result
        statement["context"] = context
        statement["timestamp"] = instant(event.data.get("eventTime"))
        return statement, omitted

    # -- the events ------------------------------------------------------------------------------

    def _session(self, event: CaliperEvent, verb: str, display: str, kind: str) -> Built:
        person = self._person(event.entity("actor"), "missing-actor")
        application = self._activity(event.entity("object"), APPLICATION)
        statement, omitted = self._statement(event, person, verb, display, application, self._context(event, person))
        return Built(statement, kind, omitted)

    def _accessed(self, event: CaliperEvent) -> Built:
        """NavigatedTo and Viewed: the DASES "accessed a page" for a WebPage, "accessed a file" for a Document."""
        person = self._person(event.entity("actor"), "missing-actor")
        entity = event.entity("object")
        resource = self._activity(entity)
        kind, categories, omitted = KIND_ACCESSED, (), ()
        if resource.get("definition", {}).get("type") == WEBPAGE:
            kind, categories = KIND_ACCESSED_PAGE, (LMS_PROFILE_VERSION, LMS_CATEGORY, ADL_LMS_PROFILE)
        elif resource.get("definition", {}).get("type") == FILE:
            kind, categories = KIND_ACCESSED_FILE, (LMS_PROFILE_VERSION, LMS_CATEGORY, ADL_LMS_PROFILE)
            media_type = entity.get("mediaType") if entity else None
            if isinstance(media_type, str) and media_type.strip():
                resource["definition"]["extensions"][ACROSSX_TYPE] = media_type.strip()
            else:
                omitted = ("file type: no mediaType",)
        context = self._context(event, person, categories=categories)
        statement, more = self._statement(event, person, ACCESSED, "accessed", resource, context)
        return Built(statement, kind, omitted + more)

    def _attempt(self, event: CaliperEvent, key: str) -> dict[str, Any]:
        attempt = event.iri(key)
        return {ATTEMPT: attempt} if attempt is not None else {}

    def _assessment_started(self, event: CaliperEvent) -> Built:
        person = self._person(event.entity("actor"), "missing-actor")
        assessment = self._activity(event.entity("object"), ASSESSMENT)
        context = self._context(event, person, extensions=self._attempt(event, "generated"))
        statement, omitted = self._statement(event, person, ATTEMPTED, "attempted", assessment, context)
        return Built(statement, KIND_ATTEMPTED, omitted)

    def _assessment_submitted(self, event: CaliperEvent) -> Built:
        """Submitted: the DASES assessment "completed", the learner having sent the assessment to be graded."""
        person = self._person(event.entity("actor"), "missing-actor")
        assessment = self._activity(event.entity("object"), ASSESSMENT)
        result: dict[str, Any] = {"completion": True}
        attempt = event.entity("generated")
        spent = seconds(attempt.get("duration")) if attempt else None
        if spent is not None:
            result["duration"] = xapi_duration(spent)
        context = self._context(event, person, categories=(ASSESSMENT_PROFILE_VERSION,), extensions=self._attempt(event, "generated"))
        statement, omitted = self._statement(event, person, COMPLETED, "completed", assessment, context, result)
        return Built(statement, KIND_COMPLETED, omitted)

    def _graded(self, event: CaliperEvent) -> Built:
        """The learner scored on what was assigned: the actor is the grader, the learner the attempt's assignee.

        The score is 1.2's Score (`scoreGiven`, `maxScore`) or 1.1's Result (`resultScore`,
        `maxResultScore`; `totalScore` or `normalScore` from older sensors)."""
        attempt = event.entity("object")
        if attempt is None:
            raise Skip("missing-object")
        person = self._person(resolve(attempt.get("assignee"), event.entities), "missing-assignee")
        assignable = resolve(attempt.get("assignable"), event.entities)
        assessment = self._activity(assignable, ASSESSMENT if assignable and term(assignable.get("type")) in (None, "Assessment") else None, "missing-assignable")
        generated = event.entity("generated") or {}
        raw = next((number for key in ("scoreGiven", "resultScore", "totalScore", "normalScore") if (number := _number(generated.get(key))) is not None), None)
        if raw is None:
            raise Skip("missing-score")
        score: dict[str, Any] = {"raw": raw}
        top = next((number for key in ("maxScore", "maxResultScore") if (number := _number(generated.get(key))) is not None), None)
        omitted: tuple[str, ...] = ()
        if top is not None and top > 0 and 0 <= raw <= top:
            score.update(min=0, max=top, scaled=raw / top)
        else:
            omitted = ("score range: no maximum above the score",)
        extensions = self._attempt(event, "object")
        grader = event.entity("actor")
        if grader is not None and isinstance(grader.get("id"), str) and grader["id"].strip():
            extensions[SCORED_BY] = grader["id"].strip()
        context = self._context(event, person, extensions=extensions)
        statement, more = self._statement(event, person, SCORED, "scored", assessment, context, {"score": score})
        return Built(statement, KIND_SCORED, omitted + more)

    def _media(self, event: CaliperEvent, verb: str, display: str, kind: str) -> Built:
        """A video played, paused or ended, in the xAPI Video Profile's words; other media are not converted."""
        person = self._person(event.entity("actor"), "missing-actor")
        media = event.entity("object")
        media_kind = term(media.get("type")) if media else None
        media_type = media.get("mediaType") if media else None
        if media_kind != "VideoObject" and not (isinstance(media_type, str) and media_type.startswith("video/")):
            raise Skip(f"unsupported-media:{media_kind or 'unknown'}")
        video = self._activity(media, VIDEO)
        result: dict[str, Any] = {}
        omitted: tuple[str, ...] = ()
        target = event.entity("target")
        playhead = seconds(target.get("currentTime")) if target else None
        if playhead is not None:
            result["extensions"] = {VIDEO_TIME: round(playhead, 3)}
        else:
            omitted = ("video time: no target currentTime",)
        if verb == COMPLETED:
            result["completion"] = True
        length = seconds(media.get("duration")) if media else None
        extensions = {VIDEO_LENGTH: round(length, 3)} if length is not None else {}
        context = self._context(event, person, categories=(VIDEO_PROFILE,), session_key=VIDEO_SESSION_ID, extensions=extensions)
        statement, more = self._statement(event, person, verb, display, video, context, result)
        return Built(statement, kind, omitted + more)

    def _tool_used(self, event: CaliperEvent) -> Built:
        person = self._person(event.entity("actor"), "missing-actor")
        tool = self._activity(event.entity("object"), APPLICATION)
        statement, omitted = self._statement(event, person, INTERACTED, "interacted", tool, self._context(event, person))
        return Built(statement, KIND_USED, omitted)


def convert_caliper(
    input_path: Path,
    report: ConversionReport,
    *,
    home_page: str = DEFAULT_HOME_PAGE,
    on_rows: Callable[[int], None] = lambda _n: None,
) -> Iterator[dict[str, Any]]:
    """Stream the statements of a file of Caliper events, recording every event and entity in `report`."""
    return CaliperConverter(input_path, home_page=home_page).statements(report, on_rows)
