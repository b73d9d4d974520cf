"""The DID resolver fetches did:web documents once per TTL, keeps a bounded LRU cache, reports
why a resolution failed (and remembers the failure briefly), and refetches a document at most
once per refresh interval when a call names a key it does not list."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from dases.identity.did import build_did_document
from dases.identity.keys import generate_key, key_id, public_jwk
from dases.identity.resolver import (
    MAX_DOCUMENT_BYTES,
    NEGATIVE_TTL_SECONDS,
    DidResolver,
    ResolutionError,
)

ALICE = "did:web:node.example.org:participants:alice"
ALICE_URL = "https://node.example.org/participants/alice/did.json"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeWeb:
    """did:web hosts behind an httpx.MockTransport, counting the requests per URL."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        route = self.routes.get(url)
        if route is None:
            return httpx.Response(404, json={"detail": "not found"})
        return route(request)

    def serve(self, did: str, url: str, *kids: str) -> dict[str, object]:
        keys = [(kid, public_jwk(generate_key())) for kid in kids]
        document = build_did_document(did, keys, {kid for kid, _ in keys})
        self.routes[url] = lambda _request: httpx.Response(200, json=document, headers={"content-type": "application/did+json"})
        return document

    def count(self, url: str = ALICE_URL) -> int:
        return self.requests.count(url)


@pytest.fixture
def web() -> FakeWeb:
    return FakeWeb()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_resolver(web: FakeWeb, clock: FakeClock) -> Iterator[Callable[..., DidResolver]]:
    clients: list[httpx.Client] = []

    def make(**kwargs: object) -> DidResolver:
        client = httpx.Client(transport=httpx.MockTransport(web.handler))
        clients.append(client)
        return DidResolver(client, clock=clock, **kwargs)  # type: ignore[arg-type]

    yield make
    for client in clients:
        client.close()


def did_and_url(slug: str) -> tuple[str, str]:
    return f"did:web:node.example.org:participants:{slug}", f"https://node.example.org/participants/{slug}/did.json"


def test_resolves_the_document_at_the_did_web_url(web: FakeWeb, make_resolver: Callable[..., DidResolver]) -> None:
    document = web.serve(ALICE, ALICE_URL, "k1")
    assert make_resolver().resolve(ALICE) == document
    assert web.requests == [ALICE_URL]


def test_loopback_hosts_allowed_are_fetched_over_http(web: FakeWeb, make_resolver: Callable[..., DidResolver]) -> None:
    did = "did:web:127.0.0.1%3A8123:participants:alice"
    document = web.serve(did, "http://127.0.0.1:8123/participants/alice/did.json", "k1")
    assert make_resolver(allow_http_hosts=["127.0.0.1"]).resolve(did) == document


def test_second_resolve_within_ttl_makes_no_request(
    web: FakeWeb, clock: FakeClock, make_resolver: Callable[..., DidResolver]
) -> None:
    web.serve(ALICE, ALICE_URL, "k1")
    resolver = make_resolver(ttl=60)
    first = resolver.resolve(ALICE)
    clock.advance(59.9)
    assert resolver.resolve(ALICE) == first
    assert web.count() == 1


def test_resolve_after_ttl_refetches(web: FakeWeb, clock: FakeClock, make_resolver: Callable[..., DidResolver]) -> None:
    web.serve(ALICE, ALICE_URL, "k1")
    resolver = make_resolver(ttl=60)
    resolver.resolve(ALICE)
    clock.advance(60)
    renewed = web.serve(ALICE, ALICE_URL, "k2")
    assert resolver.resolve(ALICE) == renewed
    assert web.count() == 2


def test_force_refetches_within_ttl(web: FakeWeb, make_resolver: Callable[..., DidResolver]) -> None:
    web.serve(ALICE, ALICE_URL, "k1")
    resolver = make_resolver(ttl=60)
    resolver.resolve(ALICE)
    resolver.resolve(ALICE, force=True)
    assert web.count() == 2


def test_forget_drops_the_cached_document(web: FakeWeb, make_resolver: Callable[..., DidResolver]) -> None:
    web.serve(ALICE, ALICE_URL, "k1")
    resolver = make_resolver()
    resolver.resolve(ALICE)
    resolver.forget(ALICE)
    resolver.resolve(ALICE)
    assert web.count() == 2


def test_cache_holds_at_most_max_entries_evicting_the_least_recently_used(
    web: FakeWeb, make_resolver: Callable[..., DidResolver]
) -> None:
    (a, a_url), (b, b_url), (c, c_url) = did_and_url("a"), did_and_url("b"), did_and_url("c")
    for did, url in ((a, a_url), (b, b_url), (c, c_url)):
        web.serve(did, url, "k1")
    resolver = make_resolver(max_entries=2)

    resolver.resolve(a)
    resolver.resolve(b)
    resolver.resolve(a)  # a is now more recently used than b
    resolver.resolve(c)  # evicts b
    assert len(resolver) == 2

    resolver.resolve(a)
    assert web.count(a_url) == 1  # still cached
    resolver.resolve(b)
    assert web.count(b_url) == 2  # was evicted, fetched again
    assert len(resolver) == 2


def test_cache_stays_bounded_under_many_dids(web: FakeWeb, make_resolver: Callable[..., DidResolver]) -> None:
    resolver = make_resolver(max_entries=5)
    for index in range(40):
        did, url = did_and_url(f"p{index}")
        web.serve(did, url, "k1")
        resolver.resolve(did)
        assert len(resolver) <= 5
    assert len(resolver) == 5


def too_big_document(_request: httpx.Request) -> httpx.Response:
    document = {"id": ALICE, "padding": "x" * (MAX_DOCUMENT_BYTES + 1)}
    return httpx.Response(200, content=json.dumps(document).encode())


def connection_refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("route", "cause"),
    [
        (None, "answered 404"),
        (lambda _r: httpx.Response(500, text="boom"), "answered 500"),
        (lambda _r: httpx.Response(302, headers={"location": "https://evil.example/did.json"}), "answered 302"),
        (connection_refused, "could not be fetched: ConnectError"),
        (read_timeout, "could not be fetched: ReadTimeout"),
        (lambda _r: httpx.Response(200, text="<html>hello</html>"), "did not return JSON"),
        (lambda _r: httpx.Response(200, json=["not", "an", "object"]), f"not the DID document of {ALICE}"),
        (lambda _r: httpx.Response(200, json={"id": "did:web:evil.example"}), f"not the DID document of {ALICE}"),
        (lambda _r: httpx.Response(200, json={"verificationMethod": []}), f"not the DID document of {ALICE}"),
        (too_big_document, f"over {MAX_DOCUMENT_BYTES} bytes"),
    ],
    ids=["404", "500", "redirect", "connection-error", "timeout", "not-json", "not-object", "other-did", "no-id", "too-big"],
)
def test_failure_raises_resolution_error_naming_the_cause(
    web: FakeWeb, make_resolver: Callable[..., DidResolver], route: Callable[[httpx.Request], httpx.Response] | None, cause: str
) -> None:
    if route is not None:
        web.routes[ALICE_URL] = route
    with pytest.raises(ResolutionError) as error:
        make_resolver().resolve(ALICE)
    assert cause in str(error.value)
    assert web.count() == 1


def test_invalid_did_raises_resolution_error_without_a_request(web: FakeWeb, make_resolver: Callable[..., DidResolver]) -> None:
    with pytest.raises(ResolutionError, match="not a did:web identifier"):
        make_resolver().resolve("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
    assert web.requests == []


@pytest.mark.parametrize("did", ["did:web:node.example.org%3Anotaport", "did:web:node.example.org%3A8%2F0"])
def test_did_whose_url_cannot_be_built_raises_resolution_error(
    web: FakeWeb, make_resolver: Callable[..., DidResolver], did: str
) -> None:
    """Not an httpx.InvalidURL escaping to the caller: a node would answer 500 instead of 401."""
    resolver = make_resolver()
    with pytest.raises(ResolutionError):
        resolver.resolve(did)
    assert web.requests == []


def test_failure_is_cached_briefly(web: FakeWeb, clock: FakeClock, make_resolver: Callable[..., DidResolver]) -> None:
    web.routes[ALICE_URL] = connection_refused
    resolver = make_resolver(ttl=300)
    failed_at = clock.now
    for _ in range(5):
        with pytest.raises(ResolutionError, match="ConnectError"):
            resolver.resolve(ALICE)
    assert web.count() == 1

    clock.now = failed_at + NEGATIVE_TTL_SECONDS - 0.1
    with pytest.raises(ResolutionError):
        resolver.resolve(ALICE)
    assert web.count() == 1

    clock.now = failed_at + NEGATIVE_TTL_SECONDS  # the failure has expired: the host is asked again, and is back
    document = web.serve(ALICE, ALICE_URL, "k1")
    assert resolver.resolve(ALICE) == document
    assert web.count() == 2


def test_failure_is_not_cached_longer_than_the_ttl(web: FakeWeb, clock: FakeClock, make_resolver: Callable[..., DidResolver]) -> None:
    resolver = make_resolver(ttl=1)
    with pytest.raises(ResolutionError):
        resolver.resolve(ALICE)
    clock.advance(1)
    with pytest.raises(ResolutionError):
        resolver.resolve(ALICE)
    assert web.count() == 2


def test_verification_key_refetches_once_for_an_unknown_key(
    web: FakeWeb, clock: FakeClock, make_resolver: Callable[..., DidResolver]
) -> None:
    old = web.serve(ALICE, ALICE_URL, "k1")
    resolver = make_resolver(ttl=300, refresh_interval=1.0)
    assert resolver.verification_key(ALICE, f"{ALICE}#k1", "authentication") == old["verificationMethod"][0]["publicKeyJwk"]
    assert web.count() == 1

    clock.advance(2)  # the peer rotates its key; the cached document does not list the new one
    key = generate_key()
    kid = key_id(key)
    web.routes[ALICE_URL] = lambda _r: httpx.Response(200, json=build_did_document(ALICE, [(kid, public_jwk(key))], {kid}))
    assert resolver.verification_key(ALICE, f"{ALICE}#{kid}", "authentication") == public_jwk(key)
    assert web.count() == 2

    # A key the fresh document does not list either: no further fetch within the refresh interval.
    assert resolver.verification_key(ALICE, f"{ALICE}#forged", "authentication") is None
    clock.advance(0.5)
    assert resolver.verification_key(ALICE, f"{ALICE}#forged", "authentication") is None
    assert web.count() == 2

    clock.advance(0.5)  # the interval has passed: one more fetch is allowed
    assert resolver.verification_key(ALICE, f"{ALICE}#forged", "authentication") is None
    assert web.count() == 3


def test_verification_key_does_not_refetch_for_a_known_key(web: FakeWeb, clock: FakeClock, make_resolver: Callable[..., DidResolver]) -> None:
    web.serve(ALICE, ALICE_URL, "k1")
    resolver = make_resolver(refresh_interval=1.0)
    for _ in range(3):
        clock.advance(2)
        assert resolver.verification_key(ALICE, f"{ALICE}#k1", "authentication") is not None
    assert web.count() == 1


def test_verification_key_refetches_once_even_when_the_key_stays_unknown(
    web: FakeWeb, clock: FakeClock, make_resolver: Callable[..., DidResolver]
) -> None:
    web.serve(ALICE, ALICE_URL, "k1")
    resolver = make_resolver(refresh_interval=1.0)
    resolver.resolve(ALICE)
    clock.advance(5)
    assert resolver.verification_key(ALICE, f"{ALICE}#k9", "authentication") is None
    assert web.count() == 2  # one refetch, not one per lookup


def test_verification_key_of_an_unresolvable_did_raises(web: FakeWeb, make_resolver: Callable[..., DidResolver]) -> None:
    with pytest.raises(ResolutionError, match="answered 404"):
        make_resolver().verification_key(ALICE, f"{ALICE}#k1", "authentication")
