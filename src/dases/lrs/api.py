"""The xAPI HTTP surface: the Statements and About resources here, the document resources in
`documents_api`. Thin: parse the request, call `service`, shape the response."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dases.errors import BadRequest, FieldError, problem_responses
from dases.lrs import service
from dases.lrs.attachments import (
    Part,
    build_multipart,
    check_attachments,
    parse_multipart,
    verify_signatures,
)
from dases.lrs.deps import LrsCaller, require
from dases.lrs.documents_api import add_document_routes
from dases.lrs.formats import apply_format
from dases.lrs.service import StatementQuery, StoredAttachment
from dases.lrs.validation import (
    is_uuid,
    normalise_statement,
    parse_timestamp,
    validate_statements,
)
from dases.node import Node, NodeDep, SessionDep

WriterDep = Annotated[LrsCaller, require("statements/write")]
ReaderDep = Annotated[LrsCaller, require("statements/read")]
SUPPORTED_VERSIONS = ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"]
_QUERY_PARAMETERS = {
    "statementId",
    "voidedStatementId",
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
    "cursor",
}
_FORMATS = ("exact", "ids", "canonical")


def _bad(parameter: str, rule: str, message: str) -> BadRequest:
    return BadRequest(f"parameter '{parameter}': {message}", errors=[FieldError(parameter, rule, message)])


def _decode_statements(content_type: str, body: bytes, caller: LrsCaller, *, single: bool = False) -> tuple[list[dict[str, Any]], dict[str, StoredAttachment]]:
    """Parse and validate a body (JSON or multipart/mixed with attachments); `single`: the body
    must be one statement, not a list."""
    parts: list[Part] = []
    if content_type.lower().startswith("multipart/mixed"):
        payload, parts = parse_multipart(body, content_type)
    elif content_type.split(";")[0].strip().lower() in ("application/json", ""):
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise BadRequest(f"the body is not JSON: {error}", errors=[FieldError("body", "json", str(error))]) from error
    else:
        raise BadRequest(
            f"statements are sent as application/json or multipart/mixed, not {content_type!r}",
            errors=[FieldError("Content-Type", "media-type", "application/json or multipart/mixed")],
        )
    if single and isinstance(payload, list):
        raise BadRequest("PUT takes one statement, not a list", errors=[FieldError("body", "single-statement", "send one statement object")])
    statements = [normalise_statement(statement) for statement in validate_statements(payload, caller.version)]
    by_sha2 = check_attachments(statements, parts)
    verify_signatures(statements, by_sha2, caller.version)
    return statements, {sha2: StoredAttachment(sha2, part.content_type, part.content) for sha2, part in by_sha2.items()}


def _ingest(node: Node, caller: LrsCaller, content_type: str, body: bytes, statement_id: str | None = None) -> list[str]:
    """Decode, validate and store a request's statements: CPU and database work, run in the
    thread pool so the event loop keeps serving other requests meanwhile."""
    statements, attachments = _decode_statements(content_type, body, caller, single=statement_id is not None)
    if statement_id is not None:
        statement = statements[0]
        if statement.get("id") is not None and statement["id"].lower() != statement_id.lower():
            raise _bad("statementId", "matches-body", "differs from the id in the statement")
        statement["id"] = statement_id.lower()
    with node.db.transaction() as session:
        stored = service.store_statements(
            session, caller.store, statements, authority=caller.authority, version=caller.version, attachments=attachments, define=caller.can("define")
        )
    return stored.ids


def _refuse_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise _bad(unknown[0], "unknown-parameter", "is not a parameter of this resource")


def build_router() -> APIRouter:
    """Every xAPI resource, without a prefix: mounted at `/xapi` standalone and at
    `/participants/{slug}/xapi` on a node."""
    router = APIRouter(tags=["xAPI"])

    @router.get("/about")
    @router.head("/about", include_in_schema=False)
    def about() -> JSONResponse:
        """The xAPI versions this LRS speaks (no credentials needed)."""
        return JSONResponse({"version": SUPPORTED_VERSIONS, "extensions": {}})

    @router.put("/statements", status_code=204, responses=problem_responses(400, 401, 403, 409))
    async def put_statement(request: Request, node: NodeDep, caller: WriterDep) -> Response:
        """Store one statement under the id given in `statementId`."""
        _refuse_params(request, {"statementId"})
        statement_id = request.query_params.get("statementId")
        if statement_id is None:
            raise _bad("statementId", "required", "PUT needs the statement id as a parameter")
        if not is_uuid(statement_id):
            raise _bad("statementId", "uuid", "must be a UUID")
        body = await request.body()
        await run_in_threadpool(_ingest, node, caller, request.headers.get("content-type", ""), body, statement_id)
        return Response(status_code=204)

    @router.post("/statements", responses=problem_responses(400, 401, 403, 409))
    async def post_statements(request: Request, node: NodeDep, caller: WriterDep) -> JSONResponse:
        """Store one statement or a batch; the answer lists their ids in order."""
        _refuse_params(request, set())
        body = await request.body()
        ids = await run_in_threadpool(_ingest, node, caller, request.headers.get("content-type", ""), body)
        return JSONResponse(ids)

    @router.get("/statements", responses=problem_responses(400, 401, 403, 404))
    @router.head("/statements", include_in_schema=False)
    def get_statements(request: Request, session: SessionDep, caller: ReaderDep) -> Response:
        """One statement by id, or a page of statements matching the filters, newest first."""
        params = request.query_params
        _refuse_params(request, _QUERY_PARAMETERS)
        fmt = params.get("format", "exact")
        if fmt not in _FORMATS:
            raise _bad("format", "one-of", "must be exact, ids or canonical")
        with_attachments = service.boolean_parameter(params, "attachments")
        headers: dict[str, str] = {}
        single = params.get("statementId"), params.get("voidedStatementId")
        if single != (None, None):
            return _single(request, session, caller, single, fmt, with_attachments, headers)
        if "cursor" in params:
            if len(params) != 1:
                raise _bad("cursor", "alone", "a 'more' link is followed as given, with no other parameter")
            query = service.decode_cursor(params["cursor"])
            fmt = query.extra.get("format", "exact")
            with_attachments = bool(query.extra.get("attachments"))
        else:
            query = _parse_query(params, fmt, with_attachments)
        documents, flags, following = service.query_statements(session, caller.store, query)
        more = ""
        if following is not None:
            more = f"{request.url.path}?{urlencode({'cursor': service.encode_cursor(following)})}"
        texts = apply_format(session, caller.store, documents, fmt, request.headers.get("accept-language"))
        body = ('{"statements":[' + ",".join(texts) + '],"more":' + json.dumps(more) + "}").encode()
        if with_attachments:
            return _multipart(session, caller.store, body, texts, flags, headers)
        return Response(body, media_type="application/json", headers=headers)

    add_document_routes(router)
    return router


def _parse_query(params: Any, fmt: str, with_attachments: bool) -> StatementQuery:
    return replace(service.statement_query(params), extra={"format": fmt, "attachments": with_attachments})


def _single(
    request: Request, session: Any, caller: LrsCaller, ids: tuple[str | None, str | None], fmt: str, with_attachments: bool, headers: dict[str, str]
) -> Response:
    allowed = {"statementId", "voidedStatementId", "format", "attachments"}
    statement_id, voided_id = ids
    if statement_id is not None and voided_id is not None:
        raise _bad("voidedStatementId", "exclusive", "statementId and voidedStatementId cannot be combined")
    extra = sorted(set(request.query_params) - allowed)
    if extra:
        raise _bad(extra[0], "not-with-id", "cannot be combined with statementId or voidedStatementId")
    wanted = statement_id or voided_id or ""
    if not is_uuid(wanted):
        raise _bad("statementId" if statement_id else "voidedStatementId", "uuid", "must be a UUID")
    document, has_attachments = service.get_statement(session, caller.store, wanted, voided=voided_id is not None)
    text = apply_format(session, caller.store, [document], fmt, request.headers.get("accept-language"))[0]
    stored = json.loads(document)["stored"]
    headers = {**headers, "Last-Modified": _http_date(stored)}
    if with_attachments:
        return _multipart(session, caller.store, text.encode(), [text], [has_attachments], headers)
    return Response(text.encode(), media_type="application/json", headers=headers)


def _http_date(stored: str) -> str:
    from email.utils import format_datetime

    return format_datetime(parse_timestamp(stored), usegmt=True)


def _multipart(session: Any, store: str, body: bytes, texts: list[str], flags: list[bool], headers: dict[str, str]) -> Response:
    wanted: list[str] = []
    for text, flag in zip(texts, flags, strict=True):
        if not flag:
            continue
        statement = json.loads(text)
        for holder in (statement, statement.get("object") or {}):
            for attachment in holder.get("attachments") or []:
                if attachment.get("sha2"):
                    wanted.append(attachment["sha2"])
    stored = service.attachments_of(session, store, wanted)
    parts = [Part(content_type=item.content_type, sha2=item.sha2, content=item.content, headers={}) for item in stored]
    content, content_type = build_multipart(body, parts)
    return Response(content, headers={**headers, "Content-Type": content_type})
