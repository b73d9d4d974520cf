"""Build a node's FastAPI application from its settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

import dases
from dases.catalog.api import router as catalog_router
from dases.catalog.federation import start_crawler
from dases.consent.api import inbox_router as consent_inbox_router
from dases.consent.api import router as consent_router
from dases.consent.notifications import start_consent_worker
from dases.errors import DasesError, install_problem_handlers, problem_responses
from dases.governance.api import router as governance_router
from dases.identity.api import router as identity_router
from dases.interop.api import build_skills_router
from dases.ledger.api import router as ledger_router
from dases.lrs.api import build_router as build_lrs_router
from dases.lrs.http import XapiMiddleware
from dases.negotiation.adapters import build_negotiator
from dases.negotiation.api import router as negotiation_router
from dases.negotiation.sweeper import start_sweeper
from dases.node import Node, NodeDep
from dases.privacy.api import router as privacy_router
from dases.registry.api import router as registry_router
from dases.settings import Settings
from dases.transfer.api import router as transfer_router
from dases.web.api import router as web_router
from dases.web.portal_api import router as portal_router


class ServiceUnavailable(DasesError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class Health(BaseModel):
    status: str
    version: str
    database: str


def create_app(settings: Settings | None = None) -> FastAPI:
    """A node: storage migrated, identity and registry routes, problem responses everywhere."""
    settings = settings or Settings()
    node = Node.start(settings)
    negotiator = build_negotiator(node)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop_sweeper = start_sweeper(negotiator, settings.negotiation_sweep_seconds)
        crawls = settings.governance_authority and settings.catalog_crawl_seconds > 0
        stop_crawler = start_crawler(node, settings.catalog_crawl_seconds) if crawls else None
        stop_consent = start_consent_worker(node, settings.consent_sweep_seconds) if settings.governance_authority else None
        try:
            yield
        finally:
            if stop_consent:
                stop_consent()
            if stop_crawler:
                stop_crawler()
            stop_sweeper()
            node.close()

    app = FastAPI(
        title="DASES node",
        version=dases.__version__,
        description="A node of the Data Space Education & Skills.",
        lifespan=lifespan,
    )
    app.state.node = node
    app.state.negotiator = negotiator
    install_problem_handlers(app)

    @app.get("/healthz", response_model=Health, tags=["node"], responses=problem_responses(503))
    def healthz(node: NodeDep) -> Health:
        """Liveness and storage reachability."""
        try:
            with node.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # any driver error means the same thing here
            raise ServiceUnavailable(f"the database does not answer: {type(error).__name__}") from error
        return Health(status="ok", version=dases.__version__, database=node.db.backend)

    app.include_router(identity_router)
    app.include_router(registry_router)
    app.include_router(catalog_router)
    app.include_router(negotiation_router)
    app.include_router(consent_router)
    app.include_router(consent_inbox_router)
    app.include_router(web_router)
    app.include_router(portal_router)
    app.include_router(ledger_router)
    app.include_router(transfer_router)
    app.include_router(privacy_router)
    app.include_router(governance_router)
    app.include_router(build_lrs_router(), prefix="/participants/{slug}/xapi")
    app.include_router(build_skills_router())
    app.add_middleware(XapiMiddleware)
    return app
