"""Learner accounts at the consent service: registration, passwords, linked provider accounts.

Sign-in is a password hashed with Argon2id (argon2-cffi's RFC 9106 low-memory profile), not a
passwordless e-mail link: many learners are minors or job seekers without a reliable personal
mailbox, school computers are shared (a sign-in link left in a webmail is a session handed to the
next pupil), and a data space node must work without mail infrastructure. A learner may use a
login that is not an e-mail address for the same reasons.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dases.consent.models import AccountLink, Guardianship, LinkCode, Subject
from dases.db import utcnow
from dases.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, Unauthorized

_hasher = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the login is unknown, so a wrong login costs as much as a wrong
    password. Made on first use: hashing costs tens of milliseconds, not to be paid at import."""
    return _hasher.hash(secrets.token_hex(16))

MIN_PASSWORD_LENGTH = 10
LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,253}$")
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand
LINK_ROLES = ("learner", "guardian")
#: A guardian holds parental responsibility: an adult (the age of majority in France and in
#: most of the EU), whatever age of digital consent the node is configured with.
GUARDIAN_MIN_AGE = 18


def new_subject_id() -> str:
    """A pseudonym that says nothing about the learner."""
    return "sub_" + uuid.uuid4().hex


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def hash_password(password: str) -> str:
    """An Argon2id hash (RFC 9106, low-memory profile) of a password, for `register`."""
    return _hasher.hash(password)


def register(
    session: Session,
    *,
    login: str,
    password: str,
    display_name: str,
    birth_date: date,
    language: str = "fr",
    today: date | None = None,
    password_hash: str | None = None,
) -> Subject:
    """A learner's (or guardian's) account at the consent service.

    `password_hash`, from `hash_password(password)`, spares the hashing when an organisation
    enrols a whole cohort with one first password: Argon2 costs about 0.1 s a hash by design,
    which is right for one sign-up and too slow for thousands. The caller vouches that it is
    the hash of `password` (checking it would cost the hashing it spares); `password` is still
    held to the length rules."""
    today = today or utcnow().date()
    login = login.strip().lower()
    errors = []
    if not LOGIN_PATTERN.match(login):
        errors.append(FieldError("login", "pattern", "3 to 254 characters: letters, digits and . _ @ + -"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(FieldError("password", "min_length", f"at least {MIN_PASSWORD_LENGTH} characters"))
    if len(password) > 1024:
        errors.append(FieldError("password", "max_length", "at most 1024 characters"))
    if not display_name.strip() or len(display_name) > 200 or "\x00" in display_name:
        errors.append(FieldError("display_name", "length", "1 to 200 characters"))
    if birth_date > today or age_on(birth_date, today) > 120:
        errors.append(FieldError("birth_date", "range", "a real date of birth, not in the future"))
    if language not in ("fr", "en"):
        errors.append(FieldError("language", "enum", "fr or en"))
    if errors:
        raise InvalidInput("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    if session.scalar(select(Subject.id).where(Subject.login == login)) is not None:
        raise Conflict(f"the login {login!r} is taken")
    subject = Subject(
        id=new_subject_id(),
        login=login,
        password_hash=password_hash if password_hash is not None else _hasher.hash(password),
        display_name=display_name.strip(),
        birth_date=birth_date,
        language=language,
    )
    session.add(subject)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"the login {login!r} is taken") from error
    return subject


def authenticate(session: Session, login: str, password: str) -> Subject:
    """The learner with this login and password, or Unauthorized without saying which was wrong."""
    subject = session.scalar(select(Subject).where(Subject.login == login.strip().lower()))
    try:
        _hasher.verify(subject.password_hash if subject else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        subject = None
    if subject is None:
        raise Unauthorized("the login or the password is wrong", reason="bad_credentials")
    if _hasher.check_needs_rehash(subject.password_hash):
        subject.password_hash = _hasher.hash(password)
    return subject


def get_subject(session: Session, subject_id: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"no learner {subject_id!r} at this consent service")
    return subject


def subject_exists(session: Session, subject_id: str) -> bool:
    return session.scalar(select(Subject.id).where(Subject.id == subject_id)) is not None


def _hash_code(code: str) -> str:
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


def issue_link_code(
    session: Session, *, provider_did: str, account: str, role: str, lifetime: timedelta, now: datetime | None = None
) -> IssuedCode:
    """A one-time code the provider shows the learner (or the guardian) in its own application.

    Only a hash is stored: the code is a bearer secret until it is used."""
    if role not in LINK_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(LINK_ROLES)}", errors=[FieldError("role", "enum", "learner or guardian")])
    now = now or utcnow()
    raw = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(12))
    code = "-".join(raw[i : i + 4] for i in range(0, 12, 4))
    session.add(LinkCode(code_hash=_hash_code(code), provider_did=provider_did, account=account, role=role, expires_at=now + lifetime))
    session.flush()
    return IssuedCode(code=code, expires_at=now + lifetime)


def redeem_link_code(session: Session, subject_id: str, code: str, now: datetime | None = None) -> AccountLink | Guardianship:
    now = now or utcnow()
    issued = session.get(LinkCode, _hash_code(code), with_for_update=True)
    if issued is None or issued.used_at is not None or issued.expires_at <= now:
        raise InvalidInput(
            "this link code is unknown, already used or expired; ask the organisation for a new one",
            errors=[FieldError("code", "unknown_or_expired", "not a valid link code")],
        )
    if issued.role == "guardian":
        guardian = get_subject(session, subject_id)
        if age_on(guardian.birth_date, now.date()) < GUARDIAN_MIN_AGE:
            raise Forbidden(f"a guardian must be at least {GUARDIAN_MIN_AGE}; this code is for a parent or guardian")
        issued.used_at = now
        existing = session.scalar(
            select(Guardianship).where(
                Guardianship.guardian_id == subject_id,
                Guardianship.provider_did == issued.provider_did,
                Guardianship.account == issued.account,
            )
        )
        if existing is not None:
            return existing
        guardianship = Guardianship(guardian_id=subject_id, provider_did=issued.provider_did, account=issued.account, created_at=now)
        session.add(guardianship)
        session.flush()
        return guardianship
    link = session.scalar(select(AccountLink).where(AccountLink.provider_did == issued.provider_did, AccountLink.account == issued.account))
    if link is not None and link.subject_id != subject_id:
        raise Conflict("this account is already linked to another learner; contact the organisation")
    issued.used_at = now
    if link is None:
        link = AccountLink(subject_id=subject_id, provider_did=issued.provider_did, account=issued.account, linked_at=now)
        session.add(link)
        session.flush()
    return link


def linked_accounts(session: Session, subject_id: str) -> list[AccountLink]:
    return list(session.scalars(select(AccountLink).where(AccountLink.subject_id == subject_id).order_by(AccountLink.linked_at)))


def subject_for_account(session: Session, provider_did: str, account: str) -> str | None:
    return session.scalar(select(AccountLink.subject_id).where(AccountLink.provider_did == provider_did, AccountLink.account == account))


def wards(session: Session, guardian_id: str) -> list[Subject]:
    """The learners this guardian answers for, as attested by their providers."""
    query = (
        select(Subject)
        .join(AccountLink, AccountLink.subject_id == Subject.id)
        .join(Guardianship, (Guardianship.provider_did == AccountLink.provider_did) & (Guardianship.account == AccountLink.account))
        .where(Guardianship.guardian_id == guardian_id)
        .distinct()
        .order_by(Subject.display_name)
    )
    return list(session.scalars(query))


def is_guardian_of(session: Session, guardian_id: str, subject_id: str, today: date | None = None) -> bool:
    """Whether `guardian_id` answers for `subject_id` (an adult the learner's provider attested)."""
    guardian = session.get(Subject, guardian_id)
    if guardian is None or age_on(guardian.birth_date, today or utcnow().date()) < GUARDIAN_MIN_AGE:
        return False
    return any(ward.id == subject_id for ward in wards(session, guardian_id))
