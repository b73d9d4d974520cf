"""A learner's skills profile: the ESCO skills their xAPI statements give evidence of.

Evidence is a statement, in a participant's LRS, by which the learner (the statement's actor)
completed or passed an activity aligned with skills (`dases.interop.alignments`). A statement
counts when its verb is `completed` or `passed`, or its result says `completion` or `success`
is true; it never counts when the verb is `failed` or the result says `success` or `completion`
is false (a course completed but failed proves no skill). Voided statements are not read at all:
the LRS query leaves them out.

Per skill, the profile keeps what a reader needs to trust it: the statements and activities that
back it, when it was first and last shown, the best scaled score, and whether the link to the
skill was declared by the provider or suggested by the mapper (with its confidence).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dases.errors import BadRequest, FieldError
from dases.identity import service as identity
from dases.interop import alignments
from dases.interop.esco import Esco
from dases.interop.models import AlignmentSource
from dases.lrs import service as lrs
from dases.lrs.agents import agent_key
from dases.lrs.validation import parse_timestamp, validate_agent

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
FAILED = "http://adlnet.gov/expapi/verbs/failed"
ACHIEVING_VERBS = frozenset({COMPLETED, PASSED})


@dataclass(frozen=True)
class SkillEvidence:
    skill_uri: str
    label: str
    skill_type: str
    statement_ids: tuple[str, ...]
    activity_ids: tuple[str, ...]
    first_achieved: datetime
    last_achieved: datetime
    #: The best `result.score.scaled` (or raw score brought to 0..1) among the statements, if any had one.
    best_score: float | None
    #: "declared" when at least one backing activity's alignment was declared, else "mapped".
    source: AlignmentSource
    #: The strongest alignment confidence among the backing activities.
    confidence: float


@dataclass(frozen=True)
class SkillsProfile:
    store: str
    agent: dict[str, Any]
    agent_key: str
    skills: list[SkillEvidence]
    #: Activity names (first language of their canonical definition), for readers and badges.
    activity_names: dict[str, str] = field(default_factory=dict)

    def skill(self, uri: str) -> SkillEvidence | None:
        return next((evidence for evidence in self.skills if evidence.skill_uri == uri), None)

    @property
    def skill_uris(self) -> set[str]:
        return {evidence.skill_uri for evidence in self.skills}


def parse_agent(text: str, field_name: str = "agent") -> dict[str, Any]:
    """A learner named as xAPI names agents (an Agent as JSON, like the `agent` parameter of
    GET /statements); BadRequest naming `field_name` otherwise. Groups are refused: a skills
    profile belongs to one person."""
    try:
        agent = json.loads(text)
    except ValueError as error:
        raise BadRequest(
            f"'{field_name}' must be an xAPI Agent as JSON", errors=[FieldError(field_name, "json", "must be an Agent as JSON")]
        ) from error
    if isinstance(agent, dict) and agent.get("objectType") == "Group":
        raise BadRequest(
            "a skills profile belongs to one learner, not a group",
            errors=[FieldError(field_name, "agent", "must be an Agent (mbox, mbox_sha1sum, openid or account), not a Group")],
        )
    validate_agent(agent, field_name, "1.0.3")
    if "\x00" in json.dumps(agent, ensure_ascii=False):
        raise BadRequest(
            "the learner's identifier holds a NUL character",
            errors=[FieldError(field_name, "nul_character", "must not contain NUL (U+0000) characters")],
        )
    return agent


def achieves(statement: dict[str, Any]) -> bool:
    """Whether a statement shows its actor achieved its object (see the module docstring)."""
    verb = statement.get("verb", {}).get("id")
    result = statement.get("result") or {}
    if verb == FAILED or result.get("success") is False or result.get("completion") is False:
        return False
    return verb in ACHIEVING_VERBS or result.get("completion") is True or result.get("success") is True


def scaled_score(statement: dict[str, Any]) -> float | None:
    """`result.score.scaled`, else the raw score placed between min (default 0) and max."""
    score = (statement.get("result") or {}).get("score") or {}
    if isinstance(score.get("scaled"), int | float):
        return float(score["scaled"])
    raw, top, bottom = score.get("raw"), score.get("max"), score.get("min", 0)
    if all(isinstance(value, int | float) for value in (raw, top, bottom)) and top > bottom:
        return (raw - bottom) / (top - bottom)
    return None


@dataclass
class _Tally:
    statements: list[str] = field(default_factory=list)
    activities: list[str] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    best: float | None = None
    declared: bool = False
    confidence: float = 0.0

    def add(self, statement_id: str, activity: str, when: datetime, score: float | None, alignment: alignments.Alignment) -> None:
        self.statements.append(statement_id)
        if activity not in self.activities:
            self.activities.append(activity)
        self.first = when if self.first is None or when < self.first else self.first
        self.last = when if self.last is None or when > self.last else self.last
        if score is not None and (self.best is None or score > self.best):
            self.best = score
        self.declared = self.declared or alignment.source == AlignmentSource.DECLARED
        self.confidence = max(self.confidence, alignment.confidence)


def _name(definition: dict[str, Any]) -> str | None:
    names = definition.get("name") or {}
    for language in ("en", "en-US", "en-GB", *names):
        if names.get(language):
            return str(names[language])
    return None


def learner_profile(session: Session, store: str, agent: dict[str, Any], esco: Esco, *, lang: str = "en") -> SkillsProfile:
    """The skills profile of the learner `agent` from the statements of `store`'s LRS."""
    identity.did_of(session, store)  # NotFound for a participant this node does not host
    key = agent_key(agent)
    if key is None:
        raise BadRequest("the learner must be identified", errors=[FieldError("agent", "identified", "an Agent with one identifier")])
    achieved: list[tuple[str, str, datetime, float | None]] = []
    for document in lrs.iter_statements(session, store, lrs.StatementQuery(agent=key, ascending=True)):
        statement = json.loads(document)
        target = statement.get("object") or {}
        if agent_key(statement.get("actor") or {}) != key or target.get("objectType", "Activity") != "Activity":
            continue
        if achieves(statement):
            when = parse_timestamp(statement.get("timestamp") or statement["stored"])
            achieved.append((statement["id"], target["id"], when, scaled_score(statement)))
    aligned = alignments.for_activities(session, store, (activity for _, activity, _, _ in achieved))
    tallies: dict[str, _Tally] = {}
    for statement_id, activity, when, score in achieved:
        for alignment in aligned.get(activity, []):
            tallies.setdefault(alignment.skill_uri, _Tally()).add(statement_id, activity, when, score, alignment)
    skills = []
    for uri, tally in tallies.items():
        skill = esco.skills.get(uri)
        assert tally.first is not None and tally.last is not None
        skills.append(
            SkillEvidence(
                skill_uri=uri,
                label=skill.label(lang) if skill else uri,
                skill_type=skill.skill_type if skill else "",
                statement_ids=tuple(tally.statements),
                activity_ids=tuple(tally.activities),
                first_achieved=tally.first,
                last_achieved=tally.last,
                best_score=tally.best,
                source=AlignmentSource.DECLARED if tally.declared else AlignmentSource.MAPPED,
                confidence=tally.confidence,
            )
        )
    skills.sort(key=lambda evidence: (evidence.label.casefold(), evidence.skill_uri))
    used = {activity for evidence in skills for activity in evidence.activity_ids}
    definitions = lrs.canonical_definitions(session, store, used)
    names = {activity: _name(definitions.get(activity, {})) or activity for activity in sorted(used)}
    return SkillsProfile(store=store, agent=agent, agent_key=key, skills=skills, activity_names=names)
