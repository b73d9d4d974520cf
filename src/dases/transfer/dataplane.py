"""The provider's data plane: a released payload served over HTTP, resumable and verifiable.

One file per transfer, fixed when the transfer started (a staged payload, or the source file
itself for data without learners' records), so every request of a transfer reads the same
bytes: a consumer that lost its connection asks for the rest with `Range: bytes=N-` and ends
with a byte-identical file. Each response states the digest of the whole payload
(`Repr-Digest`, RFC 9530, and the older `Digest`), its size and an `ETag`, so the consumer can
check what it received and notice if the data it is resuming is no longer the same.

The body is read in 1 MiB chunks off the event loop, the next chunk read while the current one
is sent: memory stays flat (two chunks per response) whatever the payload's size. A transfer
that is suspended or terminated while a response is streaming stops that response at the next
chunk.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dases.errors import DasesError

CHUNK = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(DasesError):
    status, slug, title = 416, "range-not-satisfiable", "Range not satisfiable"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte positions a single `Range` header asks for, or None for all.

    Several ranges in one header are not served (a resuming client asks for one), so they, and
    a malformed header, are ignored as RFC 9110 allows: the whole payload is sent."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(f"the payload has {size} bytes; an empty suffix range selects none", headers={"Content-Range": f"bytes */{size}"})
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(f"the payload has {size} bytes; bytes {header[6:]} are not in it", headers={"Content-Range": f"bytes */{size}"})
    return start, end


def digest_headers(sha256_hex: str) -> dict[str, str]:
    encoded = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
    return {"Repr-Digest": f"sha-256=:{encoded}:", "Digest": f"sha-256={encoded}", "ETag": f'"{sha256_hex}"'}


def sha256_from_headers(headers: dict[str, str] | object) -> str | None:
    """The payload SHA-256 (hex) a response or request states in `Repr-Digest`, if any."""
    value = headers.get("repr-digest") if hasattr(headers, "get") else None  # type: ignore[union-attr]
    if not isinstance(value, str):
        return None
    match = re.search(r"sha-256=:([A-Za-z0-9+/=]+):", value)
    if match is None:
        return None
    try:
        return base64.b64decode(match.group(1)).hex()
    except ValueError:
        return None


class PayloadResponse(Response):
    """A payload file, whole (200) or one range of it (206), streamed in constant memory."""

    def __init__(
        self, path: Path, *, size: int, sha256: str, media_type: str, byte_range: tuple[int, int] | None,
        should_stop: Callable[[], bool], head: bool = False,
    ) -> None:
        self.path = path
        self.first, self.last = byte_range if byte_range is not None else (0, size - 1)
        self.should_stop = should_stop
        self.head = head
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(max(self.last - self.first + 1, 0)), **digest_headers(sha256)}
        if byte_range is not None:
            headers["Content-Range"] = f"bytes {self.first}-{self.last}/{size}"
        super().__init__(status_code=206 if byte_range is not None else 200, headers=headers, media_type=media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.head or self.last < self.first:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        descriptor = await anyio.to_thread.run_sync(os.open, self.path, os.O_RDONLY)
        loop = asyncio.get_running_loop()

        def read(position: int, remaining: int) -> asyncio.Future[bytes]:
            return loop.run_in_executor(None, os.pread, descriptor, min(CHUNK, remaining), position)

        position, remaining = self.first, self.last - self.first + 1
        ahead: asyncio.Future[bytes] | None = read(position, remaining)
        try:
            while ahead is not None:
                data = await ahead
                ahead = None
                if not data or self.should_stop():
                    # Returning with the body short of Content-Length makes the server drop the
                    # connection: the client sees a truncated response, never a short "success".
                    return
                position += len(data)
                remaining -= len(data)
                if remaining > 0:
                    ahead = read(position, remaining)  # the next chunk is read while this one is sent
                await send({"type": "http.response.body", "body": data, "more_body": remaining > 0})
        finally:
            if ahead is not None:
                with contextlib.suppress(OSError):
                    await ahead
            os.close(descriptor)
