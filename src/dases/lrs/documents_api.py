"""The xAPI document resources (State, Activity Profile, Agent Profile) and the Activities and
Agents resources. Thin: parse the parameters and headers, call `documents`, shape the response.

Documents are any content type, so bodies are read raw and returned with the stored type. Every
GET has a HEAD twin: the same status and headers, no body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from dases.errors import BadRequest, FieldError, problem_responses
from dases.lrs import documents
from dases.lrs.agents import agent_key
from dases.lrs.deps import LrsCaller, require
from dases.lrs.documents import (
    ACTIVITY_PROFILE,
    AGENT_PROFILE,
    STATE,
    DocumentKey,
    Preconditions,
    StoredDocument,
)
from dases.node import SessionDep

StateCaller = Annotated[LrsCaller, require("state")]
ProfileCaller = Annotated[LrsCaller, require("profile")]
ReaderCaller = Annotated[LrsCaller, require("statements/read")]

#: OpenAPI descriptions only: the parameters are read from the request by hand, so that a bad
#: one is the 400 xAPI requires (naming it), not FastAPI's 422.
_PARAMETER_DOCS: dict[str, dict[str, Any]] = {
    "activityId": {"description": "The activity's IRI.", "schema": {"type": "string"}},
    "agent": {"description": "An Agent (or identified Group) as JSON.", "schema": {"type": "string"}},
    "registration": {"description": "A registration UUID.", "schema": {"type": "string", "format": "uuid"}},
    "stateId": {"description": "The state document's id; without it, GET lists ids and DELETE deletes all.", "schema": {"type": "string"}},
    "profileId": {"description": "The profile document's id; without it, GET lists ids.", "schema": {"type": "string"}},
    "since": {"description": "List only documents updated after this ISO 8601 timestamp.", "schema": {"type": "string", "format": "date-time"}},
}
_DOCUMENT_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}, "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
_READ_ERRORS = problem_responses(400, 401, 403, 404)
_WRITE_ERRORS = problem_responses(400, 401, 403, 409, 412)


def _openapi(required: tuple[str, ...], optional: tuple[str, ...] = (), *, body: bool = False) -> dict[str, Any]:
    parameters = [{"name": name, "in": "query", "required": name in required, **_PARAMETER_DOCS[name]} for name in (*required, *optional)]
    extra: dict[str, Any] = {"parameters": parameters}
    if body:
        extra["requestBody"] = _DOCUMENT_BODY
    return extra


_STATE_PARAMETERS = {"activityId", "agent", "registration", "stateId"}
_ACTIVITY_PROFILE_PARAMETERS = {"activityId", "profileId"}
_AGENT_PROFILE_PARAMETERS = {"agent", "profileId"}


def _bad(parameter: str, rule: str, message: str) -> BadRequest:
    return BadRequest(f"parameter '{parameter}': {message}", errors=[FieldError(parameter, rule, message)])


def _refuse_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise _bad(unknown[0], "unknown-parameter", "is not a parameter of this resource")


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise _bad(name, "required", "is required")
    return value


def _activity_id(request: Request) -> str:
    from dases.lrs.validation import is_iri

    value = _required(request, "activityId")
    if not is_iri(value):
        raise _bad("activityId", "iri", "must be an IRI")
    return value


def _agent(request: Request, caller: LrsCaller) -> dict[str, Any]:
    from dases.lrs.validation import validate_agent

    text = _required(request, "agent")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise _bad("agent", "json", f"must be an Agent as JSON ({error})") from error
    if not isinstance(value, dict):
        raise _bad("agent", "json-object", "must be an Agent as a JSON object")
    validate_agent(value, "agent", caller.version)
    if agent_key(value) is None:
        raise _bad("agent", "identified", "needs an identifier (mbox, mbox_sha1sum, openid or account)")
    return value


def _agent_key(request: Request, caller: LrsCaller) -> str:
    key = agent_key(_agent(request, caller))
    assert key is not None  # checked by _agent
    return key


def _registration(request: Request) -> str:
    from dases.lrs.validation import is_uuid

    value = request.query_params.get("registration")
    if value is None:
        return ""
    if not is_uuid(value):
        raise _bad("registration", "uuid", "must be a UUID")
    return value.lower()


def _since(request: Request) -> datetime | None:
    from dases.lrs.validation import parse_timestamp

    value = request.query_params.get("since")
    if value is None:
        return None
    try:
        instant = parse_timestamp(value)
    except (BadRequest, ValueError) as error:
        raise _bad("since", "timestamp", "must be an ISO 8601 timestamp") from error
    if instant is None:
        raise _bad("since", "timestamp", "must be an ISO 8601 timestamp")
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _preconditions(request: Request) -> Preconditions:
    return Preconditions(if_match=request.headers.get("if-match"), if_none_match=request.headers.get("if-none-match"))


def _reply(request: Request, content: bytes, headers: dict[str, str]) -> Response:
    """A 200 with `content`, or for HEAD the same headers (Content-Length included) and no body."""
    if request.method == "HEAD":
        return Response(b"", headers={**headers, "Content-Length": str(len(content))})
    return Response(content, headers=headers)


def _json_reply(request: Request, value: Any, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return _reply(request, content, {"Content-Type": "application/json", **(headers or {})})


def _document_reply(request: Request, document: StoredDocument) -> Response:
    headers = {"Content-Type": document.content_type, "ETag": document.etag, "Last-Modified": documents.http_date(document.updated)}
    return _reply(request, document.content, headers)


def _written(document: StoredDocument) -> Response:
    return Response(status_code=204, headers={"ETag": document.etag, "Last-Modified": documents.http_date(document.updated)})


def _get_or_list(request: Request, session: Session, caller: LrsCaller, key: DocumentKey) -> Response:
    """One document when the key names one, else the ids of those matching, `since` applied."""
    if key.document_id or documents.ID_PARAMETER[key.kind] in request.query_params:
        return _document_reply(request, documents.get_document(session, caller.store, key))
    ids, latest = documents.list_document_ids(session, caller.store, key, _since(request))
    return _json_reply(request, ids, {"Last-Modified": documents.http_date(latest)} if latest else None)


async def _write(request: Request, session: Session, caller: LrsCaller, key: DocumentKey) -> Response:
    content = await request.body()
    content_type = request.headers.get("content-type")
    conditions = _preconditions(request)
    # The write may wait for another request's lock on the document: never on the event loop,
    # which that request needs to commit and let go.
    if request.method == "PUT":
        written = await run_in_threadpool(
            partial(documents.put_document, session, caller.store, key, content, content_type, conditions=conditions, version=caller.version)
        )
    else:
        written = await run_in_threadpool(partial(documents.post_document, session, caller.store, key, content, content_type, conditions=conditions))
    return _written(written)


def _state_key(request: Request, caller: LrsCaller, *, single: bool) -> DocumentKey:
    activity_id = _activity_id(request)
    agent = _agent_key(request, caller)
    registration = _registration(request)
    state_id = _required(request, "stateId") if single else request.query_params.get("stateId", "")
    return DocumentKey(STATE, activity_id=activity_id, agent_key=agent, registration=registration, document_id=state_id)


def _activity_profile_key(request: Request, *, single: bool) -> DocumentKey:
    activity_id = _activity_id(request)
    profile_id = _required(request, "profileId") if single else request.query_params.get("profileId", "")
    return DocumentKey(ACTIVITY_PROFILE, activity_id=activity_id, document_id=profile_id)


def _agent_profile_key(request: Request, caller: LrsCaller, *, single: bool) -> DocumentKey:
    agent = _agent_key(request, caller)
    profile_id = _required(request, "profileId") if single else request.query_params.get("profileId", "")
    return DocumentKey(AGENT_PROFILE, agent_key=agent, document_id=profile_id)


def add_document_routes(router: APIRouter) -> None:
    """Register the document, Activities and Agents resources on `router` (no prefix)."""
    _add_state_routes(router)
    _add_activity_profile_routes(router)
    _add_agent_profile_routes(router)
    _add_activities_and_agents(router)


def _get_and_head(router: APIRouter, path: str, endpoint: Callable[..., Any], openapi: dict[str, Any], description: str) -> None:
    responses = {200: {"description": description, "content": {"*/*": {}}}, **_READ_ERRORS}
    router.add_api_route(path, endpoint, methods=["GET"], responses=responses, openapi_extra=openapi)
    router.add_api_route(path, endpoint, methods=["HEAD"], name=f"{endpoint.__name__}_head", include_in_schema=False)


def _writes(router: APIRouter, path: str, endpoints: tuple[Callable[..., Any], ...], required: tuple[str, ...], optional: tuple[str, ...] = (), *, delete_all: bool = False) -> None:
    """PUT and POST (with a body) and DELETE routes; `delete_all`: DELETE may leave out the
    document id (the last required parameter) to delete every document of the context."""
    put, post, delete = endpoints
    for endpoint, method in ((put, "PUT"), (post, "POST")):
        router.add_api_route(path, endpoint, methods=[method], status_code=204, responses=_WRITE_ERRORS, openapi_extra=_openapi(required, optional, body=True))
    delete_openapi = _openapi(required[:-1], (*optional, required[-1])) if delete_all else _openapi(required, optional)
    router.add_api_route(path, delete, methods=["DELETE"], status_code=204, responses=_WRITE_ERRORS, openapi_extra=delete_openapi)


def _add_state_routes(router: APIRouter) -> None:
    path = "/activities/state"

    def get_state(request: Request, session: SessionDep, caller: StateCaller) -> Response:
        """One state document (with `stateId`), or the ids of an activity's and agent's states
        (optionally of one registration, updated after `since`)."""
        _refuse_params(request, _STATE_PARAMETERS | {"since"})
        return _get_or_list(request, session, caller, _state_key(request, caller, single=False))

    async def put_state(request: Request, session: SessionDep, caller: StateCaller) -> Response:
        """Store a state document, replacing the one there (xAPI 2.0: If-Match needed to replace)."""
        _refuse_params(request, _STATE_PARAMETERS)
        return await _write(request, session, caller, _state_key(request, caller, single=True))

    async def post_state(request: Request, session: SessionDep, caller: StateCaller) -> Response:
        """Merge a JSON object into a JSON state document (or store it when there is none)."""
        _refuse_params(request, _STATE_PARAMETERS)
        return await _write(request, session, caller, _state_key(request, caller, single=True))

    def delete_state(request: Request, session: SessionDep, caller: StateCaller) -> Response:
        """Delete one state document (with `stateId`), or all of an activity's and agent's states
        (of one registration when given)."""
        _refuse_params(request, _STATE_PARAMETERS)
        key = _state_key(request, caller, single=False)
        if "stateId" in request.query_params:
            documents.delete_document(session, caller.store, key, conditions=_preconditions(request))
        else:
            documents.delete_states(session, caller.store, key.activity_id, key.agent_key, key.registration)
        return Response(status_code=204)

    _get_and_head(router, path, get_state, _openapi(("activityId", "agent"), ("registration", "stateId", "since")), "The state document, or a JSON array of state ids")
    _writes(router, path, (put_state, post_state, delete_state), ("activityId", "agent", "stateId"), ("registration",), delete_all=True)


def _add_activity_profile_routes(router: APIRouter) -> None:
    path = "/activities/profile"

    def get_activity_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """One activity profile (with `profileId`), or the ids of an activity's profiles (updated
        after `since`)."""
        _refuse_params(request, _ACTIVITY_PROFILE_PARAMETERS | {"since"})
        return _get_or_list(request, session, caller, _activity_profile_key(request, single=False))

    async def put_activity_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """Store an activity profile: If-None-Match: * to create it, If-Match with its ETag to replace it."""
        _refuse_params(request, _ACTIVITY_PROFILE_PARAMETERS)
        return await _write(request, session, caller, _activity_profile_key(request, single=True))

    async def post_activity_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """Merge a JSON object into a JSON activity profile (or store it when there is none)."""
        _refuse_params(request, _ACTIVITY_PROFILE_PARAMETERS)
        return await _write(request, session, caller, _activity_profile_key(request, single=True))

    def delete_activity_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """Delete an activity profile (If-Match honoured)."""
        _refuse_params(request, _ACTIVITY_PROFILE_PARAMETERS)
        documents.delete_document(session, caller.store, _activity_profile_key(request, single=True), conditions=_preconditions(request))
        return Response(status_code=204)

    _get_and_head(router, path, get_activity_profile, _openapi(("activityId",), ("profileId", "since")), "The profile, or a JSON array of profile ids")
    _writes(router, path, (put_activity_profile, post_activity_profile, delete_activity_profile), ("activityId", "profileId"))


def _add_agent_profile_routes(router: APIRouter) -> None:
    path = "/agents/profile"

    def get_agent_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """One agent profile (with `profileId`), or the ids of an agent's profiles (updated after `since`)."""
        _refuse_params(request, _AGENT_PROFILE_PARAMETERS | {"since"})
        return _get_or_list(request, session, caller, _agent_profile_key(request, caller, single=False))

    async def put_agent_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """Store an agent profile: If-None-Match: * to create it, If-Match with its ETag to replace it."""
        _refuse_params(request, _AGENT_PROFILE_PARAMETERS)
        return await _write(request, session, caller, _agent_profile_key(request, caller, single=True))

    async def post_agent_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """Merge a JSON object into a JSON agent profile (or store it when there is none)."""
        _refuse_params(request, _AGENT_PROFILE_PARAMETERS)
        return await _write(request, session, caller, _agent_profile_key(request, caller, single=True))

    def delete_agent_profile(request: Request, session: SessionDep, caller: ProfileCaller) -> Response:
        """Delete an agent profile (If-Match honoured)."""
        _refuse_params(request, _AGENT_PROFILE_PARAMETERS)
        documents.delete_document(session, caller.store, _agent_profile_key(request, caller, single=True), conditions=_preconditions(request))
        return Response(status_code=204)

    _get_and_head(router, path, get_agent_profile, _openapi(("agent",), ("profileId", "since")), "The profile, or a JSON array of profile ids")
    _writes(router, path, (put_agent_profile, post_agent_profile, delete_agent_profile), ("agent", "profileId"))


def _add_activities_and_agents(router: APIRouter) -> None:
    def get_activity(request: Request, session: SessionDep, caller: ReaderCaller) -> Response:
        """The activity with its canonical definition (its id alone when the store knows none)."""
        _refuse_params(request, {"activityId"})
        return _json_reply(request, documents.get_activity(session, caller.store, _activity_id(request)))

    def get_agent(request: Request, session: SessionDep, caller: ReaderCaller) -> Response:
        """The Person object of an agent: its identifier and the names it is known by here."""
        _refuse_params(request, {"agent"})
        return _json_reply(request, documents.get_person(session, caller.store, _agent(request, caller)))

    _get_and_head(router, "/activities", get_activity, _openapi(("activityId",)), "The Activity object")
    _get_and_head(router, "/agents", get_agent, _openapi(("agent",)), "The Person object")
