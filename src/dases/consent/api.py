"""HTTP routes of the consent service for connectors (signed calls), and receipt verification.

Learners act from their dashboard (`dases.web`), not from here. Every route below is served by
the operator node's consent service: the call must be addressed to it, and the caller must be an
active member of the data space.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from dases.consent import accounts, notifications, service
from dases.consent.models import ConsentEvent, ConsentRecord, ConsentStatus
from dases.consent.purposes import PurposeVocabulary, load_purposes
from dases.consent.receipts import ReceiptInvalid, verify_receipt
from dases.errors import (
    ConfigurationError,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    problem_responses,
)
from dases.identity import service as identity
from dases.identity.auth import Caller
from dases.identity.tokens import VerifiedCaller
from dases.node import Node, NodeDep, SessionDep
from dases.registry import service as registry
from dases.settings import Settings
from dases.types import Text

router = APIRouter(prefix="/consent", tags=["consent"])
inbox_router = APIRouter(tags=["consent"])

Did = Annotated[str, Field(min_length=8, max_length=512, pattern=r"^did:[a-z0-9]+:\S+$")]
Account = Annotated[Text, Field(min_length=1, max_length=200, description="The learner's id at the provider.")]
SubjectId = Annotated[str, Field(min_length=4, max_length=40, pattern=r"^sub_[0-9a-f]{32}$", description="The learner's pseudonym at the consent service.")]


def vocabulary(settings: Settings) -> PurposeVocabulary:
    if settings.dpv_dir is None:
        raise ConfigurationError("the consent service needs the DPV purpose vocabulary: set DASES_DPV_DIR")
    return _vocabulary_at(settings.dpv_dir)


@lru_cache(maxsize=8)
def _vocabulary_at(directory: FilePath) -> PurposeVocabulary:
    """Keyed on the configured path as given: `load_purposes` resolves it, which costs a few
    system calls per request on the check's hot path."""
    return load_purposes(directory)


def _party(session: Session, node: Node, caller: VerifiedCaller) -> str:
    """The caller's DID, once it is known to be an active member talking to this consent service."""
    slug = node.settings.governance_authority
    if slug is None:
        raise NotFound("this node runs no consent service (it hosts no governance authority)")
    authority = identity.participant_did(node.settings.base_url, slug)  # no query on the hot path...
    if caller.audience != authority:
        authority = identity.did_of(session, slug)  # ...unless created under another public URL
    if caller.audience != authority:
        raise Forbidden(f"consent calls are addressed to the consent service {authority}")
    if not registry.is_active_member(session, caller.did):
        raise Forbidden(f"{caller.did} is not an active member of the data space")
    return caller.did


def _subject(session: Session, provider_did: str, subject: str | None, account: str | None) -> str:
    if subject is not None:
        if not accounts.subject_exists(session, subject):
            raise NotFound(f"no learner {subject!r} at this consent service")
        return subject
    assert account is not None
    found = accounts.subject_for_account(session, provider_did, account)
    if found is None:
        raise NotFound(f"no learner has linked the account {account!r} at {provider_did}")
    return found


class LinkCodeIn(BaseModel):
    account: Account
    role: Literal["learner", "guardian"] = Field(
        default="learner", description="learner: the learner links this account; guardian: a parent becomes guardian of this learner."
    )


class LinkCodeOut(BaseModel):
    code: str = Field(description="One-time code to hand to the person, to enter on their dashboard.")
    expires_at: datetime


class ConsentRequestIn(BaseModel):
    """Either the terms themselves, or `offering_id`: then the purpose, the duration and the
    data categories come from that offering's ODRL policy in the federated catalog."""

    subject: SubjectId | None = None
    account: Account | None = None
    consumer: Did
    offering_id: str | None = Field(default=None, min_length=1, max_length=512, description="@id of one of your datasets in the federated catalog.")
    purpose: str | None = Field(default=None, min_length=3, max_length=300, description="A DPV purpose: full IRI, dpv:X or sector-education:X.")
    data_categories: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=16)
    duration_days: int | None = Field(default=None, ge=1, le=3650, description="How long the consent lasts once given.")
    valid_until: date | None = Field(default=None, description="Or: the last day it lasts, if given today (YYYY-MM-DD).")
    legal_basis: str = Field(default="consent", max_length=32)
    offering: Text | None = Field(default=None, max_length=300, description="Title shown to the learner when no offering_id is given.")

    @model_validator(mode="after")
    def _one_subject(self) -> ConsentRequestIn:
        if (self.subject is None) == (self.account is None):
            raise ValueError("name the learner by exactly one of subject (pseudonym) or account (your id for them)")
        if self.duration_days is not None and self.valid_until is not None:
            raise ValueError("say how long the consent lasts with one of duration_days or valid_until, not both")
        if self.offering_id is None:
            if self.purpose is None:
                raise ValueError("name a purpose, or an offering_id whose policy names one")
            if not self.data_categories:
                raise ValueError("name the data categories, or an offering_id that declares them")
            if self.duration_days is None and self.valid_until is None:
                raise ValueError("say how long the consent lasts with duration_days or valid_until")
        return self

    def days(self, today: date) -> int | None:
        if self.valid_until is None:
            return self.duration_days
        days = (self.valid_until - today).days + 1
        if days < 1:
            raise InvalidInput(
                f"valid_until {self.valid_until} is in the past",
                errors=[FieldError("valid_until", "future", "must be today or later")],
            )
        return days


class EventOut(BaseModel):
    seq: int
    status: ConsentStatus
    at: datetime
    actor: str
    valid_until: datetime | None
    notice_version: str


class RecordOut(BaseModel):
    id: str
    subject: str
    provider: str
    consumer: str
    purpose: str
    data_categories: list[str]
    legal_basis: str
    status: ConsentStatus
    valid_from: datetime | None
    valid_until: datetime | None
    duration_days: int
    notice_version: str
    history: list[EventOut]


class CheckOut(BaseModel):
    allowed: bool
    record_id: str | None
    status: ConsentStatus | None
    valid_until: datetime | None


class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$")


class VerifyReceiptIn(BaseModel):
    jws: str = Field(min_length=1, max_length=65536)


class VerifyReceiptOut(BaseModel):
    verified: bool
    detail: str
    receipt: dict[str, object] | None = None


def record_out(record: ConsentRecord, events: list[ConsentEvent]) -> RecordOut:
    return RecordOut(
        id=record.id,
        subject=record.subject_id,
        provider=record.provider_did,
        consumer=record.consumer_did,
        purpose=record.purpose,
        data_categories=record.data_categories,
        legal_basis=record.legal_basis,
        status=ConsentStatus(record.status),
        valid_from=record.valid_from,
        valid_until=record.valid_until,
        duration_days=record.duration_days,
        notice_version=record.notice_version,
        history=[EventOut.model_validate(event, from_attributes=True) for event in events],
    )


@router.post("/link-codes", response_model=LinkCodeOut, status_code=201, responses=problem_responses(401, 403, 422))
def issue_link_code(body: LinkCodeIn, caller: Caller, node: NodeDep, session: SessionDep) -> LinkCodeOut:
    """A provider asks for a one-time code so that one of its learners (or their guardian) can link their account."""
    provider = _party(session, node, caller)
    issued = accounts.issue_link_code(
        session, provider_did=provider, account=body.account, role=body.role, lifetime=timedelta(hours=node.settings.consent_link_code_hours)
    )
    return LinkCodeOut(code=issued.code, expires_at=issued.expires_at)


@router.post("/requests", response_model=RecordOut, status_code=201, responses=problem_responses(401, 403, 404, 409, 422))
def request_consent(body: ConsentRequestIn, caller: Caller, node: NodeDep, session: SessionDep) -> RecordOut:
    """A provider asks one of its learners for consent; the learner decides on their dashboard."""
    provider = _party(session, node, caller)
    subject = _subject(session, provider, body.subject, body.account)
    days = body.days(datetime.now(UTC).date())
    if body.offering_id is not None:
        request = service.request_for_offering(
            session,
            vocabulary(node.settings),
            provider_did=provider,
            offering_id=body.offering_id,
            consumer_did=body.consumer,
            data_categories=tuple(body.data_categories),
            duration_days=days,
        )
    else:
        assert body.purpose is not None and days is not None
        request = service.ConsentRequest(
            consumer_did=body.consumer,
            purpose=body.purpose,
            data_categories=tuple(body.data_categories),
            duration_days=days,
            legal_basis=body.legal_basis,
            offering=body.offering,
        )
    record = service.request_consent(
        session, vocabulary(node.settings), provider_did=provider, subject_id=subject, request=request, max_days=node.settings.consent_max_days
    )
    return record_out(record, service.history(session, record.id))


@router.get("/check", response_model=CheckOut, responses=problem_responses(401, 403, 404, 422))
def check(
    caller: Caller,
    node: NodeDep,
    session: SessionDep,
    consumer: Annotated[str, Query(min_length=8, max_length=512, pattern=r"^did:[a-z0-9]+:\S+$")],
    purpose: Annotated[str, Query(min_length=3, max_length=300)],
    subject: Annotated[str | None, Query(pattern=r"^sub_[0-9a-f]{32}$")] = None,
    account: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    provider: Annotated[str | None, Query(min_length=8, max_length=512, pattern=r"^did:[a-z0-9]+:\S+$")] = None,
) -> CheckOut:
    """May data about this learner move from the provider to the consumer for this purpose, now?

    Asked by the provider (provider defaults to the caller) or by the consumer; nobody else
    learns anything about the learner."""
    party = _party(session, node, caller)
    provider = provider or party
    if party not in (provider, consumer):
        raise Forbidden("only the provider or the consumer of a transfer may check its consent")
    if (subject is None) == (account is None):
        raise InvalidInput(
            "name the learner by exactly one of subject or account",
            errors=[FieldError("subject", "one_of", "give subject or account, not both, not neither")],
        )
    purpose_iri = vocabulary(node.settings).resolve(purpose).iri
    if subject is not None:  # the learner's existence is looked up only when no record matches
        result = service.check(session, subject_id=subject, provider_did=provider, consumer_did=consumer, purpose=purpose_iri)
        if result.record_id is None:
            _subject(session, provider, subject, None)
    else:
        subject_id = _subject(session, provider, None, account)
        result = service.check(session, subject_id=subject_id, provider_did=provider, consumer_did=consumer, purpose=purpose_iri)
    return CheckOut(
        allowed=result.allowed,
        record_id=result.record_id,
        status=ConsentStatus(result.status) if result.status else None,
        valid_until=result.valid_until,
    )


class BatchCheckIn(BaseModel):
    consumer: Did
    purpose: str = Field(min_length=3, max_length=300)
    accounts: list[Account] = Field(min_length=1, max_length=100_000, description="Your ids for the learners whose data a transfer would carry.")


class AllowedAccountOut(BaseModel):
    account: str
    record_id: str


class BatchCheckOut(BaseModel):
    allowed: list[AllowedAccountOut] = Field(description="Only the accounts whose consent is given now; every other account must be left out.")
    checked_at: datetime


@router.post("/check-batch", response_model=BatchCheckOut, responses=problem_responses(401, 403, 422))
def check_batch(body: BatchCheckIn, caller: Caller, node: NodeDep, session: SessionDep) -> BatchCheckOut:
    """For a transfer: which of the caller's learners may have their data sent to this consumer
    for this purpose, now. Asked by the provider only; the answer names the consent records to
    write to the ledger."""
    provider = _party(session, node, caller)
    purpose_iri = vocabulary(node.settings).resolve(body.purpose).iri
    now = datetime.now(UTC)
    allowed = service.check_accounts(
        session, provider_did=provider, consumer_did=body.consumer, purpose=purpose_iri, accounts_=list(dict.fromkeys(body.accounts)), now=now
    )
    return BatchCheckOut(allowed=[AllowedAccountOut(account=a.account, record_id=a.record_id) for a in allowed], checked_at=now)


class ExchangeIn(BaseModel):
    consumer: Did
    transfer_id: str = Field(min_length=1, max_length=200)
    agreement_id: str = Field(min_length=1, max_length=200)
    at: datetime = Field(description="When the data was released (the transfer's start).")
    record_ids: list[Annotated[str, Field(min_length=1, max_length=36)]] = Field(min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _aware(self) -> ExchangeIn:
        if self.at.tzinfo is None:
            raise ValueError("at must carry a time zone (e.g. 2026-11-21T10:00:00Z)")
        return self


class ExchangeOut(BaseModel):
    recorded: int
    without_consent: list[str] = Field(description="Records whose consent did not stand at `at`: a release that should not have happened.")


@router.post("/exchanges", response_model=ExchangeOut, status_code=201, responses=problem_responses(401, 403, 422))
def report_exchange(body: ExchangeIn, caller: Caller, node: NodeDep, session: SessionDep) -> ExchangeOut:
    """After a transfer, the provider reports which consent records it released data under, so
    each learner sees the exchange on their dashboard."""
    provider = _party(session, node, caller)
    report = service.report_exchange(
        session,
        provider_did=provider,
        consumer_did=body.consumer,
        transfer_id=body.transfer_id,
        agreement_id=body.agreement_id,
        record_ids=body.record_ids,
        at=body.at,
    )
    return ExchangeOut(recorded=report.recorded, without_consent=report.without_consent)


@router.get("/records/{record_id}", response_model=RecordOut, responses=problem_responses(401, 403, 404))
def get_record(record_id: str, caller: Caller, node: NodeDep, session: SessionDep) -> RecordOut:
    """A record and its history, for its provider or its consumer."""
    record = service.record_for_party(session, record_id, _party(session, node, caller))
    return record_out(record, service.history(session, record.id))


@router.put("/webhook", status_code=204, responses=problem_responses(401, 403, 422))
def set_webhook(body: WebhookIn, caller: Caller, node: NodeDep, session: SessionDep) -> None:
    """Where to send signed notifications when a consent concerning the caller is withdrawn, expires or is invalidated."""
    service.set_webhook(session, _party(session, node, caller), body.url)


@router.post("/receipts/verify", response_model=VerifyReceiptOut, responses=problem_responses(422))
def verify(body: VerifyReceiptIn, node: NodeDep) -> VerifyReceiptOut:
    """Check a consent receipt's signature against its issuer's DID document; open to anyone."""
    try:
        content = verify_receipt(body.jws, node.resolver)
    except ReceiptInvalid as error:
        return VerifyReceiptOut(verified=False, detail=str(error))
    return VerifyReceiptOut(verified=True, detail=f"signed by {content['issuer']}", receipt=content)


class ReceivedOut(BaseModel):
    record_id: str
    seq: int
    status: str


@inbox_router.post(
    "/participants/{slug}/consent/notifications",
    response_model=ReceivedOut,
    status_code=202,
    responses=problem_responses(401, 403, 422),
    openapi_extra={"requestBody": {"required": True, "content": {notifications.MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
async def receive_notification(
    slug: Annotated[str, Path(max_length=63)], request: Request, caller: Caller, node: NodeDep
) -> ReceivedOut:
    """A consent concerning this participant changed: a compact JWS from the consent service."""
    body = await request.body()
    if len(body) > 65536:
        raise InvalidInput("the notification is larger than 64 KiB", errors=[FieldError("body", "max_size", "at most 64 KiB")])
    # verifying may resolve the consent service's DID over HTTP: off the event loop
    return await run_in_threadpool(_take_in, node, slug, caller, body)


def _take_in(node: Node, slug: str, caller: VerifiedCaller, body: bytes) -> ReceivedOut:
    with node.db.transaction() as session:
        if identity.get_participant(session, slug).did != caller.audience:
            raise Forbidden(f"the call token is addressed to {caller.audience}, not to the participant {slug}")
        received = notifications.receive(session, node, caller, body)
        return ReceivedOut(record_id=received.record_id, seq=received.seq, status=received.status)
