"""Benchmark of the transfer data plane: a 1 GiB pull, against a plain HTTP file server.

Run with `./dev bench transfer` (or `python bench/transfer.py [--size-mib 1024]`). In one run,
on one machine, it:

1. writes a 1 GiB file in a temporary directory;
2. starts a provider and a consumer node (`dases serve` processes, SQLite), publishes the file as
   an offering without personal data, negotiates it and starts a pull transfer without the
   consumer's automatic download, so the benchmark holds the DataAddress (endpoint and token);
3. downloads the file through the provider's data plane, and from `python -m http.server` serving
   the same file (the baseline), alternately, `--rounds` times each, with the same client (curl
   writing to /dev/null when installed, else httpx), and reports the median throughput of each
   (the machine is shared and noisy: medians, not best runs);
4. reads the provider process's peak resident memory (VmHWM in /proc/PID/status);
5. lets the consumer node pull the file itself once (download, SHA-256 check, rename), timed
   from its own events, for the end-to-end figure.

Targets: data plane throughput >= 0.7 x the baseline; provider peak memory < 200 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
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

from auth import free_port, wait_until_healthy

ADMIN_TOKEN = "bench-admin-token-0123456789"
DSP_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "dsp"
MIB = 1024 * 1024


class Node:
    """A `dases serve` process on a free loopback port, with one participant."""

    def __init__(self, root: Path, slug: str) -> None:
        self.slug = slug
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DASES_DATA_DIR": str(root / slug),
            "DASES_PORT": str(self.port),
            "DASES_NODE_SECRET": f"bench-node-secret-{slug}-0123456789",
            "DASES_ADMIN_TOKEN": ADMIN_TOKEN,
            "DASES_LOG_LEVEL": "warning",
        }
        if DSP_SCHEMAS.is_dir():
            env["DASES_DSP_SCHEMA_DIR"] = str(DSP_SCHEMAS)
        self.process = subprocess.Popen([sys.executable, "-m", "dases", "serve"], env=env, stdout=subprocess.DEVNULL)
        self.admin = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
        wait_until_healthy(self.admin, 60)
        self.admin.post("/participants", json={"slug": slug, "name": slug.title()}).raise_for_status()

    def stop(self) -> None:
        self.admin.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def memory_mib(pid: int, field: str = "VmHWM") -> float:
    """A memory figure of the process from /proc/PID/status, in MiB: VmHWM is the peak resident
    set size so far, VmRSS the current one."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} is not reported on this system")


def write_file(path: Path, size_mib: int) -> str:
    """`size_mib` MiB of incompressible bytes (one random MiB repeated); returns its SHA-256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def wait_for(read: Any, done: Any, seconds: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        view = read()
        if done(view):
            return view
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {view}")
        time.sleep(0.05)


def agreement(provider: Node, consumer: Node, source: Path) -> str:
    offering = {
        "kind": "dataset", "title": "Bench payload", "description": "One GiB of bytes.", "data_categories": ["learning_traces"],
        "contains_pii": False, "policy": {"permission": [{"action": "use"}]},
    }
    published = provider.admin.post(f"/participants/{provider.slug}/offerings", json=offering)
    published.raise_for_status()
    offering_id, offer_id = published.json()["id"], published.json()["offer_id"]
    provider.admin.put(f"/participants/{provider.slug}/offerings/{offering_id}/source", json={"kind": "file", "path": str(source), "format": "jsonl"}).raise_for_status()
    connector = f"{provider.url}/participants/{provider.slug}/dsp"
    started = consumer.admin.post(f"/participants/{consumer.slug}/negotiations", json={"provider_url": connector, "offer_id": offer_id})
    started.raise_for_status()
    url = f"/participants/{consumer.slug}/negotiations/{started.json()['id']}"
    done = wait_for(lambda: consumer.admin.get(url).json(), lambda view: view["state"] in ("FINALIZED", "TERMINATED"))
    if done["state"] != "FINALIZED":
        raise RuntimeError(f"the negotiation failed: {done.get('termination_reason')}")
    return str(done["agreement"]["@id"])


def start_transfer(consumer: Node, agreement_id: str, **options: Any) -> dict[str, Any]:
    response = consumer.admin.post(f"/participants/{consumer.slug}/transfers", json={"agreement_id": agreement_id, **options})
    response.raise_for_status()
    path = f"/participants/{consumer.slug}/transfers/{response.json()['id']}"
    view = wait_for(lambda: consumer.admin.get(path).json(), lambda v: v["state"] not in ("REQUESTED",) and (v["state"] != "STARTED" or v["data_address"]))
    if view["state"] not in ("STARTED", "COMPLETED"):
        raise RuntimeError(f"the transfer did not start: {view.get('termination_reason')}")
    return dict(view)


def download(url: str, headers: dict[str, str], expected: int) -> float:
    """Seconds to receive the whole body, discarding it; fails on a short or failed download."""
    if shutil.which("curl"):
        arguments = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}"]
        for name, value in headers.items():
            arguments += ["-H", f"{name}: {value}"]
        output = subprocess.run([*arguments, url], check=True, capture_output=True, text=True).stdout.split()
        size, seconds = int(float(output[0])), float(output[1])
    else:
        start, size = time.perf_counter(), 0
        with httpx.stream("GET", url, headers=headers, timeout=120) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(MIB):
                size += len(chunk)
        seconds = time.perf_counter() - start
    if size != expected:
        raise RuntimeError(f"{url} sent {size} bytes, not {expected}")
    return seconds


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="dases-bench-transfer-") as tmp:
        root = Path(tmp)
        served = root / "served"
        served.mkdir()
        source = served / "payload.jsonl"
        print(f"writing a {args.size_mib} MiB file ...", flush=True)
        sha256 = write_file(source, args.size_mib)
        provider, consumer = Node(root, "provider"), Node(root, "consumer")
        baseline_port = free_port()
        baseline = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(baseline_port), "--bind", "127.0.0.1", "--directory", str(served)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{baseline_port}") as plain:
                wait_until_healthy_plain(plain)
            agreement_id = agreement(provider, consumer, source)
            provider_before = memory_mib(provider.process.pid, "VmRSS")
            print("first transfer (the provider hashes the file once) ...", flush=True)
            view = start_transfer(consumer, agreement_id, auto_download=False)
            properties = {item["name"]: item["value"] for item in view["data_address"]["endpointProperties"]}
            if properties["sha256"] != sha256:
                raise RuntimeError("the data address announces another SHA-256")
            endpoint, bearer = view["data_address"]["endpoint"], {"Authorization": f"Bearer {properties['authorization']}"}
            plain_url = f"http://127.0.0.1:{baseline_port}/{source.name}"
            dataplane_times, baseline_times = [], []
            for _ in range(args.rounds):
                dataplane_times.append(download(endpoint, bearer, size))
                baseline_times.append(download(plain_url, {}, size))
            provider_peak = memory_mib(provider.process.pid)
            baseline_peak = memory_mib(baseline.pid)

            print("end-to-end pull by the consumer node (download, SHA-256 check, rename) ...", flush=True)
            finished = start_transfer(consumer, agreement_id)
            path = f"/participants/{consumer.slug}/transfers/{finished['id']}"
            finished = wait_for(lambda: consumer.admin.get(path).json(), lambda v: v["state"] in ("COMPLETED", "TERMINATED"))
            if finished["state"] != "COMPLETED":
                raise RuntimeError(f"the consumer's pull failed: {finished.get('termination_reason')}")
            events = {event["kind"]: _at(event) for event in finished["events"]}
            end_to_end = (events["TransferCompletionMessage"] - events["TransferStartMessage"]).total_seconds()
            provider_peak = max(provider_peak, memory_mib(provider.process.pid))
        finally:
            baseline.terminate()
            provider.stop()
            consumer.stop()

    client = "curl" if shutil.which("curl") else "httpx"
    median_dataplane, median_baseline = statistics.median(dataplane_times), statistics.median(baseline_times)

    def throughput(seconds: float) -> float:
        return size / MIB / seconds

    ratio = throughput(median_dataplane) / throughput(median_baseline)
    print()
    print(f"payload: {args.size_mib} MiB, client: {client}, median of {args.rounds} rounds each, same machine, same run")
    print(f"  data plane (token, Range-capable, Repr-Digest): {throughput(median_dataplane):8.0f} MiB/s  ({median_dataplane:.2f} s)")
    print(f"  baseline (python -m http.server):               {throughput(median_baseline):8.0f} MiB/s  ({median_baseline:.2f} s)")
    print(f"  throughput ratio data plane / baseline:         {ratio:8.2f}   (target >= 0.7)")
    print(f"  provider node peak memory (VmHWM):              {provider_peak:8.1f} MiB  (target < 200; http.server: {baseline_peak:.1f} MiB)")
    print(f"  provider node resident before the transfers:    {provider_before:8.1f} MiB  (the node's own code and libraries)")
    print(f"  consumer node end-to-end pull (+ SHA-256 check): {throughput(end_to_end):7.0f} MiB/s  ({end_to_end:.2f} s, start message -> completion)")
    return 0 if ratio >= 0.7 and provider_peak < 200 else 1


def wait_until_healthy_plain(client: httpx.Client, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.get("/")
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
