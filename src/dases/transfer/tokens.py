"""Data plane access tokens: opaque, short-lived, bound to one transfer, stored hashed.

The token is 32 random bytes; the node keeps only its SHA-256, so a copy of the database opens
nothing. A token names its transfer (hence the agreement and the consumer): it opens that
transfer's payload and nothing else, until it expires or the transfer leaves STARTED.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import Unauthorized
from dases.transfer.models import DataToken, Transfer


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: str
    expires_at: datetime


def issue(session: Session, transfer: Transfer, lifetime_seconds: float, now: datetime | None = None) -> Issued:
    """A new token for `transfer`; the earlier ones are revoked (one live token per transfer)."""
    now = now or utcnow()
    revoke(session, transfer.id, now)
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=lifetime_seconds)
    session.add(DataToken(
        token_hash=_hash(token), transfer_id=transfer.id, agreement_id=transfer.agreement_id,
        holder_did=transfer.counterparty_did, issued_at=now, expires_at=expires_at,
    ))
    return Issued(token, expires_at)


def revoke(session: Session, transfer_id: str, now: datetime | None = None) -> None:
    session.execute(
        update(DataToken).where(DataToken.transfer_id == transfer_id, DataToken.revoked_at.is_(None)).values(revoked_at=now or utcnow())
    )


def _refuse(detail: str, reason: str) -> Unauthorized:
    return Unauthorized(detail, reason=reason, headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'})


def verify(session: Session, token: str, transfer_id: str, now: datetime | None = None) -> Transfer:
    """The transfer the token opens, if it is this one and the token is live; 401 otherwise."""
    now = now or utcnow()
    row = session.scalar(select(DataToken).where(DataToken.token_hash == _hash(token)))
    if row is None or row.transfer_id != transfer_id:
        raise _refuse("this token does not open this transfer", "unknown_token")
    if row.revoked_at is not None:
        raise _refuse("this token was revoked: the transfer was suspended, completed or terminated, or a newer token was issued", "token_revoked")
    if now >= row.expires_at:
        raise _refuse("this token has expired; ask the provider's connector for a new data address", "token_expired")
    transfer = session.get(Transfer, transfer_id)
    if transfer is None or transfer.agreement_id != row.agreement_id or transfer.counterparty_did != row.holder_did:
        raise _refuse("this token does not open this transfer", "unknown_token")
    return transfer
