"""The catalog of a node: offerings its participants publish, search over them, the DSP catalog
each participant's connector serves, and the DCAT-AP export. No HTTP here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dases.catalog import dcat, dsp, index
from dases.catalog.index import LOCAL_INDEX, SearchPage, SearchQuery
from dases.catalog.models import Offering, OfferingIn, OfferingKind, OfferingStatus
from dases.catalog.offer_policy import validate_offer_policy
from dases.db import utcnow
from dases.errors import FieldError, Forbidden, InvalidInput, NotFound
from dases.identity import service as identity
from dases.settings import Settings


def _unique(values: Sequence[str], *, key: Any = None) -> list[str]:
    """Values without repeats, first spelling kept (keywords compare case-insensitively)."""
    seen: dict[Any, str] = {}
    for value in values:
        seen.setdefault(key(value) if key else value, value)
    return list(seen.values())


def _offering(draft: OfferingIn, participant: identity.ParticipantView, now: datetime, field: str) -> Offering:
    """A new Offering row from a publisher's description; InvalidInput names what is wrong."""
    if draft.endpoint_url is not None and draft.kind == OfferingKind.DATASET:
        raise InvalidInput(
            "only data and software services have an endpoint_url; a dataset is reached through the connector",
            errors=[FieldError(f"{field}endpoint_url", "not_allowed", "only for kind data_service or software_service")],
        )
    if draft.skills and draft.kind != OfferingKind.TRAINING:
        raise InvalidInput(
            "only a training teaches skills; other offerings describe their data with categories and keywords",
            errors=[FieldError(f"{field}skills", "not_allowed", "only for kind training")],
        )
    policy = validate_offer_policy(draft.policy, field=f"{field}policy")
    offering = Offering(
        id=f"urn:uuid:{uuid.uuid4()}",
        offer_id=policy["@id"],
        participant_slug=participant.slug,
        provider_did=participant.did,
        status=OfferingStatus.ACTIVE.value,
        kind=draft.kind.value,
        title=draft.title.strip(),
        description=draft.description.strip(),
        keywords=_unique([" ".join(k.split()) for k in draft.keywords], key=str.lower),
        data_categories=_unique([c.value for c in draft.data_categories]),
        service_categories=_unique([c.value for c in draft.service_categories]),
        contains_pii=draft.contains_pii,
        policy=policy,
        distributions=[d.model_dump(exclude_none=True) for d in draft.distributions],
        endpoint_url=str(draft.endpoint_url) if draft.endpoint_url else None,
        landing_page=str(draft.landing_page) if draft.landing_page else None,
        license=str(draft.license) if draft.license else None,
        skills=_unique(draft.skills),
        created_at=now,
        modified_at=now,
    )
    index.prepare(offering)
    return offering


def publish_many(session: Session, slug: str, drafts: Sequence[OfferingIn]) -> list[Offering]:
    """Publish offerings of a hosted participant, indexed for search in the same transaction."""
    participant = identity.get_participant(session, slug)
    now = utcnow()
    many = len(drafts) > 1
    offerings = [_offering(draft, participant, now, f"{i}." if many else "") for i, draft in enumerate(drafts)]
    session.add_all(offerings)
    session.flush()
    index.entries_added(session, LOCAL_INDEX, offerings)
    return offerings


def publish(session: Session, slug: str, draft: OfferingIn) -> Offering:
    return publish_many(session, slug, [draft])[0]


def get_offering(session: Session, slug: str, offering_id: str) -> Offering:
    offering = session.scalar(sa.select(Offering).where(Offering.id == offering_id, Offering.participant_slug == slug))
    if offering is None:
        raise NotFound(f"participant {slug!r} has no offering {offering_id!r}")
    return offering


def list_offerings(
    session: Session, slug: str, *, status: OfferingStatus | None = OfferingStatus.ACTIVE, limit: int = 100, offset: int = 0
) -> tuple[int, list[Offering]]:
    """A participant's offerings, oldest first, and how many there are."""
    identity.get_participant(session, slug)
    where = [Offering.participant_slug == slug]
    if status is not None:
        where.append(Offering.status == status.value)
    total = session.scalar(sa.select(sa.func.count()).select_from(Offering).where(*where)) or 0
    rows = session.scalars(sa.select(Offering).where(*where).order_by(Offering.pk).limit(limit).offset(offset))
    return total, list(rows)


def retire(session: Session, slug: str, offering_id: str) -> Offering:
    """Withdraw an offering from the catalog. The row stays, so agreements that name it still resolve."""
    offering = get_offering(session, slug, offering_id)
    if offering.status == OfferingStatus.RETIRED:
        return offering
    index.entries_removed(session, LOCAL_INDEX, [offering])
    now = utcnow()
    offering.status = OfferingStatus.RETIRED.value
    offering.retired_at = now
    offering.modified_at = now
    return offering


@dataclass(frozen=True)
class Training:
    id: str
    title: str
    provider_did: str
    skills: list[str]


def training_offerings(session: Session, skill_uris: set[str]) -> list[Training]:
    """Active trainings of this node that teach at least one of these ESCO skills, oldest first.

    Filtered here rather than in SQL: JSON array containment is spelled differently on each
    backend, and a node publishes trainings by the hundred, not by the million. Only the columns
    a match needs are read (whole rows would decode every offering's policy and tags).
    """
    rows = session.execute(
        sa.select(Offering.id, Offering.title, Offering.provider_did, Offering.skills)
        .where(Offering.status == OfferingStatus.ACTIVE.value, Offering.kind == OfferingKind.TRAINING.value)
        .order_by(Offering.pk)
    )
    return [Training(row.id, row.title, row.provider_did, list(row.skills)) for row in rows if skill_uris.intersection(row.skills or [])]


def find_offer(session: Session, slug: str, offer_id: str) -> dict[str, Any] | None:
    """The published offer `offer_id` of a participant, with its `target` (the offering id), or
    None when it is unknown or its offering is retired. For contract negotiation."""
    offering = session.scalar(
        sa.select(Offering).where(
            Offering.offer_id == offer_id, Offering.participant_slug == slug, Offering.status == OfferingStatus.ACTIVE.value
        )
    )
    if offering is None:
        return None
    return {**offering.policy, "target": offering.id}


def _provider_did(session: Session, provider: str | None) -> str | None:
    """Search filters name a provider by DID, or (locally) by the slug of a hosted participant."""
    if provider is None or provider.startswith("did:"):
        return provider
    try:
        return identity.get_participant(session, provider).did
    except NotFound:
        return provider  # no entry has a bare slug as provider: the search finds nothing, as it should


def search(session: Session, query: SearchQuery, **tuning: int) -> SearchPage[Offering]:
    """Full-text and faceted search over the offerings published on this node."""
    return index.search(session, LOCAL_INDEX, replace(query, provider=_provider_did(session, query.provider)), **tuning)


# --- DSP catalog -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogPage:
    body: dict[str, Any]
    next_offset: int | None
    previous_offset: int | None


def _check_audience(session: Session, slug: str, audience: str) -> identity.ParticipantView:
    participant = identity.get_participant(session, slug)
    if audience != participant.did:
        raise Forbidden(f"this call token is addressed to {audience}, not to {participant.did}, whose catalog this is")
    return participant


def dsp_catalog(
    session: Session, base_url: str, slug: str, audience: str, message: Any, *, limit: int = 100, offset: int = 0
) -> CatalogPage:
    """One page of a participant's DSP catalog, for a caller that addressed its call to that participant."""
    participant = _check_audience(session, slug, audience)
    wanted = dsp.read_catalog_request(message)
    if wanted.empty:
        where = [Offering.participant_slug == slug, Offering.status == OfferingStatus.ACTIVE.value]
        total = session.scalar(sa.select(sa.func.count()).select_from(Offering).where(*where)) or 0
        offerings = list(session.scalars(sa.select(Offering).where(*where).order_by(Offering.pk).limit(limit).offset(offset)))
    else:
        query = SearchQuery(
            text=wanted.q, keyword=wanted.keyword, data_category=wanted.data_category, service_category=wanted.service_category,
            kind=wanted.kind, contains_pii=wanted.contains_pii, provider=participant.did, limit=limit, offset=offset,
        )
        page = index.search(session, LOCAL_INDEX, query)
        total, offerings = page.total, page.entries
    body = dsp.catalog(participant.did, dsp.connector_url(base_url, slug), offerings)
    next_offset = offset + limit if offset + limit < total else None
    previous_offset = max(0, offset - limit) if offset > 0 else None
    return CatalogPage(body, next_offset, previous_offset)


def dsp_dataset(session: Session, base_url: str, slug: str, audience: str, offering_id: str) -> dict[str, Any]:
    """One dataset of a participant's DSP catalog."""
    _check_audience(session, slug, audience)
    offering = get_offering(session, slug, offering_id)
    if offering.status != OfferingStatus.ACTIVE:
        raise NotFound(f"offering {offering_id} has been withdrawn from the catalog")
    return dsp.root_dataset(offering, dsp.connector_url(base_url, slug))


# --- DCAT-AP export ----------------------------------------------------------------------------


def catalog_publisher(session: Session, settings: Settings) -> dcat.Agent:
    """Who publishes the node's catalog: the governance authority on the operator's node, the
    only participant on a single-member node, the node itself otherwise."""
    participants = identity.list_participants(session)
    chosen = [p for p in participants if p.slug == settings.governance_authority] or (participants if len(participants) == 1 else [])
    if chosen:
        return dcat.Agent(chosen[0].did, chosen[0].name)
    return dcat.Agent(settings.base_url, f"DASES node {settings.base_url}")


def dcat_export(session: Session, settings: Settings, fmt: str, *, limit: int = 1000, offset: int = 0) -> str:
    """The node's active offerings as DCAT-AP 3 (`fmt`: turtle or jsonld), one page of them."""
    return dcat.export(session, settings.base_url, catalog_publisher(session, settings), fmt, limit=limit, offset=offset)
