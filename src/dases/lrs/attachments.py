"""xAPI statement attachments over multipart/mixed, and signed statements (xAPI 1.0.3 and 2.0).

A POST/PUT of statements may be `multipart/mixed` (RFC 2046): the first part holds the
statement(s) as `application/json`, every further part the raw octets of one attachment, found
again by the SHA-2 hash declared in its `X-Experience-API-Hash` header (the specification allows
matching in no other way). A statement is *signed* when one of its attachments has the signature
usageType: that part is a JWS whose payload is the statement as it was before the signature was
added, and the LRS must refuse (400) a signature that is malformed.

Everything here is a pure function of bytes and dicts; bad input only ever raises `BadRequest`,
so a client learns which rule it broke instead of meeting a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from dases.errors import BadRequest, FieldError

SIGNATURE_USAGE_TYPE = "http://adlnet.gov/expapi/attachments/signature"
SIGNATURE_CONTENT_TYPE = "application/octet-stream"
STATEMENTS_CONTENT_TYPE = "application/json"

# The hex length of a declared hash tells which SHA-2 the client used (the spec allows 256/384/512;
# statement validation also accepts 224).
_DIGESTS = {56: "sha224", 64: "sha256", 96: "sha384", 128: "sha512"}
_HEX = re.compile(r"[0-9a-f]+")
_JWS_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_PARAMETER = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_LWSP = b" \t"


@dataclass(frozen=True)
class Part:
    """One attachment part: its declared type, the hash we computed over its octets (SHA-256
    unless the client declared a SHA-224/384/512 hash; lowercase hex), the octets, and its
    headers (names lowercased)."""

    content_type: str
    sha2: str
    content: bytes
    headers: dict[str, str]


def _bad(field: str, rule: str, message: str) -> BadRequest:
    return BadRequest(message, errors=[FieldError(field, rule, message)])


# -- reading multipart/mixed ---------------------------------------------------------------------


def parse_multipart(body: bytes, content_type_header: str) -> tuple[object, list[Part]]:
    """The parsed statement JSON of the first part, and every attachment part after it.

    Each attachment part must say `Content-Transfer-Encoding: binary` and carry an
    `X-Experience-API-Hash` equal to the hash of its octets; a part repeated with the same hash is
    kept once (the spec asks clients to send shared data once, but duplicates are harmless)."""
    boundary = _boundary(content_type_header)
    raw_parts, eol = _split(body, boundary)
    if not raw_parts:
        raise _bad("body", "statement-part", "the multipart body has no part; the first must hold the statements")
    sections = [_headers_and_content(raw, eol, index) for index, raw in enumerate(raw_parts)]
    payload = _statements_part(*sections[0])
    parts: dict[str, Part] = {}
    for index, (headers, content) in enumerate(sections[1:], start=1):
        part = _attachment_part(headers, content, index)
        parts.setdefault(part.sha2, part)
    return payload, list(parts.values())


def _media_type(value: object) -> str:
    """`type/subtype` of a Content-Type value, lowercased, without parameters ("" if none)."""
    return value.split(";", 1)[0].strip().lower() if isinstance(value, str) else ""


def _parameters(content_type: str) -> dict[str, str]:
    """The parameters of a Content-Type header; quoted values may hold `;` and `\\` escapes."""
    _, _, rest = content_type.partition(";")
    found: dict[str, str] = {}
    for match in _PARAMETER.finditer(";" + rest):
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found[match.group(1).lower()] = value
    return found


def _boundary(content_type_header: str) -> str:
    """The boundary parameter, which a multipart body cannot be split without."""
    if _media_type(content_type_header) != "multipart/mixed":
        raise _bad("Content-Type", "media-type", f"expected multipart/mixed, not {content_type_header!r}")
    boundary = _parameters(content_type_header).get("boundary", "")
    if not boundary:
        raise _bad("Content-Type", "boundary", "multipart/mixed needs a boundary parameter")
    if not boundary.isascii() or not boundary.isprintable():
        raise _bad("Content-Type", "boundary", "the boundary must be printable ASCII (RFC 2046)")
    return boundary


def _split(body: bytes, boundary: str) -> tuple[list[bytes], bytes]:
    """The raw parts (headers and content) between the boundaries, and the line ending in use.

    RFC 2046 has CRLF before every boundary but the first when there is no preamble; a body
    whose first boundary line ends in a bare LF is read with LF throughout (tolerated, not sent
    by us). The closing boundary is required: without it the body may have been cut short."""
    dashed = b"--" + boundary.encode("ascii")
    position = _first_boundary(body, dashed) + len(dashed)
    eol = _line_ending(body, position)
    delimiter = eol + dashed
    raw_parts: list[bytes] = []
    while not body.startswith(b"--", position):
        start = _after_boundary_line(body, position, eol)
        end = body.find(delimiter, start)
        if end < 0:
            raise _bad("body", "closing-boundary", f"the body does not end with the closing boundary --{boundary}--")
        raw_parts.append(body[start:end])
        position = end + len(delimiter)
    return raw_parts, eol


def _first_boundary(body: bytes, dashed: bytes) -> int:
    if body.startswith(dashed):
        return 0
    for eol in (b"\r\n", b"\n"):
        found = body.find(eol + dashed)
        if found >= 0:
            return found + len(eol)
    raise _bad("body", "boundary", "the boundary of the Content-Type header does not occur in the body")


def _line_ending(body: bytes, position: int) -> bytes:
    rest = body[position:].lstrip(_LWSP)
    if rest.startswith(b"\r\n"):
        return b"\r\n"
    if rest.startswith(b"\n"):
        return b"\n"
    if rest.startswith(b"--"):
        return b"\r\n"
    raise _bad("body", "boundary-line", "a boundary line must end right after the boundary")


def _after_boundary_line(body: bytes, position: int, eol: bytes) -> int:
    """Where the part starts: past the boundary's optional padding and its line ending."""
    while position < len(body) and body[position] in _LWSP:
        position += 1
    if not body.startswith(eol, position):
        raise _bad("body", "boundary-line", "a boundary line must end right after the boundary")
    return position + len(eol)


def _headers_and_content(raw: bytes, eol: bytes, index: int) -> tuple[dict[str, str], bytes]:
    if raw.startswith(eol):
        return {}, raw[len(eol) :]
    end = raw.find(eol + eol)
    if end < 0:
        raise _bad(f"part[{index}]", "headers", f"part {index} has no empty line ending its headers")
    lines = raw[:end].decode("latin-1").split(eol.decode("ascii"))
    return _parse_headers(lines, index), raw[end + 2 * len(eol) :]


def _parse_headers(lines: list[str], index: int) -> dict[str, str]:
    """Header names lowercased; folded lines joined; a header given twice is refused, since the
    two values could disagree on the hash or encoding."""
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        else:
            unfolded.append(line)
    headers: dict[str, str] = {}
    for line in unfolded:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise _bad(f"part[{index}]", "headers", f"part {index} has a malformed header line {line[:80]!r}")
        key = name.lower()
        if key in headers:
            raise _bad(f"part[{index}].{name}", "single-header", f"part {index} has the header {name} twice")
        headers[key] = value.strip()
    return headers


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json(content: bytes) -> object:
    """json.loads that refuses NaN/Infinity and turns every failure (deep nesting included) into
    ValueError."""
    try:
        return json.loads(content, parse_constant=_refuse_constant)
    except RecursionError as error:
        raise ValueError("the JSON is nested too deeply") from error


def _statements_part(headers: dict[str, str], content: bytes) -> object:
    """The first part: the spec requires it to be the statements, typed application/json."""
    if _media_type(headers.get("content-type")) != STATEMENTS_CONTENT_TYPE:
        found = headers.get("content-type", "no Content-Type")
        raise _bad("part[0].Content-Type", "statement-part", f"the first part must be application/json, not {found}")
    try:
        return _load_json(content)
    except ValueError as error:
        raise _bad("part[0]", "json", f"the first part is not valid JSON: {error}") from error


def _attachment_part(headers: dict[str, str], content: bytes, index: int) -> Part:
    encoding = headers.get("content-transfer-encoding")
    if encoding is None:
        raise _bad(f"part[{index}].Content-Transfer-Encoding", "required", f"part {index} lacks Content-Transfer-Encoding: binary")
    if encoding.lower() != "binary":
        raise _bad(f"part[{index}].Content-Transfer-Encoding", "binary", f"part {index} has Content-Transfer-Encoding {encoding!r}, not binary")
    declared = headers.get("x-experience-api-hash")
    if declared is None:
        raise _bad(f"part[{index}].X-Experience-API-Hash", "required", f"part {index} lacks the X-Experience-API-Hash header")
    declared = declared.lower()
    algorithm = _DIGESTS.get(len(declared)) if _HEX.fullmatch(declared) else None
    if algorithm is None:
        raise _bad(f"part[{index}].X-Experience-API-Hash", "sha2-hex", f"part {index} declares {declared[:140]!r}, not a hex SHA-2 digest")
    computed = hashlib.new(algorithm, content).hexdigest()
    if computed != declared:
        raise _bad(
            f"part[{index}].X-Experience-API-Hash",
            "hash-mismatch",
            f"part {index} declares hash {declared} but its content hashes to {computed}",
        )
    content_type = headers.get("content-type") or SIGNATURE_CONTENT_TYPE
    return Part(content_type=content_type, sha2=computed, content=content, headers=headers)


# -- matching parts to attachments ---------------------------------------------------------------


def _attachments(statements: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, attachment) for the statements and their SubStatements, which may carry attachments
    too. Shapes that are not objects are skipped: refusing them is statement validation's job."""
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            continue
        holders = [(f"statements[{index}]", statement)]
        target = statement.get("object")
        if isinstance(target, dict) and target.get("objectType") == "SubStatement":
            holders.append((f"statements[{index}].object", target))
        for path, holder in holders:
            listed = holder.get("attachments")
            for position, attachment in enumerate(listed if isinstance(listed, list) else []):
                if isinstance(attachment, dict):
                    yield f"{path}.attachments[{position}]", attachment


def check_attachments(statements: list[dict[str, Any]], parts: list[Part]) -> dict[str, Part]:
    """sha2 (as the statements spell it) -> the part holding that attachment's octets.

    Every attachment without a fileUrl needs a part with its hash, and every part must be some
    attachment's: an extra part is data the LRS could never hand back, so the spec has it refused.
    A plain-JSON request passes `parts=[]`, which leaves fileUrl as the only way to attach."""
    by_hash = {part.sha2: part for part in parts}
    found: dict[str, Part] = {}
    used: set[str] = set()
    for path, attachment in _attachments(statements):
        sha2 = attachment.get("sha2")
        if not isinstance(sha2, str):
            continue
        part = by_hash.get(sha2.lower())
        if part is not None:
            found[sha2] = part
            used.add(part.sha2)
        elif not attachment.get("fileUrl"):
            raise _bad(f"{path}.sha2", "attachment-part", f"{path} has no fileUrl and no multipart part with hash {sha2}")
    for index, part in enumerate(parts, start=1):
        if part.sha2 not in used:
            raise _bad(f"part[{index}]", "unreferenced-part", f"the part with hash {part.sha2} is not an attachment of any statement")
    return found


# -- signed statements ---------------------------------------------------------------------------


def verify_signatures(statements: list[dict[str, Any]], parts_by_sha2: dict[str, Part], version: str) -> None:
    """Refuse (400) any statement whose signature attachment is malformed (xAPI Data 2.6).

    The rules are the same in 1.0.3 and 2.0 (both texts carry the same signature and comparison
    requirements), so `version` only documents which one the caller speaks. Only top-level
    statements are signed: a signature covers the whole statement, SubStatement included."""
    del version
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            continue
        listed = statement.get("attachments")
        for position, attachment in enumerate(listed if isinstance(listed, list) else []):
            if isinstance(attachment, dict) and attachment.get("usageType") == SIGNATURE_USAGE_TYPE:
                _verify_signature(statement, attachment, parts_by_sha2, f"statements[{index}].attachments[{position}]")


def _verify_signature(statement: dict[str, Any], attachment: dict[str, Any], parts: dict[str, Part], path: str) -> None:
    if _media_type(attachment.get("contentType")) != SIGNATURE_CONTENT_TYPE:
        raise _bad(f"{path}.contentType", "signature-content-type", f"a signature attachment must be {SIGNATURE_CONTENT_TYPE}")
    sha2 = attachment.get("sha2")
    part = (parts.get(sha2) or parts.get(sha2.lower())) if isinstance(sha2, str) else None
    if part is None:
        raise _bad(path, "signature-part", "the signature attachment must be sent as a multipart part")
    segments = _compact_segments(part.content, path)
    header = _json_segment(segments[0], "header", path)
    if not isinstance(header, dict):
        raise _bad(f"{path}.header", "jws-header", "the JWS header must be a JSON object")
    algorithm = header.get("alg")
    if algorithm not in _JWS_HASHES:
        raise _bad(f"{path}.alg", "signature-algorithm", f"the JWS algorithm must be RS256, RS384 or RS512, not {algorithm!r}")
    signature = _base64url(segments[2])
    if not signature:
        raise _bad(f"{path}.signature", "jws-signature", "the JWS has an empty signature")
    if "x5c" in header:
        signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
        _verify_with_certificate(header["x5c"], _JWS_HASHES[algorithm](), signing_input, signature, path)
    payload = _json_segment(segments[1], "payload", path)
    if not isinstance(payload, dict):
        raise _bad(f"{path}.payload", "signature-payload", "the JWS payload must be a statement object")
    if not _equivalent(payload, statement):
        raise _bad(f"{path}.payload", "signature-mismatch", "the signed statement differs from the statement sent")


def _compact_segments(content: bytes, path: str) -> list[str]:
    """header.payload.signature of a JWS compact serialisation, the form the spec asks for
    (the JSON serialisation is discouraged by it, and refused here)."""
    try:
        token = content.decode("ascii").strip()
    except UnicodeDecodeError as error:
        raise _bad(path, "jws-compact", "the signature part is not a JWS compact serialisation (not ASCII)") from error
    segments = token.split(".")
    if len(segments) != 3 or not all(_BASE64URL.fullmatch(segment.rstrip("=")) for segment in segments):
        raise _bad(path, "jws-compact", "the signature part is not a JWS compact serialisation (header.payload.signature)")
    return segments


def _base64url(segment: str) -> bytes:
    stripped = segment.rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def _json_segment(segment: str, name: str, path: str) -> object:
    try:
        return _load_json(_base64url(segment))
    except (ValueError, binascii.Error) as error:
        raise _bad(f"{path}.{name}", f"jws-{name}", f"the JWS {name} is not valid JSON: {error}") from error


def _verify_with_certificate(chain: object, digest: hashes.HashAlgorithm, signing_input: bytes, signature: bytes, path: str) -> None:
    """Check the signature against the first x5c certificate, as the spec asks; this catches
    mistakes, it does not say who signed (trusting the chain is outside the spec)."""
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise _bad(f"{path}.x5c", "jws-x5c", "x5c must be a non-empty array of base64 DER certificates")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        key = certificate.public_key()
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as error:
        raise _bad(f"{path}.x5c", "jws-x5c", f"the first x5c certificate cannot be read: {error}") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise _bad(f"{path}.x5c", "jws-x5c", "the x5c certificate does not hold an RSA key, as RS256/384/512 need")
    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), digest)
    except InvalidSignature as error:
        raise _bad(f"{path}.signature", "signature-invalid", "the JWS signature does not verify with its x5c certificate") from error


# -- statement comparison (xAPI Data 2.3.1, Statement Comparison Requirements) --------------------
#
# Differences the LRS itself could have caused are ignored: id/timestamp assignment, authority,
# stored, version, attachments (not part of the statement), Activity Definitions and verb display
# (not part of it either), timestamp time zones, Group member order, e-mail domain case, and
# Duration precision beyond 0.01 s. Everything else must match exactly.


def _equivalent(original: dict[str, Any], received: dict[str, Any]) -> bool:
    """Whether the signed statement and the one sent are logically the same; absurdly deep
    nesting counts as a difference rather than a crash."""
    try:
        left, right = _canonical_statement(original), _canonical_statement(received)
        for key in ("id", "timestamp"):
            if key not in left or key not in right:
                left.pop(key, None)
                right.pop(key, None)
        return _same(left, right)
    except RecursionError:
        return False


def _same(left: object, right: object) -> bool:
    """JSON equality: 1 and 1.0 are the same number, but true is not 1 (Python's == says so)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict):
        return isinstance(right, dict) and left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right) and all(map(_same, left, right))
    return left == right


def _canonical_statement(statement: dict[str, Any]) -> dict[str, Any]:
    ignored = {"authority", "stored", "version", "attachments"}
    result: dict[str, Any] = {key: value for key, value in statement.items() if key not in ignored}
    if isinstance(result.get("id"), str):
        result["id"] = result["id"].lower()
    if "timestamp" in result:
        result["timestamp"] = _instant(result["timestamp"])
    if "actor" in result:
        result["actor"] = _canonical_agent(result["actor"])
    if isinstance(result.get("verb"), dict):
        result["verb"] = {key: value for key, value in result["verb"].items() if key != "display"}
    if "object" in result:
        result["object"] = _canonical_object(result["object"])
    if isinstance(result.get("result"), dict) and "duration" in result["result"]:
        result["result"] = {**result["result"], "duration": _duration(result["result"]["duration"])}
    if isinstance(result.get("context"), dict):
        result["context"] = _canonical_context(result["context"])
    return result


def _canonical_object(target: object) -> object:
    if not isinstance(target, dict):
        return target
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        return _canonical_activity(target)
    if kind in ("Agent", "Group"):
        return _canonical_agent(target)
    if kind == "StatementRef":
        return _lower_id(target)
    if kind == "SubStatement":
        return _canonical_statement(target)
    return target


def _canonical_activity(activity: object) -> object:
    if not isinstance(activity, dict):
        return activity
    kept = {key: value for key, value in activity.items() if key != "definition"}
    kept.setdefault("objectType", "Activity")
    return kept


def _canonical_agent(agent: object) -> object:
    if not isinstance(agent, dict):
        return agent
    result = dict(agent)
    result.setdefault("objectType", "Agent")
    mbox = result.get("mbox")
    if isinstance(mbox, str) and "@" in mbox:
        local, _, domain = mbox.rpartition("@")
        result["mbox"] = f"{local}@{domain.lower()}"
    members = result.get("member")
    if isinstance(members, list):
        canonical = [_canonical_agent(member) for member in members]
        result["member"] = sorted(canonical, key=lambda member: json.dumps(member, sort_keys=True))
    return result


def _canonical_context(context: dict[str, Any]) -> dict[str, Any]:
    result = dict(context)
    if isinstance(result.get("registration"), str):
        result["registration"] = result["registration"].lower()
    for key in ("instructor", "team"):
        if key in result:
            result[key] = _canonical_agent(result[key])
    if isinstance(result.get("statement"), dict):
        result["statement"] = _lower_id(result["statement"])
    if isinstance(result.get("contextActivities"), dict):
        result["contextActivities"] = {
            key: [_canonical_activity(item) for item in (value if isinstance(value, list) else [value])]
            for key, value in result["contextActivities"].items()
        }
    for key, member in (("contextAgents", "agent"), ("contextGroups", "group")):
        if isinstance(result.get(key), list):
            result[key] = [
                {**item, member: _canonical_agent(item.get(member))} if isinstance(item, dict) and member in item else item
                for item in result[key]
            ]
    return result


def _lower_id(reference: dict[str, Any]) -> dict[str, Any]:
    identifier = reference.get("id")
    return {**reference, "id": identifier.lower()} if isinstance(identifier, str) else reference


def _instant(value: object) -> object:
    """A timestamp as the point in time it names, so a change of time zone is no difference."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if parsed.tzinfo is not None else value


def _duration(value: object) -> object:
    """A Duration with its seconds truncated to 0.01 s, the precision the spec compares at."""
    if not isinstance(value, str):
        return value
    match = re.search(r"(\d+)[.,](\d+)S$", value)
    if match is None:
        return value
    fraction = match.group(2)[:2].rstrip("0")
    seconds = match.group(1) + (f".{fraction}" if fraction else "")
    return f"{value[: match.start()]}{seconds}S"


# -- writing multipart/mixed ---------------------------------------------------------------------


def build_multipart(statement_json: bytes, parts: list[Part]) -> tuple[bytes, str]:
    """The body of GET /statements?attachments=true and its Content-Type header value.

    The statements go first as application/json, then each attachment once (by hash), with the
    headers a client needs to match it; the boundary is random and absent from every part."""
    unique = list({part.sha2: part for part in parts}.values())
    boundary = _fresh_boundary([statement_json, *(part.content for part in unique)])
    dashed = b"--" + boundary.encode("ascii")
    chunks = [dashed, b"\r\nContent-Type: application/json\r\n\r\n", statement_json, b"\r\n"]
    for part in unique:
        headers = (
            f"Content-Type: {_safe_header(part.content_type, SIGNATURE_CONTENT_TYPE)}\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"X-Experience-API-Hash: {_safe_header(part.sha2, '')}\r\n\r\n"
        )
        chunks += [dashed, b"\r\n", headers.encode("ascii"), part.content, b"\r\n"]
    chunks += [dashed, b"--\r\n"]
    return b"".join(chunks), f"multipart/mixed; boundary={boundary}"


def _fresh_boundary(contents: list[bytes]) -> str:
    """Letters and digits only: clients split on the boundary with regular expressions."""
    while True:
        boundary = "xapi" + secrets.token_hex(16)
        if not any(boundary.encode("ascii") in content for content in contents):
            return boundary


def _safe_header(value: str, fallback: str) -> str:
    """A stored value fit for a header line: printable ASCII, or the fallback."""
    return value if value and value.isascii() and value.isprintable() else fallback
