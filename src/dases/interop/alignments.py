"""Which learning activity develops which ESCO skill: declare (in batches) and list alignments.

An alignment is the bridge between a provider's xAPI statements and the ESCO vocabulary the rest
of the data space speaks: a learner who completes or passes an aligned activity holds evidence of
its skills (see `dases.interop.learner_skills`). Skills are checked against ESCO when declared, so
a typo is a 422 naming the entry, not a skill nobody will ever match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dases.db import utcnow
from dases.errors import FieldError, InvalidInput
from dases.identity import service as identity
from dases.interop.esco import Esco
from dases.interop.models import AlignmentIn, AlignmentSource, SkillAlignment


@dataclass(frozen=True)
class Alignment:
    activity_id: str
    skill_uri: str
    source: AlignmentSource
    confidence: float


def _view(row: SkillAlignment) -> Alignment:
    return Alignment(row.activity_id, row.skill_uri, AlignmentSource(row.source), row.confidence)


def _check(items: Sequence[AlignmentIn], esco: Esco) -> None:
    errors: list[FieldError] = []
    seen: dict[tuple[str, str], int] = {}
    for position, item in enumerate(items):
        if item.skill_uri not in esco.skills:
            errors.append(FieldError(f"alignments.{position}.skill_uri", "esco_skill", f"{item.skill_uri} is not a skill of ESCO"))
        key = (item.activity_id, item.skill_uri)
        if key in seen:
            errors.append(
                FieldError(f"alignments.{position}", "unique_in_batch", f"the same activity and skill as alignments.{seen[key]}")
            )
        seen.setdefault(key, position)
    if errors:
        raise InvalidInput(f"{len(errors)} alignment(s) refused; none was stored", errors=errors)


def declare(session: Session, store: str, items: Sequence[AlignmentIn], esco: Esco) -> list[Alignment]:
    """Store alignments of a participant's activities, all or none. Declaring an alignment that
    exists replaces its source and confidence (a provider confirming a mapped suggestion turns
    it into a declaration)."""
    identity.get_participant(session, store)
    _check(items, esco)
    activities = {item.activity_id for item in items}
    existing = {
        (row.activity_id, row.skill_uri): row
        for row in session.scalars(
            select(SkillAlignment).where(SkillAlignment.store == store, SkillAlignment.activity_id.in_(activities))
        )
    }
    now = utcnow()
    stored: list[SkillAlignment] = []
    for item in items:
        row = existing.get((item.activity_id, item.skill_uri))
        if row is None:
            row = SkillAlignment(store=store, activity_id=item.activity_id, skill_uri=item.skill_uri, created_at=now)
            session.add(row)
        row.source = item.source.value
        row.confidence = item.confidence
        row.updated_at = now
        stored.append(row)
    session.flush()
    return [_view(row) for row in stored]


def list_alignments(
    session: Session,
    store: str,
    *,
    activity_id: str | None = None,
    skill_uri: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Alignment]]:
    """A participant's alignments (by activity, then skill) and how many match in all."""
    from sqlalchemy import func

    identity.get_participant(session, store)
    where = [SkillAlignment.store == store]
    if activity_id is not None:
        where.append(SkillAlignment.activity_id == activity_id)
    if skill_uri is not None:
        where.append(SkillAlignment.skill_uri == skill_uri)
    total = session.scalar(select(func.count()).select_from(SkillAlignment).where(*where)) or 0
    rows = session.scalars(
        select(SkillAlignment).where(*where).order_by(SkillAlignment.activity_id, SkillAlignment.skill_uri).limit(limit).offset(offset)
    )
    return total, [_view(row) for row in rows]


def for_activities(session: Session, store: str, activity_ids: Iterable[str], chunk: int = 500) -> dict[str, list[Alignment]]:
    """The alignments of these activities, grouped by activity: a profile reads only those of the
    activities its learner achieved, whatever the size of the provider's catalogue of alignments."""
    wanted = sorted(set(activity_ids))
    grouped: dict[str, list[Alignment]] = {}
    for start in range(0, len(wanted), chunk):
        rows = session.scalars(
            select(SkillAlignment)
            .where(SkillAlignment.store == store, SkillAlignment.activity_id.in_(wanted[start : start + chunk]))
            .order_by(SkillAlignment.id)
        )
        for row in rows:
            grouped.setdefault(row.activity_id, []).append(_view(row))
    return grouped
