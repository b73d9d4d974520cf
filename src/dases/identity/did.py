"""did:web identifiers and DID documents (W3C DID Core, did:web method).

`did:web:host%3Aport:participants:alice` resolves to
`https://host:port/participants/alice/did.json`; a DID with no path resolves to
`/.well-known/did.json`. Plain HTTP is used only for hosts the node allows (loopback by default).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit

DID_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"]
_SEGMENT = re.compile(r"^[A-Za-z0-9._~%-]+$")
_AUTHORITY = re.compile(r"^[A-Za-z0-9._~%\[\]-]+$")
_HOST_PORT = re.compile(
    r"^(?:(?P<name>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?$"
)


class InvalidDid(ValueError):
    """The string is not a did:web identifier DASES can resolve."""


def did_web_for(base_url: str, *path: str) -> str:
    """The did:web identifier of a resource under `base_url` (host, optional port, path)."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        raise InvalidDid(f"{base_url!r} has no host")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    authority = quote(f"{host}:{parts.port}" if parts.port else host, safe="[]")
    segments = [segment for segment in parts.path.split("/") if segment] + list(path)
    return ":".join(["did", "web", authority, *segments])


def did_web_document_url(did: str, allow_http_hosts: list[str] | tuple[str, ...] = ()) -> str:
    """Where did:web resolution finds the DID document of `did`."""
    if not did.startswith("did:web:"):
        raise InvalidDid(f"{did!r} is not a did:web identifier")
    method_specific = did[len("did:web:") :]
    if "#" in method_specific or "?" in method_specific or not method_specific:
        raise InvalidDid(f"{did!r} is not a bare did:web identifier")
    authority_encoded, *segments = method_specific.split(":")
    if not _AUTHORITY.match(authority_encoded) or not all(_SEGMENT.match(part) for part in segments):
        raise InvalidDid(f"{did!r} has characters did:web does not allow")
    authority = unquote(authority_encoded)
    host, port = _split_authority(authority, did)
    host_as_listed = f"[{host}]" if ":" in host else host
    scheme = "http" if host_as_listed in allow_http_hosts else "https"
    decoded = [unquote(segment) for segment in segments]
    if any(part in ("", ".", "..") or "/" in part or "\\" in part for part in decoded):
        raise InvalidDid(f"{did!r} has a path segment that is empty, a dot segment or contains a slash")
    path = "/" + "/".join(decoded) + "/did.json" if decoded else "/.well-known/did.json"
    return f"{scheme}://{host_as_listed}{f':{port}' if port is not None else ''}{path}"


def _split_authority(authority: str, did: str) -> tuple[str, int | None]:
    """Host and port of a decoded did:web authority, refusing anything but a plain host[:port]."""
    match = _HOST_PORT.match(authority)
    if match is None:
        raise InvalidDid(f"{did!r} does not name a valid host[:port]")
    host = match.group("name") or match.group("ipv6")
    port_text = match.group("port")
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        raise InvalidDid(f"{did!r} names port {port_text}, outside 1-65535")
    return host, port


def build_did_document(did: str, keys: list[tuple[str, dict[str, str]]], authentication_kids: set[str]) -> dict[str, Any]:
    """A DID document listing every key (`assertionMethod`) and the active ones (`authentication`).

    Retired keys stay listed for assertions, so credentials and agreements they signed still
    verify, but they no longer authenticate new calls.
    """
    methods = [
        {"id": f"{did}#{kid}", "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk}
        for kid, jwk in keys
    ]
    return {
        "@context": DID_CONTEXT,
        "id": did,
        "verificationMethod": methods,
        "authentication": [f"{did}#{kid}" for kid, _ in keys if kid in authentication_kids],
        "assertionMethod": [f"{did}#{kid}" for kid, _ in keys],
    }


def find_verification_key(document: dict[str, Any], did: str, kid_url: str, relationship: str) -> dict[str, Any] | None:
    """The public JWK `kid_url` names, if the document authorises it for `relationship`."""
    if document.get("id") != did:
        return None
    allowed = {entry if isinstance(entry, str) else entry.get("id") for entry in document.get(relationship, []) if isinstance(entry, (str, dict))}
    if kid_url not in allowed:
        return None
    candidates = list(document.get("verificationMethod", [])) + [entry for entry in document.get(relationship, []) if isinstance(entry, dict)]
    for method in candidates:
        if isinstance(method, dict) and method.get("id") == kid_url and method.get("controller", did) == did:
            jwk = method.get("publicKeyJwk")
            return jwk if isinstance(jwk, dict) else None
    return None
