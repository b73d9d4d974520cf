"""Resolution of did:web documents over HTTP, with a bounded, time-limited cache.

The cache keeps at most `max_entries` documents for `ttl` seconds each. A failed resolution is
remembered briefly too, so a flood of calls naming an unreachable DID costs one fetch, not one
per call. When a signature names a key the cached document lacks (the peer rotated its key), the
document is fetched again at most once per `refresh_interval`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from dases.identity.did import InvalidDid, did_web_document_url, find_verification_key

MAX_DOCUMENT_BYTES = 256 * 1024
NEGATIVE_TTL_SECONDS = 5.0


class ResolutionError(Exception):
    """The DID could not be resolved to a DID document; the message says why."""


@dataclass
class _Entry:
    document: dict[str, Any] | None
    error: str | None
    fetched_at: float


class DidResolver:
    def __init__(
        self,
        client: httpx.Client,
        *,
        ttl: float = 300.0,
        max_entries: int = 1024,
        allow_http_hosts: list[str] | tuple[str, ...] = (),
        refresh_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._max_entries = max_entries
        self._allow_http_hosts = tuple(allow_http_hosts)
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, did: str, *, force: bool = False) -> dict[str, Any]:
        """The DID document of `did`, from the cache when fresh."""
        now = self._clock()
        entry = None if force else self._cached(did, now)
        if entry is None:
            entry = self._fetch(did, now)
            self._store(did, entry)
        if entry.document is None:
            raise ResolutionError(entry.error or f"{did} could not be resolved")
        return entry.document

    def verification_key(self, did: str, kid_url: str, relationship: str) -> dict[str, Any] | None:
        """The JWK `kid_url` names in `did`'s document for `relationship`, refetching once if absent."""
        jwk = find_verification_key(self.resolve(did), did, kid_url, relationship)
        if jwk is None and self._may_refresh(did):
            jwk = find_verification_key(self.resolve(did, force=True), did, kid_url, relationship)
        return jwk

    def has_cached_key(self, did: str, kid_url: str, relationship: str) -> bool:
        """Whether `verification_key` can answer from the cache alone, with no network I/O."""
        entry = self._cached(did, self._clock())
        return entry is not None and entry.document is not None and find_verification_key(entry.document, did, kid_url, relationship) is not None

    def forget(self, did: str) -> None:
        with self._lock:
            self._cache.pop(did, None)

    def __len__(self) -> int:
        return len(self._cache)

    def _cached(self, did: str, now: float) -> _Entry | None:
        with self._lock:
            entry = self._cache.get(did)
            if entry is None:
                return None
            ttl = self._ttl if entry.document is not None else min(self._ttl, NEGATIVE_TTL_SECONDS)
            if now - entry.fetched_at >= ttl:
                del self._cache[did]
                return None
            self._cache.move_to_end(did)
            return entry

    def _store(self, did: str, entry: _Entry) -> None:
        with self._lock:
            self._cache[did] = entry
            self._cache.move_to_end(did)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)

    def _may_refresh(self, did: str) -> bool:
        with self._lock:
            entry = self._cache.get(did)
            return entry is None or self._clock() - entry.fetched_at >= self._refresh_interval

    def _fetch(self, did: str, now: float) -> _Entry:
        try:
            url = did_web_document_url(did, self._allow_http_hosts)
        except InvalidDid as error:
            return _Entry(None, str(error), now)
        try:
            with self._client.stream("GET", url, headers={"Accept": "application/did+json, application/json"}) as response:
                if response.status_code != 200:
                    return _Entry(None, f"{url} answered {response.status_code}", now)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_DOCUMENT_BYTES:
                        return _Entry(None, f"{url} sent a DID document over {MAX_DOCUMENT_BYTES} bytes", now)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
            return _Entry(None, f"{url} could not be fetched: {type(error).__name__}", now)
        try:
            document = json.loads(body)
        except ValueError:
            return _Entry(None, f"{url} did not return JSON", now)
        if not isinstance(document, dict) or document.get("id") != did:
            return _Entry(None, f"the document at {url} is not the DID document of {did}", now)
        return _Entry(document, None, now)
