"""ASGI middleware for the xAPI paths: the version header on every answer, and the 1.0.3
alternate request syntax (a form POST standing for another method), turned into the request it
stands for before routing, so every resource handles both forms with one code path."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dases.db import utcnow
from dases.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX
from dases.lrs.service import consistent_through

#: Form fields of the alternate syntax that are headers, not parameters (xAPI 1.0.3, part 3, 1.3).
_HEADER_FIELDS = {"authorization", "x-experience-api-version", "content-type", "content-length", "if-match", "if-none-match"}
_METHODS = {"GET", "PUT", "POST", "DELETE", "HEAD"}
MAX_FORM_BYTES = 16 * 1024 * 1024
_NOT_IN_2_0 = "xAPI 2.0 has no alternate request syntax: send the method and headers as they are"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class XapiMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "/xapi" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if not any(name == "method" for name, _ in query):
            await self.app(scope, receive, self._versioned(scope, send))
            return
        problem = await self._alternate(scope, receive, query)
        if isinstance(problem, str):
            await _send_problem(self._versioned(scope, send), scope["path"], problem)
            return
        new_scope, body = problem
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(new_scope, replay, self._versioned(new_scope, send))

    def _versioned(self, scope: Scope, send: Send) -> Send:
        """`send`, adding the version header (and, on statement reads, Consistent-Through)."""
        requested = _header(scope, b"x-experience-api-version")
        if requested is None:
            answered = scope["app"].state.node.settings.lrs_default_version.encode()
        else:
            answered = b"2.0.0" if requested.startswith("2.0") else b"1.0.3"
        reads_statements = scope["path"].endswith("/statements") and scope["method"] in ("GET", "HEAD")

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(key, value) for key, value in message.get("headers", []) if key != b"x-experience-api-version"]
                headers.append((b"x-experience-api-version", answered))
                if reads_statements:
                    headers.append((b"x-experience-api-consistent-through", self._consistent_through(scope)))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_version

    @staticmethod
    def _consistent_through(scope: Scope) -> bytes:
        """Every statement stored before this instant is visible to queries: now, less the
        longest a write transaction may still be committing (xAPI asks for it on every
        statement GET, errors included)."""
        lag = scope["app"].state.node.settings.lrs_consistency_seconds
        return consistent_through(utcnow(), lag).encode()

    async def _alternate(self, scope: Scope, receive: Receive, query: list[tuple[str, str]]) -> tuple[Scope, bytes] | str:
        """The request an alternate-syntax POST stands for, or why it is refused."""
        if (_header(scope, b"x-experience-api-version") or "").startswith("2.0"):
            return _NOT_IN_2_0
        if scope["method"] != "POST":
            return "the alternate request syntax is a POST carrying a 'method' parameter"
        if len(query) != 1:
            return "the alternate request syntax carries 'method' alone in the query string; every other parameter goes in the form body"
        method = query[0][1].upper()
        if method not in _METHODS:
            return f"method {query[0][1]!r} is not one the xAPI resources answer"
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return "the alternate request syntax is sent as application/x-www-form-urlencoded"
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if len(body) > MAX_FORM_BYTES:
                return "the form body is too large"
            if not message.get("more_body"):
                break
        fields = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        if any(name.lower() == "x-experience-api-version" and value.startswith("2.0") for name, value in fields):
            return _NOT_IN_2_0
        headers = [(key, value) for key, value in scope["headers"] if key not in (b"content-type", b"content-length")]
        params: list[tuple[str, str]] = []
        content = b""
        for name, value in fields:
            lowered = name.lower()
            if lowered == "content":
                content = value.encode()
            elif lowered in _HEADER_FIELDS and lowered != "content-length":
                headers = [(key, existing) for key, existing in headers if key != lowered.encode()]
                headers.append((lowered.encode(), value.encode("latin-1", errors="replace")))
            elif lowered != "content-length":
                params.append((name, value))
        if content and not any(key == b"content-type" for key, _ in headers):
            headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(content)).encode()))
        new_scope: dict[str, Any] = {**scope, "method": method, "headers": headers, "query_string": urlencode(params).encode()}
        return new_scope, content


async def _send_problem(send: Any, path: str, detail: str) -> None:
    body = json.dumps(
        {"type": PROBLEM_TYPE_PREFIX + "bad-request", "title": "Bad request", "status": 400, "detail": detail, "instance": path}
    ).encode()
    await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
