"""Contract negotiation on both sides of the Dataspace Protocol.

Receiving a message is synchronous and small: check it, find the negotiation, apply the state
transition, answer. Acting on it (deciding, signing, sending the next message) happens after the
answer, in `Act` callables the API runs as background tasks ("answer 201, then act").

Every act commits its state change *before* it sends the message that announces it, so a peer
that answers at once never finds us in the previous state; if the message cannot be delivered,
the negotiation is terminated with the reason. A negotiation whose peer stops answering is
terminated by `expire_stale` after `DASES_NEGOTIATION_TIMEOUT_SECONDS`: never stuck.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import DasesError, FieldError, InvalidInput, NotFound, UpstreamError
from dases.identity import service as identity
from dases.identity.client import SignedCallAuth
from dases.identity.did import InvalidDid, did_web_document_url, did_web_for
from dases.negotiation import messages
from dases.negotiation.agreements import sign_agreement, verify_agreement_signature
from dases.negotiation.messages import AGREEMENT_SIGNATURE, MessageError, envelope
from dases.negotiation.models import Negotiation, NegotiationEvent
from dases.negotiation.states import (
    TERMINAL,
    IllegalTransition,
    Role,
    State,
    is_repetition,
    next_state,
)
from dases.node import Node

log = logging.getLogger(__name__)

Act = Callable[[], None]

#: ODRL policy members that make up the terms; identifiers and parties are not terms.
TERM_MEMBERS = ("permission", "prohibition", "obligation", "profile")
#: How many pages of a provider's DSP catalog are read when looking an offer up.
MAX_CATALOG_PAGES = 100


class DspError(DasesError):
    """A negotiation error answered with the DSP ContractNegotiationError shape."""

    media_type = "application/json"

    def __init__(self, status: int, code: str, detail: str, *, provider_pid: str | None = None, consumer_pid: str | None = None) -> None:
        super().__init__(detail, reason=code)
        self.status = status
        self.slug = {400: "bad-request", 404: "not-found", 409: "conflict"}.get(status, "error")
        self.code = code
        self.provider_pid = provider_pid
        self.consumer_pid = consumer_pid

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return messages.error_body(self.provider_pid, self.consumer_pid, self.code, self.detail)


class OfferBook(Protocol):
    def find(self, session: Session, provider_slug: str, offer_id: str) -> dict[str, Any] | None:
        """The offer `offer_id` as the provider publishes it (ODRL Offer with `target`), or None."""
        ...


class PolicyJudge(Protocol):
    def decide(self, policy: dict[str, Any], context: dict[str, Any]) -> tuple[bool, list[str]]:
        """Whether the policy allows the agreement in the negotiation scope, and why not."""
        ...


@dataclass
class Negotiator:
    """What negotiation needs from the node, plus the provider's offers and policy engine."""

    node: Node
    offers: OfferBook
    judge: PolicyJudge
    schemas: messages.DspSchemas | None = None
    timeout_seconds: float = 300.0
    auto_finalize: bool = True


# --- addresses -------------------------------------------------------------------------------


def connector_url(base_url: str, slug: str) -> str:
    """The DSP endpoint of a hosted participant."""
    return f"{base_url}/participants/{slug}/dsp"


def connector_url_for_did(did: str, allow_http_hosts: list[str]) -> str:
    """The DSP endpoint a did:web participant of a DASES node answers at."""
    document_url = did_web_document_url(did, allow_http_hosts)
    if not document_url.endswith("/did.json") or document_url.endswith("/.well-known/did.json"):
        raise InvalidDid(f"{did} is not a DASES participant DID")
    return document_url[: -len("/did.json")] + "/dsp"


def did_for_connector_url(url: str) -> str:
    """The DID of the participant whose DSP endpoint is `url` (…/participants/SLUG/dsp)."""
    refusal = InvalidInput(
        f"{url!r} is not a DASES connector address (http(s)://HOST[:PORT]/…/participants/SLUG/dsp)",
        errors=[FieldError("connector_url", "dases_connector", "must be http(s)://HOST[:PORT]/…/participants/SLUG/dsp")],
    )
    try:
        parts = urlsplit(url.rstrip("/"))
        segments = [segment for segment in parts.path.split("/") if segment]
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment or parts.username:
            raise refusal
        if len(segments) < 3 or segments[-3] != "participants" or segments[-1] != "dsp":
            raise refusal
        port = parts.port
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        base = f"{parts.scheme}://{host}{f':{port}' if port else ''}" + "".join(f"/{s}" for s in segments[:-3])
        did = did_web_for(base, "participants", segments[-2])
        did_web_document_url(did)  # refuses what did:web cannot express
        return did
    except (ValueError, InvalidDid) as error:
        if error is refusal:
            raise
        raise refusal from error


# --- bookkeeping -----------------------------------------------------------------------------


def _record(session: Session, negotiation: Negotiation, direction: str, kind: str, detail: str | None = None) -> None:
    negotiation.updated_at = utcnow()
    session.add(NegotiationEvent(negotiation_id=negotiation.id, direction=direction, kind=kind, state=negotiation.state, detail=detail, at=negotiation.updated_at))


def _find(session: Session, slug: str, role: Role, pid: str) -> Negotiation | None:
    column = Negotiation.provider_pid if role is Role.PROVIDER else Negotiation.consumer_pid
    return session.scalar(select(Negotiation).where(Negotiation.participant_slug == slug, Negotiation.role == role.value, column == pid))


def _counterpart(role: Role) -> Role:
    return Role.CONSUMER if role is Role.PROVIDER else Role.PROVIDER


def _dsp(status: int, code: str, detail: str, negotiation: Negotiation | None = None, message: dict[str, Any] | None = None) -> DspError:
    provider_pid = negotiation.provider_pid if negotiation else (message or {}).get("providerPid")
    consumer_pid = negotiation.consumer_pid if negotiation else (message or {}).get("consumerPid")
    return DspError(status, code, detail, provider_pid=provider_pid if isinstance(provider_pid, str) else None, consumer_pid=consumer_pid if isinstance(consumer_pid, str) else None)


def _check(negotiator: Negotiator, message: Any, kind: str) -> dict[str, Any]:
    try:
        return messages.check_message(message, kind, negotiator.schemas)
    except MessageError as error:
        raise _dsp(400, "invalid-message", f"{kind}: {error}", message=message if isinstance(message, dict) else None) from error


def terms(policy: dict[str, Any]) -> dict[str, Any]:
    return {name: policy[name] for name in TERM_MEMBERS if name in policy}


def _transition(negotiation: Negotiation, kind: str, sender: Role) -> None:
    try:
        negotiation.state = next_state(kind, sender, State(negotiation.state)).value
    except IllegalTransition as error:
        raise _dsp(400, "illegal-transition", str(error), negotiation) from error


# --- receiving ------------------------------------------------------------------------------


def receive(
    negotiator: Negotiator,
    session: Session,
    slug: str,
    caller_did: str,
    kind: str,
    message: Any,
    pid: str,
) -> tuple[Negotiation, Act | None]:
    """Apply a message about an existing negotiation `pid` of participant `slug`.

    `kind` is the DSP message type, or ACCEPTED / FINALIZED for event messages. Returns the
    negotiation and what to do once the answer is sent (None for nothing, or a repetition).
    """
    dsp_type = "ContractNegotiationEventMessage" if kind in ("ACCEPTED", "FINALIZED") else kind
    message = _check(negotiator, message, dsp_type)
    if dsp_type == "ContractNegotiationEventMessage" and message["eventType"] != kind:
        raise _dsp(400, "invalid-message", f"eventType must be {kind} on this endpoint", message=message)
    sender = Role.PROVIDER if kind in ("ContractOfferMessage", "ContractAgreementMessage", "FINALIZED") else Role.CONSUMER
    if kind == "ContractNegotiationTerminationMessage":
        sender = None  # either party; resolved from the negotiation found below
    own_roles = [_counterpart(sender)] if sender else [Role.PROVIDER, Role.CONSUMER]
    negotiation = next((n for role in own_roles if (n := _find(session, slug, role, pid)) is not None), None)
    if negotiation is None or negotiation.counterparty_did != caller_did:
        raise _dsp(404, "unknown-negotiation", f"no negotiation {pid} with you on this connector", message=message)
    own = Role(negotiation.role)
    sender = _counterpart(own)
    if own is Role.CONSUMER and negotiation.provider_pid is None and isinstance(message.get("providerPid"), str):
        negotiation.provider_pid = message["providerPid"]
    if message.get("providerPid") != negotiation.provider_pid or message.get("consumerPid") != negotiation.consumer_pid:
        raise _dsp(400, "pid-mismatch", "providerPid and consumerPid must name this negotiation", negotiation)
    if is_repetition(kind, sender, State(negotiation.state), negotiation.last_received):
        return negotiation, None
    _transition(negotiation, kind, sender)
    negotiation.last_received = kind
    negotiation_id = negotiation.id
    follow_up: Act | None = None
    if kind in ("ContractRequestMessage", "ContractOfferMessage"):
        negotiation.offer = message["offer"]
        if own is Role.PROVIDER:
            follow_up = lambda: provider_decide(negotiator, negotiation_id)
    elif kind == "ContractAgreementMessage":
        negotiation.agreement = message["agreement"]
        negotiation.provider_signature = message.get(AGREEMENT_SIGNATURE)
        follow_up = lambda: consumer_verify(negotiator, negotiation_id)
    elif kind == "ACCEPTED":
        follow_up = lambda: provider_agree(negotiator, negotiation_id)
    elif kind == "ContractAgreementVerificationMessage":
        check = verify_agreement_signature(negotiation.agreement or {}, message.get(AGREEMENT_SIGNATURE, ""), caller_did, negotiator.node.resolver)
        if not check.valid:
            raise _dsp(400, "invalid-signature", f"the consumer's agreement signature is not valid: {check.detail}", negotiation)
        negotiation.consumer_signature = message[AGREEMENT_SIGNATURE]
        if negotiator.auto_finalize:
            follow_up = lambda: provider_finalize(negotiator, negotiation_id)
    elif kind == "ContractNegotiationTerminationMessage":
        negotiation.termination_code = str(message.get("code", ""))[:64] or None
        negotiation.termination_reason = "; ".join(str(r) for r in message.get("reason", []))[:2000] or None
    _record(session, negotiation, "received", kind)
    return negotiation, follow_up


def _receive_opening(negotiator: Negotiator, session: Session, slug: str, caller_did: str, message: Any, kind: str) -> tuple[Negotiation, bool]:
    """A peer opens a negotiation (initial request or offer): one negotiation per peer pid.

    Returns the negotiation and whether it is new; the same opening message again finds the
    negotiation it opened.
    """
    message = _check(negotiator, message, kind)
    sender = Role.CONSUMER if kind == "ContractRequestMessage" else Role.PROVIDER
    own_pid, peer_pid = ("providerPid", "consumerPid") if sender is Role.CONSUMER else ("consumerPid", "providerPid")
    if own_pid in message:
        raise _dsp(400, "invalid-message", f"an opening {kind} carries no {own_pid}; counters go to /negotiations/{{{own_pid}}}/...", message=message)
    callback = message.get("callbackAddress", "").rstrip("/")
    try:
        expected = connector_url_for_did(caller_did, negotiator.node.settings.allow_http_did_hosts)
    except InvalidDid as error:
        raise _dsp(400, "invalid-callback", f"the caller's DID has no DASES connector address: {error}", message=message) from error
    if callback != expected:
        raise _dsp(400, "invalid-callback", f"callbackAddress must be your connector address {expected}", message=message)
    own_role = _counterpart(sender)
    peer_column = Negotiation.consumer_pid if sender is Role.CONSUMER else Negotiation.provider_pid
    existing = session.scalar(
        select(Negotiation).where(
            Negotiation.participant_slug == slug, Negotiation.role == own_role.value,
            peer_column == message[peer_pid], Negotiation.counterparty_did == caller_did,
        )
    )
    if existing is not None:
        return existing, False
    pids = {"provider_pid": f"urn:uuid:{uuid.uuid4()}", "consumer_pid": message[peer_pid]}
    if sender is Role.PROVIDER:
        pids = {"provider_pid": message[peer_pid], "consumer_pid": f"urn:uuid:{uuid.uuid4()}"}
    negotiation = Negotiation(
        id=str(uuid.uuid4()), participant_slug=slug, role=own_role.value, **pids,
        state=next_state(kind, sender, None).value, counterparty_did=caller_did, counterparty_address=callback,
        offer=message["offer"], last_received=kind, created_at=utcnow(),
    )
    session.add(negotiation)
    session.flush()
    _record(session, negotiation, "received", kind)
    return negotiation, True


def provider_receive_request(negotiator: Negotiator, session: Session, slug: str, caller_did: str, message: Any) -> tuple[Negotiation, Act | None]:
    """A consumer opens a negotiation: REQUESTED, and the provider decides after answering."""
    negotiation, new = _receive_opening(negotiator, session, slug, caller_did, message, "ContractRequestMessage")
    negotiation_id = negotiation.id
    return negotiation, (lambda: provider_decide(negotiator, negotiation_id)) if new else None


def consumer_receive_offer(negotiator: Negotiator, session: Session, slug: str, caller_did: str, message: Any) -> Negotiation:
    """A provider opens a negotiation with an offer; it waits for the consumer's decision."""
    return _receive_opening(negotiator, session, slug, caller_did, message, "ContractOfferMessage")[0]


# --- sending --------------------------------------------------------------------------------


def _send(negotiator: Negotiator, negotiation: Negotiation, path: str, message: dict[str, Any]) -> httpx.Response:
    """POST a message to the counterparty as a signed call; raises DeliveryFailed."""
    if negotiator.schemas is not None:
        problems = negotiator.schemas.errors(message)
        if problems:
            raise RuntimeError(f"this node built an invalid {message['@type']}: {problems}")
    node = negotiator.node
    with node.db.transaction() as session:
        signer = identity.signer_for(session, node.sealer, negotiation.participant_slug)
    url = f"{negotiation.counterparty_address}{path}"
    try:
        response = node.http.post(url, json=message, auth=SignedCallAuth(signer, negotiation.counterparty_did))
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{message['@type']} could not reach {url}: {type(error).__name__}") from error
    if response.status_code >= 300:
        raise DeliveryFailed(f"{url} refused {message['@type']} with {response.status_code}: {response.text[:300]}")
    return response


class DeliveryFailed(Exception):
    """The counterparty could not be reached, or refused the message."""


def _act(negotiator: Negotiator, negotiation_id: str, step: Callable[[Session, Negotiation], tuple[str, dict[str, Any]] | None]) -> None:
    """Run one step: change state and commit, then deliver; terminate if delivery fails."""
    with negotiator.node.db.transaction() as session:
        negotiation = session.get(Negotiation, negotiation_id)
        if negotiation is None:
            return
        outgoing = step(session, negotiation)
        snapshot = Negotiation(**{c.key: getattr(negotiation, c.key) for c in Negotiation.__table__.columns})
    if outgoing is None:
        return
    path, message = outgoing
    try:
        _send(negotiator, snapshot, path, message)
    except Exception as error:  # undeliverable, or refused: the negotiation cannot go on
        if not isinstance(error, DeliveryFailed):
            log.exception("negotiation %s: sending %s failed", negotiation_id, message.get("@type"))
        _terminate_locally(negotiator, negotiation_id, error)


def _terminate_step(code: str, reason: str) -> Callable[[Session, Negotiation], tuple[str, dict[str, Any]] | None]:
    def step(session: Session, negotiation: Negotiation) -> tuple[str, dict[str, Any]] | None:
        if State(negotiation.state) in TERMINAL:
            return None
        negotiation.state = State.TERMINATED.value
        negotiation.termination_code, negotiation.termination_reason = code, reason
        _record(session, negotiation, "sent", "ContractNegotiationTerminationMessage", reason)
        log.info("negotiation %s terminated (%s): %s", negotiation.id, code, reason)
        pid = negotiation.consumer_pid if negotiation.role == Role.PROVIDER.value else negotiation.provider_pid
        if pid is None:
            return None
        message = envelope("ContractNegotiationTerminationMessage", providerPid=negotiation.provider_pid, consumerPid=negotiation.consumer_pid, code=code, reason=[reason])
        return f"/negotiations/{pid}/termination", message
    return step


def terminate(negotiator: Negotiator, negotiation_id: str, code: str, reason: str) -> None:
    _act(negotiator, negotiation_id, _terminate_step(code, reason))


def _agreement_for(session: Session, negotiation: Negotiation, published: dict[str, Any]) -> dict[str, Any]:
    provider_did = identity.get_participant(session, negotiation.participant_slug).did
    return {
        "@id": f"urn:uuid:{uuid.uuid4()}",
        "@type": "Agreement",
        "target": published["target"],
        "assigner": provider_did,
        "assignee": negotiation.counterparty_did,
        "timestamp": utcnow().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        **terms(published),
    }


def provider_decide(negotiator: Negotiator, negotiation_id: str) -> None:
    """Agree to a request for a published offer whose policy allows it; counter-offer the
    published terms when the request changed them; terminate with the reason otherwise."""

    def step(session: Session, negotiation: Negotiation) -> tuple[str, dict[str, Any]] | None:
        if negotiation.state != State.REQUESTED.value:
            return None
        requested = negotiation.offer or {}
        offer_id = requested.get("@id")
        published = negotiator.offers.find(session, negotiation.participant_slug, offer_id) if isinstance(offer_id, str) else None
        if published is None:
            return _terminate_step("offer-unknown", f"no published offer {offer_id!r} on this connector")(session, negotiation)
        if requested.get("target", published["target"]) != published["target"] or terms(requested) != terms(published):
            negotiation.state = next_state("ContractOfferMessage", Role.PROVIDER, State.REQUESTED).value
            negotiation.offer = published
            _record(session, negotiation, "sent", "ContractOfferMessage", "counter-offer: the published terms")
            message = envelope("ContractOfferMessage", providerPid=negotiation.provider_pid, consumerPid=negotiation.consumer_pid, offer=published)
            return f"/negotiations/{negotiation.consumer_pid}/offers", message
        return _agree_step(negotiator, published)(session, negotiation)

    _act(negotiator, negotiation_id, step)


def declared_purpose(offer: dict[str, Any]) -> str | None:
    """The purpose the consumer commits to by requesting an offer that constrains it.

    In the negotiation scope a purpose constraint is a commitment, not a fact to check: the
    consumer declares it by asking for these terms, and each transfer checks it again.
    """
    pending: list[Any] = list(offer.get("permission", [])) if isinstance(offer.get("permission"), list) else []
    while pending:
        item = pending.pop(0)
        if not isinstance(item, dict):
            continue
        if str(item.get("leftOperand", "")).rsplit(":", 1)[-1].rsplit("/", 1)[-1] == "purpose" and isinstance(item.get("rightOperand"), str):
            return item["rightOperand"]
        for key in ("constraint", "and", "or", "xone", "andSequence"):
            if isinstance(item.get(key), list):
                pending.extend(item[key])
    return None


def _agree_step(negotiator: Negotiator, published: dict[str, Any] | None = None) -> Callable[[Session, Negotiation], tuple[str, dict[str, Any]] | None]:
    def step(session: Session, negotiation: Negotiation) -> tuple[str, dict[str, Any]] | None:
        if negotiation.state not in (State.REQUESTED.value, State.ACCEPTED.value):
            return None
        offer = published or negotiation.offer or {}
        facts = {"recipient": negotiation.counterparty_did, "purpose": declared_purpose(negotiation.offer or {})}
        allowed, reasons = negotiator.judge.decide(offer, facts)
        if not allowed:
            return _terminate_step("policy-denied", "; ".join(reasons) or "the offer policy denies this agreement")(session, negotiation)
        agreement = _agreement_for(session, negotiation, offer)
        signer = identity.signer_for(session, negotiator.node.sealer, negotiation.participant_slug)
        negotiation.agreement = agreement
        negotiation.provider_signature = sign_agreement(agreement, signer)
        negotiation.state = next_state("ContractAgreementMessage", Role.PROVIDER, State(negotiation.state)).value
        _record(session, negotiation, "sent", "ContractAgreementMessage")
        message = envelope("ContractAgreementMessage", providerPid=negotiation.provider_pid, consumerPid=negotiation.consumer_pid, agreement=agreement)
        message[AGREEMENT_SIGNATURE] = negotiation.provider_signature
        return f"/negotiations/{negotiation.consumer_pid}/agreement", message
    return step


def provider_agree(negotiator: Negotiator, negotiation_id: str) -> None:
    """The consumer accepted our offer: agree on it."""
    _act(negotiator, negotiation_id, _agree_step(negotiator))


def provider_finalize(negotiator: Negotiator, negotiation_id: str, *, strict: bool = False) -> None:
    """Tell the consumer the agreement is final; `strict` (a person asked) refuses other states."""

    def step(session: Session, negotiation: Negotiation) -> tuple[str, dict[str, Any]] | None:
        if negotiation.state != State.VERIFIED.value or negotiation.role != Role.PROVIDER.value:
            if strict:
                raise IllegalTransition(f"only a provider's VERIFIED negotiation can be finalized; this one is {negotiation.role} {negotiation.state}")
            return None
        negotiation.state = next_state("FINALIZED", Role.PROVIDER, State.VERIFIED).value
        _record(session, negotiation, "sent", "FINALIZED")
        message = envelope("ContractNegotiationEventMessage", providerPid=negotiation.provider_pid, consumerPid=negotiation.consumer_pid, eventType="FINALIZED")
        return f"/negotiations/{negotiation.consumer_pid}/events", message

    _act(negotiator, negotiation_id, step)


def consumer_verify(negotiator: Negotiator, negotiation_id: str) -> None:
    """Check the provider's agreement against what we asked for, countersign, send it back."""

    def step(session: Session, negotiation: Negotiation) -> tuple[str, dict[str, Any]] | None:
        if negotiation.state != State.AGREED.value:
            return None
        agreement = negotiation.agreement or {}
        offer = negotiation.offer or {}
        own_did = identity.get_participant(session, negotiation.participant_slug).did
        problem = None
        if agreement.get("assignee") != own_did or agreement.get("assigner") != negotiation.counterparty_did:
            problem = "the agreement does not name the two parties of this negotiation"
        elif "target" in offer and agreement.get("target") != offer["target"]:
            problem = "the agreement is not about the target that was negotiated"
        elif terms(agreement) != terms(offer):
            problem = "the agreement's terms differ from the offer"
        else:
            check = verify_agreement_signature(agreement, negotiation.provider_signature or "", negotiation.counterparty_did, negotiator.node.resolver)
            if not check.valid:
                problem = f"the provider's signature is not valid: {check.detail}"
        if problem:
            return _terminate_step("agreement-rejected", problem)(session, negotiation)
        signer = identity.signer_for(session, negotiator.node.sealer, negotiation.participant_slug)
        negotiation.consumer_signature = sign_agreement(agreement, signer)
        negotiation.state = next_state("ContractAgreementVerificationMessage", Role.CONSUMER, State.AGREED).value
        _record(session, negotiation, "sent", "ContractAgreementVerificationMessage")
        message = envelope("ContractAgreementVerificationMessage", providerPid=negotiation.provider_pid, consumerPid=negotiation.consumer_pid)
        message[AGREEMENT_SIGNATURE] = negotiation.consumer_signature
        return f"/negotiations/{negotiation.provider_pid}/agreement/verification", message

    _act(negotiator, negotiation_id, step)


# --- local actions (management API) -------------------------------------------------------


def find_remote_offer(negotiator: Negotiator, slug: str, provider_url: str, offer_id: str) -> dict[str, Any]:
    """The offer `offer_id` from the provider's DSP catalog, with its dataset as `target`."""
    provider_url = provider_url.rstrip("/")
    provider_did = did_for_connector_url(provider_url)
    node = negotiator.node
    with node.db.transaction() as session:
        signer = identity.signer_for(session, node.sealer, slug)
    message = envelope("CatalogRequestMessage", filter=[])
    url: str | None = f"{provider_url}/catalog/request"
    pages = 0
    while url is not None and pages < MAX_CATALOG_PAGES:
        pages += 1
        try:
            response = node.http.post(url, json=message, auth=SignedCallAuth(signer, provider_did))
        except httpx.HTTPError as error:
            raise UpstreamError(f"the provider's catalog at {provider_url} cannot be reached: {type(error).__name__}") from error
        if response.status_code != 200:
            raise UpstreamError(f"the provider's catalog answered {response.status_code}: {response.text[:300]}")
        try:
            catalog = response.json()
        except ValueError as error:
            raise UpstreamError("the provider's catalog is not JSON") from error
        datasets = catalog.get("dataset", []) if isinstance(catalog, dict) else []
        for dataset in datasets if isinstance(datasets, list) else []:
            for offer in dataset.get("hasPolicy", []) if isinstance(dataset, dict) else []:
                if isinstance(offer, dict) and offer.get("@id") == offer_id:
                    return {**offer, "target": dataset.get("@id")}
        following = response.links.get("next", {}).get("url")
        url = following if following and following.startswith(provider_url) else None
    raise NotFound(f"the provider's catalog at {provider_url} has no offer {offer_id}")



def _terminate_locally(negotiator: Negotiator, negotiation_id: str, error: Exception) -> None:
    """The counterparty cannot be reached or refused: end the negotiation here, with the reason."""
    log.warning("negotiation %s terminated: %s", negotiation_id, error)
    with negotiator.node.db.transaction() as session:
        negotiation = session.get(Negotiation, negotiation_id)
        if negotiation is not None and State(negotiation.state) not in TERMINAL:
            negotiation.state = State.TERMINATED.value
            negotiation.termination_code, negotiation.termination_reason = "delivery-failed", str(error)
            _record(session, negotiation, "local", "TerminatedOnDeliveryFailure", str(error))


def _open(negotiator: Negotiator, slug: str, role: Role, counterparty_url: str, offer: dict[str, Any]) -> str:
    """Open a negotiation as `role`: record it, send the opening message, keep the peer's pid.

    `offer` is the consumer's requested offer, or the provider's published one.
    """
    counterparty_url = counterparty_url.rstrip("/")
    counterparty_did = did_for_connector_url(counterparty_url)
    kind, path, peer_pid = (
        ("ContractRequestMessage", "/negotiations/request", "providerPid") if role is Role.CONSUMER
        else ("ContractOfferMessage", "/negotiations/offers", "consumerPid")
    )
    own_pid = {"consumer_pid" if role is Role.CONSUMER else "provider_pid": f"urn:uuid:{uuid.uuid4()}"}
    negotiation_id = str(uuid.uuid4())
    with negotiator.node.db.transaction() as session:
        identity.get_participant(session, slug)
        negotiation = Negotiation(
            id=negotiation_id, participant_slug=slug, role=role.value, **own_pid,
            state=next_state(kind, role, None).value, counterparty_did=counterparty_did,
            counterparty_address=counterparty_url, offer=offer, created_at=utcnow(),
        )
        session.add(negotiation)
        session.flush()
        _record(session, negotiation, "sent", kind)
        snapshot = Negotiation(**{c.key: getattr(negotiation, c.key) for c in Negotiation.__table__.columns})
    pids = {"consumerPid": snapshot.consumer_pid} if role is Role.CONSUMER else {"providerPid": snapshot.provider_pid}
    message = envelope(kind, **pids, offer=offer, callbackAddress=connector_url(negotiator.node.settings.base_url, slug))
    try:
        answer = _send(negotiator, snapshot, path, message).json()
        pid = answer.get(peer_pid) if isinstance(answer, dict) else None
        if not isinstance(pid, str):
            raise DeliveryFailed(f"the answer carries no {peer_pid}")
    except (DeliveryFailed, ValueError) as error:
        _terminate_locally(negotiator, negotiation_id, error)
        return negotiation_id
    with negotiator.node.db.transaction() as session:
        negotiation = session.get(Negotiation, negotiation_id)
        if negotiation is not None:
            if role is Role.CONSUMER and negotiation.provider_pid is None:
                negotiation.provider_pid = pid
            elif role is Role.PROVIDER and negotiation.consumer_pid is None:
                negotiation.consumer_pid = pid
    return negotiation_id


def consumer_request(negotiator: Negotiator, slug: str, provider_url: str, offer: dict[str, Any]) -> str:
    """Open a negotiation as consumer: record REQUESTED, send the request, keep the providerPid."""
    return _open(negotiator, slug, Role.CONSUMER, provider_url, offer)


def provider_offer(negotiator: Negotiator, slug: str, consumer_url: str, offer_id: str) -> str:
    """Open a negotiation as provider, offering a published offer to a consumer."""
    with negotiator.node.db.transaction() as session:
        published = negotiator.offers.find(session, slug, offer_id)
    if published is None:
        raise NotFound(f"no published offer {offer_id!r} for {slug}")
    return _open(negotiator, slug, Role.PROVIDER, consumer_url, published)


def consumer_accept(negotiator: Negotiator, negotiation_id: str) -> None:
    def step(session: Session, negotiation: Negotiation) -> tuple[str, dict[str, Any]] | None:
        negotiation.state = next_state("ACCEPTED", Role.CONSUMER, State(negotiation.state)).value
        _record(session, negotiation, "sent", "ACCEPTED")
        message = envelope("ContractNegotiationEventMessage", providerPid=negotiation.provider_pid, consumerPid=negotiation.consumer_pid, eventType="ACCEPTED")
        return f"/negotiations/{negotiation.provider_pid}/events", message

    _act(negotiator, negotiation_id, step)


def consumer_counter(negotiator: Negotiator, negotiation_id: str, offer: dict[str, Any]) -> None:
    def step(session: Session, negotiation: Negotiation) -> tuple[str, dict[str, Any]] | None:
        negotiation.state = next_state("ContractRequestMessage", Role.CONSUMER, State(negotiation.state)).value
        negotiation.offer = offer
        _record(session, negotiation, "sent", "ContractRequestMessage", "counter-request")
        message = envelope("ContractRequestMessage", providerPid=negotiation.provider_pid, consumerPid=negotiation.consumer_pid, offer=offer)
        return f"/negotiations/{negotiation.provider_pid}/request", message

    _act(negotiator, negotiation_id, step)


def finalized_agreement(session: Session, slug: str, agreement_id: str) -> Negotiation | None:
    """The FINALIZED negotiation of participant `slug` (either role) whose agreement is
    `agreement_id`, or None; other building blocks (transfer) read agreements through this."""
    negotiation = session.scalar(
        select(Negotiation).where(
            Negotiation.participant_slug == slug,
            Negotiation.state == State.FINALIZED.value,
            Negotiation.agreement["@id"].as_string() == agreement_id,
        )
    )
    return negotiation if negotiation is not None and negotiation.agreement is not None else None


def negotiations_of(session: Session, slug: str, *, limit: int = 100, offset: int = 0) -> tuple[int, list[Negotiation]]:
    """A hosted participant's negotiations in either role, newest first, and how many there
    are: what a member reads as its list of contracts (the portal pages page through it)."""
    where = Negotiation.participant_slug == slug
    total = session.scalar(select(func.count()).select_from(Negotiation).where(where)) or 0
    rows = session.scalars(select(Negotiation).where(where).order_by(Negotiation.created_at.desc(), Negotiation.id).limit(limit).offset(offset))
    return total, list(rows)


def get_local(session: Session, slug: str, negotiation_id: str) -> Negotiation:
    negotiation = session.get(Negotiation, negotiation_id)
    if negotiation is None or negotiation.participant_slug != slug:
        raise NotFound(f"no negotiation {negotiation_id} for {slug}")
    return negotiation


def expire_stale(negotiator: Negotiator) -> int:
    """Terminate every open negotiation that has not moved for the timeout; returns how many."""
    cutoff = utcnow() - timedelta(seconds=negotiator.timeout_seconds)
    with negotiator.node.db.transaction() as session:
        stale = list(session.scalars(select(Negotiation.id).where(Negotiation.state.not_in([s.value for s in TERMINAL]), Negotiation.updated_at < cutoff)))
    for negotiation_id in stale:
        reason = f"the peer did not answer within {negotiator.timeout_seconds:g} s"
        log.warning("negotiation %s timed out: %s", negotiation_id, reason)
        terminate(negotiator, negotiation_id, "timeout", reason)
    return len(stale)
