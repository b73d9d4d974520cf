"""Push transfers: the provider sends the payload to the consumer's endpoint.

The consumer names its endpoint in the TransferRequestMessage's DataAddress, with a token it
issued for this transfer (stored hashed, held by the provider's DID). Once STARTED, the provider
streams the payload there with `PUT`, stating its SHA-256 (`Repr-Digest`) and size; the consumer
writes it to a `.part` file, hashing as it goes, and keeps it (renamed into place) only when
both match. Then the provider completes the transfer. A push that fails is sent again whole,
for up to `PUSH_RETRY_SECONDS`, then the transfer is terminated with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from sqlalchemy.orm import Session

from dases.errors import Conflict, FieldError, InvalidInput, NotFound
from dases.transfer import messages, release, tokens
from dases.transfer.dataplane import CHUNK, digest_headers, sha256_from_headers
from dases.transfer.models import Transfer
from dases.transfer.service import (
    Transferer,
    _act,
    _ended,
    _message,
    _peer_path,
    _record,
    terminate,
)
from dases.transfer.states import Role, State

log = logging.getLogger(__name__)

PUSH_RETRY_SECONDS = 60.0


def start_push(t: Transferer, transfer_id: str) -> None:
    with t.lock:
        if transfer_id in t.running:
            return
        cancel = threading.Event()
        t.running[transfer_id] = cancel
    threading.Thread(target=_push, args=(t, transfer_id, cancel), name=f"transfer-push-{transfer_id[:8]}", daemon=True).start()


def _chunks(path: Path, cancel: threading.Event) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while data := handle.read(CHUNK):
            if cancel.is_set():
                raise OSError("the transfer was stopped while its payload was being pushed")
            yield data


def _push(t: Transferer, transfer_id: str, cancel: threading.Event) -> None:
    try:
        with t.node.db.transaction() as session:
            transfer = session.get(Transfer, transfer_id)
            if transfer is None or transfer.state != State.STARTED.value:
                return
            endpoint, properties = messages.read_data_address(transfer.data_address)
            path, sha256, size = Path(transfer.payload_path or ""), transfer.payload_sha256 or "", transfer.payload_size or 0
            media_type = transfer.media_type or "application/octet-stream"
        headers = {
            "Authorization": f"Bearer {properties.get('authorization', '')}", "Content-Type": media_type, "Content-Length": str(size),
            **{name: value for name, value in digest_headers(sha256).items() if name != "ETag"},
        }
        deadline, pause, problem = time.monotonic() + PUSH_RETRY_SECONDS, 0.2, ""
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0)) as client:
            while not cancel.is_set():
                try:
                    response = client.put(endpoint, content=_chunks(path, cancel), headers=headers)
                    if response.status_code in (200, 201, 204):
                        _provider_complete(t, transfer_id)
                        return
                    problem = f"the consumer's endpoint answered {response.status_code}: {response.text[:300]}"
                    if response.status_code in (401, 403, 404, 409):
                        break
                except (httpx.HTTPError, OSError) as error:
                    problem = f"the consumer's endpoint cannot be reached: {type(error).__name__}: {error}"[:500]
                if cancel.is_set() or time.monotonic() > deadline or cancel.wait(pause):
                    break
                pause = min(pause * 2, 5.0)
        if not cancel.is_set():
            terminate(t, transfer_id, "push-failed", problem or "the payload could not be pushed")
    except Exception:
        log.exception("transfer %s: the push failed", transfer_id)
        terminate(t, transfer_id, "push-failed", "the provider's push failed; see its log")
    finally:
        with t.lock:
            if t.running.get(transfer_id) is cancel:
                del t.running[transfer_id]


def _provider_complete(t: Transferer, transfer_id: str) -> None:
    def step(session: Session, transfer: Transfer) -> tuple[str, dict[str, Any]] | None:
        if transfer.state != State.STARTED.value:
            return None
        transfer.state = State.COMPLETED.value
        _ended(t, session, transfer, "TransferCompletionMessage", None)
        _record(session, transfer, "sent", "TransferCompletionMessage", "pushed, the consumer verified the payload")
        return _peer_path(transfer, "completion"), _message("TransferCompletionMessage", transfer)

    _act(t, transfer_id, step)


# --- the consumer's endpoint -------------------------------------------------------------------


def inbox_target(t: Transferer, slug: str, transfer_id: str, token: str) -> Path:
    """Where a push for this transfer is written, once the token is checked."""
    with t.node.db.transaction() as session:
        transfer = tokens.verify(session, token, transfer_id)
        if transfer.participant_slug != slug or transfer.role != Role.CONSUMER.value or transfer.format != messages.PUSH:
            raise NotFound(f"no push transfer {transfer_id} here")
        if transfer.state != State.STARTED.value:
            raise Conflict(f"the transfer is {transfer.state}: nothing is accepted", reason=transfer.state.lower())
    return t.received_dir / f"{transfer_id}.part"


async def receive_push(t: Transferer, transfer_id: str, part: Path, body: AsyncIterator[bytes], headers: Any) -> None:
    """Write a pushed payload to `part`, check it against the stated digest and size, keep it."""
    expected_sha = sha256_from_headers(headers)
    try:
        expected_size = int(headers.get("content-length", ""))
    except ValueError:
        expected_size = -1
    if expected_sha is None or expected_size < 0:
        raise InvalidInput("a push states the payload's Repr-Digest (sha-256) and Content-Length",
                           errors=[FieldError("Repr-Digest", "required", "sha-256 of the whole payload")])
    await anyio.to_thread.run_sync(lambda: part.parent.mkdir(parents=True, exist_ok=True))
    digest, size = hashlib.sha256(), 0
    handle = await anyio.to_thread.run_sync(part.open, "wb")
    try:
        async for data in body:
            digest.update(data)
            size += len(data)
            await anyio.to_thread.run_sync(handle.write, data)
    finally:
        await anyio.to_thread.run_sync(handle.close)
    if size != expected_size or digest.hexdigest() != expected_sha:
        part.unlink(missing_ok=True)
        raise InvalidInput(f"the payload received ({size} bytes, sha-256 {digest.hexdigest()}) is not the one stated ({expected_size} bytes, sha-256 {expected_sha})",
                           errors=[FieldError("body", "digest", "must match Repr-Digest and Content-Length")])
    media_type = headers.get("content-type")
    if media_type is not None and (len(media_type) > 128 or media_type not in release.EXTENSIONS):
        media_type = "application/octet-stream"
    final = part.with_name(f"{transfer_id}.{release.EXTENSIONS.get(media_type or '', 'bin')}")
    os.replace(part, final)
    with t.node.db.transaction() as session:
        transfer = session.get(Transfer, transfer_id)
        if transfer is not None:
            transfer.payload_path, transfer.payload_sha256, transfer.payload_size, transfer.media_type = str(final), expected_sha, size, media_type
            _record(session, transfer, "received", "PushedPayload", f"{size} bytes, sha-256 verified")
