"""Shared fixtures: a database per test on the backend CI selects, and nodes on loopback ports.

`DASES_TEST_DATABASE_URL` selects the storage backend: unset (or a sqlite URL) runs on SQLite
files under the test's temporary directory; a PostgreSQL URL gives each database its own
schema, dropped after the test.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from dases.app import create_app
from dases.identity import service as identity
from dases.identity.keys import Signer
from dases.node import Node
from dases.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
ADMIN_TOKEN = "test-admin-token-0123456789"


def backend_name() -> str:
    url = os.environ.get("DASES_TEST_DATABASE_URL", "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@contextmanager
def database_factory(folder: Path) -> Iterator[Callable[[], str]]:
    """A factory of empty databases (SQLite files in `folder`, or PostgreSQL schemas, dropped
    at the end)."""
    base = os.environ.get("DASES_TEST_DATABASE_URL", "")
    schemas: list[str] = []
    counter = iter(range(1000))

    def make() -> str:
        if not base.startswith("postgresql"):
            return f"sqlite:///{folder / f'node-{next(counter)}.sqlite3'}"
        schema = f"t_{uuid.uuid4().hex[:16]}"
        engine = sa.create_engine(base)
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        schemas.append(schema)
        separator = "&" if "?" in base else "?"
        return f"{base}{separator}options=-csearch_path%3D{schema}"

    yield make
    if schemas:
        engine = sa.create_engine(base)
        with engine.begin() as connection:
            for schema in schemas:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def make_database_url(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of empty databases (SQLite files, or PostgreSQL schemas) for one test."""
    with database_factory(tmp_path) as make:
        yield make


@pytest.fixture(scope="module")
def make_module_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """The same, for fixtures shared by a module's tests."""
    with database_factory(tmp_path_factory.mktemp("databases")) as make:
        yield make


@pytest.fixture
def database_url(make_database_url: Callable[[], str]) -> str:
    return make_database_url()


@dataclass
class RunningNode:
    """A node served by uvicorn on a loopback port, in a thread of the test process."""

    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def node(self) -> Node:
        return self.app.state.node

    @property
    def url(self) -> str:
        return self.node.settings.base_url

    def add_participant(self, slug: str, name: str | None = None) -> str:
        with self.node.db.transaction() as session:
            return identity.create_participant(session, self.node.sealer, self.url, slug, name or slug.title()).did

    def signer(self, slug: str) -> Signer:
        with self.node.db.transaction() as session:
            return identity.signer_for(session, self.node.sealer, slug)

    def did(self, slug: str) -> str:
        with self.node.db.transaction() as session:
            return identity.get_participant(session, slug).did

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _settings(tmp_path: Path, database_url: str, port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / f"data-{port}",
        "database_url": database_url,
        "port": port,
        "node_secret": f"test-node-secret-{port}-0123456789",
        "admin_token": ADMIN_TOKEN,
        "status_list_cache_seconds": 0,
        "dsp_schema_dir": SHARED / "specs" / "dsp",
        "dpv_dir": SHARED / "specs" / "dpv",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def start_node(tmp_path: Path, make_database_url: Callable[[], str]) -> Iterator[Callable[..., RunningNode]]:
    """Start nodes on free loopback ports; each gets its own database and node secret."""
    running: list[RunningNode] = []

    def start(**overrides: object) -> RunningNode:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = create_app(_settings(tmp_path, make_database_url(), port, **overrides))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test node did not start")
            time.sleep(0.01)
        node = RunningNode(app, server, thread)
        running.append(node)
        return node

    yield start
    for node in running:
        node.stop()
