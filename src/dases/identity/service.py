"""Participants hosted on a node: creation, keys, DID documents and signers."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dases.db import Database, utcnow
from dases.errors import Conflict, FieldError, InvalidInput, NotFound
from dases.identity.did import build_did_document, did_web_for
from dases.identity.keys import KeySealer, Signer, generate_key, key_id, public_jwk
from dases.identity.models import Participant, ParticipantKey

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True)
class ParticipantView:
    slug: str
    name: str
    did: str
    active_kid: str
    key_count: int


def participant_did(base_url: str, slug: str) -> str:
    return did_web_for(base_url, "participants", slug)


def _view(participant: Participant) -> ParticipantView:
    active = [key.kid for key in participant.keys if key.active]
    return ParticipantView(participant.slug, participant.name, participant.did, active[-1] if active else "", len(participant.keys))


def _add_key(session: Session, sealer: KeySealer, participant: Participant) -> ParticipantKey:
    key = generate_key()
    kid = key_id(key)
    row = ParticipantKey(kid=kid, public_jwk=public_jwk(key), sealed_private_key=sealer.seal(key, kid), created_at=utcnow())
    participant.keys.append(row)
    session.flush()
    return row


def create_participant(session: Session, sealer: KeySealer, base_url: str, slug: str, name: str) -> ParticipantView:
    """Host a new participant: a DID under this node's URL and a fresh Ed25519 key."""
    if not _SLUG.match(slug):
        raise InvalidInput(
            f"participant slug {slug!r} must be 1-63 lowercase letters, digits or inner hyphens",
            errors=[FieldError("slug", "pattern", f"must match {SLUG_PATTERN}")],
        )
    if not name.strip():
        raise InvalidInput("participant name must not be blank", errors=[FieldError("name", "blank", "must not be blank")])
    if "\x00" in name:
        raise InvalidInput(
            "participant name must not contain NUL characters",
            errors=[FieldError("name", "nul_character", "must not contain NUL (U+0000) characters")],
        )
    if session.get(Participant, slug) is not None:
        raise Conflict(f"a participant {slug!r} already exists on this node")
    participant = Participant(slug=slug, name=name.strip(), did=participant_did(base_url, slug), created_at=utcnow())
    session.add(participant)
    _add_key(session, sealer, participant)
    return _view(participant)


def _get(session: Session, slug: str) -> Participant:
    participant = session.get(Participant, slug)
    if participant is None:
        raise NotFound(f"no participant {slug!r} on this node")
    return participant


def get_participant(session: Session, slug: str) -> ParticipantView:
    return _view(_get(session, slug))


def did_of(session: Session, slug: str) -> str:
    """The DID of a hosted participant, read alone (no keys loaded): for hot paths."""
    did = session.scalar(select(Participant.did).where(Participant.slug == slug))
    if did is None:
        raise NotFound(f"no participant {slug!r} on this node")
    return did


def list_participants(session: Session) -> list[ParticipantView]:
    return [_view(p) for p in session.scalars(select(Participant).order_by(Participant.slug))]


def hosted_dids(session: Session) -> set[str]:
    return set(session.scalars(select(Participant.did)))


def rotate_key(session: Session, sealer: KeySealer, slug: str) -> ParticipantView:
    """Give the participant a new active key; old keys stay published for assertions only."""
    participant = _get(session, slug)
    now = utcnow()
    for key in participant.keys:
        if key.retired_at is None:
            key.retired_at = now
    _add_key(session, sealer, participant)
    return _view(participant)


def did_document(session: Session, slug: str) -> dict[str, Any]:
    participant = _get(session, slug)
    keys = [(key.kid, key.public_jwk) for key in participant.keys]
    return build_did_document(participant.did, keys, {key.kid for key in participant.keys if key.active})


def signer_for(session: Session, sealer: KeySealer, slug: str) -> Signer:
    """The participant's active signing key, opened from its sealed form."""
    participant = _get(session, slug)
    active = [key for key in participant.keys if key.active]
    if not active:
        raise Conflict(f"participant {slug!r} has no active key")
    key = active[-1]
    return Signer(did=participant.did, kid=f"{participant.did}#{key.kid}", key=sealer.open(key.sealed_private_key, key.kid))


class HostedDids:
    """The DIDs of the participants this node hosts, kept in memory for the audience check.

    A DID not yet known triggers a reload from the database (a participant created by the CLI
    while the node runs), at most once per `reload_interval`, so calls addressed to strangers
    cannot turn into one query each.
    """

    def __init__(self, db: Database, *, reload_interval: float = 1.0) -> None:
        self._db = db
        self._reload_interval = reload_interval
        self._dids: frozenset[str] = frozenset()
        self._loaded_at = -math.inf

    def __contains__(self, did: object) -> bool:
        if did in self._dids:
            return True
        now = time.monotonic()
        if now - self._loaded_at < self._reload_interval:
            return False
        with self._db.transaction() as session:
            self._dids = frozenset(hosted_dids(session))
        self._loaded_at = now
        return did in self._dids
