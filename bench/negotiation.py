"""Benchmark of contract negotiation and catalog search.

Run with `./dev bench negotiation` (or `python bench/negotiation.py`). It prints:

1. the median time of a DSP negotiation from the consumer's request to FINALIZED, between two
   node processes on loopback (SQLite by default), taken from the consumer node's own event
   timestamps (REQUESTED recorded -> FINALIZED recorded), so client polling adds nothing;
   baseline: the median of one signed DSP call between the same nodes (GET of the
   negotiation's state), measured in the same run; a negotiation needs six such messages;
2. the median catalog search time over 10,000 and 100,000 offerings and the growth ratio
   (bench/catalog_search.py).

Targets: request -> FINALIZED < 50 ms on SQLite; search < 50 ms at 100k, growth well under 10x.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dases.db import Database
from dases.identity import service as identity
from dases.identity.client import signed_client
from dases.identity.keys import KeySealer

ADMIN_TOKEN = "bench-admin-token-0123456789"
SECRET = "bench-node-secret-0123456789"
DSP_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "dsp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NodeProcess:
    """A `dases serve` process with one participant, on a free loopback port."""

    def __init__(self, root: Path, slug: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.slug = slug
        self.data_dir = root / slug
        self.env = {
            **os.environ,
            "DASES_DATA_DIR": str(self.data_dir),
            "DASES_PORT": str(self.port),
            "DASES_NODE_SECRET": SECRET,
            "DASES_ADMIN_TOKEN": ADMIN_TOKEN,
            "DASES_LOG_LEVEL": "warning",
        }
        if DSP_SCHEMAS.is_dir():
            self.env["DASES_DSP_SCHEMA_DIR"] = str(DSP_SCHEMAS)
        db = Database(f"sqlite:///{self.data_dir / 'dases.sqlite3'}")
        db.migrate()
        with db.transaction() as session:
            identity.create_participant(session, KeySealer(SECRET.encode()), self.url, slug, slug.title())
        db.dispose()
        dases = Path(sys.executable).parent / "dases"
        self.process = subprocess.Popen([str(dases), "serve"], env=self.env, stdout=subprocess.DEVNULL)
        self.admin = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.admin.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {slug} did not start")
            time.sleep(0.1)

    @property
    def connector(self) -> str:
        return f"{self.url}/participants/{self.slug}/dsp"

    def signer(self):
        db = Database(f"sqlite:///{self.data_dir / 'dases.sqlite3'}")
        with db.transaction() as session:
            signer = identity.signer_for(session, KeySealer(SECRET.encode()), self.slug)
        db.dispose()
        return signer

    def did(self) -> str:
        return self.admin.get(f"/participants/{self.slug}").json()["did"]

    def stop(self) -> None:
        self.admin.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def publish_offer(provider: NodeProcess, consumer: NodeProcess) -> dict[str, Any]:
    """Publish one dataset with an offer through the catalog's admin API; return the offer."""
    body = {
        "kind": "dataset",
        "title": "Learning traces of the 2025 cohort",
        "description": "xAPI statements of the 2025 cohort, pseudonymised.",
        "keywords": ["xapi", "learning traces"],
        "data_categories": ["learning_traces"],
        "contains_pii": False,
        "policy": {"permission": [{"action": "use"}]},
        "distributions": [{"format": "HttpData-PULL", "media_type": "application/json"}],
    }
    response = provider.admin.post(f"/participants/{provider.slug}/offerings", json=body)
    response.raise_for_status()
    with signed_client(consumer.signer(), provider.did(), base_url=provider.connector) as client:
        catalog = client.post("/catalog/request", json={"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogRequestMessage"}).json()
    dataset = catalog["dataset"][0]
    return {**dataset["hasPolicy"][0], "target": dataset["@id"]}


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"].replace("Z", "+00:00"))


def bench_negotiation(rounds: int) -> tuple[float, float]:
    """Median ms of request -> FINALIZED, and of one signed DSP call, between two nodes."""
    with tempfile.TemporaryDirectory() as tmp:
        provider = NodeProcess(Path(tmp), "provider")
        consumer = NodeProcess(Path(tmp), "consumer")
        try:
            offer = publish_offer(provider, consumer)
            durations: list[float] = []
            last: dict[str, Any] = {}
            for _ in range(rounds + 2):
                started = consumer.admin.post(f"/participants/{consumer.slug}/negotiations", json={"provider_url": provider.connector, "offer": offer}).json()
                deadline = time.monotonic() + 30
                while True:
                    view = consumer.admin.get(f"/participants/{consumer.slug}/negotiations/{started['id']}").json()
                    if view["state"] in ("FINALIZED", "TERMINATED"):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"negotiation stuck in {view['state']}")
                    time.sleep(0.002)
                if view["state"] != "FINALIZED":
                    raise RuntimeError(f"negotiation ended {view['state']}: {view.get('termination_reason')}")
                events = view["events"]
                durations.append((_at(events[-1]) - _at(events[0])).total_seconds() * 1e3)
                last = view
            durations = durations[2:]  # the first rounds warm caches (DID documents, keys)
            single: list[float] = []
            with signed_client(consumer.signer(), provider.did(), base_url=provider.connector) as client:
                for _ in range(200):
                    start = time.perf_counter()
                    assert client.get(f"/negotiations/{last['provider_pid']}").status_code == 200
                    single.append((time.perf_counter() - start) * 1e3)
        finally:
            provider.stop()
            consumer.stop()
    return statistics.median(durations), statistics.median(single[20:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    negotiation_ms, call_ms = bench_negotiation(args.rounds)
    print(
        f"negotiation request -> FINALIZED between two nodes (SQLite): median {negotiation_ms:.1f} ms (target < 50 ms); "
        f"baseline one signed DSP call {call_ms:.2f} ms; ratio {negotiation_ms / call_ms:.1f}x (a negotiation is 6 messages)"
    )
    if not args.skip_search:
        from catalog_search import main as search_main

        search_main([])


if __name__ == "__main__":
    main()
