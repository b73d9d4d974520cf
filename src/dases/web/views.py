"""What the learner's pages show, built from the consent and registry services; and the templates.

Nothing here knows about HTTP: `api.py` picks the person, the language and the status code, and
hands these view objects to the Jinja2 templates. Every text the learner reads is either an i18n
string or comes from the consent service's plain-language wording, never a raw IRI or DID on its
own (those appear only next to their plain name, for whoever needs to check them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from dases.consent import accounts
from dases.consent import service as consent
from dases.consent.models import ConsentEvent, ConsentRecord, ConsentStatus, Subject
from dases.consent.notices import Notice, format_date, render_notice
from dases.consent.plain_language import DATA_CATEGORIES, LEGAL_BASES, in_language, plain_purpose
from dases.consent.purposes import PurposeVocabulary, load_purposes
from dases.errors import DasesError
from dases.registry import service as registry
from dases.settings import Settings
from dases.web.i18n import LANGUAGE_NAMES, LANGUAGES, translate

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@cache
def _environment() -> Environment:
    """One compiled-template cache per process: templates are code shipped with the package."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt variable fails the tests, not silently blanks a page
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, lang: str, **context: Any) -> str:
    """A page in `lang`; templates call `t("key", ...)` for every string they show."""
    t = partial(translate, lang)
    return _environment().get_template(template).render(lang=lang, t=t, language_names=LANGUAGE_NAMES, languages=LANGUAGES, **context)


def vocabulary(settings: Settings) -> PurposeVocabulary | None:
    """The DPV purposes, or None on a node without them (then purposes show as their IRI)."""
    return load_purposes(settings.dpv_dir) if settings.dpv_dir is not None else None


def purpose_text(vocab: PurposeVocabulary | None, iri: str, lang: str) -> str:
    if vocab is not None:
        try:
            return plain_purpose(vocab, iri, lang)
        except DasesError:
            pass
    return iri


def when(moment: datetime | None, lang: str) -> str:
    """A date as the learner reads it (UTC, the zone the consent service records)."""
    if moment is None:
        return translate(lang, "no_end")
    return format_date(moment, lang)


def when_exactly(moment: datetime, lang: str) -> str:
    return translate(lang, "at_time", date=format_date(moment, lang), time=f"{moment:%H:%M}")


class Names:
    """Organisation names by DID, from the registry, looked up once per page."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._names: dict[str, str] = {}

    def __call__(self, did: str, fallback: str | None = None) -> str:
        if did not in self._names:
            member = registry.active_member(self._session, did)
            self._names[did] = member.legal_name if member is not None else (fallback or did)
        return self._names[did]


def effective_status(record: ConsentRecord, now: datetime) -> ConsentStatus:
    """The status the check would answer now: a given consent past its end is expired even
    before the sweeper writes the event, and the page must not say otherwise."""
    status = ConsentStatus(record.status)
    if status == ConsentStatus.GIVEN and record.valid_until is not None and record.valid_until <= now:
        return ConsentStatus.EXPIRED
    return status


def actions_for(status: ConsentStatus) -> list[str]:
    """One click each: giving and withdrawing are equally easy (GDPR art. 7(3))."""
    return {
        ConsentStatus.REQUESTED: ["give", "refuse"],
        ConsentStatus.GIVEN: ["withdraw"],
        ConsentStatus.REFUSED: ["give"],
        ConsentStatus.WITHDRAWN: ["give_again"],
        ConsentStatus.EXPIRED: ["give_again"],
        ConsentStatus.INVALIDATED: [],
    }[status]


@dataclass(frozen=True)
class ConsentCard:
    id: str
    consumer: str
    consumer_did: str
    provider: str
    provider_did: str
    purpose: str
    purpose_iri: str
    categories: list[str]
    status: str
    status_label: str
    valid_until: str | None
    duration: str
    actions: list[str]
    needs_guardian: bool
    notice: Notice | None
    notice_open: bool


def consent_card(
    record: ConsentRecord,
    *,
    names: Names,
    vocab: PurposeVocabulary | None,
    lang: str,
    viewer_is_minor_subject: bool,
    now: datetime,
) -> ConsentCard:
    status = effective_status(record, now)
    actions = actions_for(status)
    needs_guardian = viewer_is_minor_subject and any(action in ("give", "give_again") for action in actions)
    if viewer_is_minor_subject:
        actions = [action for action in actions if action not in ("give", "give_again")]
    terms = consent.notice_terms(record)
    notice = None
    if vocab is not None:
        try:
            notice = render_notice(terms, vocab, lang)
        except DasesError:
            notice = None
    days = record.duration_days
    return ConsentCard(
        id=record.id,
        consumer=names(record.consumer_did, terms.consumer),
        consumer_did=record.consumer_did,
        provider=names(record.provider_did, terms.provider),
        provider_did=record.provider_did,
        purpose=purpose_text(vocab, record.purpose, lang),
        purpose_iri=record.purpose,
        categories=[in_language(DATA_CATEGORIES[c], lang) if c in DATA_CATEGORIES else c for c in record.data_categories],
        status=status.value,
        status_label=translate(lang, f"status_{status.value}"),
        valid_until=when(record.valid_until, lang) if status == ConsentStatus.GIVEN else None,
        duration=translate(lang, "duration_day") if days == 1 else translate(lang, "duration_days", n=days),
        actions=actions,
        needs_guardian=needs_guardian,
        notice=notice,
        notice_open=status == ConsentStatus.REQUESTED,
    )


#: Cards in the order a learner has to deal with them: questions waiting for an answer first,
#: then what currently lets data flow, then the rest (stable within each group: oldest first).
CARD_ORDER = {ConsentStatus.REQUESTED.value: 0, ConsentStatus.GIVEN.value: 1}


def in_card_order(cards: list[ConsentCard]) -> list[ConsentCard]:
    return sorted(cards, key=lambda card: CARD_ORDER.get(card.status, 2))


@dataclass
class Organisation:
    name: str
    did: str
    accounts: list[str] = field(default_factory=list)
    receives: bool = False


def organisations(session: Session, subject_id: str, records: list[ConsentRecord], names: Names, now: datetime) -> list[Organisation]:
    """Who holds data about the learner: the providers of linked accounts, and the consumers
    the learner's consent currently lets data flow to."""
    found: dict[str, Organisation] = {}
    for link in accounts.linked_accounts(session, subject_id):
        org = found.setdefault(link.provider_did, Organisation(names(link.provider_did), link.provider_did))
        org.accounts.append(link.account)
    for record in records:
        if effective_status(record, now) == ConsentStatus.GIVEN:
            consumer = names(record.consumer_did, consent.notice_terms(record).consumer)
            found.setdefault(record.consumer_did, Organisation(consumer, record.consumer_did)).receives = True
    return sorted(found.values(), key=lambda org: org.name.casefold())


@dataclass(frozen=True)
class Ward:
    id: str
    name: str
    cards: list[ConsentCard]


@dataclass(frozen=True)
class Dashboard:
    name: str
    organisations: list[Organisation]
    cards: list[ConsentCard]
    wards: list[Ward]
    consent_age: int


def is_minor(subject: Subject, now: datetime, consent_age: int) -> bool:
    return accounts.age_on(subject.birth_date, now.date()) < consent_age


def dashboard(session: Session, settings: Settings, person: Subject, lang: str, now: datetime) -> Dashboard:
    names = Names(session)
    vocab = vocabulary(settings)
    card: Callable[..., ConsentCard] = partial(consent_card, names=names, vocab=vocab, lang=lang, now=now)
    records = consent.records_of(session, person.id)
    minor = is_minor(person, now, settings.consent_age)
    wards = [
        Ward(ward.id, ward.display_name, in_card_order([card(record, viewer_is_minor_subject=False) for record in consent.records_of(session, ward.id)]))
        for ward in accounts.wards(session, person.id)
    ]
    return Dashboard(
        name=person.display_name,
        organisations=organisations(session, person.id, records, names, now),
        cards=in_card_order([card(record, viewer_is_minor_subject=minor) for record in records]),
        wards=wards,
        consent_age=settings.consent_age,
    )


def actor_text(actor: str, lang: str, *, viewer_is_subject: bool) -> str:
    if actor == "subject":
        return translate(lang, "actor_subject_you" if viewer_is_subject else "actor_subject_ward")
    return translate(lang, f"actor_{actor}") if actor in ("guardian", "provider", "system") else actor


@dataclass(frozen=True)
class HistoryRow:
    record_id: str
    seq: int
    when: str
    what: str
    status: str
    purpose: str
    consumer: str
    by: str


@dataclass(frozen=True)
class HistorySection:
    name: str | None  # None: the signed-in learner's own history
    rows: list[HistoryRow]


def history_rows(session: Session, subject_id: str, names: Names, vocab: PurposeVocabulary | None, lang: str, *, viewer_is_subject: bool) -> list[HistoryRow]:
    return [
        HistoryRow(
            record_id=record.id,
            seq=event.seq,
            when=when_exactly(event.at, lang),
            what=translate(lang, f"event_{event.status}"),
            status=event.status,
            purpose=purpose_text(vocab, record.purpose, lang),
            consumer=names(record.consumer_did, consent.notice_terms(record).consumer),
            by=actor_text(event.actor, lang, viewer_is_subject=viewer_is_subject),
        )
        for record, event in consent.subject_history(session, subject_id)
    ]


def history(session: Session, settings: Settings, person: Subject, lang: str) -> list[HistorySection]:
    names = Names(session)
    vocab = vocabulary(settings)
    sections = [HistorySection(None, history_rows(session, person.id, names, vocab, lang, viewer_is_subject=True))]
    for ward in accounts.wards(session, person.id):
        sections.append(HistorySection(ward.display_name, history_rows(session, ward.id, names, vocab, lang, viewer_is_subject=False)))
    return sections


@dataclass(frozen=True)
class ExchangeRow:
    when: str
    provider: str
    consumer: str
    purpose: str
    transfer_id: str
    consented: bool


def exchanges(session: Session, settings: Settings, person: Subject, lang: str) -> list[ExchangeRow]:
    """Transfers of the learner's data, as the providers reported them to the consent service."""
    names = Names(session)
    vocab = vocabulary(settings)
    return [
        ExchangeRow(
            when=when_exactly(exchange.at, lang),
            provider=names(record.provider_did, consent.notice_terms(record).provider),
            consumer=names(record.consumer_did, consent.notice_terms(record).consumer),
            purpose=purpose_text(vocab, record.purpose, lang),
            transfer_id=exchange.transfer_id,
            consented=exchange.consented,
        )
        for record, exchange in consent.exchanges_of(session, person.id)
    ]


@dataclass(frozen=True)
class ReceiptView:
    record_id: str
    seq: int
    count: int
    title: str
    status: str
    event_time: str
    valid_until: str | None
    purpose: str
    purpose_iri: str
    provider: str
    provider_did: str
    consumer: str
    consumer_did: str
    categories: list[str]
    legal_basis: str
    notice_version: str
    actor: str
    subject: str
    receipt_id: str
    issuer: str
    jws: str
    other_events: list[tuple[int, str]]


def receipt_view(
    record: ConsentRecord,
    event: ConsentEvent,
    events: list[ConsentEvent],
    content: dict[str, Any],
    jws: str,
    *,
    names: Names,
    vocab: PurposeVocabulary | None,
    lang: str,
    viewer_is_subject: bool,
) -> ReceiptView:
    """The signed receipt, readable: every field comes from the signed content, so the page
    says exactly what the download proves."""
    controller, recipient = content["controller"], content["recipient"]
    basis = LEGAL_BASES.get(content["legal_basis"]["id"])
    return ReceiptView(
        record_id=record.id,
        seq=event.seq,
        count=len(events),
        title=translate(lang, f"event_{content['status']}"),
        status=content["status"],
        event_time=when_exactly(event.at, lang),
        valid_until=when(event.valid_until, lang) if event.valid_until else None,
        purpose=purpose_text(vocab, content["purpose"]["id"], lang),
        purpose_iri=content["purpose"]["id"],
        provider=names(controller["id"], controller.get("name")),
        provider_did=controller["id"],
        consumer=names(recipient["id"], recipient.get("name")),
        consumer_did=recipient["id"],
        categories=[
            in_language(DATA_CATEGORIES[item["id"]], lang) if item["id"] in DATA_CATEGORIES else item["id"]
            for item in content["personal_data_categories"]
        ],
        legal_basis=in_language(basis, lang) if basis else content["legal_basis"]["id"],
        notice_version=content["notice_version"],
        actor=actor_text(content["actor"], lang, viewer_is_subject=viewer_is_subject),
        subject=content["data_subject"],
        receipt_id=content["receipt_id"],
        issuer=content["issuer"],
        jws=jws,
        other_events=[(other.seq, translate(lang, f"event_{other.status}")) for other in events if other.seq != event.seq],
    )
