"""A provider killed in the middle of a transfer, with real `dases serve` processes: SIGKILL,
then restart on the same port and storage. The consumer resumes where it was (HTTP Range) and
ends with a byte-identical file; or, if the provider stays down, it ends TERMINATED with the
reason, never with a truncated file."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import ADMIN_TOKEN, SHARED
from .test_catalog_offerings import offering
from .test_transfer_pull import wait_for

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ANY_USE = {"permission": [{"action": "use"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodeProcess:
    """`dases serve` in a process of its own, restartable on the same port and storage."""

    def __init__(self, root: Path, name: str, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = root / name
        self.env = {
            **os.environ,
            "DASES_DATA_DIR": str(self.data_dir),
            "DASES_DATABASE_URL": database_url,
            "DASES_PORT": str(self.port),
            "DASES_NODE_SECRET": f"fault-test-secret-{name}-0123456789",
            "DASES_ADMIN_TOKEN": ADMIN_TOKEN,
            "DASES_DSP_SCHEMA_DIR": str(SHARED / "specs" / "dsp"),
            "DASES_STATUS_LIST_CACHE_SECONDS": "0",
            "DASES_LOG_LEVEL": "warning",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = httpx.Client(base_url=self.url, headers=ADMIN, timeout=30)

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "dases", "serve"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.admin.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node on port {self.port} did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash or an OOM kill would do."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.admin.close()


class Pair:
    def __init__(self, root: Path, make_database_url: Callable[[], str]) -> None:
        self.provider = NodeProcess(root, "provider", make_database_url())
        self.consumer = NodeProcess(root, "consumer", make_database_url())
        for node, slug in ((self.provider, "edtech-a"), (self.consumer, "school-b")):
            node.start()
            assert node.admin.post("/participants", json={"slug": slug, "name": slug.title()}).status_code == 201

    def agreement_for(self, source: Path) -> str:
        published = self.provider.admin.post("/participants/edtech-a/offerings", json=offering(contains_pii=False, policy=ANY_USE)).json()
        attached = self.provider.admin.put(f"/participants/edtech-a/offerings/{published['id']}/source", json={"kind": "file", "path": str(source)})
        assert attached.status_code == 200, attached.text
        connector = f"{self.provider.url}/participants/edtech-a/dsp"
        started = self.consumer.admin.post("/participants/school-b/negotiations", json={"provider_url": connector, "offer_id": published["offer_id"]})
        assert started.status_code == 201, started.text
        url = f"/participants/school-b/negotiations/{started.json()['id']}"
        finalized = wait_for(lambda: self.consumer.admin.get(url).json(), lambda view: view["state"] in ("FINALIZED", "TERMINATED"))
        assert finalized["state"] == "FINALIZED", finalized
        return str(finalized["agreement"]["@id"])

    def transfer(self, agreement_id: str, **options: Any) -> str:
        response = self.consumer.admin.post("/participants/school-b/transfers", json={"agreement_id": agreement_id, **options})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def show(self, transfer_id: str) -> dict[str, Any]:
        return dict(self.consumer.admin.get(f"/participants/school-b/transfers/{transfer_id}").json())

    def stop(self) -> None:
        self.provider.stop()
        self.consumer.stop()


@pytest.fixture
def pair(tmp_path: Path, make_database_url: Callable[[], str]) -> Iterator[Pair]:
    nodes = Pair(tmp_path, make_database_url)
    yield nodes
    nodes.stop()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """About 40 MiB of JSON lines: long enough at 8 MiB/s to be cut in the middle."""
    path = tmp_path / "source" / "traces.jsonl"
    path.parent.mkdir()
    pad = os.urandom(48).hex()
    path.write_text("".join(json.dumps({"i": i, "pad": pad}) + "\n" for i in range(400_000)))
    return path


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _part_way(pair: Pair, transfer_id: str, size: int) -> dict[str, Any]:
    return wait_for(lambda: pair.show(transfer_id), lambda view: view["state"] in ("COMPLETED", "TERMINATED") or (view["received_bytes"] or 0) > size // 4, timeout=30)


def test_a_killed_provider_restarted_lets_the_consumer_resume_to_a_byte_identical_file(pair: Pair, source: Path) -> None:
    size = source.stat().st_size
    transfer_id = pair.transfer(pair.agreement_for(source), max_bytes_per_second=8 * 1024 * 1024, retry_seconds=60)
    cut_at = _part_way(pair, transfer_id, size)
    assert cut_at["state"] == "STARTED", cut_at
    pair.provider.kill()
    time.sleep(1.0)  # the consumer meets refused connections meanwhile, and keeps its partial file
    down = pair.show(transfer_id)
    assert down["state"] == "STARTED" and 0 < down["received_bytes"] < size
    pair.provider.start()

    done = wait_for(lambda: pair.show(transfer_id), lambda view: view["state"] in ("COMPLETED", "TERMINATED"), timeout=60)
    assert done["state"] == "COMPLETED", done
    received = pair.consumer.data_dir / "transfers" / "received" / f"{transfer_id}.jsonl"
    assert received.stat().st_size == size and _sha256(received) == _sha256(source) == done["payload_sha256"]
    assert received.read_bytes() == source.read_bytes()
    assert not list(received.parent.glob("*.part"))
    resumed = [event for event in done["events"] if event["kind"] == "DownloadResumed"]
    assert resumed and int(resumed[0]["detail"].split()[-1].split(",")[0]) >= size // 4  # resumed, not started over
    provider_view = pair.provider.admin.get("/participants/edtech-a/transfers", params={"agreement_id": done["agreement_id"]}).json()[0]
    assert wait_for(lambda: pair.provider.admin.get(f"/participants/edtech-a/transfers/{provider_view['id']}").json(), lambda v: v["state"] == "COMPLETED")


def test_a_provider_that_stays_down_ends_the_transfer_terminated_with_the_reason(pair: Pair, source: Path) -> None:
    size = source.stat().st_size
    transfer_id = pair.transfer(pair.agreement_for(source), max_bytes_per_second=8 * 1024 * 1024, retry_seconds=3)
    assert _part_way(pair, transfer_id, size)["state"] == "STARTED"
    pair.provider.kill()

    ended = wait_for(lambda: pair.show(transfer_id), lambda view: view["state"] in ("COMPLETED", "TERMINATED"), timeout=30)
    assert ended["state"] == "TERMINATED" and ended["termination_code"] == "unreachable", ended
    assert "no data from the provider's data plane for 3 s" in ended["termination_reason"]
    received = pair.consumer.data_dir / "transfers" / "received"
    assert list(received.glob(f"{transfer_id}*")) == []  # no truncated file, not even a partial one
    assert ended["received_bytes"] == 0 and ended["payload_sha256"] is None
