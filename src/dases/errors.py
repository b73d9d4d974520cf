"""One exception hierarchy for the whole node, mapped once to RFC 9457 problem responses.

Services raise these; they never import FastAPI. `install_problem_handlers` turns them (and the
framework's own validation and routing errors) into `application/problem+json` bodies, so a
caller always learns which field broke which rule, and never sees a 500 for bad input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:dases:problem:"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldError:
    """One broken rule on one field of the input."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class DasesError(Exception):
    """Base of every error a DASES service raises on purpose."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.reason = reason
        self.headers = headers or {}

    media_type: str = PROBLEM_MEDIA_TYPE

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The response body; protocol-specific errors (DSP) override it with their own shape."""
        return self.problem(instance)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_PREFIX + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.reason:
            body["reason"] = self.reason
        if self.errors:
            body["errors"] = [error.as_dict() for error in self.errors]
        return body


class InvalidInput(DasesError):
    status, slug, title = 422, "invalid-input", "Invalid input"


class BadRequest(DasesError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(DasesError):
    """The caller did not prove who it is; `reason` says which check failed."""

    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str, *, reason: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": f'DASES-Token error="{reason}"'})
        super().__init__(detail, reason=reason, **kwargs)


class Forbidden(DasesError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(DasesError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DasesError):
    status, slug, title = 409, "conflict", "Conflict"


class UpstreamError(DasesError):
    """Another node or service answered badly; our own input was fine."""

    status, slug, title = 502, "upstream-error", "Upstream error"


class ConfigurationError(DasesError):
    """The node cannot start or act because of its own configuration."""

    status, slug, title = 500, "configuration-error", "Configuration error"


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response of a node carries them."""

    type: str = Field(examples=["urn:dases:problem:invalid-input"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    reason: str | None = Field(default=None, description="Machine-readable cause, e.g. token_expired.")
    errors: list[dict[str, str]] | None = Field(default=None, description="One entry per broken field rule.")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem bodies for the given statuses."""
    return {
        status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": "Problem details (RFC 9457)"}
        for status in statuses
    }


def problem_response(error: DasesError, instance: str | None = None) -> JSONResponse:
    return JSONResponse(error.body(instance), status_code=error.status, media_type=error.media_type, headers=error.headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc]
    return ".".join(parts) if parts else "body"


def field_errors_from_validation(errors: list[dict[str, Any]] | tuple[Any, ...]) -> list[FieldError]:
    return [
        FieldError(field=_location(error.get("loc", ())), rule=str(error.get("type", "invalid")), message=str(error.get("msg", "")))
        for error in errors
    ]


_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error a request can meet to one problem response, in one place."""

    @app.exception_handler(DasesError)
    async def _dases_error(request: Request, error: DasesError) -> JSONResponse:
        if error.status >= 500:
            log.error("%s on %s %s: %s", error.slug, request.method, request.url.path, error.detail)
        return problem_response(error, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        field_errors = field_errors_from_validation(error.errors())
        summary = "; ".join(f"{e.field}: {e.message}" for e in field_errors[:5])
        invalid = InvalidInput(f"The request does not match the schema: {summary}", errors=field_errors)
        return problem_response(invalid, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(error.status_code, ("http-error", "HTTP error"))
        body = {
            "type": PROBLEM_TYPE_PREFIX + slug,
            "title": title,
            "status": error.status_code,
            "detail": str(error.detail),
            "instance": request.url.path,
        }
        return JSONResponse(body, status_code=error.status_code, media_type=PROBLEM_MEDIA_TYPE, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        if _storage_busy(error):
            log.warning("storage busy on %s %s: %s", request.method, request.url.path, error)
            busy = StorageBusy("The node's storage is busy with other writes; retry in a moment.")
            response = problem_response(busy, request.url.path)
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        internal = DasesError("The node failed to handle this request; the error is in its log.")
        return problem_response(internal, request.url.path)


class StorageBusy(DasesError):
    """SQLite's single writer stayed busy longer than the node waits for it: the request did
    nothing and can be sent again."""

    status, slug, title = 503, "storage-busy", "Storage busy"


def _storage_busy(error: BaseException) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)
