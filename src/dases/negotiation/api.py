"""HTTP routes of contract negotiation.

Two surfaces per hosted participant:

- the Dataspace Protocol endpoints under `/participants/{slug}/dsp/negotiations/...`, for peers
  (signed calls; errors in the DSP ContractNegotiationError shape);
- the management endpoints under `/participants/{slug}/negotiations`, for the participant's own
  operator (admin token): start, accept, counter, terminate, inspect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from dases.errors import Conflict, FieldError, InvalidInput, Unauthorized, problem_responses
from dases.identity.auth import Caller
from dases.identity.models import Participant
from dases.identity.service import SLUG_PATTERN
from dases.identity.tokens import VerifiedCaller
from dases.negotiation import service
from dases.negotiation.messages import negotiation_body
from dases.negotiation.models import Negotiation, NegotiationEvent
from dases.negotiation.states import IllegalTransition
from dases.node import AdminDep, SessionDep
from dases.types import Text

router = APIRouter(tags=["negotiation"])

Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63)]
Pid = Annotated[str, Path(min_length=1, max_length=200)]
Message = Annotated[dict[str, Any], Body(description="A DSP message (JSON-LD, compact form).")]


class DspNegotiationError(BaseModel):
    context: list[str] = Field(alias="@context")
    type: str = Field(alias="@type")
    providerPid: str
    consumerPid: str
    code: str | None = None
    reason: list[Any] | None = None


class DspNegotiation(BaseModel):
    context: list[str] = Field(alias="@context")
    type: str = Field(alias="@type")
    providerPid: str
    consumerPid: str
    state: str


_DSP_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": DspNegotiationError, "description": "DSP ContractNegotiationError"},
    404: {"model": DspNegotiationError, "description": "DSP ContractNegotiationError"},
    **problem_responses(401, 422),
}


def get_negotiator(request: Request) -> service.Negotiator:
    return request.app.state.negotiator


NegotiatorDep = Annotated[service.Negotiator, Depends(get_negotiator)]


def connector_caller(slug: Slug, caller: Caller, session: SessionDep) -> VerifiedCaller:
    """The verified caller, if its token is addressed to the participant whose endpoint it calls."""
    participant = session.get(Participant, slug)
    if participant is None or caller.audience != participant.did:
        raise Unauthorized(f"this token is addressed to {caller.audience}, not to the participant of this endpoint", reason="wrong_audience")
    return caller


ConnectorCaller = Annotated[VerifiedCaller, Depends(connector_caller)]


def _answer(negotiation: Negotiation, status: int = 200) -> JSONResponse:
    body = negotiation_body(negotiation.provider_pid or "", negotiation.consumer_pid or "", negotiation.state)
    return JSONResponse(body, status_code=status)


def _later(tasks: BackgroundTasks, act: service.Act | None) -> None:
    if act is not None:
        tasks.add_task(act)


# --- DSP: provider side -----------------------------------------------------------------------


@router.post("/participants/{slug}/dsp/negotiations/request", status_code=201, response_model=DspNegotiation, responses=_DSP_ERRORS)
def request_negotiation(slug: Slug, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """A consumer requests an offer (opens a negotiation): 201 REQUESTED, the decision follows."""
    negotiation, act = service.provider_receive_request(negotiator, session, slug, caller.did, message)
    _later(tasks, act)
    return _answer(negotiation, 201)


@router.get("/participants/{slug}/dsp/negotiations/{pid}", response_model=DspNegotiation, responses=_DSP_ERRORS)
def get_negotiation(slug: Slug, pid: Pid, caller: ConnectorCaller, session: SessionDep) -> JSONResponse:
    """The negotiation's state, for its counterparty only."""
    for role in (service.Role.PROVIDER, service.Role.CONSUMER):
        negotiation = service._find(session, slug, role, pid)
        if negotiation is not None and negotiation.counterparty_did == caller.did:
            return _answer(negotiation)
    raise service.DspError(404, "unknown-negotiation", f"no negotiation {pid} with you on this connector")


def _receive(kind: str, slug: str, pid: str, message: Any, caller_did: str, negotiator: service.Negotiator, session: Any, tasks: BackgroundTasks) -> JSONResponse:
    negotiation, act = service.receive(negotiator, session, slug, caller_did, kind, message, pid)
    _later(tasks, act)
    return _answer(negotiation)


@router.post("/participants/{slug}/dsp/negotiations/{pid}/request", response_model=DspNegotiation, responses=_DSP_ERRORS)
def counter_request(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """The consumer's counter-request on an offer."""
    return _receive("ContractRequestMessage", slug, pid, message, caller.did, negotiator, session, tasks)


@router.post("/participants/{slug}/dsp/negotiations/{pid}/events", response_model=DspNegotiation, responses=_DSP_ERRORS)
def negotiation_event(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """ACCEPTED (consumer to provider) or FINALIZED (provider to consumer)."""
    event = message.get("eventType") if isinstance(message, dict) else None
    kind = event if event in ("ACCEPTED", "FINALIZED") else "ACCEPTED"
    return _receive(kind, slug, pid, message, caller.did, negotiator, session, tasks)


@router.post("/participants/{slug}/dsp/negotiations/{pid}/agreement/verification", response_model=DspNegotiation, responses=_DSP_ERRORS)
def agreement_verification(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """The consumer verified and countersigned the agreement."""
    return _receive("ContractAgreementVerificationMessage", slug, pid, message, caller.did, negotiator, session, tasks)


@router.post("/participants/{slug}/dsp/negotiations/{pid}/termination", response_model=DspNegotiation, responses=_DSP_ERRORS)
def termination(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """Either party ends the negotiation."""
    return _receive("ContractNegotiationTerminationMessage", slug, pid, message, caller.did, negotiator, session, tasks)


# --- DSP: consumer side (callbacks) -------------------------------------------------------------


@router.post("/participants/{slug}/dsp/negotiations/offers", status_code=201, response_model=DspNegotiation, responses=_DSP_ERRORS)
def initial_offer(slug: Slug, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep) -> JSONResponse:
    """A provider offers (opens a negotiation): 201 OFFERED, waiting for the consumer's decision."""
    return _answer(service.consumer_receive_offer(negotiator, session, slug, caller.did, message), 201)


@router.post("/participants/{slug}/dsp/negotiations/{pid}/offers", response_model=DspNegotiation, responses=_DSP_ERRORS)
def counter_offer(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """The provider's counter-offer on a request."""
    return _receive("ContractOfferMessage", slug, pid, message, caller.did, negotiator, session, tasks)


@router.post("/participants/{slug}/dsp/negotiations/{pid}/agreement", response_model=DspNegotiation, responses=_DSP_ERRORS)
def agreement(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, negotiator: NegotiatorDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """The provider's signed agreement; the consumer checks and countersigns it next."""
    return _receive("ContractAgreementMessage", slug, pid, message, caller.did, negotiator, session, tasks)


# --- management (admin) -------------------------------------------------------------------------


class StartNegotiationIn(BaseModel):
    provider_url: Text = Field(min_length=8, max_length=2048, pattern=r"^https?://", description="The provider's DSP endpoint, …/participants/SLUG/dsp")
    offer_id: Text | None = Field(default=None, min_length=1, max_length=200, description="An offer of the provider's catalog, fetched from it.")
    offer: dict[str, Any] | None = Field(default=None, description="Or the ODRL Offer itself (with @id and target), e.g. with changed terms.")


class OfferToConsumerIn(BaseModel):
    consumer_url: Text = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    offer_id: Text = Field(min_length=1, max_length=200)


class CounterIn(BaseModel):
    offer: dict[str, Any]


class TerminateIn(BaseModel):
    reason: Text = Field(default="terminated by the participant", min_length=1, max_length=2000)


class EventOut(BaseModel):
    direction: str
    kind: str
    state: str
    detail: str | None
    at: datetime


class NegotiationOut(BaseModel):
    id: str
    role: str
    state: str
    provider_pid: str | None
    consumer_pid: str | None
    counterparty_did: str
    offer: dict[str, Any] | None
    agreement: dict[str, Any] | None
    provider_signature: str | None
    consumer_signature: str | None
    termination_code: str | None
    termination_reason: str | None
    created_at: datetime
    updated_at: datetime
    events: list[EventOut] = []


def _out(session: Any, negotiation: Negotiation, with_events: bool = True) -> NegotiationOut:
    out = NegotiationOut.model_validate(negotiation, from_attributes=True)
    if with_events:
        rows = session.scalars(select(NegotiationEvent).where(NegotiationEvent.negotiation_id == negotiation.id).order_by(NegotiationEvent.id))
        out.events = [EventOut.model_validate(row, from_attributes=True) for row in rows]
    return out


_ADMIN_ERRORS = problem_responses(400, 401, 403, 404, 409, 422, 502)


def _local(negotiator: service.Negotiator, slug: str, negotiation_id: str) -> NegotiationOut:
    with negotiator.node.db.transaction() as session:
        return _out(session, service.get_local(session, slug, negotiation_id))


@router.post("/participants/{slug}/negotiations", status_code=201, response_model=NegotiationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def start(slug: Slug, body: StartNegotiationIn, negotiator: NegotiatorDep) -> NegotiationOut:
    """Negotiate as consumer: send the request to the provider; follow the state here."""
    if (body.offer is None) == (body.offer_id is None):
        raise InvalidInput(
            "give exactly one of offer_id (looked up in the provider's catalog) or offer",
            errors=[FieldError("body.offer_id", "one_of", "exactly one of offer_id and offer is required")],
        )
    offer = body.offer or service.find_remote_offer(negotiator, slug, body.provider_url, body.offer_id or "")
    negotiation_id = service.consumer_request(negotiator, slug, body.provider_url, offer)
    return _local(negotiator, slug, negotiation_id)


@router.post("/participants/{slug}/negotiations/offers", status_code=201, response_model=NegotiationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def offer_to_consumer(slug: Slug, body: OfferToConsumerIn, negotiator: NegotiatorDep) -> NegotiationOut:
    """Negotiate as provider: offer a published offer to a consumer."""
    negotiation_id = service.provider_offer(negotiator, slug, body.consumer_url, body.offer_id)
    return _local(negotiator, slug, negotiation_id)


@router.get("/participants/{slug}/negotiations", response_model=list[NegotiationOut], dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def list_negotiations(slug: Slug, session: SessionDep) -> list[NegotiationOut]:
    rows = session.scalars(select(Negotiation).where(Negotiation.participant_slug == slug).order_by(Negotiation.created_at.desc()).limit(500))
    return [_out(session, row, with_events=False) for row in rows]


@router.get("/participants/{slug}/negotiations/{negotiation_id}", response_model=NegotiationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def show(slug: Slug, negotiation_id: Annotated[str, Path(max_length=36)], session: SessionDep) -> NegotiationOut:
    return _out(session, service.get_local(session, slug, negotiation_id))


def _locally(negotiator: service.Negotiator, slug: str, negotiation_id: str, action: service.Act) -> NegotiationOut:
    _local(negotiator, slug, negotiation_id)  # 404 for another participant's negotiation
    try:
        action()
    except IllegalTransition as error:
        raise Conflict(str(error)) from error
    return _local(negotiator, slug, negotiation_id)


@router.post("/participants/{slug}/negotiations/{negotiation_id}/accept", response_model=NegotiationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def accept(slug: Slug, negotiation_id: Annotated[str, Path(max_length=36)], negotiator: NegotiatorDep) -> NegotiationOut:
    """Accept the provider's offer (OFFERED -> ACCEPTED)."""
    return _locally(negotiator, slug, negotiation_id, lambda: service.consumer_accept(negotiator, negotiation_id))


@router.post("/participants/{slug}/negotiations/{negotiation_id}/counter", response_model=NegotiationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def counter(slug: Slug, negotiation_id: Annotated[str, Path(max_length=36)], body: CounterIn, negotiator: NegotiatorDep) -> NegotiationOut:
    """Answer an offer with another request (OFFERED -> REQUESTED)."""
    return _locally(negotiator, slug, negotiation_id, lambda: service.consumer_counter(negotiator, negotiation_id, body.offer))


@router.post("/participants/{slug}/negotiations/{negotiation_id}/finalize", response_model=NegotiationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def finalize(slug: Slug, negotiation_id: Annotated[str, Path(max_length=36)], negotiator: NegotiatorDep) -> NegotiationOut:
    """As provider, declare a verified agreement final (when DASES_NEGOTIATION_AUTO_FINALIZE is off)."""
    return _locally(negotiator, slug, negotiation_id, lambda: service.provider_finalize(negotiator, negotiation_id, strict=True))


@router.post("/participants/{slug}/negotiations/{negotiation_id}/terminate", response_model=NegotiationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def terminate(slug: Slug, negotiation_id: Annotated[str, Path(max_length=36)], body: TerminateIn, negotiator: NegotiatorDep) -> NegotiationOut:
    """End the negotiation and tell the counterparty."""
    current = _local(negotiator, slug, negotiation_id)
    if current.state in ("FINALIZED", "TERMINATED"):
        raise Conflict(f"negotiation {negotiation_id} is already {current.state}")
    return _locally(negotiator, slug, negotiation_id, lambda: service.terminate(negotiator, negotiation_id, "terminated", body.reason))
