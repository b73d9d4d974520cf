"""Signed consent notifications: the consent service pushes withdrawals and expiries to the
connectors concerned, and a connector's node takes them in.

A notification is an outbox row written in the same transaction as the event, so a change is
never committed without its notification, nor notified without being committed. Delivery is a
POST whose body is a compact JWS of the event (typ `dases-consent-event+jwt`, signed by the
consent service's key) and whose `Authorization` is a call token addressed to the recipient, so
the receiver knows who sent it, that it is fresh and not replayed, and that the body is intact.
Failed deliveries are retried with exponential backoff (at most 20 tries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dases.consent import service
from dases.consent.models import Notification, ReceivedNotification
from dases.db import utcnow
from dases.errors import FieldError, Forbidden, InvalidInput
from dases.identity import jws
from dases.identity.client import SignedCallAuth
from dases.identity.tokens import VerifiedCaller
from dases.node import Node
from dases.periodic import start_periodic
from dases.registry import service as registry

log = logging.getLogger(__name__)

EVENT_TYPE = "dases-consent-event+jwt"
MEDIA_TYPE = "application/jose"


def deliver_pending(node: Node, now: datetime | None = None) -> int:
    """Send every notification that is due; returns how many were delivered."""
    now = now or utcnow()
    delivered = 0
    with node.db.transaction() as session:
        due = [(n.id, n.recipient_did, n.payload, service.webhook_url(session, n.recipient_did)) for n in service.pending_notifications(session, now)]
        signer = registry.authority_signer(session, node.settings, node.sealer) if due else None
    for notification_id, recipient, payload, url in due:
        error = None
        if url is None:
            error = "the recipient has no webhook"
        else:
            assert signer is not None
            body = jws.sign({"typ": EVENT_TYPE}, {"iss": signer.did, "aud": recipient, **payload}, signer)
            try:
                response = node.http.post(
                    url, content=body, headers={"Content-Type": MEDIA_TYPE}, auth=SignedCallAuth(signer, recipient), timeout=10
                )
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"
        with node.db.transaction() as session:
            notification = session.get(Notification, notification_id)
            if notification is None or notification.delivered_at is not None:
                continue
            notification.attempts += 1
            if error is None:
                notification.delivered_at = utcnow()
                delivered += 1
            else:
                notification.last_error = error
                notification.next_attempt_at = utcnow() + timedelta(seconds=min(3600, 2**notification.attempts))
                log.warning("consent notification %s to %s failed: %s", notification_id, recipient, error)
    return delivered


def receive(session: Session, node: Node, caller: VerifiedCaller, body: bytes) -> ReceivedNotification:
    """Take in a notification addressed to a participant hosted here, from the configured consent service only."""
    expected = node.settings.consent_service
    if expected is None:
        raise Forbidden("this node takes no consent notifications: set DASES_CONSENT_SERVICE to the consent service's DID")
    if caller.did != expected:
        raise Forbidden(f"consent notifications are accepted from {expected} only")
    try:
        parsed = jws.parse(body.decode("ascii", "strict"))
    except (UnicodeDecodeError, jws.MalformedJws) as error:
        raise InvalidInput(f"the body is not a compact JWS: {error}", errors=[FieldError("body", "jws", str(error))]) from error
    claims: dict[str, Any] = parsed.payload
    kid = parsed.header.get("kid")
    if parsed.header.get("typ") != EVENT_TYPE or claims.get("iss") != caller.did or claims.get("aud") != caller.audience:
        raise InvalidInput(
            "the body must be a consent event signed by the caller and addressed to this participant",
            errors=[FieldError("body", "claims", f"typ {EVENT_TYPE}, iss = caller, aud = recipient")],
        )
    key = node.resolver.verification_key(caller.did, kid, "assertionMethod") if isinstance(kid, str) else None
    if key is None or not jws.signature_is_valid(parsed, key):
        raise InvalidInput("the consent event's signature does not verify", errors=[FieldError("body", "signature", "bad signature")])
    record, seq, status = claims.get("record"), claims.get("seq"), claims.get("status")
    if not isinstance(record, str) or not isinstance(seq, int) or not isinstance(status, str):
        raise InvalidInput("the consent event lacks record, seq or status", errors=[FieldError("body", "claims", "record, seq, status")])
    received = ReceivedNotification(participant_did=caller.audience, record_id=record[:36], seq=seq, status=status[:16], payload=claims)
    try:
        with session.begin_nested():
            session.add(received)
    except IntegrityError:
        pass  # delivered twice (a retry after a lost answer): already taken in
    return received


def start_consent_worker(node: Node, interval: float) -> Callable[[], None]:
    """Expire consents and deliver notifications every `interval` seconds until stopped."""

    def round_() -> None:
        with node.db.transaction() as session:
            service.expire_due(session)
        deliver_pending(node)

    return start_periodic("consent-worker", interval, round_, join_timeout=5)
