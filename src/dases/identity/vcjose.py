"""Verifiable Credentials secured with JOSE (VC-JOSE-COSE, `application/vc+jwt`).

The JWS payload is the credential itself. Verification checks, in order: the JWS shape, the
VC 2.0 data model, the issuer's key (an `assertionMethod` of the issuer DID, so credentials
signed before a key rotation still verify), the signature, the validity period and, for a
`BitstringStatusListEntry`, the issuer's status list fetched over HTTP.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx

from dases.identity import jws, statuslist
from dases.identity.keys import Signer
from dases.identity.resolver import DidResolver, ResolutionError
from dases.identity.vcdm import Violation, parse_datetime, validate_credential

VC_MEDIA_TYPE = "application/vc+jwt"
MAX_STATUS_LIST_BYTES = 1024 * 1024


class CredentialFault(StrEnum):
    MALFORMED = "malformed_credential"
    DATA_MODEL = "invalid_data_model"
    UNRESOLVABLE_ISSUER = "unresolvable_issuer"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    STATUS_UNAVAILABLE = "status_unavailable"


@dataclass
class CredentialCheck:
    """The outcome of verifying one credential; `fault` is None when it verified."""

    credential: dict[str, Any] | None
    fault: CredentialFault | None = None
    detail: str = "the credential verified"
    violations: list[Violation] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.fault is None


def sign_credential(credential: dict[str, Any], signer: Signer) -> str:
    return jws.sign({"typ": "vc+jwt", "cty": "vc"}, credential, signer)


def issuer_id(credential: dict[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _fail(fault: CredentialFault, detail: str, credential: dict[str, Any] | None = None, violations: list[Violation] | None = None) -> CredentialCheck:
    return CredentialCheck(credential, fault, detail, violations or [])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def verify_credential(
    token: str,
    *,
    resolver: DidResolver,
    status_lists: StatusListClient | None,
    now: datetime | None = None,
) -> CredentialCheck:
    """Verify a `vc+jwt`; `status_lists=None` skips the status check (used for status lists)."""
    try:
        parsed = jws.parse(token.strip())
    except jws.MalformedJws as error:
        return _fail(CredentialFault.MALFORMED, str(error))
    header, credential = parsed.header, parsed.payload
    if header.get("typ") not in ("vc+jwt", "application/vc+jwt") or header.get("cty") not in (None, "vc", "application/vc"):
        return _fail(CredentialFault.MALFORMED, "the JWS header must say typ vc+jwt (and cty vc when present)")
    violations = validate_credential(credential)
    if violations:
        summary = "; ".join(f"{v.path or '(root)'}: {v.message}" for v in violations[:5])
        return _fail(CredentialFault.DATA_MODEL, f"the credential breaks the VC 2.0 data model: {summary}", credential, violations)

    issuer = issuer_id(credential) or ""
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith(issuer + "#"):
        return _fail(CredentialFault.BAD_SIGNATURE, "the JWS kid must name a key of the credential's issuer", credential)
    try:
        jwk = resolver.verification_key(issuer, kid, "assertionMethod")
    except ResolutionError as error:
        return _fail(CredentialFault.UNRESOLVABLE_ISSUER, f"the issuer DID cannot be resolved: {error}", credential)
    if jwk is None:
        return _fail(CredentialFault.BAD_SIGNATURE, f"{kid} is not an assertion key of {issuer}", credential)
    if not jws.signature_is_valid(parsed, jwk):
        return _fail(CredentialFault.BAD_SIGNATURE, f"the credential signature does not verify with {kid}", credential)

    moment = now or datetime.now(UTC)
    valid_from = parse_datetime(credential["validFrom"]) if "validFrom" in credential else None
    valid_until = parse_datetime(credential["validUntil"]) if "validUntil" in credential else None
    if valid_from and moment < valid_from:
        return _fail(CredentialFault.NOT_YET_VALID, f"the credential is valid only from {credential['validFrom']}", credential)
    if valid_until and moment > valid_until:
        return _fail(CredentialFault.EXPIRED, f"the credential expired at {credential['validUntil']}", credential)

    if status_lists is not None:
        for entry in _as_list(credential.get("credentialStatus", [])):
            if isinstance(entry, dict) and entry.get("type") == "BitstringStatusListEntry":
                fault = status_lists.check(entry, issuer)
                if fault is not None:
                    return _fail(fault[0], fault[1], credential)
    return CredentialCheck(credential)


@dataclass
class _CachedList:
    bits: bytes
    purpose: str
    fetched_at: float


class StatusListClient:
    """Fetches, verifies and briefly caches status list credentials for a verifier."""

    def __init__(self, http: httpx.Client, resolver: DidResolver, *, ttl: float, allow_http_hosts: list[str] | tuple[str, ...] = ()) -> None:
        self._http = http
        self._resolver = resolver
        self._ttl = ttl
        self._allow_http_hosts = tuple(allow_http_hosts)
        self._cache: dict[str, _CachedList] = {}
        self._lock = threading.Lock()

    def check(self, entry: dict[str, Any], issuer: str) -> tuple[CredentialFault, str] | None:
        """None when the entry's bit is clear; otherwise the fault and why."""
        purpose = entry.get("statusPurpose")
        url = entry.get("statusListCredential")
        index_text = entry.get("statusListIndex")
        if purpose not in ("revocation", "suspension") or not isinstance(url, str) or not isinstance(index_text, str) or not index_text.isdigit():
            return CredentialFault.STATUS_UNAVAILABLE, "the credentialStatus entry lacks a purpose, list URL or numeric index"
        try:
            cached = self._list(url, issuer, purpose)
            revoked = statuslist.is_set(cached.bits, int(index_text))
        except (StatusListUnavailable, statuslist.StatusListError) as error:
            return CredentialFault.STATUS_UNAVAILABLE, f"the status list {url} cannot be used: {error}"
        if revoked:
            fault = CredentialFault.REVOKED if purpose == "revocation" else CredentialFault.SUSPENDED
            return fault, f"the issuer has marked this credential {'revoked' if purpose == 'revocation' else 'suspended'} (status list {url}, index {index_text})"
        return None

    def _list(self, url: str, issuer: str, purpose: str) -> _CachedList:
        key = f"{url} {purpose}"
        with self._lock:
            cached = self._cache.get(key)
        if cached and time.monotonic() - cached.fetched_at < self._ttl:
            return cached
        fetched = self._fetch(url, issuer, purpose)
        with self._lock:
            self._cache[key] = fetched
        return fetched

    def _fetch(self, url: str, issuer: str, purpose: str) -> _CachedList:
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        if parts.scheme != "https" and not (parts.scheme == "http" and host in self._allow_http_hosts):
            raise StatusListUnavailable("status lists are fetched over https only (plain http for allowed loopback hosts)")
        try:
            response = self._http.get(url, headers={"Accept": VC_MEDIA_TYPE})
        except httpx.HTTPError as error:
            raise StatusListUnavailable(f"fetch failed ({type(error).__name__})") from error
        if response.status_code != 200 or len(response.content) > MAX_STATUS_LIST_BYTES:
            raise StatusListUnavailable(f"the server answered {response.status_code}")
        check = verify_credential(response.text, resolver=self._resolver, status_lists=None)
        if not check.verified or check.credential is None:
            raise StatusListUnavailable(f"the status list credential does not verify: {check.detail}")
        listed = check.credential
        if issuer_id(listed) != issuer:
            raise StatusListUnavailable("the status list is not issued by the credential's issuer")
        if "BitstringStatusListCredential" not in _as_list(listed.get("type")):
            raise StatusListUnavailable("the status list credential is not a BitstringStatusListCredential")
        subject = listed.get("credentialSubject")
        if not isinstance(subject, dict) or subject.get("statusPurpose") != purpose:
            raise StatusListUnavailable(f"the status list does not carry the {purpose} purpose")
        return _CachedList(statuslist.decode(subject.get("encodedList", "")), purpose, time.monotonic())


class StatusListUnavailable(Exception):
    """The status list could not be fetched or trusted."""
