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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

from dases.app import create_app
from dases.db import Database
from dases.identity import service as identity
from dases.identity.api import CallerOut, ParticipantOut
from dases.identity.auth import Caller
from dases.identity.keys import KeySealer
from dases.identity.replay import DatabaseReplayGuard, MemoryReplayGuard, ReplayGuard
from dases.identity.resolver import DidResolver
from dases.identity.tokens import sign_call_token, verify_call_token
from dases.node import SessionDep
from dases.settings import Settings

NODE_SECRET = "bench-node-secret-0123456789"


@contextmanager
def fresh_database(server_url: str | None, directory: Path, name: str) -> Iterator[str]:
    """An empty database for one measurement: a SQLite file, or a PostgreSQL schema dropped after."""
    if not server_url:
        yield f"sqlite:///{directory / f'{name}.sqlite3'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in server_url else "?"
        yield f"{server_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


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


def wait_until_healthy(client: httpx.Client, seconds: float) -> None:
    """Poll the node's /healthz until it answers 200, or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark node did not start")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(port: int, data_dir: Path, database_url: str) -> None:
    """The node under test, plus one unauthenticated twin of /identity/whoami."""
    import uvicorn

    app = create_app(Settings(port=port, data_dir=data_dir, database_url=database_url, node_secret=NODE_SECRET))

    @app.get("/bench/anonymous", response_model=CallerOut)
    def anonymous() -> CallerOut:
        return CallerOut(did="did:web:anonymous", kid="did:web:anonymous#0", audience="did:web:anonymous")

    @app.get("/bench/read/anonymous", response_model=ParticipantOut)
    def read_anonymous(session: SessionDep) -> ParticipantOut:
        return ParticipantOut(**identity.get_participant(session, "callee").__dict__)

    @app.get("/bench/read/protected", response_model=ParticipantOut)
    def read_protected(caller: Caller, session: SessionDep) -> ParticipantOut:
        return ParticipantOut(**identity.get_participant(session, "callee").__dict__)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bench_latency(database_url: str | None, calls: int, warmup: int) -> dict[str, float]:
    """Median milliseconds of authenticated calls and of their unauthenticated twins: the
    smallest protected route (/identity/whoami, no work) and a route reading one row."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database(database_url, Path(tmp), "node") as url:
        data_dir = Path(tmp)
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
                wait_until_healthy(client, 30)
                pairs = {
                    "noop": ("/bench/anonymous", "/identity/whoami"),
                    "read": ("/bench/read/anonymous", "/bench/read/protected"),
                }
                samples: dict[str, list[float]] = {f"{kind}/{side}": [] for kind in pairs for side in ("anonymous", "signed")}
                for index in range(warmup + calls):
                    for kind, (open_path, protected_path) in pairs.items():
                        start = time.perf_counter()
                        response = client.get(open_path)
                        anonymous_time = time.perf_counter() - start
                        assert response.status_code == 200, response.text
                        start = time.perf_counter()
                        token = sign_call_token(signer, audience)
                        response = client.get(protected_path, headers={"Authorization": f"Bearer {token}"})
                        signed_time = time.perf_counter() - start
                        assert response.status_code == 200, response.text
                        if index >= warmup:
                            samples[f"{kind}/anonymous"].append(anonymous_time)
                            samples[f"{kind}/signed"].append(signed_time)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


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

    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.database_url, Path(tmp), "verify") as verify_url:
        verify_us, database_us, bare_us = bench_verification(verify_url, args.tokens, args.rounds)
    backend = "PostgreSQL" if (args.database_url or "").startswith("postgresql") else "SQLite"
    print(f"token verification: median {verify_us:.1f} us/token (target <= 200 us); "
          f"baseline bare Ed25519 verify {bare_us:.1f} us; ratio {verify_us / bare_us:.2f}x")
    print(f"token verification with the {backend} replay store (DASES_REPLAY_STORE=database): "
          f"median {database_us:.1f} us/token; ratio to bare verify {database_us / bare_us:.2f}x")

    medians = bench_latency(args.database_url, args.calls, args.warmup)
    for kind, label in (("noop", "no-op route (/identity/whoami)"), ("read", "route reading one row")):
        signed, anonymous = medians[f"{kind}/signed"], medians[f"{kind}/anonymous"]
        print(f"HTTP call on loopback, {label}, {backend}: signed median {signed:.3f} ms "
              f"(token signed by the caller, verified by the node), unsigned twin {anonymous:.3f} ms; "
              f"ratio {signed / anonymous:.2f}x (target <= 1.3x); overhead {1e3 * (signed - anonymous):.0f} us")


if __name__ == "__main__":
    main()
