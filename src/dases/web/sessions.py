"""Signed-in sessions, CSRF tokens and the sign-in throttle of the learner's dashboard.

A session is a random 32-byte token carried in an HttpOnly, SameSite=Lax cookie (Secure when the
node is served over https). The database keeps only its SHA-256: the token is a bearer secret,
and a leaked table must not be a list of open sessions. A session ends after `IDLE` without a
request, and after `ABSOLUTE` in any case, so a browser left signed in on a shared school
computer does not stay signed in for ever.

CSRF: every form that changes something carries a token the server checks in constant time.
For a signed-in person it is an HMAC of the session token (nothing more to store, and it dies
with the session); before sign-in (the sign-in and registration forms, against login CSRF) it
is a random value also set in a cookie of its own (double submit). SameSite=Lax already keeps
cross-site POSTs from carrying the cookies; the token is the second lock.

Nothing here logs a token or a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.web.models import SigninThrottle, WebSession

SESSION_COOKIE: Final = "dases_session"
FORM_COOKIE: Final = "dases_form"
IDLE: Final = timedelta(hours=12)
ABSOLUTE: Final = timedelta(days=7)

#: Failed sign-ins in a row, for one login, before it is locked for `LOCK` (then one more try).
MAX_FAILURES: Final = 5
LOCK: Final = timedelta(seconds=60)
#: Failures older than this are forgotten: five typos over a month are not an attack.
FAILURE_MEMORY: Final = timedelta(minutes=15)

_CSRF_LABEL: Final = b"dases-web-csrf-v1"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class OpenedSession:
    token: str
    expires_at: datetime


def open_session(session: Session, subject_id: str, now: datetime | None = None) -> OpenedSession:
    """A new session for a learner who just proved who they are (a new token at each sign-in,
    so a token planted before sign-in is worth nothing after it)."""
    now = now or utcnow()
    session.execute(delete(WebSession).where(WebSession.subject_id == subject_id, WebSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    expires_at = now + ABSOLUTE
    session.add(
        WebSession(token_hash=_sha256(token), subject_id=subject_id, created_at=now, last_seen_at=now, expires_at=expires_at)
    )
    session.flush()
    return OpenedSession(token, expires_at)


def resume(session: Session, token: str | None, now: datetime | None = None) -> WebSession | None:
    """The live session this cookie token opens, touched so its idle period starts again; None
    for a missing, unknown, idle or expired token (an ended session's row is deleted)."""
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    found = session.get(WebSession, _sha256(token))
    if found is None:
        return None
    if found.expires_at <= now or found.last_seen_at + IDLE <= now:
        session.delete(found)
        session.flush()
        return None
    found.last_seen_at = now
    return found


def close_session(session: Session, token: str | None) -> None:
    """Sign out: the token stops working at once, whatever the browser does with its cookie."""
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _sha256(token)))


def csrf_for_session(token: str) -> str:
    """The CSRF token of a signed-in session's forms."""
    return hmac.new(token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def new_form_token() -> str:
    """The value of the pre-sign-in CSRF cookie (and of its forms' hidden field)."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, submitted: str | None) -> bool:
    """Constant-time comparison; a missing token on either side never matches."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


# -- sign-in throttle ------------------------------------------------------------------------
# Kept in the database, not in memory: a node may run several workers, and a restart must not
# hand an attacker a fresh set of tries. Throttling is per login (not per address) because
# learners behind one school proxy share an address. The price is that anyone can lock a login
# for a minute by failing on purpose; a minute is short enough for that to be a nuisance, not a
# denial of service.


def locked_for(session: Session, login: str, now: datetime | None = None) -> int:
    """Seconds until this login may be tried again; 0 when it may be tried now."""
    now = now or utcnow()
    row = session.get(SigninThrottle, _sha256(_normalise(login)))
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return max(1, int((row.locked_until - now).total_seconds() + 0.999))


def record_failure(session: Session, login: str, now: datetime | None = None) -> None:
    """Count one failed sign-in; the MAX_FAILURES-th in a row locks the login for LOCK."""
    now = now or utcnow()
    key = _sha256(_normalise(login))
    row = session.get(SigninThrottle, key, with_for_update=True)
    if row is None:
        try:
            with session.begin_nested():
                session.add(SigninThrottle(login_hash=key, failures=0, last_failure_at=now))
        except IntegrityError:  # a failure for the same login, at the same moment, wrote it first
            pass
        row = session.get(SigninThrottle, key, with_for_update=True, populate_existing=True)
        assert row is not None
    if row.last_failure_at + FAILURE_MEMORY <= now:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= MAX_FAILURES:
        row.locked_until = now + LOCK
        row.failures = MAX_FAILURES - 1  # after the lock, the next failure locks again at once
    session.flush()


def clear_failures(session: Session, login: str) -> None:
    session.execute(delete(SigninThrottle).where(SigninThrottle.login_hash == _sha256(_normalise(login))))


def _normalise(login: str) -> str:
    """The login as accounts.authenticate looks it up, so `Alice` and `alice ` share a counter."""
    return login.strip().lower()


def live_sessions(session: Session, subject_id: str, now: datetime | None = None) -> int:
    """How many browsers this learner is signed in on, so a sign-out can be seen to end one."""
    now = now or utcnow()
    rows = session.scalars(select(WebSession).where(WebSession.subject_id == subject_id, WebSession.expires_at > now))
    return sum(1 for row in rows if row.last_seen_at + IDLE > now)
