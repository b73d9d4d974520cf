"""Statement attachments over multipart/mixed and signed statements, as an xAPI client meets them
(1.0.3 and 2.0): what is accepted, and what is refused with a 400 naming the broken rule."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from dases.errors import BadRequest
from dases.lrs.attachments import (
    SIGNATURE_USAGE_TYPE,
    Part,
    build_multipart,
    check_attachments,
    parse_multipart,
    verify_signatures,
)

BOUNDARY = "-------314159265358979323846"
CONTENT_TYPE = f"multipart/mixed; boundary={BOUNDARY}"
TEXT = b"here is a simple attachment"
TEXT_SHA2 = hashlib.sha256(TEXT).hexdigest()


def statement(*attachments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "7ccd3322-e1a5-411a-a67d-6a735c76f119",
        "actor": {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
        "object": {"id": "http://example.org/activities/quiz-1", "definition": {"name": {"en-US": "Quiz 1"}}},
        **extra,
    }
    if attachments:
        body["attachments"] = list(attachments)
    return body


def attachment(content: bytes = TEXT, **extra: Any) -> dict[str, Any]:
    return {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": "text/plain",
        "length": len(content),
        "sha2": hashlib.sha256(content).hexdigest(),
        **extra,
    }


def raw_part(content: bytes, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    return headers, content


def binary_part(content: bytes, content_type: str = "text/plain") -> tuple[dict[str, str], bytes]:
    headers = {
        "Content-Type": content_type,
        "Content-Transfer-Encoding": "binary",
        "X-Experience-API-Hash": hashlib.sha256(content).hexdigest(),
    }
    return headers, content


def multipart(first: object, *parts: tuple[dict[str, str], bytes], eol: str = "\r\n", closed: bool = True) -> bytes:
    """A body as a client would write it, with the statements first as application/json."""
    sections = [({"Content-Type": "application/json"}, json.dumps(first).encode()), *parts]
    body = b""
    for headers, content in sections:
        lines = [f"--{BOUNDARY}", *(f"{name}: {value}" for name, value in headers.items()), "", ""]
        body += eol.join(lines).encode() + content + eol.encode()
    return body + (f"--{BOUNDARY}--{eol}".encode() if closed else b"")


def refusal(call: Any, *args: Any) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        call(*args)
    assert caught.value.status == 400
    assert caught.value.errors, "a refusal names the field and rule"
    return caught.value


def parse_and_check(body: bytes, content_type: str = CONTENT_TYPE) -> dict[str, Part]:
    payload, parts = parse_multipart(body, content_type)
    statements = payload if isinstance(payload, list) else [payload]
    return check_attachments(statements, parts)


# -- multipart/mixed in and out ------------------------------------------------------------------


def test_statement_with_one_attachment_round_trips_through_build_and_parse() -> None:
    sent = statement(attachment())
    part = Part(content_type="text/plain", sha2=TEXT_SHA2, content=TEXT, headers={})

    body, content_type = build_multipart(json.dumps(sent).encode(), [part])
    payload, parts = parse_multipart(body, content_type)

    assert payload == sent
    assert [(p.sha2, p.content, p.content_type) for p in parts] == [(TEXT_SHA2, TEXT, "text/plain")]
    assert parts[0].headers["content-transfer-encoding"] == "binary"
    assert check_attachments([payload], parts) == {TEXT_SHA2: parts[0]}


def test_built_body_has_the_shape_clients_split_on() -> None:
    """`multipart/mixed; boundary=X` exactly, a boundary absent from the content, and each hash
    once in the statement and once in its part's header."""
    sent = json.dumps(statement(attachment())).encode()
    part = Part(content_type="text/plain", sha2=TEXT_SHA2, content=TEXT, headers={})

    body, content_type = build_multipart(sent, [part, part])

    media, boundary = content_type.split("; boundary=")
    assert media == "multipart/mixed" and boundary.isalnum()
    assert boundary.encode() not in sent + TEXT
    assert body.startswith(f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode())
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert body.count(TEXT_SHA2.encode()) == 2
    assert b"Content-Transfer-Encoding: binary\r\n" in body


def test_body_as_the_conformance_suite_signs_it_is_read() -> None:
    """A CRLF before the first boundary, headers without a space, no CRLF after the close."""
    sent = statement(attachment())
    body = (
        f"\r\n--{BOUNDARY}\r\nContent-Type:application/json\r\n\r\n".encode()
        + json.dumps(sent).encode()
        + f"\r\n--{BOUNDARY}\r\nContent-Type:text/plain\r\nContent-Transfer-Encoding:binary\r\n"
        f"X-Experience-API-Hash:{TEXT_SHA2}\r\n\r\n".encode()
        + TEXT
        + f"\r\n--{BOUNDARY}--".encode()
    )
    assert parse_and_check(body) == {TEXT_SHA2: parse_multipart(body, CONTENT_TYPE)[1][0]}


def test_lf_only_line_endings_and_quoted_boundary_are_tolerated() -> None:
    body = multipart(statement(attachment()), binary_part(TEXT), eol="\n")
    assert list(parse_and_check(body, f'multipart/mixed; boundary="{BOUNDARY}"')) == [TEXT_SHA2]


def test_content_keeps_its_own_line_breaks_and_binary_octets() -> None:
    content = bytes(range(256)) + b"\r\n--not-the-boundary\r\n\r\n"
    body = multipart(statement(attachment(content)), binary_part(content, "application/octet-stream"))
    _, parts = parse_multipart(body, CONTENT_TYPE)
    assert parts[0].content == content


def test_batch_without_attachments_is_accepted_as_multipart() -> None:
    batch = [statement(), statement(id="9e13cefd-53d3-4eac-b5ed-2cf6693903bb")]
    payload, parts = parse_multipart(multipart(batch), CONTENT_TYPE)
    assert payload == batch and parts == []


def test_a_sha512_hash_is_matched_with_sha512() -> None:
    digest = hashlib.sha512(TEXT).hexdigest()
    headers = {"Content-Type": "text/plain", "Content-Transfer-Encoding": "binary", "X-Experience-API-Hash": digest}
    body = multipart(statement(attachment(sha2=digest)), raw_part(TEXT, headers))
    assert list(parse_and_check(body)) == [digest]


def test_the_same_attachment_sent_twice_is_kept_once() -> None:
    body = multipart(statement(attachment()), binary_part(TEXT), binary_part(TEXT))
    assert len(parse_multipart(body, CONTENT_TYPE)[1]) == 1


def test_hash_mismatch_is_refused() -> None:
    headers = {"Content-Transfer-Encoding": "binary", "X-Experience-API-Hash": "b018994f8bbe0f08992a65c48c8c8c56f09e9baceaa6227ed85c90ae52b73c89"}
    error = refusal(parse_multipart, multipart(statement(attachment()), raw_part(TEXT, headers)), CONTENT_TYPE)
    assert error.errors[0].rule == "hash-mismatch"
    assert error.errors[0].field == "part[1].X-Experience-API-Hash"
    assert TEXT_SHA2 in error.detail


def test_missing_hash_header_is_refused() -> None:
    headers = {"Content-Type": "text/plain", "Content-Transfer-Encoding": "binary"}
    error = refusal(parse_multipart, multipart(statement(attachment()), raw_part(TEXT, headers)), CONTENT_TYPE)
    assert (error.errors[0].field, error.errors[0].rule) == ("part[1].X-Experience-API-Hash", "required")


@pytest.mark.parametrize("encoding", [None, "base64"])
def test_content_transfer_encoding_other_than_binary_is_refused(encoding: str | None) -> None:
    headers = {"Content-Type": "text/plain", "X-Experience-API-Hash": TEXT_SHA2}
    if encoding:
        headers["Content-Transfer-Encoding"] = encoding
    error = refusal(parse_multipart, multipart(statement(attachment()), raw_part(TEXT, headers)), CONTENT_TYPE)
    assert error.errors[0].field == "part[1].Content-Transfer-Encoding"
    assert error.errors[0].rule == ("binary" if encoding else "required")


def test_unreferenced_part_is_refused() -> None:
    extra = b"an excess part no statement mentions"
    payload, parts = parse_multipart(multipart(statement(attachment()), binary_part(TEXT), binary_part(extra)), CONTENT_TYPE)
    error = refusal(check_attachments, [payload], parts)
    assert error.errors[0].rule == "unreferenced-part"
    assert hashlib.sha256(extra).hexdigest() in error.detail


def test_referenced_but_missing_part_is_refused() -> None:
    second = b"the second attachment, never sent"
    payload, parts = parse_multipart(multipart(statement(attachment(), attachment(second)), binary_part(TEXT)), CONTENT_TYPE)
    error = refusal(check_attachments, [payload], parts)
    assert (error.errors[0].field, error.errors[0].rule) == ("statements[0].attachments[1].sha2", "attachment-part")


def test_plain_json_request_needs_a_file_url_for_every_attachment() -> None:
    assert check_attachments([statement(attachment(fileUrl="http://over.there.com/file.txt"))], []) == {}
    error = refusal(check_attachments, [statement(attachment())], [])
    assert error.errors[0].rule == "attachment-part"


def test_substatement_attachments_need_their_parts_too() -> None:
    sub = {"objectType": "SubStatement", **{k: v for k, v in statement(attachment()).items() if k != "id"}}
    sent = statement(object=sub)
    error = refusal(check_attachments, [sent], [])
    assert error.errors[0].field == "statements[0].object.attachments[0].sha2"
    payload, parts = parse_multipart(multipart(sent, binary_part(TEXT)), CONTENT_TYPE)
    assert list(check_attachments([payload], parts)) == [TEXT_SHA2]


@pytest.mark.parametrize(
    ("content_type", "rule"),
    [("multipart/mixed;", "boundary"), ("multipart/mixed", "boundary"), (f"multipart/form-data; boundary={BOUNDARY}", "media-type")],
)
def test_content_type_without_a_usable_boundary_is_refused(content_type: str, rule: str) -> None:
    error = refusal(parse_multipart, multipart(statement(attachment()), binary_part(TEXT)), content_type)
    assert (error.errors[0].field, error.errors[0].rule) == ("Content-Type", rule)


def test_body_without_the_boundary_is_refused() -> None:
    error = refusal(parse_multipart, json.dumps(statement()).encode(), CONTENT_TYPE)
    assert error.errors[0].rule == "boundary"


def test_first_part_must_be_json() -> None:
    body = multipart(statement(attachment()), binary_part(TEXT)).replace(b"application/json", b"text/plain", 1)
    assert refusal(parse_multipart, body, CONTENT_TYPE).errors[0].rule == "statement-part"
    broken = multipart(statement()).replace(b'{"id"', b"{'id'", 1)
    assert refusal(parse_multipart, broken, CONTENT_TYPE).errors[0].rule == "json"


def test_statements_split_over_two_json_parts_are_refused() -> None:
    """The second application/json part is an attachment part without hash headers."""
    second = ({"Content-Type": "application/json"}, json.dumps(statement()).encode())
    error = refusal(parse_multipart, multipart(statement(attachment()), second, binary_part(TEXT)), CONTENT_TYPE)
    assert error.errors[0].field == "part[1].Content-Transfer-Encoding"


def test_missing_boundary_before_a_part_is_refused() -> None:
    """The attachment's headers then run on inside the statement part, which is no longer JSON."""
    body = multipart(statement(attachment()), binary_part(TEXT))
    body = body.replace(f"--{BOUNDARY}\r\nContent-Type: text/plain".encode(), b"Content-Type: text/plain", 1)
    assert refusal(parse_multipart, body, CONTENT_TYPE).errors[0].rule == "json"


def test_body_cut_short_is_refused() -> None:
    body = multipart(statement(attachment()), binary_part(TEXT), closed=False)
    assert refusal(parse_multipart, body, CONTENT_TYPE).errors[0].rule == "closing-boundary"


def test_part_without_blank_line_after_headers_is_refused() -> None:
    body = f"--{BOUNDARY}\r\nContent-Type: application/json\r\n--{BOUNDARY}--\r\n".encode()
    assert refusal(parse_multipart, body, CONTENT_TYPE).errors[0].rule == "headers"


def test_garbage_only_ever_gives_bad_request() -> None:
    rng = random.Random(20240601)
    valid = multipart(statement(attachment()), binary_part(TEXT))
    bodies = [b"", b"--", f"--{BOUNDARY}--".encode(), f"--{BOUNDARY}\r\n\xff\xfe: x\r\n\r\n".encode("latin-1")]
    bodies += [bytes(rng.randrange(256) for _ in range(rng.randrange(200))) for _ in range(50)]
    for _ in range(200):
        cut = rng.randrange(len(valid))
        bodies.append(valid[:cut] + bytes([rng.randrange(256)]) + valid[cut + 1 :])
    bodies.append(multipart(statement()).replace(b'"id"', b"[" * 100_000, 1))
    for body in bodies:
        try:
            parse_and_check(body)
        except BadRequest:
            pass


# -- signed statements ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> tuple[rsa.RSAPrivateKey, str]:
    """An RSA key and its self-signed certificate, as x5c carries it (base64 DER)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xAPI test signer")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(payload: bytes, header: dict[str, Any], key: rsa.RSAPrivateKey) -> bytes:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}".encode()
    algorithm = header["alg"]
    if algorithm.startswith("HS"):
        signature = hmac.new(b"a shared secret", signing_input, hashlib.sha256).digest()
    else:
        digest = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}[algorithm]
        signature = key.sign(signing_input, padding.PKCS1v15(), digest)
    return signing_input + b"." + b64url(signature).encode()


def signed_request(
    original: dict[str, Any], signer: tuple[rsa.RSAPrivateKey, str], *, alg: str = "RS256", x5c: bool = True, payload: bytes | None = None
) -> tuple[dict[str, Any], bytes]:
    """(statement as sent, JWS part): the signature attachment is added after signing."""
    key, certificate = signer
    header: dict[str, Any] = {"alg": alg, **({"x5c": [certificate]} if x5c else {})}
    token = jws(json.dumps(original).encode() if payload is None else payload, header, key)
    sent = copy.deepcopy(original)
    sent.setdefault("attachments", []).append(
        attachment(token, usageType=SIGNATURE_USAGE_TYPE, contentType="application/octet-stream")
    )
    return sent, token


def verify(sent: dict[str, Any], token: bytes, version: str = "2.0.0") -> None:
    payload, parts = parse_multipart(multipart(sent, binary_part(token, "application/octet-stream")), CONTENT_TYPE)
    statements = [payload]
    verify_signatures(statements, check_attachments(statements, parts), version)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_signed_statement_verifies(signer: tuple[rsa.RSAPrivateKey, str], alg: str, version: str) -> None:
    verify(*signed_request(statement(), signer, alg=alg), version=version)


def test_signed_statement_without_x5c_is_accepted_unverified(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    """The spec verifies against x5c only when it is there (the conformance suite sends none)."""
    verify(*signed_request(statement(), signer, x5c=False))


def test_tampered_statement_is_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    sent, token = signed_request(statement(), signer)
    sent["actor"]["name"] = "Mallory"
    error = refusal(verify, sent, token)
    assert (error.errors[0].field, error.errors[0].rule) == ("statements[0].attachments[0].payload", "signature-mismatch")


def test_payload_that_is_not_json_is_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    broken = json.dumps(statement()).replace('"', "'", 1).encode()
    error = refusal(verify, *signed_request(statement(), signer, payload=broken))
    assert error.errors[0].rule == "jws-payload"


def test_other_algorithm_is_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    error = refusal(verify, *signed_request(statement(), signer, alg="HS256", x5c=False))
    assert (error.errors[0].field, error.errors[0].rule) == ("statements[0].attachments[0].alg", "signature-algorithm")


def test_bad_signature_is_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sent, _ = signed_request(statement(), signer)
    token = jws(json.dumps(statement()).encode(), {"alg": "RS256", "x5c": [signer[1]]}, other)
    sent["attachments"][0] = attachment(token, usageType=SIGNATURE_USAGE_TYPE, contentType="application/octet-stream")
    assert refusal(verify, sent, token).errors[0].rule == "signature-invalid"


def test_unreadable_certificate_is_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    key, _ = signer
    sent, token = signed_request(statement(), (key, base64.b64encode(b"not a certificate").decode()))
    assert refusal(verify, sent, token).errors[0].rule == "jws-x5c"


def test_signature_with_wrong_content_type_is_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    sent, token = signed_request(statement(), signer)
    sent["attachments"][0]["contentType"] = "text/plain; charset=ascii"
    assert refusal(verify, sent, token).errors[0].rule == "signature-content-type"


def test_signature_that_is_not_compact_jws_is_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    token = json.dumps({"payload": "e30", "signatures": []}).encode()
    sent = statement(attachment(token, usageType=SIGNATURE_USAGE_TYPE, contentType="application/octet-stream"))
    assert refusal(verify, sent, token).errors[0].rule == "jws-compact"


def test_signature_sent_only_as_file_url_is_refused() -> None:
    sent = statement(attachment(usageType=SIGNATURE_USAGE_TYPE, contentType="application/octet-stream", fileUrl="http://example.org/sig"))
    error = refusal(verify_signatures, [sent], check_attachments([sent], []), "1.0.3")
    assert error.errors[0].rule == "signature-part"


def test_differences_the_lrs_may_cause_are_not_tampering(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    """Id and timestamp assigned, time zones, verb display, Activity Definitions, Group member
    order, e-mail domain case, contextActivities as an array, Duration beyond 0.01 s."""
    members = [{"mbox": "mailto:a@example.org"}, {"mbox": "mailto:b@example.org"}]
    original = {
        k: v for k, v in statement().items() if k != "id"
    } | {
        "timestamp": "2023-05-04T12:00:00-05:00",
        "result": {"duration": "P1DT12H36M0.12S"},
        "context": {
            "team": {"objectType": "Group", "member": members},
            "contextActivities": {"parent": {"id": "http://example.org/activities/course"}},
        },
    }
    received = copy.deepcopy(original)
    received |= {"id": "7CCD3322-E1A5-411A-A67D-6A735C76F119", "timestamp": "2023-05-04T17:00:00.000Z", "version": "1.0.3"}
    received["verb"]["display"] = {"fr": "a répondu"}
    received["object"]["definition"] = {"name": {"en-US": "Renamed"}}
    received["actor"]["mbox"] = "mailto:ada@EXAMPLE.org"
    received["result"]["duration"] = "P1DT12H36M0.1237S"
    received["context"]["team"]["member"] = list(reversed(members))
    received["context"]["contextActivities"]["parent"] = [{"objectType": "Activity", "id": "http://example.org/activities/course"}]
    sent, token = signed_request(original, signer)
    received["attachments"] = sent["attachments"]
    verify(received, token)


def test_a_real_difference_in_duration_or_type_is_tampering(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    original = statement(result={"duration": "PT1.25S", "completion": True})
    sent, token = signed_request(original, signer)
    sent["result"]["duration"] = "PT1.3S"
    assert refusal(verify, sent, token).errors[0].rule == "signature-mismatch"
    sent, token = signed_request(original, signer, payload=json.dumps(statement(result={"duration": "PT1.25S", "completion": 1})).encode())
    assert refusal(verify, sent, token).errors[0].rule == "signature-mismatch"
