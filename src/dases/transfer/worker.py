"""The transfer building block's running parts: built once per app, with a background round.

`lifespan` is the transfer router's lifespan: FastAPI runs it inside the app's own (after the
node is up, before it closes), so including the router is all `create_app` has to do.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dases.node import Node
from dases.periodic import start_periodic
from dases.transfer.adapters import ConsentService, NegotiatedAgreements, NodeLedger
from dases.transfer.messages import TransferSchemas
from dases.transfer.service import Transferer, sweep

_building = threading.Lock()


def build_transferer(node: Node) -> Transferer:
    settings = node.settings
    schemas = TransferSchemas(settings.dsp_schema_dir) if settings.dsp_schema_dir else None
    return Transferer(node, NegotiatedAgreements(), ConsentService(), NodeLedger(), schemas=schemas)


def transferer_of(app: FastAPI) -> Transferer:
    """The app's Transferer, built on first use (the lifespan builds it at start-up)."""
    existing: Transferer | None = getattr(app.state, "transferer", None)
    if existing is None:
        with _building:
            existing = getattr(app.state, "transferer", None)
            if existing is None:
                existing = build_transferer(app.state.node)
                app.state.transferer = existing
    return existing


def start_worker(transferer: Transferer) -> Callable[[], None]:
    """Sweep now (resume what a restart interrupted), then every `sweep_seconds`."""
    return start_periodic("transfer-sweeper", transferer.sweep_seconds, lambda: sweep(transferer), first_delay=0.2, join_timeout=5)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    transferer = transferer_of(app)
    stop = start_worker(transferer)
    try:
        yield
    finally:
        stop()
        transferer.shutdown()
