"""HTTP routes of transfer, all on one router (`router`), whose lifespan runs the sweeper.

Three surfaces per hosted participant:

- the Dataspace Protocol transfer endpoints under `/participants/{slug}/dsp/transfers/...`, for
  peers (signed calls; errors in the DSP TransferError shape), plus one DASES extension: a
  consumer renews its data address (`POST .../transfers/{providerPid}/data-address`);
- the data plane under `/participants/{slug}/dataplane/...`: the provider serves payloads to
  bearers of a transfer token (`GET`, `HEAD`, with `Range`); the consumer receives pushes (`PUT`);
- the management endpoints, for the participant's own operator (admin token): start, follow,
  suspend, resume and terminate transfers, download what arrived, revoke agreements, attach a
  data source to an offering.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from dases.catalog import service as catalog
from dases.db import utcnow
from dases.errors import Conflict, NotFound, Unauthorized, problem_responses
from dases.identity.auth import Caller
from dases.identity.models import Participant
from dases.identity.service import SLUG_PATTERN
from dases.identity.tokens import VerifiedCaller
from dases.node import AdminDep, NodeDep, SessionDep
from dases.transfer import push, service, sources
from dases.transfer.dataplane import PayloadResponse, parse_range
from dases.transfer.messages import PULL, process_body
from dases.transfer.models import DataSource, Transfer, TransferEvent
from dases.transfer.states import IllegalTransition
from dases.transfer.worker import lifespan, transferer_of
from dases.types import Text

router = APIRouter(tags=["transfer"], lifespan=lifespan)

Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63)]
Pid = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
TransferId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
AgreementId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Message = Annotated[dict[str, Any], Body(description="A DSP message (JSON-LD, compact form).")]


def get_transferer(request: Request) -> service.Transferer:
    return transferer_of(request.app)


TransfererDep = Annotated[service.Transferer, Depends(get_transferer)]


class DspTransferError(BaseModel):
    context: list[str] = Field(alias="@context")
    type: str = Field(alias="@type")
    providerPid: str
    consumerPid: str
    code: str | None = None
    reason: list[Any] | None = None


class DspTransferProcess(BaseModel):
    context: list[str] = Field(alias="@context")
    type: str = Field(alias="@type")
    providerPid: str
    consumerPid: str
    state: str


_DSP_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": DspTransferError, "description": "DSP TransferError"},
    403: {"model": DspTransferError, "description": "DSP TransferError"},
    404: {"model": DspTransferError, "description": "DSP TransferError"},
    409: {"model": DspTransferError, "description": "DSP TransferError"},
    **problem_responses(401, 422),
}


def connector_caller(slug: Slug, caller: Caller, session: SessionDep) -> VerifiedCaller:
    """The verified caller, if its token is addressed to the participant whose endpoint it calls."""
    participant = session.get(Participant, slug)
    if participant is None or caller.audience != participant.did:
        raise Unauthorized(f"this token is addressed to {caller.audience}, not to the participant of this endpoint", reason="wrong_audience")
    return caller


ConnectorCaller = Annotated[VerifiedCaller, Depends(connector_caller)]


def _answer(transfer: Transfer, status: int = 200) -> JSONResponse:
    return JSONResponse(process_body(transfer.provider_pid or "", transfer.consumer_pid or "", transfer.state), status_code=status)


def _later(tasks: BackgroundTasks, act: service.Act | None) -> None:
    if act is not None:
        tasks.add_task(act)


# --- DSP ---------------------------------------------------------------------------------------


@router.post("/participants/{slug}/dsp/transfers/request", status_code=201, response_model=DspTransferProcess, responses=_DSP_ERRORS)
def request_transfer(slug: Slug, message: Message, caller: ConnectorCaller, t: TransfererDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """A consumer asks for a transfer under an agreement: 201 REQUESTED; start or termination follows."""
    transfer, act = service.provider_receive_request(t, session, slug, caller.did, message)
    _later(tasks, act)
    return _answer(transfer, 201)


@router.get("/participants/{slug}/dsp/transfers/{pid}", response_model=DspTransferProcess, responses=_DSP_ERRORS)
def get_transfer(slug: Slug, pid: Pid, caller: ConnectorCaller, session: SessionDep) -> JSONResponse:
    """The transfer process's state, for its counterparty only."""
    transfer = service.find_for_peer(session, slug, pid, caller.did)
    if transfer is None:
        raise service.DspError(404, "unknown-transfer", f"no transfer {pid} with you on this connector")
    return _answer(transfer)


def _receive(kind: str, slug: str, pid: str, message: Any, caller: VerifiedCaller, t: service.Transferer, session: Any, tasks: BackgroundTasks) -> JSONResponse:
    transfer, act = service.receive(t, session, slug, caller.did, kind, message, pid)
    _later(tasks, act)
    return _answer(transfer)


@router.post("/participants/{slug}/dsp/transfers/{pid}/start", response_model=DspTransferProcess, responses=_DSP_ERRORS)
def start_message(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, t: TransfererDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """TransferStartMessage: the provider started (with the data address), or the consumer resumes."""
    return _receive("TransferStartMessage", slug, pid, message, caller, t, session, tasks)


@router.post("/participants/{slug}/dsp/transfers/{pid}/completion", response_model=DspTransferProcess, responses=_DSP_ERRORS)
def completion_message(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, t: TransfererDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """TransferCompletionMessage: the data arrived whole."""
    return _receive("TransferCompletionMessage", slug, pid, message, caller, t, session, tasks)


@router.post("/participants/{slug}/dsp/transfers/{pid}/suspension", response_model=DspTransferProcess, responses=_DSP_ERRORS)
def suspension_message(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, t: TransfererDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """TransferSuspensionMessage: the data stops flowing until a start message."""
    return _receive("TransferSuspensionMessage", slug, pid, message, caller, t, session, tasks)


@router.post("/participants/{slug}/dsp/transfers/{pid}/termination", response_model=DspTransferProcess, responses=_DSP_ERRORS)
def termination_message(slug: Slug, pid: Pid, message: Message, caller: ConnectorCaller, t: TransfererDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """TransferTerminationMessage: the transfer ends, with the reason."""
    return _receive("TransferTerminationMessage", slug, pid, message, caller, t, session, tasks)


@router.post("/participants/{slug}/dsp/transfers/{pid}/data-address", responses=_DSP_ERRORS)
def renew_data_address(slug: Slug, pid: Pid, caller: ConnectorCaller, t: TransfererDep, session: SessionDep, tasks: BackgroundTasks) -> JSONResponse:
    """DASES extension: a new DataAddress (token) for a started pull transfer, after the checks run again."""
    address, act, error = service.renew_data_address(t, session, slug, caller.did, pid)
    _later(tasks, act)
    if error is not None:
        return JSONResponse(error.body(), status_code=error.status, media_type=error.media_type)
    return JSONResponse(address)


# --- data plane ----------------------------------------------------------------------------------

_data_token = HTTPBearer(scheme_name="DataPlaneToken", description="The token of a transfer's DataAddress.", auto_error=False)
DataToken = Annotated[HTTPAuthorizationCredentials | None, Depends(_data_token)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("the data plane needs 'Authorization: Bearer <token of the transfer's DataAddress>'", reason="missing_credentials")
    return credentials.credentials


_PAYLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The whole payload, with Repr-Digest (sha-256)."},
    206: {"content": {"application/octet-stream": {}}, "description": "One range of the payload."},
    **problem_responses(401, 404, 409, 416),
}


def _serve(slug: str, transfer_id: str, request: Request, credentials: HTTPAuthorizationCredentials | None, t: service.Transferer, head: bool) -> Response:
    token = _token(credentials)
    with t.node.db.transaction() as session:
        served = service.open_payload(t, session, slug, transfer_id, token)
    byte_range = parse_range(request.headers.get("range"), served.size)
    return PayloadResponse(
        served.path, size=served.size, sha256=served.sha256, media_type=served.media_type, byte_range=byte_range,
        should_stop=service.should_stop(t, served.transfer_id), head=head,
    )


@router.get("/participants/{slug}/dataplane/transfers/{transfer_id}", response_class=Response, responses=_PAYLOAD_RESPONSES)
def pull_payload(slug: Slug, transfer_id: TransferId, request: Request, credentials: DataToken, t: TransfererDep) -> Response:
    """The payload of a started transfer, for the bearer of its token; `Range: bytes=N-` resumes."""
    return _serve(slug, transfer_id, request, credentials, t, head=False)


@router.head("/participants/{slug}/dataplane/transfers/{transfer_id}", response_class=Response, responses=_PAYLOAD_RESPONSES, include_in_schema=False)
def payload_head(slug: Slug, transfer_id: TransferId, request: Request, credentials: DataToken, t: TransfererDep) -> Response:
    return _serve(slug, transfer_id, request, credentials, t, head=True)


@router.put("/participants/{slug}/dataplane/inbox/{transfer_id}", status_code=201, responses=problem_responses(401, 404, 409, 422),
            openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def receive_push(slug: Slug, transfer_id: TransferId, request: Request, credentials: DataToken, t: TransfererDep) -> Response:
    """A provider pushes the payload of a push transfer (with Repr-Digest and Content-Length)."""
    part = await run_in_threadpool(push.inbox_target, t, slug, transfer_id, _token(credentials))
    await push.receive_push(t, transfer_id, part, request.stream(), request.headers)
    return Response(status_code=201)


# --- management (admin) --------------------------------------------------------------------------


class StartTransferIn(BaseModel):
    agreement_id: Text = Field(min_length=1, max_length=200, description="The @id of a finalized agreement where you are the consumer.")
    format: Literal["HttpData-PULL", "HttpData-PUSH"] = PULL
    auto_download: bool = Field(default=True, description="Pull: download the payload as soon as the transfer starts (else use the data address yourself).")
    max_bytes_per_second: float | None = Field(default=None, gt=0, description="Pull: cap the download rate.")
    retry_seconds: float = Field(default=120.0, ge=1, le=86_400, description="Pull: how long to keep resuming without progress before terminating.")


class ReasonIn(BaseModel):
    reason: Text = Field(default="by the participant's operator", min_length=1, max_length=2000)


class EventOut(BaseModel):
    direction: str
    kind: str
    state: str
    detail: str | None
    at: datetime


class TransferOut(BaseModel):
    id: str
    role: str
    state: str
    provider_pid: str | None
    consumer_pid: str | None
    agreement_id: str
    offering_id: str | None
    format: str
    counterparty_did: str
    data_address: dict[str, Any] | None = Field(default=None, description="Consumer of a pull: the endpoint and token to fetch the payload with.")
    payload_sha256: str | None
    payload_size: int | None
    media_type: str | None
    record_count: int | None
    consent_record_ids: list[str] | None
    received_bytes: int | None = Field(default=None, description="Consumer: bytes received so far.")
    termination_code: str | None
    termination_reason: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    events: list[EventOut] = []


def _received(t: service.Transferer, transfer: Transfer) -> int | None:
    if transfer.role != "consumer":
        return None
    if transfer.payload_path and FilePath(transfer.payload_path).is_file():
        return FilePath(transfer.payload_path).stat().st_size
    part = t.received_dir / f"{transfer.id}.part"
    return part.stat().st_size if part.is_file() else 0


def _out(t: service.Transferer, session: Any, transfer: Transfer, with_events: bool = True) -> TransferOut:
    out = TransferOut.model_validate(transfer, from_attributes=True)
    if transfer.role != "consumer":
        out.data_address = None
    out.received_bytes = _received(t, transfer)
    if with_events:
        rows = session.scalars(select(TransferEvent).where(TransferEvent.transfer_id == transfer.id).order_by(TransferEvent.id))
        out.events = [EventOut.model_validate(row, from_attributes=True) for row in rows]
    return out


_ADMIN_ERRORS = problem_responses(400, 401, 403, 404, 409, 422, 502)
LocalId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


def _local(t: service.Transferer, slug: str, transfer_id: str) -> TransferOut:
    with t.node.db.transaction() as session:
        return _out(t, session, service.get_local(session, slug, transfer_id))


@router.post("/participants/{slug}/transfers", status_code=201, response_model=TransferOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def start(slug: Slug, body: StartTransferIn, t: TransfererDep) -> TransferOut:
    """As consumer, ask the provider for a transfer under a finalized agreement; follow it here."""
    options = service.Options(auto_download=body.auto_download, max_bytes_per_second=body.max_bytes_per_second, retry_seconds=body.retry_seconds)
    transfer_id = service.consumer_request(t, slug, body.agreement_id, body.format, options)
    return _local(t, slug, transfer_id)


@router.get("/participants/{slug}/transfers", response_model=list[TransferOut], dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def list_transfers(
    slug: Slug, t: TransfererDep, session: SessionDep,
    agreement_id: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]+$")] = None,
    state: Annotated[str | None, Query(pattern=r"^(REQUESTED|STARTED|SUSPENDED|COMPLETED|TERMINATED)$")] = None,
) -> list[TransferOut]:
    query = select(Transfer).where(Transfer.participant_slug == slug)
    if agreement_id:
        query = query.where(Transfer.agreement_id == agreement_id)
    if state:
        query = query.where(Transfer.state == state)
    rows = session.scalars(query.order_by(Transfer.created_at.desc()).limit(500))
    return [_out(t, session, row, with_events=False) for row in rows]


@router.get("/participants/{slug}/transfers/{transfer_id}", response_model=TransferOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def show(slug: Slug, transfer_id: LocalId, t: TransfererDep) -> TransferOut:
    return _local(t, slug, transfer_id)


def _locally(t: service.Transferer, slug: str, transfer_id: str, action: service.Act) -> TransferOut:
    current = _local(t, slug, transfer_id)  # 404 for another participant's transfer
    if current.state in ("COMPLETED", "TERMINATED"):
        raise Conflict(f"transfer {transfer_id} is already {current.state}")
    try:
        action()
    except IllegalTransition as error:
        raise Conflict(str(error)) from error
    return _local(t, slug, transfer_id)


@router.post("/participants/{slug}/transfers/{transfer_id}/suspend", response_model=TransferOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def suspend(slug: Slug, transfer_id: LocalId, body: ReasonIn, t: TransfererDep) -> TransferOut:
    """Stop the data flowing (STARTED -> SUSPENDED); tokens are revoked, partial downloads kept."""
    return _locally(t, slug, transfer_id, lambda: service.suspend(t, transfer_id, body.reason))


@router.post("/participants/{slug}/transfers/{transfer_id}/resume", response_model=TransferOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def resume(slug: Slug, transfer_id: LocalId, t: TransfererDep) -> TransferOut:
    """Start a suspended transfer again; the provider runs its checks again first."""
    return _locally(t, slug, transfer_id, lambda: service.resume(t, transfer_id))


@router.post("/participants/{slug}/transfers/{transfer_id}/terminate", response_model=TransferOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def terminate(slug: Slug, transfer_id: LocalId, body: ReasonIn, t: TransfererDep) -> TransferOut:
    """End the transfer and tell the counterparty."""
    return _locally(t, slug, transfer_id, lambda: service.terminate(t, transfer_id, "terminated", body.reason))


@router.get("/participants/{slug}/transfers/{transfer_id}/data", response_class=FileResponse, dependencies=[AdminDep],
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The payload received, verified."}, **problem_responses(401, 404, 409)})
def download(slug: Slug, transfer_id: LocalId, t: TransfererDep) -> FileResponse:
    """The payload a completed transfer brought here (consumer side)."""
    with t.node.db.transaction() as session:
        transfer = service.get_local(session, slug, transfer_id)
        if transfer.role != "consumer" or transfer.state != "COMPLETED" or not transfer.payload_path:
            raise Conflict(f"transfer {transfer_id} has no payload here: it is a {transfer.role}'s {transfer.state} transfer")
        path, media_type, sha256 = FilePath(transfer.payload_path), transfer.media_type, transfer.payload_sha256
    if not path.is_file():
        raise NotFound(f"the payload of transfer {transfer_id} was removed from this node")
    return FileResponse(path, media_type=media_type or "application/octet-stream", headers={"ETag": f'"{sha256}"'})


class RevocationOut(BaseModel):
    agreement_id: str
    reason: str
    revoked_at: datetime
    terminated_transfers: list[str]


@router.post("/participants/{slug}/agreements/{agreement_id}/revoke", response_model=RevocationOut, dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def revoke_agreement(slug: Slug, agreement_id: AgreementId, body: ReasonIn, t: TransfererDep) -> RevocationOut:
    """Revoke a finalized agreement: its open transfers are terminated, new ones refused."""
    revoked, terminated = service.revoke_agreement(t, slug, agreement_id, body.reason)
    return RevocationOut(agreement_id=agreement_id, reason=revoked.reason, revoked_at=revoked.revoked_at, terminated_transfers=terminated)


class SourceOut(BaseModel):
    offering_id: str
    kind: str
    config: dict[str, Any]
    updated_at: datetime


OfferingId = Annotated[str, Path(pattern=r"^urn:uuid:[0-9a-f-]{36}$")]


def _source_out(row: DataSource) -> SourceOut:
    return SourceOut(offering_id=row.offering_id, kind=row.kind, config=sources.public_config(row.config), updated_at=row.updated_at)


@router.put("/participants/{slug}/offerings/{offering_id}/source", response_model=SourceOut, dependencies=[AdminDep], responses=problem_responses(401, 403, 404, 422))
def attach_source(slug: Slug, offering_id: OfferingId, body: Annotated[sources.SourceIn, Body()], node: NodeDep, session: SessionDep) -> SourceOut:
    """Say where an offering's data comes from: a file, a read-only SQL query, or a query on the provider's LRS."""
    offering = catalog.get_offering(session, slug, offering_id)
    config = sources.check_source(body, contains_pii=offering.contains_pii, data_dir=node.settings.data_dir, store=slug)
    row = session.get(DataSource, offering_id)
    now = utcnow()
    if row is None:
        row = DataSource(offering_id=offering_id, participant_slug=slug, created_at=now)
        session.add(row)
    row.kind, row.config, row.updated_at = config["kind"], config, now
    row.digest_sha256 = row.digest_size = row.digest_mtime_ns = None
    session.flush()
    return _source_out(row)


@router.get("/participants/{slug}/offerings/{offering_id}/source", response_model=SourceOut, dependencies=[AdminDep], responses=problem_responses(401, 403, 404))
def show_source(slug: Slug, offering_id: OfferingId, session: SessionDep) -> SourceOut:
    row = session.get(DataSource, offering_id)
    if row is None or row.participant_slug != slug:
        raise NotFound(f"no data source is attached to {slug}'s offering {offering_id}")
    return _source_out(row)


@router.delete("/participants/{slug}/offerings/{offering_id}/source", status_code=204, dependencies=[AdminDep], responses=problem_responses(401, 403, 404))
def detach_source(slug: Slug, offering_id: OfferingId, session: SessionDep) -> Response:
    row = session.get(DataSource, offering_id)
    if row is None or row.participant_slug != slug:
        raise NotFound(f"no data source is attached to {slug}'s offering {offering_id}")
    session.delete(row)
    return Response(status_code=204)

