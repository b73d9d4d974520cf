"""Statements: store, void, fetch and query, with no HTTP in sight.

Input reaching `store_statements` has passed `dases.lrs.validation`. A statement is stored once
as JSON text (with `id`, `stored`, `timestamp`, `authority` and `version` filled in) beside the
columns the filters use; `format=exact` answers are those texts joined, never re-serialised.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import and_, delete, exists, insert, or_, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from dases.db import utcnow
from dases.errors import BadRequest, Conflict, FieldError, NotFound
from dases.lrs.agents import agent_key, group_member_keys
from dases.lrs.models import Activity, Attachment, Statement, StatementRelation

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"
#: The properties the LRS sets itself, ignored when deciding if two statements with one id agree.
_LRS_PROPERTIES = ("stored", "authority", "version", "id")
MAX_LIMIT = 1000


def dump_json(value: Any) -> str:
    """Compact JSON text, UTF-8 characters kept as they are. orjson writes it about eight times
    faster than the standard library, which matters at a thousand statements a request; JSON
    that orjson cannot write (an integer beyond 64 bits, a lone surrogate) goes through the
    standard library, which accepted it when it parsed the request."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def format_instant(instant: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`, the form every stored time is written in."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class StoredAttachment:
    sha2: str
    content_type: str
    content: bytes


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass(frozen=True)
class StoredBatch:
    #: The statement ids, in input order (assigned where the statement had none).
    ids: list[str]
    #: How many were new; the others were already stored with the same content.
    fresh: int


def _relations(statement: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Agents and activities a statement mentions besides its actor and object, as keys."""
    agents: set[str] = set()
    activities: set[str] = set()

    def add_agent(agent: dict[str, Any] | None) -> None:
        if not agent:
            return
        key = agent_key(agent)
        if key:
            agents.add(key)
        agents.update(group_member_keys(agent))

    def add_context(context: dict[str, Any] | None) -> None:
        if not context:
            return
        add_agent(context.get("instructor"))
        add_agent(context.get("team"))
        for entries in (context.get("contextActivities") or {}).values():
            for activity in entries if isinstance(entries, list) else [entries]:
                activities.add(activity["id"])
        for entry in context.get("contextAgents") or []:
            add_agent(entry.get("agent"))
        for entry in context.get("contextGroups") or []:
            add_agent(entry.get("group"))

    add_agent(statement.get("authority"))
    actor = statement["actor"]
    agents.update(group_member_keys(actor))
    add_context(statement.get("context"))
    target = statement["object"]
    kind = target.get("objectType", "Activity")
    if kind == "Group":
        agents.update(group_member_keys(target))
    elif kind == "SubStatement":
        add_agent(target["actor"])
        sub_object = target["object"]
        sub_kind = sub_object.get("objectType", "Activity")
        if sub_kind == "Activity":
            activities.add(sub_object["id"])
        elif sub_kind in ("Agent", "Group"):
            add_agent(sub_object)
        add_context(target.get("context"))
    return agents, activities


def _object_columns(target: dict[str, Any]) -> tuple[str, str | None]:
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        return kind, target["id"]
    if kind in ("Agent", "Group"):
        return kind, agent_key(target)
    if kind == "StatementRef":
        return kind, target["id"].lower()
    return kind, None


def _same_statement(stored: dict[str, Any], incoming: dict[str, Any]) -> bool:
    """The same-id-same-statement rule: equal once what the LRS sets is left out (including a
    timestamp it filled in because the statement came without one)."""
    ignored = set(_LRS_PROPERTIES) | ({"timestamp"} if "timestamp" not in incoming else set())
    return {k: v for k, v in stored.items() if k not in ignored} == {k: v for k, v in incoming.items() if k not in ignored}


def _merge_definition(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The canonical definition: the newest values, with language maps merged entry by entry."""
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key in ("name", "description", "extensions"):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _collect_definitions(statements: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    definitions: dict[str, dict[str, Any]] = {}

    def visit(activity: dict[str, Any]) -> None:
        definition = activity.get("definition")
        if definition:
            identifier = activity["id"]
            definitions[identifier] = _merge_definition(definitions.get(identifier, {}), definition)

    for statement in statements:
        for holder in (statement, statement["object"] if statement["object"].get("objectType") == "SubStatement" else None):
            if holder is None:
                continue
            target = holder["object"]
            if target.get("objectType", "Activity") == "Activity":
                visit(target)
            for entries in ((holder.get("context") or {}).get("contextActivities") or {}).values():
                for activity in entries if isinstance(entries, list) else [entries]:
                    visit(activity)
    return definitions


def _save_definitions(session: Session, store: str, definitions: dict[str, dict[str, Any]]) -> None:
    if not definitions:
        return
    known = dict(
        session.execute(
            select(Activity.activity_id, Activity.definition).where(Activity.store == store, Activity.activity_id.in_(definitions))
        ).all()
    )
    new_rows = []
    for identifier, definition in definitions.items():
        if identifier not in known:
            new_rows.append({"store": store, "activity_id": identifier, "definition": json.dumps(definition)})
            continue
        merged = _merge_definition(json.loads(known[identifier]), definition)
        text = json.dumps(merged)
        if text != known[identifier]:
            session.execute(update(Activity).where(Activity.store == store, Activity.activity_id == identifier).values(definition=text))
    if new_rows:
        session.execute(insert(Activity), new_rows)


def _save_attachments(session: Session, store: str, attachments: dict[str, StoredAttachment]) -> None:
    if not attachments:
        return
    present = set(session.scalars(select(Attachment.sha2).where(Attachment.store == store, Attachment.sha2.in_(attachments))))
    rows = [
        {"store": store, "sha2": sha2, "content_type": part.content_type, "content": part.content}
        for sha2, part in attachments.items()
        if sha2 not in present
    ]
    if rows:
        session.execute(insert(Attachment), rows)


def _check_voiding(session: Session, store: str, statements: list[dict[str, Any]], index: dict[str, int]) -> list[str]:
    """Ids the batch voids. The target may not be a voiding statement itself (xAPI: voiding
    cannot be undone); a target not (yet) stored is accepted, as the spec lets a voiding
    statement arrive first."""
    targets = []
    for position, statement in enumerate(statements):
        if statement["verb"]["id"] != VOIDED_VERB:
            continue
        target = statement["object"]
        if target.get("objectType") != "StatementRef":
            raise BadRequest(
                "a voiding statement's object must be a StatementRef",
                errors=[FieldError(f"statements[{position}].object.objectType", "voiding-target", "must be StatementRef")],
            )
        targets.append(target["id"].lower())
    if not targets:
        return []
    voiders = set(
        session.scalars(
            select(Statement.statement_id).where(Statement.store == store, Statement.statement_id.in_(targets), Statement.voids.is_not(None))
        )
    )
    voiders.update(
        target for target in targets if target in index and statements[index[target]]["verb"]["id"] == VOIDED_VERB
    )
    if voiders:
        raise BadRequest(
            f"statement {min(voiders)} is itself a voiding statement and cannot be voided",
            errors=[FieldError("object.id", "void-a-voiding-statement", "a voiding statement cannot be voided")],
        )
    return targets


def store_statements(
    session: Session,
    store: str,
    statements: list[dict[str, Any]],
    *,
    authority: dict[str, Any],
    version: str,
    attachments: dict[str, StoredAttachment] | None = None,
    define: bool = True,
    now: datetime | None = None,
) -> StoredBatch:
    """Store a batch atomically. A statement whose id is already stored with the same content is
    accepted and left alone; with other content, 409 (statements are immutable)."""
    now = now or utcnow()
    stored_text = format_instant(now)
    index: dict[str, int] = {}
    for position, statement in enumerate(statements):
        identifier = statement.get("id")
        identifier = identifier.lower() if identifier else str(uuid.uuid4())
        if identifier in index:
            raise BadRequest(
                f"statement id {identifier} appears twice in the batch",
                errors=[FieldError(f"statements[{position}].id", "unique-in-batch", "each statement of a batch needs its own id")],
            )
        index[identifier] = position
        statement["id"] = identifier
    existing = dict(
        session.execute(select(Statement.statement_id, Statement.document).where(Statement.store == store, Statement.statement_id.in_(index))).all()
    )
    for identifier, document in existing.items():
        if not _same_statement(json.loads(document), statements[index[identifier]]):
            raise Conflict(f"statement {identifier} is already stored with other content; statements are immutable")
    voids = _check_voiding(session, store, statements, index)

    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    stored_value: Any = _sqlite_value(now) if sqlite else now
    rows: list[tuple[Any, ...]] = []
    relation_rows: list[tuple[str, str, str, str]] = []
    fresh: list[dict[str, Any]] = []
    for identifier, position in index.items():
        if identifier in existing:
            continue
        statement = statements[position]
        statement["stored"] = stored_text
        statement.setdefault("timestamp", stored_text)
        statement["authority"] = authority
        statement.setdefault("version", "2.0.0" if version == "2.0.0" else "1.0.0")
        target = statement["object"]
        verb_id = statement["verb"]["id"]
        object_type, object_key = _object_columns(target)
        registration = (statement.get("context") or {}).get("registration")
        rows.append(
            (
                store,
                identifier,
                stored_value,
                verb_id,
                agent_key(statement["actor"]),
                object_type,
                object_key,
                registration.lower() if registration else None,
                target["id"].lower() if verb_id == VOIDED_VERB else None,
                False,
                bool(statement.get("attachments")),
                dump_json(statement),
            )
        )
        agents, activities = _relations(statement)
        relation_rows.extend((store, identifier, "agent", key) for key in agents)
        relation_rows.extend((store, identifier, "activity", key) for key in activities)
        fresh.append(statement)
    _bulk_insert(connection, Statement.__tablename__, _STATEMENT_COLUMNS, rows)
    _bulk_insert(connection, StatementRelation.__tablename__, ("store", "statement_id", "kind", "key"), relation_rows)
    if voids:
        session.execute(
            update(Statement).where(Statement.store == store, Statement.statement_id.in_(voids), Statement.voids.is_(None)).values(voided=True)
        )
    if define:  # xAPI's `define` scope: only such keys shape the canonical activity definitions
        _save_definitions(session, store, _collect_definitions(fresh))
    _save_attachments(session, store, attachments or {})
    return StoredBatch(ids=list(index), fresh=len(rows))


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class StatementQuery:
    agent: str | None = None
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_activities: bool = False
    related_agents: bool = False
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    ascending: bool = False
    #: Paging position: the last (stored, seq) handed out.
    after: tuple[datetime, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: The statement columns `store_statements` writes, in the order of its row tuples.
_STATEMENT_COLUMNS = (
    "store",
    "statement_id",
    "stored",
    "verb_id",
    "actor_key",
    "object_type",
    "object_key",
    "registration",
    "voids",
    "voided",
    "has_attachments",
    "document",
)


def _bulk_insert(connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """One driver-level executemany of plain tuples. At a thousand statements a request,
    building each row's parameters through SQLAlchemy's compiler cost as much as the insert
    itself; the values here are already in the driver's types (times as SQLAlchemy writes them
    on SQLite)."""
    if not rows:
        return
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
    connection.exec_driver_sql(sql, rows)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _parameter_error(parameter: str, rule: str, message: str) -> BadRequest:
    return BadRequest(f"parameter '{parameter}': {message}", errors=[FieldError(parameter, rule, message)])


def boolean_parameter(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise _parameter_error(name, "boolean", "must be true or false")
    return value.lower() == "true"


def _instant_parameter(params: Mapping[str, str], name: str) -> datetime | None:
    from dases.lrs.validation import parse_timestamp

    value = params.get(name)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except BadRequest as error:
        raise _parameter_error(name, "iso8601-timestamp", "must be an ISO 8601 timestamp") from error


def statement_query(params: Mapping[str, str]) -> StatementQuery:
    """The query the xAPI GET /statements filter parameters describe; BadRequest naming the
    parameter that breaks a rule. Used by the HTTP resource and by transfer data sources."""
    from dases.lrs.validation import is_uuid, validate_agent

    agent = params.get("agent")
    key = None
    if agent is not None:
        try:
            parsed = json.loads(agent)
        except ValueError as error:
            raise _parameter_error("agent", "json", "must be an Agent or Group as JSON") from error
        validate_agent(parsed, "agent", "1.0.3")
        key = agent_key(parsed)
        if key is None:
            raise _parameter_error("agent", "identified", "an anonymous group cannot be filtered on")
    registration = params.get("registration")
    if registration is not None and not is_uuid(registration):
        raise _parameter_error("registration", "uuid", "must be a UUID")
    limit_text = params.get("limit", "0")
    if not limit_text.isdigit():
        raise _parameter_error("limit", "non-negative-integer", "must be a non-negative integer")
    return StatementQuery(
        agent=key,
        verb=params.get("verb"),
        activity=params.get("activity"),
        registration=registration,
        related_activities=boolean_parameter(params, "related_activities"),
        related_agents=boolean_parameter(params, "related_agents"),
        since=_instant_parameter(params, "since"),
        until=_instant_parameter(params, "until"),
        limit=int(limit_text),
        ascending=boolean_parameter(params, "ascending"),
    )


def get_statement(session: Session, store: str, statement_id: str, *, voided: bool) -> tuple[str, bool]:
    """One statement's JSON text by id: `statementId` never returns a voided statement and
    `voidedStatementId` only returns voided ones (xAPI 2.1 of part 3)."""
    row = session.execute(
        select(Statement.document, Statement.voided, Statement.has_attachments).where(
            Statement.store == store, Statement.statement_id == statement_id.lower()
        )
    ).first()
    if row is None or row.voided != voided:
        kind = "voided statement" if voided else "statement"
        raise NotFound(f"no {kind} with id {statement_id} in this store")
    return row.document, row.has_attachments


def _agent_condition(table: Any, store: str, key: str, related: bool) -> Any:
    """Statements whose actor or object is the agent: written as `seq IN (one index lookup per
    role)` so both backends drive the query from the agent's few rows rather than from a broad
    verb or time range (an `actor OR object` condition defeats their index choice)."""
    by_actor = select(Statement.seq).where(Statement.store == store, Statement.actor_key == key)
    by_object = select(Statement.seq).where(Statement.store == store, Statement.object_type.in_(("Agent", "Group")), Statement.object_key == key)
    direct = table.seq.in_(union_all(by_actor, by_object))
    if not related:
        return direct
    mentions = select(StatementRelation.statement_id).where(
        StatementRelation.store == store, StatementRelation.kind == "agent", StatementRelation.key == key
    )
    return or_(direct, table.statement_id.in_(mentions))


def _activity_condition(table: Any, store: str, activity: str, related: bool) -> Any:
    direct = and_(table.object_type == "Activity", table.object_key == activity)
    if not related:
        return direct
    mentions = select(StatementRelation.statement_id).where(
        StatementRelation.store == store, StatementRelation.kind == "activity", StatementRelation.key == activity
    )
    return or_(direct, table.statement_id.in_(mentions))


def _target_conditions(table: Any, store: str, query: StatementQuery) -> list[Any]:
    """The filters that say which statements are wanted (not when they were stored)."""
    conditions: list[Any] = []
    if query.agent is not None:
        conditions.append(_agent_condition(table, store, query.agent, query.related_agents))
    if query.verb is not None:
        conditions.append(table.verb_id == query.verb)
    if query.activity is not None:
        conditions.append(_activity_condition(table, store, query.activity, query.related_activities))
    if query.registration is not None:
        conditions.append(table.registration == query.registration.lower())
    return conditions


def _window_conditions(query: StatementQuery) -> list[Any]:
    conditions: list[Any] = []
    if query.since is not None:
        conditions.append(Statement.stored > query.since)
    if query.until is not None:
        conditions.append(Statement.stored <= query.until)
    if query.after is not None:
        stored, seq = query.after
        if query.ascending:
            conditions.append(or_(Statement.stored > stored, and_(Statement.stored == stored, Statement.seq > seq)))
        else:
            conditions.append(or_(Statement.stored < stored, and_(Statement.stored == stored, Statement.seq < seq)))
    return conditions


def _has_statement_refs(session: Session, store: str) -> bool:
    """Whether any statement of the store targets another (one probe of the object index)."""
    probe = select(Statement.seq).where(Statement.store == store, Statement.object_type == "StatementRef").limit(1)
    return session.execute(probe).first() is not None


def query_statements(session: Session, store: str, query: StatementQuery, page_size: int = MAX_LIMIT) -> tuple[list[str], list[bool], StatementQuery | None]:
    """A page of matching, non-voided statements (JSON texts), their attachment flags, and the
    query for the next page (None when this page is the last).

    xAPI's filters also select the statements that point at a matching statement through a
    StatementRef (a voiding statement, a comment on a statement), even when the target itself is
    voided: those come from a second query driven by the target's indexes, merged in order. One
    level of reference is followed."""
    limit = min(query.limit or page_size, page_size)
    ascending = query.ascending
    order = (Statement.stored.asc(), Statement.seq.asc()) if ascending else (Statement.stored.desc(), Statement.seq.desc())
    columns = (Statement.document, Statement.has_attachments, Statement.stored, Statement.seq)
    live = (Statement.store == store, Statement.voided.is_(False))
    window = _window_conditions(query)
    target = _target_conditions(Statement, store, query)
    rows = list(session.execute(select(*columns).where(*live, *target, *window).order_by(*order).limit(limit + 1)).all())
    if target and _has_statement_refs(session, store):
        referenced = aliased(Statement)
        refs = session.execute(
            select(*columns)
            .join(referenced, and_(referenced.store == store, referenced.statement_id == Statement.object_key))
            .where(*live, Statement.object_type == "StatementRef", *window, *_target_conditions(referenced, store, query))
            .order_by(*order)
            .limit(limit + 1)
        ).all()
        if refs:
            merged = {row.seq: row for row in rows}
            merged.update((row.seq, row) for row in refs)
            rows = sorted(merged.values(), key=lambda row: (row.stored, row.seq), reverse=not ascending)[: limit + 1]
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        following = replace(query, after=(last.stored, last.seq))
    return [row.document for row in rows], [row.has_attachments for row in rows], following


def attachments_of(session: Session, store: str, sha2s: Iterable[str]) -> list[StoredAttachment]:
    wanted = set(sha2s)
    if not wanted:
        return []
    rows = session.execute(
        select(Attachment.sha2, Attachment.content_type, Attachment.content).where(Attachment.store == store, Attachment.sha2.in_(wanted))
    ).all()
    return [StoredAttachment(row.sha2, row.content_type, row.content) for row in rows]


def canonical_definitions(session: Session, store: str, activity_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = set(activity_ids)
    if not wanted:
        return {}
    rows = session.execute(select(Activity.activity_id, Activity.definition).where(Activity.store == store, Activity.activity_id.in_(wanted))).all()
    return {identifier: json.loads(text) for identifier, text in rows}


def statement_exists(session: Session, store: str, statement_id: str) -> bool:
    return bool(session.scalar(select(exists().where(Statement.store == store, Statement.statement_id == statement_id.lower()))))


def count_statements(session: Session, store: str) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(Statement).where(Statement.store == store)) or 0)


def iter_statements(session: Session, store: str, query: StatementQuery, batch: int = MAX_LIMIT) -> Iterator[str]:
    """Every statement matching `query`, page after page, as JSON text: for exports and data
    sources, which must not hold a whole store in memory."""
    current: StatementQuery | None = replace(query, limit=0)
    while current is not None:
        documents, _flags, current = query_statements(session, store, current, page_size=batch)
        yield from documents


def delete_store(session: Session, store: str) -> None:
    for table in (StatementRelation, Statement, Attachment, Activity):
        session.execute(delete(table).where(table.store == store))


# ---------------------------------------------------------------------------------------------
# Paging tokens


def encode_cursor(query: StatementQuery) -> str:
    """The `more` token: the query and its position, opaque to callers but not secret."""
    stored, seq = query.after or (None, None)
    payload = {
        "agent": query.agent,
        "verb": query.verb,
        "activity": query.activity,
        "registration": query.registration,
        "ra": query.related_activities,
        "rg": query.related_agents,
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
        "limit": query.limit,
        "asc": query.ascending,
        "at": [stored.isoformat(), seq] if stored else None,
        "x": query.extra,
    }
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> StatementQuery:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = payload["at"]
        return StatementQuery(
            agent=payload["agent"],
            verb=payload["verb"],
            activity=payload["activity"],
            registration=payload["registration"],
            related_activities=payload["ra"],
            related_agents=payload["rg"],
            since=datetime.fromisoformat(payload["since"]) if payload["since"] else None,
            until=datetime.fromisoformat(payload["until"]) if payload["until"] else None,
            limit=payload["limit"],
            ascending=payload["asc"],
            after=(datetime.fromisoformat(at[0]), int(at[1])) if at else None,
            extra=payload.get("x") or {},
        )
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise BadRequest("the 'more' token is not one this LRS issued", errors=[FieldError("cursor", "valid-token", str(error))]) from error


def consistent_through(now: datetime, lag_seconds: float) -> str:
    return format_instant(now - timedelta(seconds=lag_seconds))
