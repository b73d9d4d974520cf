"""Tables of the web pages: signed-in sessions and the sign-in throttle.

Neither table holds a secret in the clear. A session row is found by the SHA-256 of the cookie's
random token, so a copy of the database does not let anyone sign in as a learner; a throttle row
is keyed by the SHA-256 of the login typed, because people sometimes type their password into
the login field and a failed attempt must not store it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dases.db import Base, UTCDateTime, utcnow


class WebSession(Base):
    """One signed-in browser: ends after `idle` without a request, or at `expires_at` in any case."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("consent_subject.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SigninThrottle(Base):
    """Failed sign-ins for one login; `locked_until` set once too many came in a row."""

    __tablename__ = "web_signin_throttle"

    login_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
