"""Appending to, verifying and exporting a participant's ledger.

Each entry's hash is SHA-256 over the RFC 8785 canonical JSON of (participant, seq, kind, at,
body, prev_hash): it covers its own position and its predecessor's hash, so editing an entry,
deleting one or changing their order breaks the chain at that point. Each hash is signed with
the participant's DID key (a compact JWS `typ dases-ledger+jwt` over {ledger, seq, hash}), so
rebuilding a consistent chain after an edit needs the node's private key, not only database
access. The head row holds the chain's end: a deleted last entry shows as a mismatch there.
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
)


def entry_hash(slug: str, seq: int, kind: str, at: datetime, body: dict[str, Any], prev_hash: str) -> str:
    canonical = rfc8785.dumps({"participant": slug, "seq": seq, "kind": kind, "at": at.isoformat(), "body": body, "prev_hash": prev_hash})
    return hashlib.sha256(canonical).hexdigest()


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
    body = json.loads(json.dumps(body, default=str))  # what is stored is what is hashed
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


def verify(session: Session, slug: str) -> VerifyReport:
    """Walk the chain from the first entry; report the first entry that is not what was written."""
    keys = _public_keys(session, slug)
    previous, expected_seq, checked = GENESIS_HASH, 1, 0
    for entry in session.scalars(select(LedgerEntry).where(LedgerEntry.participant_slug == slug).order_by(LedgerEntry.seq, LedgerEntry.id)):
        if entry.seq != expected_seq:
            what = "missing (deleted)" if entry.seq > expected_seq else "present twice"
            return VerifyReport(False, checked, expected_seq, f"entry {expected_seq} is {what}")
        if entry_hash(slug, entry.seq, entry.kind, entry.at, entry.body, entry.prev_hash) != entry.hash:
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


def export(session: Session, slug: str, fmt: str, *, since: datetime | None = None, until: datetime | None = None) -> Iterator[str]:
    """The entries as rows for billing and value sharing, CSV or JSON lines, streamed in chunks."""
    if fmt not in ("csv", "json"):
        raise InvalidInput("the export format is csv or json", errors=[FieldError("format", "enum", "csv or json")])
    query = select(LedgerEntry).where(LedgerEntry.participant_slug == slug).order_by(LedgerEntry.seq)
    if since is not None:
        query = query.where(LedgerEntry.at >= since)
    if until is not None:
        query = query.where(LedgerEntry.at < until)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for entry in session.scalars(query.execution_options(yield_per=500)):
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
