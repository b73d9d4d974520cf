"""Transfer processes on both sides of the Dataspace Protocol (the control plane).

Like negotiation: receiving a message is synchronous and small (check it, find the transfer,
apply the transition, answer); acting on it (enforcing, releasing the payload, sending the next
message, downloading) happens after the answer, in `Act` callables the API runs as background
tasks, or in threads for downloads and pushes. Each act commits its state change before sending
the message that announces it; a message that cannot be delivered terminates the transfer with
the reason.

Provider: a TransferRequestMessage opens REQUESTED; the provider enforces the agreement and its
policy (`enforcement`), releases the payload (`release`, consent filtered at the source), then
STARTED: for a pull it issues a short-lived token in the TransferStartMessage's DataAddress, for a
push it sends the payload to the consumer's endpoint. Tokens are revoked, and streaming responses
stop, as soon as the transfer is suspended, completed or terminated.

Consumer: it downloads the payload (`download.pull`), resuming with Range through outages,
verifies its SHA-256, renames it into place only then, and completes the transfer; a payload
that cannot be obtained whole ends the transfer TERMINATED with the reason.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import Conflict, DasesError, NotFound
from dases.identity import service as identity
from dases.identity.client import SignedCallAuth
from dases.identity.did import InvalidDid
from dases.negotiation.service import connector_url, connector_url_for_did
from dases.node import Node
from dases.transfer import messages, release, tokens
from dases.transfer.adapters import AgreementBook, ConsentGate, Ledger
from dases.transfer.download import Outcome, Plan, Refused, pull
from dases.transfer.enforcement import check_agreement, check_policy, prior_uses, revocation
from dases.transfer.messages import PULL, PUSH, MessageError, TransferSchemas, envelope
from dases.transfer.models import AgreementRevocation, Transfer, TransferEvent
from dases.transfer.states import (
    OPEN,
    TERMINAL,
    IllegalTransition,
    Role,
    State,
    is_repetition,
    next_state,
)

log = logging.getLogger(__name__)

Act = Callable[[], None]
Step = Callable[[Session, Transfer], tuple[str, dict[str, Any]] | None]

#: Lifetime of the token a consumer gives a provider to push to its endpoint.
PUSH_TOKEN_SECONDS = 3600


class DspError(DasesError):
    """A transfer error answered with the DSP TransferError shape."""

    media_type = "application/json"

    def __init__(self, status: int, code: str, detail: str, *, provider_pid: str | None = None, consumer_pid: str | None = None) -> None:
        super().__init__(detail, reason=code)
        self.status = status
        self.slug = {400: "bad-request", 403: "forbidden", 404: "not-found", 409: "conflict"}.get(status, "error")
        self.code = code
        self.provider_pid = provider_pid
        self.consumer_pid = consumer_pid

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return messages.error_body(self.provider_pid, self.consumer_pid, self.code, self.detail)


@dataclass
class Transferer:
    """What transfer needs from the node, the seams to other blocks, and its running work."""

    node: Node
    agreements: AgreementBook
    consent: ConsentGate
    ledger: Ledger
    schemas: TransferSchemas | None = None
    token_seconds: float = 300.0
    request_timeout_seconds: float = 300.0
    sweep_seconds: float = 5.0
    #: consumer downloads (and provider pushes) running in this process: transfer id -> cancel flag
    running: dict[str, threading.Event] = field(default_factory=dict)
    #: provider transfers being released in this process (so a sweep does not release them twice)
    preparing: set[str] = field(default_factory=set)
    #: transfers whose streaming responses must stop at the next chunk -> when they stopped
    stopped: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def received_dir(self) -> Path:
        return self.node.settings.data_dir / "transfers" / "received"

    def shutdown(self, wait_seconds: float = 5.0) -> None:
        """Stop downloads and pushes (their partial files stay, to resume) and wait for them."""
        with self.lock:
            flags = list(self.running.values())
        for flag in flags:
            flag.set()
        deadline = time.monotonic() + wait_seconds
        while self.running and time.monotonic() < deadline:
            time.sleep(0.02)


# --- bookkeeping -----------------------------------------------------------------------------


def _record(session: Session, transfer: Transfer, direction: str, kind: str, detail: str | None = None) -> None:
    transfer.updated_at = utcnow()
    session.add(TransferEvent(transfer_id=transfer.id, direction=direction, kind=kind, state=transfer.state, detail=detail, at=transfer.updated_at))


def _ledger(t: Transferer, session: Session, transfer: Transfer, kind: str, reason: str | None = None) -> None:
    body: dict[str, Any] = {
        "agreement_id": transfer.agreement_id,
        "transfer_id": transfer.provider_pid or transfer.consumer_pid,
        "counterparty": transfer.counterparty_did,
    }
    if transfer.payload_size is not None:
        body["bytes"] = transfer.payload_size
    if transfer.record_count is not None:
        body["record_count"] = transfer.record_count
    if transfer.consent_record_ids:
        body["consent_record_ids"] = list(transfer.consent_record_ids)
    if reason:
        body["reason"] = reason
    t.ledger.record(session, t.node, transfer.participant_slug, kind, body)


def _find(session: Session, slug: str, role: Role, pid: str) -> Transfer | None:
    column = Transfer.provider_pid if role is Role.PROVIDER else Transfer.consumer_pid
    return session.scalar(select(Transfer).where(Transfer.participant_slug == slug, Transfer.role == role.value, column == pid))


def find_for_peer(session: Session, slug: str, pid: str, caller_did: str) -> Transfer | None:
    """The transfer `pid` names on this participant's side, if the caller is its counterparty."""
    for role in (Role.PROVIDER, Role.CONSUMER):
        transfer = _find(session, slug, role, pid)
        if transfer is not None and transfer.counterparty_did == caller_did:
            return transfer
    return None


def _counterpart(role: Role) -> Role:
    return Role.CONSUMER if role is Role.PROVIDER else Role.PROVIDER


def _dsp(status: int, code: str, detail: str, transfer: Transfer | None = None, message: dict[str, Any] | None = None) -> DspError:
    provider_pid = transfer.provider_pid if transfer else (message or {}).get("providerPid")
    consumer_pid = transfer.consumer_pid if transfer else (message or {}).get("consumerPid")
    return DspError(status, code, detail, provider_pid=provider_pid if isinstance(provider_pid, str) else None, consumer_pid=consumer_pid if isinstance(consumer_pid, str) else None)


def _check(t: Transferer, message: Any, kind: str) -> dict[str, Any]:
    try:
        return messages.check_message(message, kind, t.schemas)
    except MessageError as error:
        raise _dsp(400, "invalid-message", f"{kind}: {error}", message=message if isinstance(message, dict) else None) from error


def _snapshot(transfer: Transfer) -> Transfer:
    return Transfer(**{column.key: getattr(transfer, column.key) for column in Transfer.__table__.columns})


def _peer_path(transfer: Transfer, action: str) -> str:
    """Where the counterparty receives `action` about this transfer (its own pid in the path)."""
    pid = transfer.consumer_pid if transfer.role == Role.PROVIDER.value else transfer.provider_pid
    return f"/transfers/{pid}/{action}"


# --- leaving STARTED ---------------------------------------------------------------------------


def _stop_data(t: Transferer, session: Session, transfer: Transfer) -> None:
    """The data stops flowing: tokens revoked, streaming responses and downloads told to stop."""
    tokens.revoke(session, transfer.id)
    with t.lock:
        t.stopped[transfer.id] = time.monotonic()
        flag = t.running.get(transfer.id)
    if flag is not None:
        flag.set()


def _discard_payload(transfer: Transfer, received_dir: Path) -> None:
    """Files this transfer no longer needs: a provider's staged payload, a consumer's partial one."""
    if transfer.role == Role.PROVIDER.value and transfer.payload_staged and transfer.payload_path:
        Path(transfer.payload_path).unlink(missing_ok=True)
    if transfer.role == Role.CONSUMER.value:
        (received_dir / f"{transfer.id}.part").unlink(missing_ok=True)


def _ended(t: Transferer, session: Session, transfer: Transfer, kind: str, reason: str | None) -> None:
    _stop_data(t, session, transfer)
    transfer.ended_at = utcnow()
    ledger_kind = "transfer.completed" if transfer.state == State.COMPLETED.value else "transfer.terminated"
    _ledger(t, session, transfer, ledger_kind, reason)
    if transfer.state == State.TERMINATED.value or transfer.role == Role.PROVIDER.value:
        _discard_payload(transfer, t.received_dir)


# --- receiving -------------------------------------------------------------------------------


def provider_receive_request(t: Transferer, session: Session, slug: str, caller_did: str, message: Any) -> tuple[Transfer, Act | None]:
    """A consumer asks for a transfer under an agreement: REQUESTED, enforcement follows."""
    message = _check(t, message, "TransferRequestMessage")
    if "providerPid" in message:
        raise _dsp(400, "invalid-message", "a TransferRequestMessage carries no providerPid", message=message)
    try:
        expected = connector_url_for_did(caller_did, t.node.settings.allow_http_did_hosts)
    except InvalidDid as error:
        raise _dsp(400, "invalid-callback", f"the caller's DID has no DASES connector address: {error}", message=message) from error
    callback = message["callbackAddress"].rstrip("/")
    if callback != expected:
        raise _dsp(400, "invalid-callback", f"callbackAddress must be your connector address {expected}", message=message)
    if message["format"] not in messages.FORMATS:
        raise _dsp(400, "unsupported-format", f"format must be one of {', '.join(messages.FORMATS)}", message=message)
    if message["format"] == PUSH and "dataAddress" not in message:
        raise _dsp(400, "invalid-message", "a push transfer needs the consumer's dataAddress", message=message)
    existing = session.scalar(
        select(Transfer).where(
            Transfer.participant_slug == slug, Transfer.role == Role.PROVIDER.value,
            Transfer.consumer_pid == message["consumerPid"], Transfer.counterparty_did == caller_did,
        )
    )
    if existing is not None:
        return existing, None
    agreement = t.agreements.find(session, slug, message["agreementId"])
    if agreement is None or agreement.role != Role.PROVIDER.value or agreement.counterparty_did != caller_did:
        raise _dsp(404, "unknown-agreement", f"no finalized agreement {message['agreementId']} with you on this connector", message=message)
    target = agreement.document.get("target")
    transfer = Transfer(
        id=str(uuid.uuid4()), participant_slug=slug, role=Role.PROVIDER.value, provider_pid=f"urn:uuid:{uuid.uuid4()}",
        consumer_pid=message["consumerPid"], agreement_id=message["agreementId"], offering_id=target if isinstance(target, str) else None,
        format=message["format"], state=next_state("TransferRequestMessage", Role.CONSUMER, None).value,
        counterparty_did=caller_did, counterparty_address=callback, data_address=message.get("dataAddress"),
        last_received="TransferRequestMessage", created_at=utcnow(),
    )
    session.add(transfer)
    session.flush()
    _record(session, transfer, "received", "TransferRequestMessage")
    transfer_id = transfer.id
    return transfer, lambda: provider_start(t, transfer_id)


def receive(t: Transferer, session: Session, slug: str, caller_did: str, kind: str, message: Any, pid: str) -> tuple[Transfer, Act | None]:
    """Apply a start, suspension, completion or termination message about transfer `pid`."""
    message = _check(t, message, kind)
    transfer = find_for_peer(session, slug, pid, caller_did)
    if transfer is None:
        raise _dsp(404, "unknown-transfer", f"no transfer {pid} with you on this connector", message=message)
    own = Role(transfer.role)
    sender = _counterpart(own)
    if own is Role.CONSUMER and transfer.provider_pid is None:
        transfer.provider_pid = message["providerPid"]
    if message["providerPid"] != transfer.provider_pid or message["consumerPid"] != transfer.consumer_pid:
        raise _dsp(400, "pid-mismatch", "providerPid and consumerPid must name this transfer", transfer)
    if is_repetition(kind, sender, State(transfer.state), transfer.last_received):
        return transfer, None
    try:
        transfer.state = next_state(kind, sender, State(transfer.state)).value
    except IllegalTransition as error:
        raise _dsp(400, "illegal-transition", str(error), transfer) from error
    transfer.last_received = kind
    reason = "; ".join(str(item) for item in message.get("reason", []))[:2000] or None
    transfer_id = transfer.id
    follow_up: Act | None = None
    if kind == "TransferStartMessage" and own is Role.CONSUMER:
        if transfer.format == PULL:
            if "dataAddress" not in message:
                raise _dsp(400, "invalid-message", "a pull transfer starts with a dataAddress", transfer)
            transfer.data_address = message["dataAddress"]
        transfer.started_at = transfer.started_at or utcnow()
        follow_up = lambda: start_download(t, transfer_id)
    elif kind == "TransferStartMessage":
        follow_up = lambda: provider_resume(t, transfer_id)
    elif kind == "TransferSuspensionMessage":
        transfer.termination_code, transfer.termination_reason = message.get("code") or "suspended", reason
        _stop_data(t, session, transfer)
        if own is Role.PROVIDER:
            _ledger(t, session, transfer, "transfer.suspended", reason or "suspended by the consumer")
    elif kind == "TransferCompletionMessage":
        if own is Role.CONSUMER and not _payload_in_place(transfer):
            raise _dsp(400, "payload-incomplete", "the payload has not arrived whole here; the transfer cannot be complete", transfer)
        _ended(t, session, transfer, kind, None)
    elif kind == "TransferTerminationMessage":
        transfer.termination_code, transfer.termination_reason = message.get("code") or "terminated", reason
        _ended(t, session, transfer, kind, reason or "terminated by the counterparty")
    _record(session, transfer, "received", kind, reason)
    return transfer, follow_up


def _payload_in_place(transfer: Transfer) -> bool:
    return bool(transfer.payload_path) and Path(transfer.payload_path or "").is_file()


# --- sending ---------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    """The counterparty could not be reached, or refused the message."""


def _send(t: Transferer, transfer: Transfer, path: str, message: dict[str, Any]) -> httpx.Response:
    """POST a message to the counterparty's connector as a signed call; raises DeliveryFailed."""
    if t.schemas is not None:
        problems = t.schemas.errors(message)
        if problems:
            raise RuntimeError(f"this node built an invalid {message['@type']}: {problems}")
    node = t.node
    with node.db.transaction() as session:
        signer = identity.signer_for(session, node.sealer, transfer.participant_slug)
    url = f"{transfer.counterparty_address}{path}"
    try:
        response = node.http.post(url, json=message, auth=SignedCallAuth(signer, transfer.counterparty_did))
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{message['@type']} could not reach {url}: {type(error).__name__}") from error
    if response.status_code >= 300:
        raise DeliveryFailed(f"{url} refused {message['@type']} with {response.status_code}: {response.text[:300]}")
    return response


def _act(t: Transferer, transfer_id: str, step: Step, after: Act | None = None) -> None:
    """Run one step: change state and commit, then deliver (then `after`); terminate if delivery fails."""
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        if transfer is None:
            return
        outgoing = step(session, transfer)
        snapshot = _snapshot(transfer)
    if outgoing is None:
        return
    path, message = outgoing
    try:
        _send(t, snapshot, path, message)
    except Exception as error:  # undeliverable, or refused: the transfer cannot go on
        if not isinstance(error, DeliveryFailed):
            log.exception("transfer %s: sending %s failed", transfer_id, message.get("@type"))
        _terminate_locally(t, transfer_id, "delivery-failed", str(error))
        return
    if after is not None:
        after()


def _terminate_locally(t: Transferer, transfer_id: str, code: str, reason: str) -> None:
    """The counterparty cannot be told: end the transfer here, with the reason."""
    log.warning("transfer %s terminated (%s): %s", transfer_id, code, reason)
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        if transfer is None or State(transfer.state) in TERMINAL:
            return
        transfer.state = State.TERMINATED.value
        transfer.termination_code, transfer.termination_reason = code, reason[:2000]
        _ended(t, session, transfer, "TerminatedLocally", reason)
        _record(session, transfer, "local", "TerminatedLocally", reason)


def _message(kind: str, transfer: Transfer, **members: Any) -> dict[str, Any]:
    return envelope(kind, providerPid=transfer.provider_pid, consumerPid=transfer.consumer_pid, **members)


def _terminate_step(t: Transferer, code: str, reason: str) -> Step:
    def step(session: Session, transfer: Transfer) -> tuple[str, dict[str, Any]] | None:
        if State(transfer.state) in TERMINAL:
            return None
        transfer.state = State.TERMINATED.value
        transfer.termination_code, transfer.termination_reason = code, reason[:2000]
        _ended(t, session, transfer, "TransferTerminationMessage", reason)
        _record(session, transfer, "sent", "TransferTerminationMessage", reason)
        log.info("transfer %s terminated (%s): %s", transfer.id, code, reason)
        peer_pid = transfer.consumer_pid if transfer.role == Role.PROVIDER.value else transfer.provider_pid
        if peer_pid is None or transfer.provider_pid is None:
            return None
        return _peer_path(transfer, "termination"), _message("TransferTerminationMessage", transfer, code=code, reason=[reason[:2000]])
    return step


def terminate(t: Transferer, transfer_id: str, code: str, reason: str) -> None:
    _act(t, transfer_id, _terminate_step(t, code, reason))


# --- provider: starting, resuming, renewing ---------------------------------------------------


def _data_address(t: Transferer, session: Session, transfer: Transfer) -> dict[str, Any]:
    """A fresh pull DataAddress: the data plane endpoint and a new token (older ones revoked)."""
    issued = tokens.issue(session, transfer, t.token_seconds)
    endpoint = f"{t.node.settings.base_url}/participants/{transfer.participant_slug}/dataplane/transfers/{transfer.id}"
    return messages.data_address(endpoint, {
        "authorization": issued.token,
        "authType": "bearer",
        "expiresAt": issued.expires_at.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "sha256": transfer.payload_sha256 or "",
        "size": str(transfer.payload_size or 0),
        "mediaType": transfer.media_type or "application/octet-stream",
    })


def _claim(t: Transferer, transfer_id: str) -> bool:
    with t.lock:
        if transfer_id in t.preparing:
            return False
        t.preparing.add(transfer_id)
        return True


def provider_start(t: Transferer, transfer_id: str) -> None:
    """Enforce, release the payload, then STARTED with its data address (pull) or push it."""
    if not _claim(t, transfer_id):
        return
    try:
        with t.node.db.transaction() as session:
            transfer = session.get(Transfer, transfer_id)
            if transfer is None or transfer.state != State.REQUESTED.value:
                return
            plan = release.prepare(session, t.agreements, t.node.resolver, transfer)
        payload = release.release(t.node, t.consent, plan)
    except release.Denied as denial:
        terminate(t, transfer_id, denial.code, denial.reason)
        return
    except Exception as error:  # a bug must still end the transfer, with a reason
        log.exception("transfer %s: releasing the payload failed", transfer_id)
        terminate(t, transfer_id, "release-failed", f"the data could not be released: {type(error).__name__}")
        return
    finally:
        with t.lock:
            t.preparing.discard(transfer_id)

    def step(session: Session, transfer: Transfer) -> tuple[str, dict[str, Any]] | None:
        if transfer.state != State.REQUESTED.value:
            if payload.staged:
                payload.path.unlink(missing_ok=True)
            return None
        transfer.payload_path, transfer.payload_staged = str(payload.path), payload.staged
        transfer.payload_sha256, transfer.payload_size, transfer.payload_mtime_ns = payload.sha256, payload.size, payload.mtime_ns
        transfer.media_type, transfer.record_count = payload.media_type, payload.record_count
        transfer.consent_record_ids, transfer.purpose = payload.consent_record_ids, plan.purpose
        transfer.state = next_state("TransferStartMessage", Role.PROVIDER, State.REQUESTED).value
        transfer.started_at = utcnow()
        _record(session, transfer, "sent", "TransferStartMessage", f"{payload.size} bytes, sha-256 {payload.sha256}")
        _ledger(t, session, transfer, "transfer.started")
        address = _data_address(t, session, transfer) if transfer.format == PULL else None
        return _peer_path(transfer, "start"), _message("TransferStartMessage", transfer, dataAddress=address)

    _act(t, transfer_id, step, after=lambda: _after_start(t, transfer_id, released=True))


def _after_start(t: Transferer, transfer_id: str, *, released: bool) -> None:
    """Once the consumer knows: push the payload (push transfers), and tell the consent service
    which consent records the release relied on, so each learner sees it on their dashboard."""
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        if transfer is None:
            return
        snapshot = _snapshot(transfer)
    if snapshot.format == PUSH and snapshot.state == State.STARTED.value:
        from dases.transfer.push import start_push

        start_push(t, transfer_id)
    if released and snapshot.consent_record_ids:
        _report_exchange(t, snapshot)


def _report_exchange(t: Transferer, transfer: Transfer) -> None:
    """Best effort: the data is released either way, and the ledger holds the records; a report
    that fails is noted in the transfer's history for the operator to follow up."""
    try:
        t.consent.report(
            t.node, transfer.participant_slug, transfer.counterparty_did, transfer.provider_pid or transfer.id,
            transfer.agreement_id, transfer.started_at or utcnow(), list(transfer.consent_record_ids or []),
        )
        detail, kind = f"{len(transfer.consent_record_ids or [])} consent records", "ExchangeReported"
    except DasesError as error:
        log.warning("transfer %s: the exchange could not be reported to the consent service: %s", transfer.id, error.detail)
        detail, kind = error.detail[:1000], "ExchangeNotReported"
    with t.node.db.transaction() as session:
        row = session.get(Transfer, transfer.id)
        if row is not None:
            session.add(TransferEvent(transfer_id=row.id, direction="local", kind=kind, state=row.state, detail=detail, at=utcnow()))


def _reenforce(t: Transferer, session: Session, transfer: Transfer) -> release.Denied | None:
    """The agreement and policy checks again, for a transfer that resumes or renews its address."""
    verdict = check_agreement(session, t.agreements, t.node.resolver, transfer)
    if verdict.allowed and verdict.agreement is not None:
        verdict = check_policy(verdict.agreement, transfer, prior_uses(session, transfer))
    return None if verdict.allowed else release.Denied(verdict.code, verdict.reason)


def provider_resume(t: Transferer, transfer_id: str) -> None:
    """Start a suspended transfer again (asked by the consumer, or by our own operator)."""
    denial: release.Denied | None = None

    def step(session: Session, transfer: Transfer) -> tuple[str, dict[str, Any]] | None:
        nonlocal denial
        if transfer.state not in (State.SUSPENDED.value, State.STARTED.value):
            return None
        denial = _reenforce(t, session, transfer)
        if denial is not None:
            return None
        if not transfer.payload_path or not Path(transfer.payload_path).is_file():
            denial = release.Denied("payload-missing", "the released payload is no longer on the provider's node")
            return None
        transfer.state = State.STARTED.value
        transfer.termination_code = transfer.termination_reason = None
        with t.lock:
            t.stopped.pop(transfer.id, None)
        _record(session, transfer, "sent", "TransferStartMessage", "resumed")
        address = _data_address(t, session, transfer) if transfer.format == PULL else None
        return _peer_path(transfer, "start"), _message("TransferStartMessage", transfer, dataAddress=address)

    _act(t, transfer_id, step, after=lambda: _after_start(t, transfer_id, released=False))
    if denial is not None:
        terminate(t, transfer_id, denial.code, denial.reason)


def renew_data_address(t: Transferer, session: Session, slug: str, caller_did: str, pid: str) -> tuple[dict[str, Any] | None, Act | None, DspError | None]:
    """A consumer whose token expired asks for a new one: the checks run again first.

    Returns the new DataAddress, or an error to answer and the termination to run after."""
    transfer = _find(session, slug, Role.PROVIDER, pid)
    if transfer is None or transfer.counterparty_did != caller_did:
        return None, None, _dsp(404, "unknown-transfer", f"no transfer {pid} with you on this connector")
    if transfer.state != State.STARTED.value or transfer.format != PULL:
        return None, None, _dsp(409, "not-started", f"the transfer is {transfer.state}; only a started pull transfer has a data address", transfer)
    denial = _reenforce(t, session, transfer)
    if denial is not None:
        transfer_id = transfer.id
        return None, lambda: terminate(t, transfer_id, denial.code, denial.reason), _dsp(403, denial.code, denial.reason, transfer)
    _record(session, transfer, "local", "DataAddressRenewed")
    return _data_address(t, session, transfer), None, None


# --- provider: the data plane -----------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    transfer_id: str
    path: Path
    size: int
    sha256: str
    media_type: str


def open_payload(t: Transferer, session: Session, slug: str, transfer_id: str, token: str) -> Served:
    """The payload a data plane token opens, once the token and the transfer are checked."""
    transfer = tokens.verify(session, token, transfer_id)
    if transfer.participant_slug != slug or transfer.role != Role.PROVIDER.value:
        raise NotFound(f"no transfer {transfer_id} here")
    if transfer.state != State.STARTED.value:
        raise Conflict(f"the transfer is {transfer.state}: no data flows", reason=transfer.state.lower())
    path = Path(transfer.payload_path or "")
    try:
        stat = path.stat()
    except OSError as error:
        raise Conflict("the released payload is no longer on the provider's node", reason="payload_missing") from error
    if stat.st_size != transfer.payload_size or (transfer.payload_mtime_ns is not None and stat.st_mtime_ns != transfer.payload_mtime_ns):
        raise Conflict("the source file changed since the transfer started: its bytes are no longer the ones announced", reason="payload_changed")
    return Served(transfer.id, path, stat.st_size, transfer.payload_sha256 or "", transfer.media_type or "application/octet-stream")


def should_stop(t: Transferer, transfer_id: str) -> Callable[[], bool]:
    return lambda: transfer_id in t.stopped


# --- consumer: requesting and downloading ------------------------------------------------------


@dataclass(frozen=True)
class Options:
    auto_download: bool = True
    max_bytes_per_second: float | None = None
    retry_seconds: float = 120.0


def consumer_request(t: Transferer, slug: str, agreement_id: str, transfer_format: str, options: Options) -> str:
    """Ask the provider for a transfer under an agreement: REQUESTED; returns the transfer id."""
    node = t.node
    with node.db.transaction() as session:
        agreement = t.agreements.find(session, slug, agreement_id)
        if agreement is None or agreement.role != Role.CONSUMER.value or not agreement.counterparty_address:
            raise NotFound(f"{slug} has no finalized agreement {agreement_id} as consumer")
        revoked = revocation(session, slug, agreement_id)
        if revoked is not None:
            raise Conflict(f"you revoked the agreement {agreement_id}: {revoked.reason}")
        target = agreement.document.get("target")
        transfer = Transfer(
            id=str(uuid.uuid4()), participant_slug=slug, role=Role.CONSUMER.value, consumer_pid=f"urn:uuid:{uuid.uuid4()}",
            agreement_id=agreement_id, offering_id=target if isinstance(target, str) else None, format=transfer_format,
            state=next_state("TransferRequestMessage", Role.CONSUMER, None).value, counterparty_did=agreement.counterparty_did,
            counterparty_address=agreement.counterparty_address.rstrip("/"), options=options.__dict__.copy(), created_at=utcnow(),
        )
        session.add(transfer)
        session.flush()
        address = None
        if transfer_format == PUSH:
            issued = tokens.issue(session, transfer, PUSH_TOKEN_SECONDS)
            endpoint = f"{node.settings.base_url}/participants/{slug}/dataplane/inbox/{transfer.id}"
            address = messages.data_address(endpoint, {"authorization": issued.token, "authType": "bearer"})
        _record(session, transfer, "sent", "TransferRequestMessage")
        snapshot = _snapshot(transfer)
    message = envelope(
        "TransferRequestMessage", consumerPid=snapshot.consumer_pid, agreementId=agreement_id, format=transfer_format,
        dataAddress=address, callbackAddress=connector_url(node.settings.base_url, slug),
    )
    try:
        answer = _send(t, snapshot, "/transfers/request", message).json()
        pid = answer.get("providerPid") if isinstance(answer, dict) else None
        if not isinstance(pid, str):
            raise DeliveryFailed("the answer carries no providerPid")
    except (DeliveryFailed, ValueError) as error:
        _terminate_locally(t, snapshot.id, "delivery-failed", str(error))
        return snapshot.id
    with node.db.transaction() as session:
        transfer = session.get(Transfer, snapshot.id)
        if transfer is not None and transfer.provider_pid is None:
            transfer.provider_pid = pid
    return snapshot.id


def _options(transfer: Transfer) -> Options:
    stored = transfer.options or {}
    return Options(**{key: value for key, value in stored.items() if key in Options.__dataclass_fields__})


def start_download(t: Transferer, transfer_id: str) -> None:
    """Download a started pull transfer in a thread of its own (once per transfer and process)."""
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        wanted = (
            transfer is not None and transfer.role == Role.CONSUMER.value and transfer.format == PULL
            and transfer.state == State.STARTED.value and transfer.data_address is not None and _options(transfer).auto_download
        )
    if not wanted:
        return
    with t.lock:
        if transfer_id in t.running:
            return
        cancel = threading.Event()
        t.running[transfer_id] = cancel
        t.stopped.pop(transfer_id, None)
    threading.Thread(target=_download, args=(t, transfer_id, cancel), name=f"transfer-download-{transfer_id[:8]}", daemon=True).start()


def _plan(t: Transferer, transfer: Transfer) -> tuple[Plan, str | None]:
    """What to fetch, from the provider's data address; MessageError if it is not usable."""
    options = _options(transfer)
    endpoint, properties = messages.read_data_address(transfer.data_address)
    try:
        plan = Plan(
            endpoint=endpoint, token=properties["authorization"], sha256=properties["sha256"].lower(), size=int(properties["size"]),
            part=t.received_dir / f"{transfer.id}.part", max_bytes_per_second=options.max_bytes_per_second, retry_seconds=options.retry_seconds,
        )
    except (KeyError, ValueError) as error:
        raise MessageError(f"the data address lacks a usable {error}") from error
    return plan, properties.get("mediaType")


def _download(t: Transferer, transfer_id: str, cancel: threading.Event) -> None:
    try:
        with t.node.db.transaction() as session:
            transfer = session.get(Transfer, transfer_id)
            if transfer is None or transfer.state != State.STARTED.value or transfer.data_address is None:
                return
            try:
                plan, media_type = _plan(t, transfer)
            except MessageError as error:
                plan, media_type, problem = None, None, f"the provider's data address is not usable: {error}"
        if plan is None:
            terminate(t, transfer_id, "invalid-data-address", problem)
            return
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            outcome = pull(plan, client, cancel, lambda: _renew(t, transfer_id))
        _conclude(t, transfer_id, plan, media_type, outcome)
    except Exception:
        log.exception("transfer %s: the download failed", transfer_id)
        terminate(t, transfer_id, "download-failed", "the consumer's download failed; see its log")
    finally:
        with t.lock:
            if t.running.get(transfer_id) is cancel:
                del t.running[transfer_id]


def _renew(t: Transferer, transfer_id: str) -> tuple[str, str]:
    """Ask the provider for a new data address (its token expired or was replaced)."""
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        if transfer is None or transfer.state != State.STARTED.value:
            raise Refused("not-started", "the transfer is no longer started")
        snapshot = _snapshot(transfer)
        signer = identity.signer_for(session, t.node.sealer, transfer.participant_slug)
    url = f"{snapshot.counterparty_address}/transfers/{snapshot.provider_pid}/data-address"
    response = t.node.http.post(url, json={}, auth=SignedCallAuth(signer, snapshot.counterparty_did))
    if response.status_code >= 500:
        raise httpx.HTTPStatusError(f"status {response.status_code}", request=response.request, response=response)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        reason = "; ".join(str(item) for item in body.get("reason", [])) if isinstance(body, dict) else ""
        code = body.get("code", "refused") if isinstance(body, dict) else "refused"
        raise Refused(str(code), f"the provider refused a new data address ({response.status_code}): {reason or response.text[:300]}")
    try:
        endpoint, properties = messages.read_data_address(body)
        token = properties["authorization"]
    except (MessageError, KeyError) as error:
        raise Refused("invalid-data-address", f"the provider's new data address is not usable: {error}") from error
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        if transfer is not None:
            transfer.data_address = body
            _record(session, transfer, "local", "DataAddressRenewed")
    return endpoint, token


def _conclude(t: Transferer, transfer_id: str, plan: Plan, media_type: str | None, outcome: Outcome) -> None:
    if outcome.cancelled:
        return
    if not outcome.ok:
        plan.part.unlink(missing_ok=True)
        terminate(t, transfer_id, outcome.code, outcome.reason)
        return
    final = t.received_dir / f"{transfer_id}.{release.EXTENSIONS.get(media_type or '', 'bin')}"
    os.replace(plan.part, final)
    consumer_complete(t, transfer_id, final, plan.sha256, plan.size, media_type, outcome.resumed_at)


def consumer_complete(t: Transferer, transfer_id: str, final: Path, sha256: str, size: int, media_type: str | None, resumed_at: tuple[int, ...] = ()) -> None:
    """The payload is here, whole and verified: COMPLETED, and the provider is told."""

    def step(session: Session, transfer: Transfer) -> tuple[str, dict[str, Any]] | None:
        if transfer.state != State.STARTED.value:
            return None
        if resumed_at:
            _record(session, transfer, "local", "DownloadResumed", "resumed at byte " + ", ".join(str(offset) for offset in resumed_at))
        transfer.payload_path, transfer.payload_sha256, transfer.payload_size, transfer.media_type = str(final), sha256, size, media_type
        transfer.state = State.COMPLETED.value
        _ended(t, session, transfer, "TransferCompletionMessage", None)
        _record(session, transfer, "sent", "TransferCompletionMessage", f"{size} bytes, sha-256 verified")
        return _peer_path(transfer, "completion"), _message("TransferCompletionMessage", transfer)

    _act(t, transfer_id, step)


# --- local actions (management API) -------------------------------------------------------------


def get_local(session: Session, slug: str, transfer_id: str) -> Transfer:
    transfer = session.get(Transfer, transfer_id)
    if transfer is None or transfer.participant_slug != slug:
        raise NotFound(f"no transfer {transfer_id} for {slug}")
    return transfer


def suspend(t: Transferer, transfer_id: str, reason: str) -> None:
    def step(session: Session, transfer: Transfer) -> tuple[str, dict[str, Any]] | None:
        own = Role(transfer.role)
        transfer.state = next_state("TransferSuspensionMessage", own, State(transfer.state)).value
        transfer.termination_code, transfer.termination_reason = "suspended", reason
        _stop_data(t, session, transfer)
        if own is Role.PROVIDER:
            _ledger(t, session, transfer, "transfer.suspended", reason)
        _record(session, transfer, "sent", "TransferSuspensionMessage", reason)
        return _peer_path(transfer, "suspension"), _message("TransferSuspensionMessage", transfer, code="suspended", reason=[reason])

    _act(t, transfer_id, step)


def resume(t: Transferer, transfer_id: str) -> None:
    """As consumer: ask the provider to start again; as provider: start again (checks rerun)."""
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        if transfer is None:
            return
        role, state = Role(transfer.role), State(transfer.state)
    if state is not State.SUSPENDED:
        raise IllegalTransition(f"only a SUSPENDED transfer can be resumed; this one is {state.value}")
    if role is Role.PROVIDER:
        provider_resume(t, transfer_id)
        return

    def step(session: Session, transfer: Transfer) -> tuple[str, dict[str, Any]] | None:
        transfer.state = next_state("TransferStartMessage", Role.CONSUMER, State(transfer.state)).value
        transfer.data_address = None  # the provider sends a new one once its checks pass
        transfer.termination_code = transfer.termination_reason = None
        _record(session, transfer, "sent", "TransferStartMessage", "resume")
        return _peer_path(transfer, "start"), _message("TransferStartMessage", transfer)

    _act(t, transfer_id, step)


def revoke_agreement(t: Transferer, slug: str, agreement_id: str, reason: str) -> tuple[AgreementRevocation, list[str]]:
    """Revoke an agreement: no transfer starts under it any more, and open ones are terminated."""
    with t.node.db.transaction() as session:
        if t.agreements.find(session, slug, agreement_id) is None:
            raise NotFound(f"{slug} has no finalized agreement {agreement_id}")
        revoked = revocation(session, slug, agreement_id)
        if revoked is None:
            revoked = AgreementRevocation(participant_slug=slug, agreement_id=agreement_id, reason=reason, revoked_at=utcnow())
            session.add(revoked)
        open_ids = list(session.scalars(select(Transfer.id).where(
            Transfer.participant_slug == slug, Transfer.agreement_id == agreement_id, Transfer.state.in_([s.value for s in OPEN]),
        )))
    when = revoked.revoked_at.replace(microsecond=0).isoformat()
    for transfer_id in open_ids:
        terminate(t, transfer_id, "agreement-revoked", f"the agreement {agreement_id} was revoked on {when}: {revoked.reason}")
    return revoked, open_ids


# --- background rounds ---------------------------------------------------------------------------


def sweep(t: Transferer) -> None:
    """Keep transfers moving across restarts and failures: release what a crash left REQUESTED,
    terminate requests that stayed so too long, resume downloads that are not running."""
    cutoff = utcnow() - timedelta(seconds=t.request_timeout_seconds)
    with t.lock:  # a stopped response notices within one chunk; an hour is far beyond that
        for transfer_id in [key for key, at in t.stopped.items() if time.monotonic() - at > 3600]:
            del t.stopped[transfer_id]
    with t.node.db.transaction() as session:
        requested = list(session.execute(select(Transfer.id, Transfer.created_at, Transfer.role).where(Transfer.state == State.REQUESTED.value)))
        downloads = list(session.scalars(select(Transfer.id).where(
            Transfer.role == Role.CONSUMER.value, Transfer.format == PULL, Transfer.state == State.STARTED.value, Transfer.data_address.is_not(None),
        )))
    for transfer_id, created_at, role in requested:
        if created_at < cutoff:
            terminate(t, transfer_id, "timeout", f"the transfer did not start within {t.request_timeout_seconds:g} s")
        elif role == Role.PROVIDER.value:
            provider_start(t, transfer_id)
    for transfer_id in downloads:
        start_download(t, transfer_id)
