"""Where converted statements go: a JSON-lines file (gzipped when its name ends in .gz), or an LRS.

Both writers take statements one at a time, as a converter streams them, and hold at most one
batch in memory. A file is written under a temporary name and renamed once complete, so a failed
conversion never leaves a file that looks whole; an LRS receives batches of 1000 statements over
the xAPI Statements resource (HTTP Basic, `X-Experience-API-Version: 1.0.3`), and the first batch
it refuses stops the run with the LRS's own message. Statement ids are deterministic, so posting
the same conversion again after a failure stores nothing twice.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

import httpx

from dases.errors import InvalidInput, UpstreamError

XAPI_VERSION = "1.0.3"
LRS_BATCH = 1000


class StatementWriter(Protocol):
    """What a conversion writes to; `written` counts the statements handed over so far."""

    written: int

    def write(self, statement: dict[str, Any]) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None: ...


def is_lrs_url(target: str) -> bool:
    """An http(s) URL names an LRS; anything else, a file."""
    parts = urlsplit(target)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_basic_auth(text: str) -> tuple[str, str]:
    """`user:password` (the password may itself hold colons)."""
    user, colon, password = text.partition(":")
    if not colon or not user:
        raise InvalidInput("LRS credentials must be given as user:password")
    return user, password


class JsonLinesWriter:
    """One statement per line, compact JSON, UTF-8; gzipped when the name ends in `.gz`.

    The gzip header carries no name and no time, so the same statements give the same bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._partial = path.with_name(path.name + ".part")
        self._raw = self._partial.open("wb")
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=6, mtime=0) if path.name.endswith(".gz") else None
        self._text = io.TextIOWrapper(self._gzip or self._raw, encoding="utf-8", newline="\n")
        self._failed = False

    def write(self, statement: dict[str, Any]) -> None:
        self._text.write(json.dumps(statement, ensure_ascii=False, separators=(",", ":")))
        self._text.write("\n")
        self.written += 1

    def close(self) -> None:
        """Finish the file and give it its name (a failed run removes the partial file instead)."""
        if self._raw.closed:
            return
        self._text.close()  # and the gzip stream under it, which leaves the file open
        self._raw.close()
        if self._failed:
            self._partial.unlink(missing_ok=True)
        else:
            os.replace(self._partial, self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._failed = kind is not None
        self.close()


class LrsWriter:
    """POSTs statements to an LRS in batches; the first refused batch raises `UpstreamError`.

    `url` is the LRS endpoint (`https://lrs.example.org/xapi/`) or its Statements resource.
    `client` lets a caller (a test) bring its own httpx.Client, pointed at the LRS."""

    def __init__(
        self,
        url: str,
        auth: tuple[str, str] | None,
        *,
        batch: int = LRS_BATCH,
        client: httpx.Client | None = None,
        timeout: float = 120.0,
    ) -> None:
        if not is_lrs_url(url):
            raise InvalidInput(f"an LRS is named by an http(s) URL, not {url!r}")
        if batch < 1:
            raise InvalidInput("an LRS batch holds at least one statement")
        base = url.rstrip("/")
        self.url = base if base.endswith("/statements") else f"{base}/statements"
        self.batch = batch
        self.written = 0  # statements the LRS has accepted
        self._pending: list[dict[str, Any]] = []
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout)
        self._headers = {"X-Experience-API-Version": XAPI_VERSION, "Content-Type": "application/json"}
        if auth is not None:
            # The header itself rather than an `auth=` object: a client of another HTTP library
            # (an ASGI test client, say) reads a plain header the same way.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"

    def write(self, statement: dict[str, Any]) -> None:
        self._pending.append(statement)
        if len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        body = json.dumps(self._pending, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        first, last = self.written + 1, self.written + len(self._pending)
        try:
            response = self._client.post(self.url, content=body, headers=self._headers)
        except httpx.HTTPError as error:
            raise UpstreamError(f"the LRS at {self.url} cannot be reached ({type(error).__name__}: {error}); {self.written} statements were stored before") from error
        if not 200 <= response.status_code < 300:
            raise UpstreamError(
                f"the LRS at {self.url} refused statements {first} to {last} (HTTP {response.status_code}): {lrs_message(response).rstrip('.')}; "
                f"{self.written} statements were stored before"
            )
        self.written = last
        self._pending.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._owns_client:
                self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        elif self._owns_client:
            self._client.close()  # a failed run sends nothing more


def lrs_message(response: httpx.Response) -> str:
    """What the LRS said: the `detail` of a problem document, the `message` most LRSs send, or its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    text = response.text.strip()
    return text[:500] if text else response.reason_phrase or "no message"


def open_writer(target: str, *, auth: tuple[str, str] | None = None, batch: int = LRS_BATCH) -> StatementWriter:
    """The writer for `--to`: an LRS for an http(s) URL, else a JSON-lines file."""
    if is_lrs_url(target):
        return LrsWriter(target, auth, batch=batch)
    path = Path(target)
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: the directory {path.parent} does not exist")
    return JsonLinesWriter(path)
