"""The consumer's side of a pull: fetch a payload into a `.part` file, resume it, verify it.

`pull` keeps going through what a network and a restarting provider do (refused connections,
cut responses, 5xx) by asking for the rest with `Range`, for as long as it makes progress
within `retry_seconds`. It ends in exactly one of three ways: the whole payload is in the
`.part` file and its SHA-256 is the one the provider announced (`ok`); it was cancelled
(suspension, node shutdown: the `.part` file stays for a resume); or it failed for a reason it
states. It never reports success for a file shorter, longer or other than announced.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from dases.transfer.dataplane import sha256_from_headers

CHUNK = 1024 * 1024


@dataclass
class Plan:
    endpoint: str
    token: str
    sha256: str
    size: int
    part: Path
    max_bytes_per_second: float | None = None
    retry_seconds: float = 120.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    cancelled: bool = False
    code: str = ""
    reason: str = ""
    resumed_at: tuple[int, ...] = ()


class Refused(Exception):
    """The provider refuses to go on with this transfer; the text says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


#: Renews the data address when the token is no longer accepted: (endpoint, token), or Refused.
Renew = Callable[[], tuple[str, str]]


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("reason") or body)[:500]
    return str(body)[:300]


class _Hasher:
    """SHA-256 of the `.part` file's bytes so far, rebuilt from the file when out of step.

    Chunks are hashed on a second thread while the next one is received (hashlib releases the
    GIL), with at most one chunk in flight, so memory stays bounded."""

    def __init__(self, part: Path) -> None:
        self.part = part
        self.digest = hashlib.sha256()
        self.length = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transfer-hash")
        self._pending: Future[None] | None = None

    def _settle(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def catch_up(self, length: int) -> None:
        self._settle()
        if length == self.length:
            return
        self.digest, self.length = hashlib.sha256(), 0
        if length:
            with self.part.open("rb") as handle:
                while chunk := handle.read(min(CHUNK, length - self.length)):
                    self.digest.update(chunk)
                    self.length += len(chunk)
                    if self.length >= length:
                        break

    def update(self, data: bytes) -> None:
        self._settle()
        self._pending = self._executor.submit(self.digest.update, data)
        self.length += len(data)

    def hexdigest(self) -> str:
        self._settle()
        return self.digest.hexdigest()

    def close(self) -> None:
        self._settle()
        self._executor.shutdown()


class _Sink:
    """Received bytes, written and hashed 1 MiB at a time: network reads come in small pieces."""

    def __init__(self, out: BinaryIO, hasher: _Hasher) -> None:
        self.out = out
        self.hasher = hasher
        self.pending = bytearray()

    def add(self, data: bytes) -> None:
        self.pending += data
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            block = bytes(self.pending)
            self.pending.clear()
            self.out.write(block)
            self.hasher.update(block)


def pull(plan: Plan, client: httpx.Client, cancelled: threading.Event, renew: Renew) -> Outcome:
    """Fetch the payload `plan` describes into `plan.part`; see the module docstring."""
    plan.part.parent.mkdir(parents=True, exist_ok=True)
    plan.part.touch(exist_ok=True)
    hasher = _Hasher(plan.part)
    try:
        return _pull(plan, client, cancelled, renew, hasher)
    finally:
        hasher.close()


def _pull(plan: Plan, client: httpx.Client, cancelled: threading.Event, renew: Renew, hasher: _Hasher) -> Outcome:
    last_progress = time.monotonic()
    pause = 0.1
    last_error = ""
    started, received = time.monotonic(), 0
    resumed_at: list[int] = []
    while not cancelled.is_set():
        offset = plan.part.stat().st_size
        if offset > plan.size:
            plan.part.write_bytes(b"")
            offset = 0
        hasher.catch_up(offset)
        if offset == plan.size:
            found = hasher.hexdigest()
            if found != plan.sha256:
                return Outcome(False, code="checksum-mismatch", reason=f"the payload's SHA-256 is {found}, not the announced {plan.sha256}")
            return Outcome(True, resumed_at=tuple(resumed_at))
        headers = {"Authorization": f"Bearer {plan.token}", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if not resumed_at or resumed_at[-1] != offset:
                resumed_at.append(offset)
        try:
            with client.stream("GET", plan.endpoint, headers=headers) as response:
                if response.status_code == 401:
                    plan.endpoint, plan.token = renew()
                    continue
                if response.status_code in (403, 404, 409, 410, 416):
                    response.read()
                    return Outcome(False, code="refused", reason=f"the provider's data plane refused ({response.status_code}): {_detail(response)}")
                if response.status_code >= 500 or response.status_code not in (200, 206):
                    raise httpx.HTTPStatusError(f"status {response.status_code}", request=response.request, response=response)
                announced = sha256_from_headers(response.headers)
                if announced is not None and announced != plan.sha256:
                    return Outcome(False, code="payload-changed", reason=f"the provider now serves other data (SHA-256 {announced}, announced {plan.sha256})")
                mode = "ab"
                if response.status_code == 200 and offset:
                    mode, offset = "wb", 0
                    hasher.catch_up(0)
                elif response.status_code == 206 and not response.headers.get("content-range", "").startswith(f"bytes {offset}-"):
                    raise httpx.HTTPStatusError("the range answered is not the one asked", request=response.request, response=response)
                with plan.part.open(mode) as out:
                    sink = _Sink(out, hasher)
                    try:
                        for data in response.iter_raw():
                            if cancelled.is_set():
                                return Outcome(False, cancelled=True)
                            if offset + len(data) > plan.size:
                                return Outcome(False, code="payload-too-long", reason=f"the provider sent more than the announced {plan.size} bytes")
                            sink.add(data)
                            offset += len(data)
                            received += len(data)
                            last_progress, pause = time.monotonic(), 0.1
                            if plan.max_bytes_per_second:
                                ahead = received / plan.max_bytes_per_second - (time.monotonic() - started)
                                if ahead > 0 and cancelled.wait(ahead):
                                    return Outcome(False, cancelled=True)
                    finally:
                        sink.flush()
        except Refused as refusal:
            return Outcome(False, code=refusal.code, reason=refusal.reason)
        except (httpx.HTTPError, OSError) as error:
            last_error = f"{type(error).__name__}: {error}"[:300]
        if time.monotonic() - last_progress > plan.retry_seconds:
            return Outcome(False, code="unreachable", reason=f"no data from the provider's data plane for {plan.retry_seconds:g} s ({last_error or 'no answer'})")
        if cancelled.wait(pause):
            break
        pause = min(pause * 2, 2.0)
    return Outcome(False, cancelled=True)
