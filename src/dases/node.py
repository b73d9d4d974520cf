"""A running node's shared handles, and the FastAPI dependencies that hand them to routes.

Nothing here is global: `create_app` builds one `Node` and keeps it on `app.state.node`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from dases.db import Database
from dases.errors import Forbidden, Unauthorized
from dases.identity.keys import KeySealer
from dases.identity.replay import ReplayGuard, replay_guard_for
from dases.identity.resolver import DidResolver
from dases.identity.service import HostedDids
from dases.identity.vcjose import StatusListClient
from dases.settings import Settings


@dataclass
class Node:
    settings: Settings
    db: Database
    sealer: KeySealer
    http: httpx.Client
    resolver: DidResolver
    replay_guard: ReplayGuard
    hosted_dids: HostedDids
    status_lists: StatusListClient

    @classmethod
    def start(cls, settings: Settings) -> Node:
        """Open storage (migrating it), unseal nothing yet, and set up outbound HTTP."""
        db = Database(settings.resolved_database_url)
        db.migrate()
        http = httpx.Client(timeout=settings.did_resolution_timeout_seconds, follow_redirects=False)
        resolver = DidResolver(
            http,
            ttl=settings.did_cache_seconds,
            max_entries=settings.did_cache_size,
            refresh_interval=settings.did_refresh_seconds,
            allow_http_hosts=settings.allow_http_did_hosts,
        )
        return cls(
            settings=settings,
            db=db,
            sealer=KeySealer(settings.resolved_node_secret()),
            http=http,
            resolver=resolver,
            replay_guard=replay_guard_for(settings.replay_store, db),
            hosted_dids=HostedDids(db),
            status_lists=StatusListClient(
                http, resolver, ttl=settings.status_list_cache_seconds, allow_http_hosts=settings.allow_http_did_hosts
            ),
        )

    def close(self) -> None:
        self.http.close()
        self.db.dispose()


@contextmanager
def node_session(settings: Settings) -> Iterator[tuple[Node, Session]]:
    """A node's storage, migrated, and one transaction on it, for commands that act offline."""
    node = Node.start(settings)
    try:
        with node.db.transaction() as session:
            yield node, session
    finally:
        node.close()


async def get_node(request: Request) -> Node:
    return request.app.state.node


NodeDep = Annotated[Node, Depends(get_node)]


def transaction(node: NodeDep) -> Iterator[Session]:
    """One transaction per request, committed before the response leaves."""
    with node.db.transaction() as session:
        yield session


SessionDep = Annotated[Session, Depends(transaction, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Signed call token (service routes) or the node admin token (admin routes).")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require_admin(node: NodeDep, credentials: BearerDep) -> None:
    """Admin routes: the bearer must equal DASES_ADMIN_TOKEN; without one set, they are closed."""
    expected = node.settings.admin_token
    if expected is None:
        raise Forbidden("the admin API is disabled on this node: set DASES_ADMIN_TOKEN to enable it")
    if credentials is None:
        raise Unauthorized("admin routes need 'Authorization: Bearer <admin token>'", reason="missing_credentials")
    if not hmac.compare_digest(credentials.credentials.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("the admin token is wrong", reason="bad_admin_token")


AdminDep = Depends(require_admin)
