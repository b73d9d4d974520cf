"""How transfer reaches the agreements (negotiation), the consent service and the ledger.

Each is a small seam with one production implementation here, so the control plane can be read
(and tested) without the other building blocks' details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session

from dases.errors import ConfigurationError, UpstreamError
from dases.identity import service as identity
from dases.identity.client import SignedCallAuth
from dases.identity.did import InvalidDid, did_web_document_url
from dases.identity.keys import Signer
from dases.negotiation import service as negotiation
from dases.node import Node


@dataclass(frozen=True)
class Agreement:
    """A finalized agreement of a hosted participant, with both signatures."""

    id: str
    document: dict[str, Any]
    role: str
    counterparty_did: str
    counterparty_address: str | None
    provider_signature: str | None
    consumer_signature: str | None


class AgreementBook(Protocol):
    def find(self, session: Session, slug: str, agreement_id: str) -> Agreement | None:
        """The finalized agreement `agreement_id` of participant `slug`, or None."""
        ...


class NegotiatedAgreements:
    """Agreements from the participant's finalized negotiations (`negotiation.service`)."""

    def find(self, session: Session, slug: str, agreement_id: str) -> Agreement | None:
        row = negotiation.finalized_agreement(session, slug, agreement_id)
        if row is None or row.agreement is None:
            return None
        return Agreement(
            id=agreement_id, document=row.agreement, role=row.role, counterparty_did=row.counterparty_did,
            counterparty_address=row.counterparty_address, provider_signature=row.provider_signature, consumer_signature=row.consumer_signature,
        )


@dataclass(frozen=True)
class AllowedLearner:
    account: str
    record_id: str


class ConsentGate(Protocol):
    def allowed(self, node: Node, slug: str, consumer_did: str, purpose: str, accounts: list[str]) -> list[AllowedLearner]:
        """The accounts whose consent for this consumer and purpose is given now."""
        ...

    def report(self, node: Node, slug: str, consumer_did: str, transfer_id: str, agreement_id: str, at: datetime, record_ids: list[str]) -> None:
        """Tell the consent service which consent records a transfer released data under."""
        ...


#: The consent service accepts at most this many accounts per check; a transfer asks once per batch.
CONSENT_BATCH = 100_000


def consent_service_url(consent_service_did: str, allow_http_hosts: list[str]) -> str:
    """The base URL of the node hosting the consent service, read from its did:web DID
    (`did:web:HOST:participants:SLUG` is served at `HOST/participants/SLUG/did.json`)."""
    document = did_web_document_url(consent_service_did, allow_http_hosts)
    parts = urlsplit(document)
    marker = "/participants/"
    if marker not in parts.path:
        raise InvalidDid(f"{consent_service_did} is not the DID of a participant of a DASES node")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit(marker, 1)[0]}"


class ConsentService:
    """The data space's consent service, asked with one signed call per batch of learners."""

    def _address(self, node: Node, slug: str) -> tuple[str, str, Signer]:
        authority = node.settings.consent_service
        if authority is None:
            raise ConfigurationError("personal data can only be released after a consent check: set DASES_CONSENT_SERVICE to the consent service's DID")
        try:
            base = consent_service_url(authority, node.settings.allow_http_did_hosts)
        except InvalidDid as error:
            raise ConfigurationError(f"DASES_CONSENT_SERVICE cannot be reached: {error}") from error
        with node.db.transaction() as session:
            signer = identity.signer_for(session, node.sealer, slug)
        return authority, base, signer

    def allowed(self, node: Node, slug: str, consumer_did: str, purpose: str, accounts: list[str]) -> list[AllowedLearner]:
        authority, base, signer = self._address(node, slug)
        allowed: list[AllowedLearner] = []
        for start in range(0, len(accounts), CONSENT_BATCH):
            body = {"consumer": consumer_did, "purpose": purpose, "accounts": accounts[start : start + CONSENT_BATCH]}
            try:
                response = node.http.post(f"{base}/consent/check-batch", json=body, auth=SignedCallAuth(signer, authority), timeout=60)
            except httpx.HTTPError as error:
                raise UpstreamError(f"the consent service at {base} cannot be reached: {type(error).__name__}") from error
            if response.status_code != 200:
                raise UpstreamError(f"the consent service refused the check ({response.status_code}): {response.text[:300]}")
            allowed.extend(AllowedLearner(str(item["account"]), str(item["record_id"])) for item in response.json().get("allowed", []))
        return allowed

    def report(self, node: Node, slug: str, consumer_did: str, transfer_id: str, agreement_id: str, at: datetime, record_ids: list[str]) -> None:
        authority, base, signer = self._address(node, slug)
        body = {"consumer": consumer_did, "transfer_id": transfer_id, "agreement_id": agreement_id, "at": at.isoformat(), "record_ids": record_ids}
        try:
            response = node.http.post(f"{base}/consent/exchanges", json=body, auth=SignedCallAuth(signer, authority), timeout=60)
        except httpx.HTTPError as error:
            raise UpstreamError(f"the consent service at {base} cannot be reached: {type(error).__name__}") from error
        if response.status_code != 201:
            raise UpstreamError(f"the consent service refused the exchange report ({response.status_code}): {response.text[:300]}")


class Ledger(Protocol):
    def record(self, session: Session, node: Node, slug: str, kind: str, body: dict[str, Any]) -> None:
        """Append an entry to the participant's ledger, in the caller's transaction."""
        ...


class NodeLedger:
    """The node's hash-chained ledger (`dases.ledger`)."""

    def record(self, session: Session, node: Node, slug: str, kind: str, body: dict[str, Any]) -> None:
        from dases.ledger import service as ledger

        ledger.append(session, node.sealer, slug, kind, body)
