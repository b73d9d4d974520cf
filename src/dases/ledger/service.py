"""Appending to, verifying and exporting a participant's ledger.

Each entry's hash is SHA-256 over the RFC 8785 canonical JSON of (participant, seq, kind, at,
body, prev_hash): it covers its own position and its predecessor's hash, so editing an entry,
deleting one or changing their order breaks the chain at that point. Each hash is signed with
the participant's DID key (a compact JWS `typ dases-ledger+jwt` over {ledger, seq, hash}), so
rebuilding a consistent chain after an edit needs the node's private key, not only database
access. The head row holds the chain's end: a deleted last entry shows as a mismatch there.

Bodies hold strings, booleans, nulls, integers in the I-JSON range (|n| < 2**53), lists and
objects: no floats, no NUL characters. What is hashed must read back identically from SQLite's
JSON text and PostgreSQL's JSONB, which rewrites some floats and cannot store NUL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import FieldError, InvalidInput
from dases.identity import jws
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.ledger.models import GENESIS_HASH, LedgerEntry, LedgerHead

SIGNATURE_TYPE = "dases-ledger+jwt"
KINDS = (
    "negotiation.finalized",
    "negotiation.terminated",
    "transfer.started",
    "transfer.suspended",
    "transfer.completed",
    "transfer.terminated",
    "consent.checked",
    "governance.vote",
    "governance.result",
)
TRANSFER_KINDS = tuple(kind for kind in KINDS if kind.startswith("transfer."))
MAX_SAFE_INTEGER = 2**53 - 1


def entry_hash(slug: str, seq: int, kind: str, at: datetime, body: dict[str, Any], prev_hash: str) -> str:
    canonical = rfc8785.dumps({"participant": slug, "seq": seq, "kind": kind, "at": at.isoformat(), "body": body, "prev_hash": prev_hash})
    return hashlib.sha256(canonical).hexdigest()


def _body_problem(value: Any, where: str) -> FieldError | None:
    """The first value in a body that would not hash the same once read back, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _body_problem(item, f"{where}.{key}")
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _body_problem(item, f"{where}[{index}]")
            if problem:
                return problem
    elif isinstance(value, float):
        return FieldError(where, "integer", "numbers in a ledger body are integers (bytes, counts)")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        return FieldError(where, "range", f"integers in a ledger body stay within +/-{MAX_SAFE_INTEGER}")
    elif isinstance(value, str) and "\x00" in value:
        return FieldError(where, "nul_character", "must not contain NUL (U+0000) characters")
    return None


def _stored_body(body: dict[str, Any]) -> dict[str, Any]:
    """The body as it will be stored and hashed: JSON values only (ids and dates as strings)."""
    stored = json.loads(json.dumps(body, default=str))
    problem = _body_problem(stored, "body")
    if problem:
        raise InvalidInput(f"ledger body field {problem.field}: {problem.message}", errors=[problem])
    return stored


def _lock_head(session: Session, slug: str) -> tuple[int, str]:
    """Bump the head's sequence number, which locks the row until commit; the new number and
    the previous entry's hash."""
    statement = update(LedgerHead).where(LedgerHead.participant_slug == slug).values(seq=LedgerHead.seq + 1).returning(LedgerHead.seq, LedgerHead.hash)
    row = session.execute(statement).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(LedgerHead(participant_slug=slug, seq=0, hash=GENESIS_HASH))
        except IntegrityError:
            pass  # another transaction created it first; its row lock now orders us after it
        row = session.execute(statement).first()
    assert row is not None
    return int(row[0]), str(row[1])


def append(session: Session, sealer: KeySealer, slug: str, kind: str, body: dict[str, Any], now: datetime | None = None) -> LedgerEntry:
    """Record a fact in the participant's ledger, in the caller's transaction (so an exchange
    and its record commit or roll back together)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown ledger entry kind {kind!r}", errors=[FieldError("kind", "enum", ", ".join(KINDS))])
    body = _stored_body(body)
    at = (now or utcnow()).replace(microsecond=0)
    signer = identity.signer_for(session, sealer, slug)
    seq, prev_hash = _lock_head(session, slug)
    digest = entry_hash(slug, seq, kind, at, body, prev_hash)
    signature = jws.sign({"typ": SIGNATURE_TYPE}, {"ledger": slug, "seq": seq, "hash": digest}, signer)
    entry = LedgerEntry(participant_slug=slug, seq=seq, kind=kind, at=at, body=body, prev_hash=prev_hash, hash=digest, signature=signature)
    session.add(entry)
    session.execute(update(LedgerHead).where(LedgerHead.participant_slug == slug).values(hash=digest))
    session.flush()
    return entry


def entries(session: Session, slug: str, *, since_seq: int = 0, kinds: Iterable[str] | None = None, limit: int | None = None) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.participant_slug == slug, LedgerEntry.seq > since_seq).order_by(LedgerEntry.seq)
    if kinds is not None:
        query = query.where(LedgerEntry.kind.in_(list(kinds)))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str | None = None


def _public_keys(session: Session, slug: str) -> dict[str, dict[str, Any]]:
    """Every key the participant ever had (rotated ones stay in its DID document as
    assertion keys), by key id URL."""
    document = identity.did_document(session, slug)
    return {method["id"]: method["publicKeyJwk"] for method in document.get("verificationMethod", [])}


def _signature_problem(entry: LedgerEntry, slug: str, keys: dict[str, dict[str, Any]]) -> str | None:
    try:
        parsed = jws.parse(entry.signature)
    except jws.MalformedJws as error:
        return f"its signature is malformed: {error}"
    key = keys.get(str(parsed.header.get("kid")))
    if parsed.header.get("typ") != SIGNATURE_TYPE or key is None or not jws.signature_is_valid(parsed, key):
        return "its signature does not verify with a key of the participant"
    if parsed.payload != {"ledger": slug, "seq": entry.seq, "hash": entry.hash}:
        return "its signature covers another entry"
    return None


def _recomputed_hash(slug: str, entry: LedgerEntry) -> str | None:
    """The hash the entry should carry; None when its body cannot even be canonicalised (only an
    edit made behind the triggers' back stores such a body)."""
    try:
        return entry_hash(slug, entry.seq, entry.kind, entry.at, entry.body, entry.prev_hash)
    except (rfc8785.CanonicalizationError, TypeError):
        return None


def verify(session: Session, slug: str) -> VerifyReport:
    """Walk the chain from the first entry; report the first entry that is not what was written."""
    keys = _public_keys(session, slug)
    previous, expected_seq, checked = GENESIS_HASH, 1, 0
    query = select(LedgerEntry).where(LedgerEntry.participant_slug == slug).order_by(LedgerEntry.seq, LedgerEntry.id)
    for entry in session.scalars(query.execution_options(yield_per=1000)):
        if entry.seq != expected_seq:
            what = "missing (deleted)" if entry.seq > expected_seq else "present twice"
            return VerifyReport(False, checked, expected_seq, f"entry {expected_seq} is {what}")
        if _recomputed_hash(slug, entry) != entry.hash:
            return VerifyReport(False, checked, entry.seq, f"entry {entry.seq} does not match its hash (edited or moved)")
        if entry.prev_hash != previous:
            return VerifyReport(False, checked, entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1} (reordered, or a predecessor was replaced)")
        problem = _signature_problem(entry, slug, keys)
        if problem:
            return VerifyReport(False, checked, entry.seq, f"entry {entry.seq}: {problem}")
        previous, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    head = session.get(LedgerHead, slug)
    if head is not None and (head.seq, head.hash) != (checked, previous):
        return VerifyReport(False, checked, checked + 1, f"the ledger ends at entry {checked} but {head.seq} were written (entries deleted at the end)")
    return VerifyReport(True, checked)


EXPORT_COLUMNS = ("seq", "at", "kind", "agreement_id", "transfer_id", "counterparty", "bytes", "record_count", "consent_records", "reason", "hash")


def _export_row(entry: LedgerEntry) -> dict[str, Any]:
    body = entry.body
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "kind": entry.kind,
        "agreement_id": body.get("agreement_id"),
        "transfer_id": body.get("transfer_id"),
        "counterparty": body.get("counterparty"),
        "bytes": body.get("bytes"),
        "record_count": body.get("record_count"),
        "consent_records": len(body.get("consent_record_ids") or []),
        "reason": body.get("reason"),
        "hash": entry.hash,
    }


def export(
    session: Session,
    slug: str,
    fmt: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Iterable[str] = TRANSFER_KINDS,
) -> Iterator[str]:
    """The transfer entries as rows for billing and value sharing, CSV or JSON lines, in chunks.

    The arguments are checked here, before the first chunk, so that an HTTP response never
    starts streaming a body it cannot finish; the session must stay open while it is consumed."""
    if fmt not in ("csv", "json"):
        raise InvalidInput("the export format is csv or json", errors=[FieldError("format", "enum", "csv or json")])
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} must carry a time zone", errors=[FieldError(name, "timezone", "a date-time with an offset, e.g. 2026-01-01T00:00:00Z")])
    kinds = list(kinds)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InvalidInput(f"unknown ledger entry kinds {unknown}", errors=[FieldError("kinds", "enum", ", ".join(KINDS))])
    query = select(LedgerEntry).where(LedgerEntry.participant_slug == slug, LedgerEntry.kind.in_(kinds)).order_by(LedgerEntry.seq)
    if since is not None:
        query = query.where(LedgerEntry.at >= since)
    if until is not None:
        query = query.where(LedgerEntry.at < until)
    return _chunks(session.scalars(query.execution_options(yield_per=500)), fmt)


def _chunks(rows: Iterable[LedgerEntry], fmt: str) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for entry in rows:
        row = _export_row(entry)
        if writer is not None:
            writer.writerow(row)
        else:
            buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
