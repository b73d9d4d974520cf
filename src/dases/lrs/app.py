"""The standalone LRS (`dases lrs serve`): the xAPI endpoint at `/xapi/` and nothing else of a
node, for a provider that only needs a learning record store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import dases
from dases.errors import install_problem_handlers
from dases.lrs.api import build_router
from dases.lrs.http import XapiMiddleware
from dases.node import Node
from dases.settings import Settings


def create_lrs_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    node = Node.start(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            node.close()

    app = FastAPI(title="DASES LRS", version=dases.__version__, description="An xAPI 1.0.3 and 2.0 learning record store.", lifespan=lifespan)
    app.state.node = node
    install_problem_handlers(app)
    app.include_router(build_router(), prefix="/xapi")
    app.add_middleware(XapiMiddleware)
    return app
