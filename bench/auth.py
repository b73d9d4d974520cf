"""Benchmark of signed service-to-service calls.

Run with `./dev bench` (or `python bench/auth.py`). It prints two figures, each with its ratio
to a baseline measured in the same run:

1. the median cost of verifying one call token (parse, claims, cached DID document, Ed25519
   signature, replay store on the node's database), against a bare Ed25519 signature check
   of the same bytes with `cryptography` (the floor no verifier can go under);
2. the median latency of an authenticated HTTP call to a node on loopback (token signed by the
   caller, verified by the node) against the same call without authentication, both served by
   one node process, interleaved so that noise hits both alike.

Targets: verification <= 200 us per token; authenticated / unauthenticated latency <= 1.3x.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from dases.db import Database
from dases.identity import service as identity
from dases.identity.keys import KeySealer
from dases.identity.replay import DatabaseReplayGuard, MemoryReplayGuard, ReplayGuard
from dases.identity.resolver import DidResolver
from dases.identity.tokens import sign_call_token, verify_call_token

NODE_SECRET = "bench-node-secret-0123456789"


def median_per_item(durations: list[float], per_round: int) -> float:
    return statistics.median(durations) / per_round


def bench_verification(database_url: str, tokens: int, rounds: int) -> tuple[float, float, float]:
    """Median microseconds per token: full verification with the default (memory) replay store,
    the same with the database replay store, and a bare signature check."""
    db = Database(database_url)
    db.migrate()
    sealer = KeySealer(NODE_SECRET.encode())
    base_url = "http://127.0.0.1:9"
    with db.transaction() as session:
        identity.create_participant(session, sealer, base_url, "caller", "Caller")
        identity.create_participant(session, sealer, base_url, "callee", "Callee")
        document = identity.did_document(session, "caller")
        signer = identity.signer_for(session, sealer, "caller")
        audience = identity.get_participant(session, "callee").did
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=document)))
    resolver = DidResolver(client, ttl=3600)
    resolver.resolve(signer.did)  # warm: a node verifies against its cached copy
    audiences = {audience}
    per_round = tokens // rounds

    def timed(guard: ReplayGuard) -> tuple[float, list[str]]:
        batches = [[sign_call_token(signer, audience) for _ in range(per_round)] for _ in range(rounds)]
        durations: list[float] = []
        for batch in batches:
            start = time.perf_counter()
            for token in batch:
                verify_call_token(token, audiences=audiences, resolver=resolver, replay_guard=guard)
            durations.append(time.perf_counter() - start)
        return median_per_item(durations, per_round) * 1e6, batches[0]

    memory_us, sample = timed(MemoryReplayGuard())
    database_us, _ = timed(DatabaseReplayGuard(db))

    public_key = signer.key.get_op_key("verify")
    signed = []
    for token in sample:
        header, payload, signature = token.split(".")
        signed.append((f"{header}.{payload}".encode(), base64.urlsafe_b64decode(signature + "==")))
    bare: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        for message, signature in signed:
            public_key.verify(signature, message)
        bare.append(time.perf_counter() - start)
    db.dispose()
    client.close()
    return memory_us, database_us, median_per_item(bare, len(signed)) * 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(port: int, data_dir: Path, database_url: str) -> None:
    """The node under test, plus one unauthenticated twin of /identity/whoami."""
    import uvicorn

    from dases.app import create_app
    from dases.identity.api import CallerOut
    from dases.settings import Settings

    app = create_app(Settings(port=port, data_dir=data_dir, database_url=database_url, node_secret=NODE_SECRET))

    @app.get("/bench/anonymous", response_model=CallerOut)
    def anonymous() -> CallerOut:
        return CallerOut(did="did:web:anonymous", kid="did:web:anonymous#0", audience="did:web:anonymous")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bench_latency(database_url: str | None, calls: int, warmup: int) -> tuple[float, float]:
    """Median milliseconds of the authenticated call and of its unauthenticated twin."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        url = database_url or f"sqlite:///{data_dir / 'node.sqlite3'}"
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        db = Database(url)
        db.migrate()
        sealer = KeySealer(NODE_SECRET.encode())
        with db.transaction() as session:
            identity.create_participant(session, sealer, base_url, "caller", "Caller")
            identity.create_participant(session, sealer, base_url, "callee", "Callee")
            signer = identity.signer_for(session, sealer, "caller")
            audience = identity.get_participant(session, "callee").did
        db.dispose()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--data-dir", str(data_dir), "--database-url", url],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        try:
            with httpx.Client(base_url=base_url, timeout=10) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("the benchmark node did not start")
                    time.sleep(0.1)
                authenticated: list[float] = []
                anonymous: list[float] = []
                for index in range(warmup + calls):
                    start = time.perf_counter()
                    response = client.get("/bench/anonymous")
                    anonymous_time = time.perf_counter() - start
                    assert response.status_code == 200, response.text
                    start = time.perf_counter()
                    token = sign_call_token(signer, audience)
                    response = client.get("/identity/whoami", headers={"Authorization": f"Bearer {token}"})
                    authenticated_time = time.perf_counter() - start
                    assert response.status_code == 200, response.text
                    if index >= warmup:
                        anonymous.append(anonymous_time)
                        authenticated.append(authenticated_time)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return statistics.median(authenticated) * 1e3, statistics.median(anonymous) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=5000, help="tokens verified (split into rounds)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000, help="HTTP calls of each kind")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="storage of the node under test (default: SQLite file)")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve is not None:
        serve(args.serve, args.data_dir, args.database_url)
        return

    with tempfile.TemporaryDirectory() as tmp:
        verify_url = args.database_url or f"sqlite:///{Path(tmp) / 'verify.sqlite3'}"
        verify_us, database_us, bare_us = bench_verification(verify_url, args.tokens, args.rounds)
    backend = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    print(f"token verification: median {verify_us:.1f} us/token (target <= 200 us); "
          f"baseline bare Ed25519 verify {bare_us:.1f} us; ratio {verify_us / bare_us:.2f}x")
    print(f"token verification with the {backend} replay store (DASES_REPLAY_STORE=database): "
          f"median {database_us:.1f} us/token; ratio to bare verify {database_us / bare_us:.2f}x")

    auth_ms, anon_ms = bench_latency(args.database_url, args.calls, args.warmup)
    print(f"HTTP call on loopback ({backend}): authenticated median {auth_ms:.3f} ms, "
          f"unauthenticated median {anon_ms:.3f} ms; ratio {auth_ms / anon_ms:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
