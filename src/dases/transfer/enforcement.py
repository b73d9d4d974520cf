"""What a provider checks before any byte of a transfer leaves: the agreement and its policy.

Checked when a transfer starts, when it resumes and when its data address is renewed, in this
order, the first failure giving the reason: the agreement exists between these two parties and
was finalized; both parties' signatures verify against their DID documents; the agreement is
not revoked; the ODRL policy allows this use now, in the transfer scope (time window, number of
transfers, purpose, recipient...). Consent is not an agreement matter: it is checked per learner
when the payload is released (see `service.release`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.identity import service as identity
from dases.identity.resolver import DidResolver
from dases.negotiation.agreements import verify_agreement_signature
from dases.negotiation.service import declared_purpose
from dases.policy import service as policy
from dases.policy.context import Context, Request, World
from dases.policy.values import EvaluationError, parse_datetime
from dases.transfer.adapters import Agreement, AgreementBook
from dases.transfer.models import AgreementRevocation, Transfer


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    code: str = ""
    reason: str = ""
    agreement: Agreement | None = None
    purpose: str | None = None


def _deny(code: str, reason: str, agreement: Agreement | None = None) -> Verdict:
    return Verdict(False, code, reason, agreement)


def revocation(session: Session, slug: str, agreement_id: str) -> AgreementRevocation | None:
    return session.get(AgreementRevocation, (slug, agreement_id))


def prior_uses(session: Session, transfer: Transfer) -> int:
    """Transfers under the same agreement that released data before this one."""
    return session.scalar(
        select(func.count()).select_from(Transfer).where(
            Transfer.participant_slug == transfer.participant_slug, Transfer.role == transfer.role,
            Transfer.agreement_id == transfer.agreement_id, Transfer.started_at.is_not(None), Transfer.id != transfer.id,
        )
    ) or 0


def check_agreement(session: Session, agreements: AgreementBook, resolver: DidResolver, transfer: Transfer) -> Verdict:
    """The agreement of `transfer`, if it binds the two parties, is signed by both and not revoked."""
    agreement = agreements.find(session, transfer.participant_slug, transfer.agreement_id)
    if agreement is None or agreement.counterparty_did != transfer.counterparty_did or agreement.role != transfer.role:
        return _deny("agreement-unknown", f"there is no finalized agreement {transfer.agreement_id} between these parties")
    own_did = identity.get_participant(session, transfer.participant_slug).did
    provider_did, consumer_did = (own_did, agreement.counterparty_did) if transfer.role == "provider" else (agreement.counterparty_did, own_did)
    document = agreement.document
    if document.get("assigner") != provider_did or document.get("assignee") != consumer_did:
        return _deny("agreement-parties", "the agreement does not name the provider as assigner and the consumer as assignee", agreement)
    for party, did, signature in (("provider", provider_did, agreement.provider_signature), ("consumer", consumer_did, agreement.consumer_signature)):
        check = verify_agreement_signature(document, signature or "", did, resolver)
        if not check.valid:
            return _deny("agreement-unsigned", f"the agreement is not signed by the {party}: {check.detail}", agreement)
    revoked = revocation(session, transfer.participant_slug, transfer.agreement_id)
    if revoked is not None:
        when = revoked.revoked_at.replace(microsecond=0).isoformat()
        return _deny("agreement-revoked", f"the agreement {transfer.agreement_id} was revoked on {when}: {revoked.reason}", agreement)
    return Verdict(True, agreement=agreement, purpose=declared_purpose(document))


def _agreement_start(document: dict[str, object]) -> datetime | None:
    try:
        return parse_datetime(document.get("timestamp")) if isinstance(document.get("timestamp"), str) else None
    except EvaluationError:
        return None


def check_policy(agreement: Agreement, transfer: Transfer, uses: int, now: datetime | None = None) -> Verdict:
    """Whether the agreement's policy allows the provider's `transfer` now (fails closed, with reasons)."""
    document = agreement.document
    purpose = declared_purpose(document)
    target = document.get("target")
    consumer = transfer.counterparty_did
    request = Request(assignee=consumer, recipient=consumer, target=target if isinstance(target, str) else None, purpose=purpose)
    world = World(now=now or utcnow(), agreement_start=_agreement_start(document), use_count=uses)
    decision = policy.decide(document, "transfer", Context(request, world))
    if not decision.allowed:
        return _deny("policy-denied", "the agreement's policy does not allow this transfer now: " + "; ".join(decision.reasons), agreement)
    return Verdict(True, agreement=agreement, purpose=purpose)


def enforce(session: Session, agreements: AgreementBook, resolver: DidResolver, transfer: Transfer, now: datetime | None = None) -> Verdict:
    """Every check of the module docstring, for a provider about to release data."""
    verdict = check_agreement(session, agreements, resolver, transfer)
    if not verdict.allowed or verdict.agreement is None:
        return verdict
    return check_policy(verdict.agreement, transfer, prior_uses(session, transfer), now)
