"""Signing in to the members' pages of the portal: the node's admin token, typed once.

Who may read a participant's contracts and ledger? Whoever runs the node that hosts it: the
same person the admin API already trusts with `DASES_ADMIN_TOKEN`. So the portal asks for that
token once, in a POST form (never in a URL, never stored in the page), and answers with a
session cookie; the token itself never goes back to the browser.

The session cookie is a signed value, not a database row: `v1.<issued>.<nonce>.<mac>`, the MAC an
HMAC-SHA256 under a key derived from the node secret *and* a digest of the admin token. So:

- a cookie from another node (another member's) opens nothing here: other secret, other key;
- changing `DASES_ADMIN_TOKEN` ends every portal session at once;
- a session lasts `MAX_AGE` at most, and the cookie has no Max-Age (it goes with the browser).

The price of keeping no row: signing out removes the cookie from the browser, but a copy taken
before would work until it expires. Rotating the admin token is the way to end them all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Final

from dases.db import utcnow
from dases.settings import Settings

SESSION_COOKIE: Final = "dases_portal"
FORM_COOKIE: Final = "dases_portal_form"
MAX_AGE: Final = timedelta(hours=8)
#: The sign-in throttle of `dases.web.sessions`, keyed by this name: ':' is never in a learner's
#: login, so the two never share a counter.
THROTTLE_LOGIN: Final = "portal:admin-token"
_LABEL: Final = b"dases-portal-session-v1\x00"


def _key(settings: Settings) -> bytes | None:
    if settings.admin_token is None:
        return None
    token_digest = hashlib.sha256(settings.admin_token.get_secret_value().encode()).digest()
    return hmac.new(settings.resolved_node_secret(), _LABEL + token_digest, hashlib.sha256).digest()


def token_is_right(settings: Settings, typed: str) -> bool:
    """The typed token is the node's admin token (constant time); False when none is set."""
    if settings.admin_token is None or not typed:
        return False
    return hmac.compare_digest(typed.encode(), settings.admin_token.get_secret_value().encode())


def open_session(settings: Settings, now: datetime | None = None) -> str:
    key = _key(settings)
    if key is None:
        raise ValueError("the member pages are closed on a node without an admin token")
    issued = int((now or utcnow()).timestamp())
    payload = f"v1.{issued}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()}"


def is_live(settings: Settings, cookie: str | None, now: datetime | None = None) -> bool:
    """The cookie was issued by this node, under its current admin token, less than MAX_AGE ago."""
    key = _key(settings)
    if key is None or not cookie or len(cookie) > 200:
        return False
    payload, _, mac = cookie.rpartition(".")
    expected = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return False
    parts = payload.split(".")
    if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
        return False
    age = (now or utcnow()).timestamp() - int(parts[1])
    return -60 <= age < MAX_AGE.total_seconds()
