"""Who is calling the LRS, in which store and which xAPI version: one FastAPI dependency.

Every xAPI route (but About) needs `X-Experience-API-Version` and HTTP Basic credentials. A key
grants scopes; a route names the scope it needs with `require(scope)`. The store is the hosted
participant named in the path (`/participants/{slug}/xapi`) or `standalone` (`/xapi`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select

from dases.db import utcnow
from dases.errors import BadRequest, FieldError, Forbidden, Unauthorized
from dases.lrs.models import Credential
from dases.node import NodeDep

STANDALONE = "standalone"
VERSION_HEADER = "X-Experience-API-Version"
#: Scopes a key can hold; `all` holds every one.
SCOPES = ("statements/write", "statements/read", "state", "profile", "define", "all")
_VERSIONS = {"1.0.0": "1.0.3", "1.0.1": "1.0.3", "1.0.2": "1.0.3", "1.0.3": "1.0.3", "2.0.0": "2.0.0"}


def negotiate_version(header: str | None) -> str:
    """The version this request is served under: `1.0.3` for any 1.0.x, `2.0.0` for 2.0.0."""
    if header is None:
        raise BadRequest(
            f"the {VERSION_HEADER} header is required",
            errors=[FieldError(VERSION_HEADER, "required", "send 1.0.3 or 2.0.0")],
        )
    version = _VERSIONS.get(header.strip())
    if version is None:
        raise BadRequest(
            f"xAPI version {header!r} is not supported",
            errors=[FieldError(VERSION_HEADER, "supported-version", "this LRS speaks 1.0.0 to 1.0.3 and 2.0.0")],
        )
    return version


@dataclass(frozen=True)
class LrsCaller:
    store: str
    version: str
    key: str
    scopes: frozenset[str]

    @property
    def authority(self) -> dict[str, Any]:
        """The agent statements written with this key are stored under."""
        return {"objectType": "Agent", "name": self.key, "account": {"homePage": "urn:dases:lrs", "name": self.key}}

    def can(self, scope: str) -> bool:
        return "all" in self.scopes or scope in self.scopes or (scope.endswith("/read") and "all/read" in self.scopes)


def _basic(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization")
    if not header or not header.lower().startswith("basic "):
        raise Unauthorized(
            "the LRS needs HTTP Basic credentials", reason="missing_credentials", headers={"WWW-Authenticate": 'Basic realm="xAPI"'}
        )
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, sep, password = "", "", ""
    if not sep:
        raise Unauthorized("the Basic credentials are not base64 of user:password", reason="bad_credentials", headers={"WWW-Authenticate": 'Basic realm="xAPI"'})
    return user, password


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def store_of(request: Request) -> str:
    return request.path_params.get("slug") or STANDALONE


def lrs_caller(request: Request, node: NodeDep) -> LrsCaller:
    """Authenticate the key, check the store exists and fix the version; the order of the checks
    follows the xAPI conformance suite: credentials first, then the version header."""
    store = store_of(request)
    user, password = _basic(request)
    scopes = _check_credentials(node, store, user, password)
    version = negotiate_version(request.headers.get(VERSION_HEADER))
    request.state.xapi_version = version
    return LrsCaller(store=store, version=version, key=user, scopes=scopes)


def _check_credentials(node: Any, store: str, user: str, password: str) -> frozenset[str]:
    configured = node.settings.lrs_basic_auth
    if configured is not None and store == STANDALONE:
        expected_user, _, expected_password = configured.get_secret_value().partition(":")
        if hmac.compare_digest(user.encode(), expected_user.encode()) and hmac.compare_digest(password.encode(), expected_password.encode()):
            return frozenset({"all"})
    with node.db.transaction() as session:
        row = session.execute(
            select(Credential.store, Credential.secret_sha256, Credential.scopes, Credential.revoked_at).where(Credential.key == user)
        ).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_sha256, hash_secret(password)):
        raise Unauthorized("unknown LRS key or wrong secret", reason="bad_credentials", headers={"WWW-Authenticate": 'Basic realm="xAPI"'})
    if row.store != store:
        raise Forbidden("this key belongs to another store")
    return frozenset(row.scopes.split())


CallerDep = Annotated[LrsCaller, Depends(lrs_caller)]


def require(scope: str) -> Any:
    """A dependency that hands over the caller if its key holds `scope`, else 403."""

    def check(caller: CallerDep) -> LrsCaller:
        if not caller.can(scope):
            raise Forbidden(f"this key lacks the '{scope}' scope")
        return caller

    return Depends(check)


def create_credential(session: Any, store: str, name: str, scopes: list[str]) -> tuple[str, str]:
    """A new key and its secret; the secret is shown once and only its hash is kept."""
    import secrets

    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise BadRequest(f"unknown scope(s): {', '.join(unknown)}", errors=[FieldError("scopes", "known-scope", f"one of {', '.join(SCOPES)}")])
    if not scopes:
        raise BadRequest("a key needs at least one scope", errors=[FieldError("scopes", "required", f"one of {', '.join(SCOPES)}")])
    key = "lrs_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    session.add(Credential(key=key, store=store, name=name, secret_sha256=hash_secret(secret), scopes=" ".join(scopes), created_at=utcnow()))
    return key, secret
