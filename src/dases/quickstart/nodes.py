"""Nodes of the quickstart: real DASES nodes, each with its own SQLite file, keys and secret,
served by uvicorn on a loopback port in a thread of one process. They talk to each other over
HTTP exactly as nodes on different hosts do; only the process is shared."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from dases.app import create_app
from dases.identity import service as identity
from dases.identity.client import signed_client
from dases.identity.keys import Signer
from dases.node import Node
from dases.settings import Settings


@dataclass
class LocalNode:
    name: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread
    admin_token: str

    @property
    def node(self) -> Node:
        node: Node = self.app.state.node
        return node

    @property
    def url(self) -> str:
        return self.node.settings.base_url

    def add_participant(self, slug: str, name: str) -> str:
        with self.node.db.transaction() as session:
            return identity.create_participant(session, self.node.sealer, self.url, slug, name).did

    def did(self, slug: str) -> str:
        with self.node.db.transaction() as session:
            return identity.get_participant(session, slug).did

    def signer(self, slug: str) -> Signer:
        with self.node.db.transaction() as session:
            return identity.signer_for(session, self.node.sealer, slug)

    def admin(self, timeout: float = 60) -> httpx.Client:
        """The node's own operator: admin routes, with the admin token."""
        return httpx.Client(base_url=self.url, timeout=timeout, headers={"Authorization": f"Bearer {self.admin_token}"})

    def signed(self, slug: str, audience_did: str, base_url: str) -> httpx.Client:
        """Calls signed as participant `slug`, addressed to `audience_did` at `base_url`."""
        return signed_client(self.signer(slug), audience_did, base_url=base_url, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _free_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def start_node(root: Path, name: str, *, port: int = 0, **overrides: Any) -> LocalNode:
    """A node with its data under `root/name` (SQLite), on `port` (0: any free port)."""
    sock = _free_socket("127.0.0.1", port)
    bound = sock.getsockname()[1]
    admin_token = secrets.token_urlsafe(24)
    values: dict[str, Any] = {
        "data_dir": root / name,
        "database_url": None,
        "host": "127.0.0.1",
        "port": bound,
        "public_url": None,
        "node_secret": secrets.token_urlsafe(32),
        "admin_token": admin_token,
        "log_level": "warning",
        # Four nodes share one process (and its interpreter lock) here: a peer can take longer to
        # answer a DSP message than across hosts, and a message given up on ends its transfer.
        "did_resolution_timeout_seconds": 30.0,
    }
    values.update(overrides)
    app = create_app(Settings(**values))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"node-{name}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {name} node did not start")
        time.sleep(0.02)
    return LocalNode(name, app, server, thread, admin_token)
