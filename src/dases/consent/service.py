"""Consent records: requested by a provider, given, refused or withdrawn by the learner (or
their guardian), expired by time; checked by connectors before every transfer.

Every change appends one event to the record's history and updates the record's `status` in the
same transaction. The record row is locked first (`UPDATE ... event_count + 1 RETURNING`), so two
simultaneous changes to one record are serialised on every backend and each gets its own
sequence number: no event is ever lost or overwritten. The check reads only the record row,
through its unique index, and compares the validity period with the clock: a consent whose
period has ended is refused at once, before the sweeper writes its `expired` event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from dases.catalog import federation
from dases.consent import accounts
from dases.consent.models import (
    Actor,
    ConsentEvent,
    ConsentExchange,
    ConsentRecord,
    ConsentStatus,
    Notification,
    Webhook,
)
from dases.consent.notices import NoticeTerms, notice_version, terms_from_policy
from dases.consent.plain_language import DATA_CATEGORIES, LEGAL_BASES
from dases.consent.purposes import PurposeVocabulary
from dases.db import utcnow
from dases.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from dases.registry import service as registry

#: The statuses from which the learner may give consent (a withdrawn or expired consent can be given again).
GIVABLE = {ConsentStatus.REQUESTED, ConsentStatus.GIVEN, ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN, ConsentStatus.EXPIRED}
#: Changes that stop data from moving: the provider and the consumer are told at once.
STOPPING = {ConsentStatus.WITHDRAWN, ConsentStatus.EXPIRED, ConsentStatus.INVALIDATED, ConsentStatus.REFUSED}


@dataclass(frozen=True)
class ConsentRequest:
    """What a provider asks a learner to consent to."""

    consumer_did: str
    purpose: str
    data_categories: tuple[str, ...]
    duration_days: int
    legal_basis: str = "consent"
    offering: str | None = None


@dataclass(frozen=True)
class CheckResult:
    allowed: bool
    record_id: str | None
    status: str | None
    valid_until: datetime | None


def _member_name(session: Session, did: str, field: str) -> str:
    member = registry.active_member(session, did)
    if member is None:
        raise InvalidInput(
            f"{did} is not an active member of the data space",
            errors=[FieldError(field, "not_a_member", f"{did} is not an active member of the data space")],
        )
    return member.legal_name


def validate_request(
    session: Session, vocabulary: PurposeVocabulary, request: ConsentRequest, *, max_days: int
) -> tuple[str, list[FieldError]]:
    """The normalised purpose IRI, and every broken rule of the request."""
    errors: list[FieldError] = []
    purpose = vocabulary.get(request.purpose)
    if purpose is None:
        errors.append(FieldError("purpose", "unknown_purpose", f"{request.purpose!r} is not a DPV purpose"))
    unknown = [category for category in request.data_categories if category not in DATA_CATEGORIES]
    if not request.data_categories:
        errors.append(FieldError("data_categories", "min_length", "name at least one data category"))
    if unknown:
        errors.append(
            FieldError("data_categories", "unknown_category", f"unknown: {', '.join(unknown)}; known: {', '.join(DATA_CATEGORIES)}")
        )
    if request.legal_basis not in LEGAL_BASES:
        errors.append(FieldError("legal_basis", "enum", f"one of {', '.join(LEGAL_BASES)}"))
    if not 0 < request.duration_days <= max_days:
        errors.append(FieldError("duration_days", "range", f"between 1 and {max_days} days"))
    return (purpose.iri if purpose else request.purpose), errors


def request_for_offering(
    session: Session,
    vocabulary: PurposeVocabulary,
    *,
    provider_did: str,
    offering_id: str,
    consumer_did: str,
    data_categories: tuple[str, ...] = (),
    duration_days: int | None = None,
    now: datetime | None = None,
) -> ConsentRequest:
    """The consent an offering of the provider calls for, read from its ODRL policy as the
    operator's federated catalog holds it: the purpose, the duration (`elapsedTime`, or the
    days left until a `dateTime` limit), and the offering's personal-data categories unless the
    provider narrows them."""
    now = now or utcnow()
    entry = federation.find_entry(session, provider_did, offering_id)
    if entry is None:
        raise NotFound(f"no offering {offering_id!r} of {provider_did} in the federated catalog (crawled from the members' catalogs)")
    policies = entry.document.get("hasPolicy") or entry.document.get("odrl:hasPolicy") or []
    policy = policies[0] if isinstance(policies, list) and policies else policies
    if not isinstance(policy, dict):
        raise InvalidInput("the offering carries no policy", errors=[FieldError("offering_id", "no_policy", "the offering has no ODRL offer")])
    categories = data_categories or tuple(c for c in entry.data_categories if c in DATA_CATEGORIES)
    terms = terms_from_policy(policy, provider="-", consumer="-", data_categories=categories, vocabulary=vocabulary, offering=entry.title)
    days = [d for d in (duration_days, terms.duration_days) if d is not None]
    if terms.valid_until is not None:
        days.append(max(1, (terms.valid_until - now).days))
    if not days:
        raise InvalidInput(
            "the offering's policy sets no duration (elapsedTime or dateTime): say how long with duration_days",
            errors=[FieldError("duration_days", "required", "the policy sets no duration")],
        )
    return ConsentRequest(
        consumer_did=consumer_did,
        purpose=terms.purpose,
        data_categories=terms.data_categories,
        duration_days=min(days),
        offering=entry.title,
    )


def request_consent(
    session: Session,
    vocabulary: PurposeVocabulary,
    *,
    provider_did: str,
    subject_id: str,
    request: ConsentRequest,
    max_days: int,
    now: datetime | None = None,
) -> ConsentRecord:
    """Ask the learner; the request appears on their dashboard with its privacy notice.

    Asking again with other terms replaces the pending terms; a consent already given is never
    touched by a new request (the learner decides, not the provider)."""
    now = now or utcnow()
    purpose, errors = validate_request(session, vocabulary, request, max_days=max_days)
    names = []
    for did, field in ((provider_did, "provider"), (request.consumer_did, "consumer")):
        try:
            names.append(_member_name(session, did, field))
        except InvalidInput as error:
            errors.extend(error.errors)
            names.append("")
    provider_name, consumer_name = names
    if errors:
        raise InvalidInput("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    accounts.get_subject(session, subject_id)
    terms = NoticeTerms(
        provider=provider_name,
        consumer=consumer_name,
        purpose=purpose,
        data_categories=tuple(request.data_categories),
        legal_basis=request.legal_basis,
        duration_days=request.duration_days,
        offering=request.offering,
    )
    version = notice_version(terms)
    record = session.scalar(
        select(ConsentRecord).where(
            ConsentRecord.subject_id == subject_id,
            ConsentRecord.consumer_did == request.consumer_did,
            ConsentRecord.purpose == purpose,
            ConsentRecord.provider_did == provider_did,
        )
    )
    if record is None:
        record = ConsentRecord(
            id=str(uuid.uuid4()),
            subject_id=subject_id,
            provider_did=provider_did,
            consumer_did=request.consumer_did,
            purpose=purpose,
            status=ConsentStatus.REQUESTED.value,
            event_count=0,
            created_at=now,
        )
        _set_terms(record, terms, version, request)
        session.add(record)
        session.flush()
    elif record.status == ConsentStatus.GIVEN and (record.valid_until is None or record.valid_until > now):
        raise Conflict(f"the learner has already given this consent (record {record.id}); it runs until {record.valid_until:%Y-%m-%d}")
    return _append(session, record.id, ConsentStatus.REQUESTED, Actor.PROVIDER, provider_did, now, terms=(terms, version, request))


def _set_terms(record: ConsentRecord, terms: NoticeTerms, version: str, request: ConsentRequest) -> None:
    record.data_categories = list(request.data_categories)
    record.legal_basis = request.legal_basis
    record.duration_days = request.duration_days
    record.notice_version = version
    record.notice_terms = notice_terms_json(terms)


def notice_terms_json(terms: NoticeTerms) -> dict[str, Any]:
    return {
        "provider": terms.provider,
        "consumer": terms.consumer,
        "purpose": terms.purpose,
        "data_categories": list(terms.data_categories),
        "legal_basis": terms.legal_basis,
        "duration_days": terms.duration_days,
        "offering": terms.offering,
    }


def notice_terms(record: ConsentRecord) -> NoticeTerms:
    stored = record.notice_terms
    return NoticeTerms(
        provider=str(stored["provider"]),
        consumer=str(stored["consumer"]),
        purpose=str(stored["purpose"]),
        data_categories=tuple(stored["data_categories"]),  # type: ignore[arg-type]
        legal_basis=str(stored["legal_basis"]),
        duration_days=stored.get("duration_days"),  # type: ignore[arg-type]
        offering=stored.get("offering"),  # type: ignore[arg-type]
    )


def _lock(session: Session, record_id: str, now: datetime) -> tuple[ConsentRecord, int]:
    """Take the record's row lock by bumping its event counter; returns the record and the
    sequence number of the event about to be written."""
    seq = session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.id == record_id)
        .values(event_count=ConsentRecord.event_count + 1, updated_at=now)
        .returning(ConsentRecord.event_count)
    ).scalar()
    if seq is None:
        raise NotFound(f"no consent record {record_id!r}")
    record = session.get(ConsentRecord, record_id, populate_existing=True)
    assert record is not None
    return record, seq


def _append(
    session: Session,
    record_id: str,
    status: ConsentStatus,
    actor: Actor,
    actor_id: str,
    now: datetime,
    *,
    terms: tuple[NoticeTerms, str, ConsentRequest] | None = None,
    valid_until: datetime | None = None,
    note: str | None = None,
    allowed_from: set[ConsentStatus] | None = None,
) -> ConsentRecord:
    record, seq = _lock(session, record_id, now)
    current = ConsentStatus(record.status)
    if allowed_from is not None and seq > 1 and current not in allowed_from:
        record.event_count = seq - 1  # nothing is written: give the sequence number back
        session.flush()
        raise Conflict(f"the consent is {current.value}; it cannot become {status.value}")
    if terms is not None:
        _set_terms(record, *terms)
    record.status = status.value
    if status == ConsentStatus.GIVEN:
        record.valid_from, record.valid_until = now, valid_until
    session.add(
        ConsentEvent(
            record_id=record.id,
            seq=seq,
            status=status.value,
            at=now,
            actor=actor.value,
            actor_id=actor_id,
            valid_until=valid_until,
            notice_version=record.notice_version,
            note=note,
        )
    )
    if status in STOPPING and current == ConsentStatus.GIVEN:
        _notify(session, record, seq, status, now)
    session.flush()
    return record


def _acting_party(session: Session, record: ConsentRecord, actor_id: str, *, giving: bool, minor_age: int, now: datetime) -> Actor:
    """Whether the signed-in person may decide for this record, and as whom.

    The learner decides for themselves from `minor_age` on; under it, only a guardian the
    provider attested may give consent. Refusing and withdrawing stay open to the minor too:
    stopping the use of one's data must never be harder than allowing it."""
    if actor_id == record.subject_id:
        subject = accounts.get_subject(session, record.subject_id)
        if giving and accounts.age_on(subject.birth_date, now.date()) < minor_age:
            raise Forbidden(f"learners under {minor_age} need a parent or guardian to give this consent")
        return Actor.SUBJECT
    if accounts.is_guardian_of(session, actor_id, record.subject_id):
        return Actor.GUARDIAN
    raise NotFound(f"no consent record {record.id!r} for this person")


def _get(session: Session, record_id: str) -> ConsentRecord:
    record = session.get(ConsentRecord, record_id)
    if record is None:
        raise NotFound(f"no consent record {record_id!r}")
    return record


def give(session: Session, record_id: str, *, by: str, minor_age: int, now: datetime | None = None) -> ConsentRecord:
    """Give (or renew) consent for the record's terms, for its duration from now."""
    now = now or utcnow()
    record = _get(session, record_id)
    actor = _acting_party(session, record, by, giving=True, minor_age=minor_age, now=now)
    valid_until = now + timedelta(days=record.duration_days)
    return _append(session, record_id, ConsentStatus.GIVEN, actor, by, now, valid_until=valid_until, allowed_from=GIVABLE)


def refuse(session: Session, record_id: str, *, by: str, minor_age: int, now: datetime | None = None) -> ConsentRecord:
    now = now or utcnow()
    record = _get(session, record_id)
    actor = _acting_party(session, record, by, giving=False, minor_age=minor_age, now=now)
    return _append(session, record_id, ConsentStatus.REFUSED, actor, by, now, allowed_from={ConsentStatus.REQUESTED})


def withdraw(session: Session, record_id: str, *, by: str, minor_age: int, now: datetime | None = None) -> ConsentRecord:
    """One action; every later check for this record says no."""
    now = now or utcnow()
    record = _get(session, record_id)
    actor = _acting_party(session, record, by, giving=False, minor_age=minor_age, now=now)
    return _append(session, record_id, ConsentStatus.WITHDRAWN, actor, by, now, allowed_from={ConsentStatus.GIVEN})


def invalidate(session: Session, record_id: str, *, by: str, reason: str, now: datetime | None = None) -> ConsentRecord:
    """The consent can no longer stand (e.g. the consumer left the data space)."""
    now = now or utcnow()
    return _append(session, record_id, ConsentStatus.INVALIDATED, Actor.SYSTEM, by, now, note=reason)


def expire_due(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Write the `expired` event of every given consent whose period has ended; returns how many."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(ConsentRecord.id)
            .where(ConsentRecord.status == ConsentStatus.GIVEN.value, ConsentRecord.valid_until <= now)
            .limit(limit)
        )
    )
    for record_id in due:
        record, seq = _lock(session, record_id, now)
        if record.status != ConsentStatus.GIVEN or record.valid_until is None or record.valid_until > now:
            # changed since it was selected: undo the counter bump by writing nothing else
            record.event_count = seq - 1
            continue
        record.status = ConsentStatus.EXPIRED.value
        session.add(
            ConsentEvent(
                record_id=record.id,
                seq=seq,
                status=ConsentStatus.EXPIRED.value,
                at=record.valid_until,
                actor=Actor.SYSTEM.value,
                actor_id="expiry",
                notice_version=record.notice_version,
            )
        )
        _notify(session, record, seq, ConsentStatus.EXPIRED, now)
    session.flush()
    return len(due)


_records = ConsentRecord.__table__
#: Built once: a Core statement on the unique index, so a check pays neither ORM compilation nor
#: cache-key generation (most of a check's cost on SQLite otherwise).
_CHECK = (
    select(_records.c.id, _records.c.status, _records.c.valid_from, _records.c.valid_until)
    .where(
        _records.c.subject_id == bindparam("subject"),
        _records.c.consumer_did == bindparam("consumer"),
        _records.c.purpose == bindparam("purpose"),
        _records.c.provider_did == bindparam("provider"),
    )
)


def check(
    session: Session, *, subject_id: str, provider_did: str, consumer_did: str, purpose: str, now: datetime | None = None
) -> CheckResult:
    """Whether data about `subject_id` may move from `provider_did` to `consumer_did` for `purpose`, now."""
    now = now or utcnow()
    row = session.connection().execute(
        _CHECK, {"subject": subject_id, "consumer": consumer_did, "purpose": purpose, "provider": provider_did}
    ).first()
    if row is None:
        return CheckResult(False, None, None, None)
    record_id, status, valid_from, valid_until = row
    if status == ConsentStatus.GIVEN and valid_until is not None and now >= valid_until:
        status = ConsentStatus.EXPIRED.value
    allowed = status == ConsentStatus.GIVEN and (valid_from is None or valid_from <= now)
    return CheckResult(allowed, record_id, status, valid_until)


@dataclass(frozen=True)
class AccountConsent:
    account: str
    record_id: str


def check_accounts(
    session: Session, *, provider_did: str, consumer_did: str, purpose: str, accounts_: list[str], now: datetime | None = None
) -> list[AccountConsent]:
    """The accounts (the provider's ids for its learners) whose consent for this consumer and
    purpose is given and current, with the record that says so: what a transfer may release.

    One query per chunk of accounts, whatever their number: a transfer filters thousands of
    learners at the source, and asks once."""
    from dases.consent.models import AccountLink

    now = now or utcnow()
    allowed: list[AccountConsent] = []
    for start in range(0, len(accounts_), 500):
        chunk = accounts_[start : start + 500]
        rows = session.execute(
            select(AccountLink.account, ConsentRecord.id)
            .join(ConsentRecord, ConsentRecord.subject_id == AccountLink.subject_id)
            .where(
                AccountLink.provider_did == provider_did,
                AccountLink.account.in_(chunk),
                ConsentRecord.provider_did == provider_did,
                ConsentRecord.consumer_did == consumer_did,
                ConsentRecord.purpose == purpose,
                ConsentRecord.status == ConsentStatus.GIVEN.value,
                (ConsentRecord.valid_from.is_(None)) | (ConsentRecord.valid_from <= now),
                ConsentRecord.valid_until > now,
            )
        )
        allowed.extend(AccountConsent(account, record_id) for account, record_id in rows)
    return allowed


def was_given_at(session: Session, record_id: str, at: datetime) -> bool:
    """Whether the record's consent stood at `at`: its latest event up to then is a `given`
    whose period covers `at` (read from the history, so it holds for any past moment)."""
    event = session.scalar(
        select(ConsentEvent)
        .where(ConsentEvent.record_id == record_id, ConsentEvent.at <= at)
        .order_by(ConsentEvent.seq.desc())
        .limit(1)
    )
    return event is not None and event.status == ConsentStatus.GIVEN and (event.valid_until is None or at < event.valid_until)


@dataclass(frozen=True)
class ExchangeReport:
    recorded: int
    without_consent: list[str]


def report_exchange(
    session: Session,
    *,
    provider_did: str,
    consumer_did: str,
    transfer_id: str,
    agreement_id: str,
    record_ids: list[str],
    at: datetime,
) -> ExchangeReport:
    """Record that a transfer from the provider to the consumer released data under these
    consent records. Reporting the same transfer again records nothing twice. Every record must
    be one of this provider's, for this consumer; whether its consent stood at `at` is checked
    against the history and returned, so a release without consent shows, not hides."""
    records = {
        record.id: record
        for record in session.scalars(select(ConsentRecord).where(ConsentRecord.id.in_(set(record_ids))))
    }
    foreign = [r for r in dict.fromkeys(record_ids) if r not in records or (records[r].provider_did, records[r].consumer_did) != (provider_did, consumer_did)]
    if foreign:
        raise InvalidInput(
            f"{len(foreign)} record(s) are not consents from {provider_did} to {consumer_did}: {', '.join(foreign[:5])}",
            errors=[FieldError("record_ids", "not_a_party", "only records between the caller and this consumer")],
        )
    known = set(
        session.scalars(
            select(ConsentExchange.record_id).where(ConsentExchange.transfer_id == transfer_id, ConsentExchange.record_id.in_(records))
        )
    )
    without: list[str] = []
    recorded = 0
    for record_id in records:
        consented = was_given_at(session, record_id, at)
        if not consented:
            without.append(record_id)
        if record_id in known:
            continue
        session.add(ConsentExchange(record_id=record_id, transfer_id=transfer_id, agreement_id=agreement_id, at=at, consented=consented))
        recorded += 1
    session.flush()
    return ExchangeReport(recorded, without)


def exchanges_of(session: Session, subject_id: str) -> list[tuple[ConsentRecord, ConsentExchange]]:
    """Every reported exchange of the learner's data, newest first."""
    rows = session.execute(
        select(ConsentRecord, ConsentExchange)
        .join(ConsentExchange, ConsentExchange.record_id == ConsentRecord.id)
        .where(ConsentRecord.subject_id == subject_id)
        .order_by(ConsentExchange.at.desc(), ConsentExchange.id.desc())
    )
    return [(record, exchange) for record, exchange in rows]


def get_record(session: Session, record_id: str) -> ConsentRecord:
    return _get(session, record_id)


def record_for_party(session: Session, record_id: str, party_did: str) -> ConsentRecord:
    """A record as its provider or consumer may read it; anyone else learns nothing, not even that it exists."""
    record = session.get(ConsentRecord, record_id)
    if record is None or party_did not in (record.provider_did, record.consumer_did):
        raise NotFound(f"no consent record {record_id!r} concerning {party_did}")
    return record


def record_for_person(session: Session, record_id: str, person_id: str) -> ConsentRecord:
    """A record as the learner or one of their guardians may read it."""
    record = session.get(ConsentRecord, record_id)
    if record is None or (record.subject_id != person_id and not accounts.is_guardian_of(session, person_id, record.subject_id)):
        raise NotFound(f"no consent record {record_id!r} for this person")
    return record


def records_of(session: Session, subject_id: str) -> list[ConsentRecord]:
    return list(
        session.scalars(
            select(ConsentRecord).where(ConsentRecord.subject_id == subject_id).order_by(ConsentRecord.created_at, ConsentRecord.id)
        )
    )


def history(session: Session, record_id: str) -> list[ConsentEvent]:
    return list(session.scalars(select(ConsentEvent).where(ConsentEvent.record_id == record_id).order_by(ConsentEvent.seq)))


def subject_history(session: Session, subject_id: str) -> list[tuple[ConsentRecord, ConsentEvent]]:
    """Every event on every record of the learner, newest first."""
    rows = session.execute(
        select(ConsentRecord, ConsentEvent)
        .join(ConsentEvent, ConsentEvent.record_id == ConsentRecord.id)
        .where(ConsentRecord.subject_id == subject_id)
        .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())
    )
    return [(record, event) for record, event in rows]


# -- notifications ---------------------------------------------------------------------------


def set_webhook(session: Session, participant_did: str, url: str) -> Webhook:
    if not url.startswith(("https://", "http://")):
        raise InvalidInput("the webhook must be an http(s) URL", errors=[FieldError("url", "scheme", "https:// (http:// on loopback)")])
    hook = session.get(Webhook, participant_did)
    if hook is None:
        hook = Webhook(participant_did=participant_did, url=url)
        session.add(hook)
    hook.url, hook.updated_at = url, utcnow()
    session.flush()
    return hook


def event_payload(record: ConsentRecord, seq: int, status: ConsentStatus, at: datetime) -> dict[str, Any]:
    return {
        "type": "consent.changed",
        "record": record.id,
        "seq": seq,
        "status": status.value,
        "dpv_status": status.dpv,
        "subject": record.subject_id,
        "provider": record.provider_did,
        "consumer": record.consumer_did,
        "purpose": record.purpose,
        "at": at.isoformat(),
    }


def _notify(session: Session, record: ConsentRecord, seq: int, status: ConsentStatus, now: datetime) -> None:
    """Queue a signed webhook to the provider and the consumer, in the event's own transaction."""
    payload = event_payload(record, seq, status, now)
    for did in dict.fromkeys((record.provider_did, record.consumer_did)):
        if session.get(Webhook, did) is None:
            continue  # no connector asked to be told; it learns at its next check
        session.add(Notification(recipient_did=did, payload=payload, created_at=now, next_attempt_at=now))


def pending_notifications(session: Session, now: datetime, limit: int = 100) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.delivered_at.is_(None), Notification.next_attempt_at <= now, Notification.attempts < 20)
            .order_by(Notification.id)
            .limit(limit)
        )
    )


def webhook_url(session: Session, participant_did: str) -> str | None:
    hook = session.get(Webhook, participant_did)
    return hook.url if hook else None
