"""Parallel writers over HTTP: every statement stored once, none lost, no server error."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx

WRITERS = 8
PER_WRITER = 5_000
BATCH = 1_000


def test_eight_writers_store_exactly_forty_thousand_statements(start_node: Callable[..., Any]) -> None:
    running = start_node(lrs_basic_auth="unused:unused-unused")
    running.add_participant("school")
    from dases.lrs.deps import create_credential

    with running.node.db.transaction() as session:
        key, secret = create_credential(session, "school", "writers", ["all"])
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(), "X-Experience-API-Version": "1.0.3"}
    url = "/participants/school/xapi/statements"
    statuses: list[int] = []
    sent: list[str] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        with httpx.Client(base_url=running.url, headers=auth, timeout=120) as client:
            for offset in range(0, PER_WRITER, BATCH):
                batch = [
                    {
                        "id": str(uuid.uuid4()),
                        "actor": {"mbox": f"mailto:learner{writer}-{offset + n}@example.org"},
                        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
                        "object": {"id": f"http://example.org/activity/{n % 50}"},
                    }
                    for n in range(BATCH)
                ]
                response = client.post(url, json=batch)
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        sent.extend(response.json())

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * (WRITERS * PER_WRITER // BATCH)
    assert len(sent) == len(set(sent)) == WRITERS * PER_WRITER
    from dases.lrs import service

    with running.node.db.transaction() as session:
        assert service.count_statements(session, "school") == WRITERS * PER_WRITER
        stored = set(service.iter_statements(session, "school", service.StatementQuery()))
    assert len(stored) == WRITERS * PER_WRITER
    with httpx.Client(base_url=running.url, headers=auth) as client:
        page = client.get(url, params={"limit": 10}).json()
        assert len(page["statements"]) == 10 and page["more"]
