"""State, Activity Profile and Agent Profile documents, and the Activities and Agents resources,
with no HTTP in sight.

A document is kept as the bytes it was sent with and its content type. Its ETag is the SHA-1 of
those bytes (the conformance suite checks for 40 hex digits in quotes). POST merges two JSON
objects one level deep; anything else sent to an existing document by POST is refused.

Concurrency (If-Match / If-None-Match) is honoured on every write of every kind. A PUT sent
without either header is refused when it would silently overwrite: on an existing profile
(both versions) or an existing state document (xAPI 2.0, which extends ETags to the State
resource). xAPI 1.0.3 profiles also need a header to create a document, as the 1.0.3 suite
expects (400).

Input reaching these functions has passed the route's parameter checks; the key parts are
bounded here so a key always fits PostgreSQL's B-tree entry limit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, false, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import BadRequest, Conflict, DasesError, FieldError, NotFound
from dases.lrs.agents import IFI_PROPERTIES, agent_from_key, agent_key
from dases.lrs.models import Activity, Document, Statement

STATE = "state"
ACTIVITY_PROFILE = "activity_profile"
AGENT_PROFILE = "agent_profile"
KINDS = (STATE, ACTIVITY_PROFILE, AGENT_PROFILE)

JSON_MEDIA_TYPE = "application/json"
DEFAULT_MEDIA_TYPE = "application/octet-stream"

#: UTF-8 bytes each key part may take: together (with store, kind and registration) they stay
#: under PostgreSQL's 2704-byte limit on one B-tree entry of the unique key.
MAX_KEY_BYTES = {"activityId": 1000, "agent": 700, "document": 600}
MAX_CONTENT_TYPE = 255
#: Statements looked at for the names an agent went by (Agents resource).
NAME_SOURCES = 100

#: The parameter naming each kind's document id.
ID_PARAMETER = {STATE: "stateId", ACTIVITY_PROFILE: "profileId", AGENT_PROFILE: "profileId"}


class PreconditionFailed(DasesError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


@dataclass(frozen=True)
class DocumentKey:
    """Where a document lives: which parts apply depends on the kind; absent parts are ''."""

    kind: str
    activity_id: str = ""
    agent_key: str = ""
    registration: str = ""
    document_id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown document kind {self.kind!r}")
        _check_bytes("activityId", self.activity_id, MAX_KEY_BYTES["activityId"])
        _check_bytes("agent", self.agent_key, MAX_KEY_BYTES["agent"])
        _check_bytes(ID_PARAMETER[self.kind], self.document_id, MAX_KEY_BYTES["document"])


@dataclass(frozen=True)
class Preconditions:
    """The request's If-Match and If-None-Match headers, as sent (None when absent)."""

    if_match: str | None = None
    if_none_match: str | None = None

    @property
    def absent(self) -> bool:
        return self.if_match is None and self.if_none_match is None


@dataclass(frozen=True)
class StoredDocument:
    document_id: str
    content: bytes
    content_type: str
    #: The quoted entity tag, as sent in the ETag header.
    etag: str
    updated: datetime


def _check_bytes(parameter: str, value: str, limit: int) -> None:
    if "\x00" in value:
        raise BadRequest(f"parameter '{parameter}' contains a NUL character", errors=[FieldError(parameter, "no-nul", "must not contain NUL (U+0000)")])
    if len(value.encode()) > limit:
        raise BadRequest(
            f"parameter '{parameter}' is longer than this LRS keeps ({limit} bytes)",
            errors=[FieldError(parameter, "max-length", f"at most {limit} bytes of UTF-8")],
        )


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (content_type or "").split(";")[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    return media_type(content_type) == JSON_MEDIA_TYPE


def etag_of(content: bytes) -> str:
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()


def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _stored(row: Document) -> StoredDocument:
    return StoredDocument(row.document_id, row.content, row.content_type, _quoted(row.etag), row.updated)


def _tags(header: str) -> list[str]:
    """The entity tags listed in an If-Match / If-None-Match header, unquoted ('*' kept)."""
    tags = []
    for part in header.split(","):
        tag = part.strip().removeprefix("W/")
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if tag:
            tags.append(tag)
    return tags


def _check_preconditions(current: Document | None, conditions: Preconditions) -> None:
    """RFC 7232: If-Match needs a current document with a listed tag ('*': any); If-None-Match
    needs no current document ('*') or one whose tag is not listed."""
    if conditions.if_match is not None:
        tags = _tags(conditions.if_match)
        if current is None:
            raise PreconditionFailed("If-Match was sent but no such document exists", reason="no-document")
        if "*" not in tags and current.etag not in tags:
            raise PreconditionFailed(
                f"If-Match {conditions.if_match} does not match the document's ETag {_quoted(current.etag)}", reason="etag-mismatch"
            )
    if conditions.if_none_match is not None and current is not None:
        tags = _tags(conditions.if_none_match)
        if "*" in tags:
            raise PreconditionFailed("If-None-Match: * was sent but the document already exists", reason="document-exists")
        if current.etag in tags:
            raise PreconditionFailed(f"the document's ETag matches If-None-Match {conditions.if_none_match}", reason="etag-match")


def _key_filter(store: str, key: DocumentKey) -> tuple[Any, ...]:
    return (
        Document.store == store,
        Document.kind == key.kind,
        Document.activity_id == key.activity_id,
        Document.agent_key == key.agent_key,
        Document.registration == key.registration,
        Document.document_id == key.document_id,
    )


def _current(session: Session, store: str, key: DocumentKey) -> Document | None:
    """The document, locked for the rest of the transaction so that a concurrent writer cannot
    slip between the ETag check (or the read a merge starts from) and the write.

    PostgreSQL locks the row (FOR UPDATE). SQLite has no row locks and pysqlite only opens its
    transaction at the first write, so a statement that writes nothing takes the database's
    write lock first (waiting out other writers), and the read then sees their last commit."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Document).where(false()).values(id=Document.id))
    return session.scalars(select(Document).where(*_key_filter(store, key)).with_for_update()).first()


def _write(session: Session, store: str, key: DocumentKey, current: Document | None, content: bytes, content_type: str) -> StoredDocument:
    if len(content_type) > MAX_CONTENT_TYPE:
        raise BadRequest("the Content-Type header is too long", errors=[FieldError("Content-Type", "max-length", f"at most {MAX_CONTENT_TYPE} characters")])
    now = utcnow()
    if current is not None:
        current.content, current.content_type, current.etag = content, content_type, etag_of(content)
        # Strictly later than the last write, even within one clock tick, so `since` and
        # Last-Modified always see the change.
        current.updated = now if now > current.updated else current.updated + timedelta(microseconds=1)
        session.flush()
        return _stored(current)
    row = Document(
        store=store,
        kind=key.kind,
        activity_id=key.activity_id,
        agent_key=key.agent_key,
        registration=key.registration,
        document_id=key.document_id,
        content=content,
        content_type=content_type,
        etag=etag_of(content),
        updated=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as error:
        raise _Raced from error
    return _stored(row)


class _Raced(Exception):
    """Another transaction created the document between our look and our insert."""


def _once_more_if_raced(operation: Callable[[], StoredDocument]) -> StoredDocument:
    """Run a write; if a concurrent request created the document first, run it again, now
    against that document (its ETag, its content to merge into)."""
    try:
        return operation()
    except _Raced:
        pass
    try:
        return operation()
    except _Raced as error:
        raise Conflict("the document keeps being created by other requests meanwhile; retry") from error


def put_document(
    session: Session,
    store: str,
    key: DocumentKey,
    content: bytes,
    content_type: str | None,
    *,
    conditions: Preconditions = Preconditions(),
    version: str = "2.0.0",
) -> StoredDocument:
    """Store `content` as the document, replacing any there."""
    return _once_more_if_raced(lambda: _put(session, store, key, content, content_type, conditions, version))


def _put(session: Session, store: str, key: DocumentKey, content: bytes, content_type: str | None, conditions: Preconditions, version: str) -> StoredDocument:
    current = _current(session, store, key)
    _check_preconditions(current, conditions)
    if conditions.absent:
        guarded = key.kind != STATE or version != "1.0.3"
        if current is not None and guarded:
            raise Conflict(
                "the document already exists: send If-Match with its ETag to replace it (or POST to merge into it)",
                reason="etag-required",
            )
        if current is None and key.kind != STATE and version == "1.0.3":
            raise BadRequest(
                "a PUT to a profile needs If-Match (to replace) or If-None-Match: * (to create)",
                errors=[FieldError("If-None-Match", "required", "send If-None-Match: * to create the profile")],
                reason="etag-required",
            )
    return _write(session, store, key, current, content, content_type or DEFAULT_MEDIA_TYPE)


def _json_object(content: bytes, what: str) -> dict[str, Any]:
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(content, parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"{what} is not valid JSON: {error}", errors=[FieldError("body", "json-object", str(error))]) from error
    if not isinstance(value, dict):
        raise BadRequest(f"{what} is JSON but not an object", errors=[FieldError("body", "json-object", "must be a JSON object")])
    return value


def post_document(
    session: Session,
    store: str,
    key: DocumentKey,
    content: bytes,
    content_type: str | None,
    *,
    conditions: Preconditions = Preconditions(),
) -> StoredDocument:
    """Merge `content` into the document: both must be JSON objects, and the top-level keys sent
    replace those stored. Without a document, store `content` as PUT would."""
    incoming = _json_object(content, "the document sent") if is_json(content_type) else None
    return _once_more_if_raced(lambda: _post(session, store, key, content, content_type, incoming, conditions))


def _post(
    session: Session, store: str, key: DocumentKey, content: bytes, content_type: str | None, incoming: dict[str, Any] | None, conditions: Preconditions
) -> StoredDocument:
    current = _current(session, store, key)
    _check_preconditions(current, conditions)
    if current is None:
        return _write(session, store, key, None, content, content_type or DEFAULT_MEDIA_TYPE)
    if incoming is None:
        raise BadRequest(
            f"a POST merges JSON into the stored JSON document, and this one is {media_type(content_type) or 'untyped'}: "
            "send application/json, or PUT to replace the document",
            errors=[FieldError("Content-Type", "json-merge", "must be application/json to merge")],
        )
    if not is_json(current.content_type):
        raise BadRequest(
            f"the stored document is {current.content_type}, not JSON, so nothing can be merged into it: PUT to replace it",
            errors=[FieldError("body", "json-merge", "the stored document is not application/json")],
        )
    stored = _json_object(current.content, "the stored document")
    merged = json.dumps({**stored, **incoming}, ensure_ascii=False, separators=(",", ":")).encode()
    return _write(session, store, key, current, merged, JSON_MEDIA_TYPE)


def get_document(session: Session, store: str, key: DocumentKey) -> StoredDocument:
    row = session.scalars(select(Document).where(*_key_filter(store, key))).first()
    if row is None:
        raise NotFound(f"no {key.kind.replace('_', ' ')} document {key.document_id!r} here")
    return _stored(row)


def list_document_ids(session: Session, store: str, key: DocumentKey, since: datetime | None = None) -> tuple[list[str], datetime | None]:
    """The ids of the documents for `key` less its document id (State: any registration when it
    has none), updated after `since` if given, oldest first, with the latest update among them."""
    conditions = [
        Document.store == store,
        Document.kind == key.kind,
        Document.activity_id == key.activity_id,
        Document.agent_key == key.agent_key,
    ]
    if key.registration:
        conditions.append(Document.registration == key.registration)
    if since is not None:
        conditions.append(Document.updated > since)
    rows = session.execute(select(Document.document_id, Document.updated).where(*conditions).order_by(Document.updated, Document.id))
    ids: dict[str, None] = {}
    latest: datetime | None = None
    for document_id, updated in rows:
        ids[document_id] = None
        latest = updated if latest is None else max(latest, updated)
    return list(ids), latest


def delete_document(session: Session, store: str, key: DocumentKey, *, conditions: Preconditions = Preconditions()) -> bool:
    """Delete one document; False when there was none (not an error)."""
    current = _current(session, store, key)
    _check_preconditions(current, conditions)
    if current is None:
        return False
    session.delete(current)
    session.flush()
    return True


def delete_states(session: Session, store: str, activity_id: str, agent: str, registration: str = "") -> int:
    """Delete every state document of an activity and agent (of one registration if given)."""
    DocumentKey(STATE, activity_id, agent, registration)  # bounds and NUL checks
    conditions = [Document.store == store, Document.kind == STATE, Document.activity_id == activity_id, Document.agent_key == agent]
    if registration:
        conditions.append(Document.registration == registration)
    result = session.execute(delete(Document).where(*conditions))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_store_documents(session: Session, store: str) -> None:
    session.execute(delete(Document).where(Document.store == store))


# ---------------------------------------------------------------------------------------------
# Activities and Agents resources


def get_activity(session: Session, store: str, activity_id: str) -> dict[str, Any]:
    """The activity with the canonical definition the store's statements gave it; an activity
    never defined (or never seen) is still an Activity object, with its id alone."""
    activity: dict[str, Any] = {"objectType": "Activity", "id": activity_id}
    text = session.scalar(select(Activity.definition).where(Activity.store == store, Activity.activity_id == activity_id))
    if text:
        definition = json.loads(text)
        if isinstance(definition, dict) and "id" in definition:  # a whole activity object
            definition = definition.get("definition")
        if definition:
            activity["definition"] = definition
    return activity


def _names_of(session: Session, store: str, key: str) -> Iterable[str]:
    documents = session.scalars(
        select(Statement.document).where(Statement.store == store, Statement.actor_key == key).order_by(Statement.seq.desc()).limit(NAME_SOURCES)
    )
    for document in documents:
        try:
            name = (json.loads(document).get("actor") or {}).get("name")
        except (ValueError, AttributeError):
            continue
        if isinstance(name, str):
            yield name


def get_person(session: Session, store: str, agent: dict[str, Any]) -> dict[str, Any]:
    """The Person object for an identified agent: its identifier, and every name it was given
    here (in the request and in the store's latest statements by it), each as an array."""
    key = agent_key(agent)
    if key is None:
        raise BadRequest("the agent has no identifier (mbox, mbox_sha1sum, openid or account)", errors=[FieldError("agent", "identified", "needs an IFI")])
    names: dict[str, None] = {}
    if isinstance(agent.get("name"), str):
        names[agent["name"]] = None
    for name in _names_of(session, store, key):
        names[name] = None
    person: dict[str, Any] = {"objectType": "Person"}
    if names:
        person["name"] = list(names)
    identified = agent_from_key(key)
    for prop in IFI_PROPERTIES:
        if prop in identified:
            person[prop] = [identified[prop]]
    return person


def http_date(instant: datetime) -> str:
    """RFC 9110 date for Last-Modified: `Tue, 01 Jul 2025 10:00:00 GMT`."""
    from email.utils import format_datetime

    return format_datetime(instant.astimezone(UTC), usegmt=True)
