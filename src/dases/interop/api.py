"""HTTP routes of learner skills: alignments, skills profiles, Open Badges and recommendations.

All under `/participants/{slug}/skills/`, and all private: a learner's skills are personal data
of the provider that recorded them. Every route answers the node admin (bearer admin token) or
the participant itself (a call token it signed, addressed to itself); the reading routes also
answer a learner signed in at this node's consent service (the portal's session cookie), for the
accounts they linked to this participant only. Anyone else gets 401 or 403. The learner is named
like xAPI names agents: `agent` is an Agent as JSON.

ESCO is read once per app, on the first request that needs it (about 1.5 s), and kept on
`app.state.esco`; a test or an embedding application may set it beforehand.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from dases.catalog.models import ESCO_SKILL_PATTERN
from dases.consent import accounts
from dases.errors import FieldError, Forbidden, Unauthorized, problem_responses
from dases.identity import service as identity
from dases.identity.service import SLUG_PATTERN
from dases.identity.tokens import parse_call_token, verify_call_token
from dases.interop import alignments, badges, learner_skills, recommend
from dases.interop.esco import Esco, default_esco_dir
from dases.interop.models import AlignmentBatch, AlignmentSource
from dases.node import BearerDep, NodeDep, SessionDep
from dases.types import Text
from dases.web import sessions

Slug = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63, description="Participant slug (whose LRS holds the statements)")]
AgentParam = Annotated[
    Text,
    Query(max_length=2000, description='The learner, an xAPI Agent as JSON, e.g. {"mbox": "mailto:ada@example.org"}.'),
]
Lang = Annotated[Literal["en", "fr"], Query(description="Language of the ESCO labels (French where ESCO has it).")]
_esco_lock = threading.Lock()


class EscoSource:
    """The classification an app serves, loaded at most once, on first use."""

    def __init__(self, directory: Any = None, esco: Esco | None = None) -> None:
        self._directory = directory
        self._esco = esco
        self._lock = threading.Lock()

    def get(self) -> Esco:
        with self._lock:
            if self._esco is None:
                self._esco = Esco.load(self._directory or default_esco_dir())
            return self._esco


def get_esco(request: Request) -> Esco:
    state = request.app.state
    with _esco_lock:
        source = getattr(state, "esco", None)
        if source is None:
            source = state.esco = EscoSource()
    return source.get() if isinstance(source, EscoSource) else source


EscoDep = Annotated[Esco, Depends(get_esco)]


def participant_or_admin(slug: Slug, node: NodeDep, credentials: BearerDep) -> str:
    """The participant itself (a call token it signed to itself) or the node admin; 401/403 else."""
    if credentials is None:
        raise Unauthorized(
            "learner skills are private: send 'Authorization: Bearer <admin token or call token signed by the participant>'",
            reason="missing_credentials",
        )
    token = credentials.credentials.strip()
    admin = node.settings.admin_token
    if admin is not None and hmac.compare_digest(token.encode(), admin.get_secret_value().encode()):
        return "admin"
    caller = verify_call_token(
        parse_call_token(token),
        audiences=node.hosted_dids,
        resolver=node.resolver,
        replay_guard=node.replay_guard,
        clock_skew=node.settings.clock_skew_seconds,
    )
    with node.db.transaction() as session:
        did = identity.did_of(session, slug)
    if caller.did != did or caller.audience != did:
        raise Forbidden(f"only participant {slug!r} itself (or the node admin) may read or change its learners' skills")
    return caller.did


OwnerDep = Depends(participant_or_admin)


@dataclass(frozen=True)
class Reader:
    """Who reads a learner's skills. The participant and the admin read any learner's; a learner
    signed in at this node's consent service reads only the accounts they linked to this
    participant (`learner_accounts`)."""

    learner_accounts: frozenset[str] | None = None

    def check(self, agent: dict[str, Any]) -> None:
        if self.learner_accounts is None:
            return
        name = (agent.get("account") or {}).get("name")
        if name not in self.learner_accounts:
            raise Forbidden(
                "a learner reads only their own skills: name one of your accounts linked to this organisation",
                errors=[FieldError("agent", "own_account", "an account you linked to this participant")],
            )


def skills_reader(request: Request, slug: Slug, node: NodeDep, credentials: BearerDep) -> Reader:
    """The participant or the admin (bearer), else a learner's web session (the portal cookie)."""
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if credentials is not None or not token:
        participant_or_admin(slug, node, credentials)
        return Reader()
    with node.db.transaction() as session:
        live = sessions.resume(session, token)
        if live is None:
            raise Unauthorized("the learner's session has ended: sign in again", reason="session_expired")
        did = identity.did_of(session, slug)
        linked = frozenset(link.account for link in accounts.linked_accounts(session, live.subject_id) if link.provider_did == did)
    return Reader(linked)


ReaderDep = Annotated[Reader, Depends(skills_reader)]


# --- schemas ---------------------------------------------------------------------------------


class AlignmentOut(BaseModel):
    activity_id: str
    skill_uri: str
    source: AlignmentSource
    confidence: float


class AlignmentList(BaseModel):
    total: int
    items: list[AlignmentOut]


class SkillEvidenceOut(BaseModel):
    skill_uri: str
    label: str
    skill_type: str = Field(description="knowledge or skill/competence, as ESCO types it.")
    statement_ids: list[str]
    activity_ids: list[str]
    first_achieved: datetime
    last_achieved: datetime
    best_score: float | None = Field(description="Best scaled score (0..1) among the statements, when they had one.")
    source: AlignmentSource
    confidence: float


class ProfileOut(BaseModel):
    participant: str
    agent: dict[str, Any]
    skills: list[SkillEvidenceOut]
    activity_names: dict[str, str]


class BadgeOut(BaseModel):
    skill_uri: str
    credential: str = Field(description="The OpenBadgeCredential, signed as VC-JOSE (application/vc+jwt).")


class BadgeList(BaseModel):
    issuer: str
    badges: list[BadgeOut]


class GapSkillOut(BaseModel):
    skill_uri: str
    label: str
    relation: Literal["essential", "optional"]


class RecommendationOut(BaseModel):
    offering_id: str
    title: str
    provider: str
    covers_essential: list[GapSkillOut]
    covers_optional: list[GapSkillOut]
    remaining_essential: list[GapSkillOut]
    explanation: str


class RecommendationsOut(BaseModel):
    occupation: str
    occupation_label: str
    held: list[GapSkillOut]
    gap: list[GapSkillOut]
    recommendations: list[RecommendationOut]
    uncovered_essential: list[GapSkillOut] = Field(description="Essential gap skills no training of the catalog teaches.")


def _gap(skills: list[recommend.GapSkill]) -> list[GapSkillOut]:
    return [GapSkillOut(skill_uri=s.skill_uri, label=s.label, relation=s.relation) for s in skills]  # type: ignore[arg-type]


def _profile_out(profile: learner_skills.SkillsProfile) -> ProfileOut:
    return ProfileOut(
        participant=profile.store,
        agent=profile.agent,
        skills=[
            SkillEvidenceOut(
                skill_uri=e.skill_uri, label=e.label, skill_type=e.skill_type, statement_ids=list(e.statement_ids),
                activity_ids=list(e.activity_ids), first_achieved=e.first_achieved, last_achieved=e.last_achieved,
                best_score=e.best_score, source=e.source, confidence=e.confidence,
            )
            for e in profile.skills
        ],
        activity_names=profile.activity_names,
    )


# --- routes ----------------------------------------------------------------------------------


def build_skills_router() -> APIRouter:
    router = APIRouter(prefix="/participants/{slug}/skills", tags=["skills"])
    owner_problems = (401, 403, 404, 422)

    @router.post("/alignments", response_model=AlignmentList, dependencies=[OwnerDep], responses=problem_responses(*owner_problems))
    def declare_alignments(slug: Slug, body: AlignmentBatch, session: SessionDep, esco: EscoDep) -> AlignmentList:
        """Declare which activities develop which ESCO skills (all or none; an existing pair is updated)."""
        stored = alignments.declare(session, slug, body.alignments, esco)
        return AlignmentList(total=len(stored), items=[AlignmentOut(**vars(a)) for a in stored])

    @router.get("/alignments", response_model=AlignmentList, dependencies=[OwnerDep], responses=problem_responses(*owner_problems))
    def list_alignments(
        slug: Slug,
        session: SessionDep,
        activity: Annotated[Text | None, Query(max_length=512, description="Only this activity IRI.")] = None,
        skill: Annotated[str | None, Query(pattern=ESCO_SKILL_PATTERN, description="Only this ESCO skill.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> AlignmentList:
        """The participant's alignments, by activity then skill."""
        total, found = alignments.list_alignments(session, slug, activity_id=activity, skill_uri=skill, limit=limit, offset=offset)
        return AlignmentList(total=total, items=[AlignmentOut(**vars(a)) for a in found])

    @router.get("/profile", response_model=ProfileOut, responses=problem_responses(400, *owner_problems))
    def profile(slug: Slug, agent: AgentParam, reader: ReaderDep, session: SessionDep, esco: EscoDep, lang: Lang = "en") -> ProfileOut:
        """The learner's skills and the evidence behind each, from this participant's LRS."""
        learner = learner_skills.parse_agent(agent)
        reader.check(learner)
        return _profile_out(learner_skills.learner_profile(session, slug, learner, esco, lang=lang))

    @router.get("/badges", response_model=BadgeList, responses=problem_responses(400, *owner_problems))
    def issue_badges(
        slug: Slug,
        agent: AgentParam,
        reader: ReaderDep,
        session: SessionDep,
        node: NodeDep,
        esco: EscoDep,
        skill: Annotated[str | None, Query(pattern=ESCO_SKILL_PATTERN, description="Only the badge of this skill.")] = None,
    ) -> BadgeList:
        """Open Badges 3.0 credentials, one per skill of the learner, signed by the participant."""
        participant = identity.get_participant(session, slug)
        learner = learner_skills.parse_agent(agent)
        reader.check(learner)
        found = learner_skills.learner_profile(session, slug, learner, esco)
        issuer = badges.Issuer(participant.did, participant.name, identity.signer_for(session, node.sealer, slug))
        issued = badges.issue_badges(found, esco, issuer, skill_uri=skill)
        return BadgeList(issuer=participant.did, badges=[BadgeOut(skill_uri=b.skill_uri, credential=b.jwt) for b in issued])

    @router.get("/recommendations", response_model=RecommendationsOut, responses=problem_responses(400, *owner_problems))
    def recommendations(
        slug: Slug,
        agent: AgentParam,
        occupation: Annotated[str, Query(max_length=200, description="The target ESCO occupation URI.")],
        reader: ReaderDep,
        session: SessionDep,
        esco: EscoDep,
        lang: Lang = "en",
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> RecommendationsOut:
        """The learner's skills gap for an occupation, and the trainings of this node's catalog that fill it."""
        learner = learner_skills.parse_agent(agent)
        reader.check(learner)
        target = recommend.occupation_of(esco, occupation)
        found = learner_skills.learner_profile(session, slug, learner, esco, lang=lang)
        report = recommend.recommend(session, found, target.uri, esco, lang=lang, limit=limit)
        return RecommendationsOut(
            occupation=report.occupation.uri,
            occupation_label=report.occupation.label(lang),
            held=_gap(report.held),
            gap=_gap(report.gap),
            recommendations=[
                RecommendationOut(
                    offering_id=r.offering_id, title=r.title, provider=r.provider, covers_essential=_gap(r.covers_essential),
                    covers_optional=_gap(r.covers_optional), remaining_essential=_gap(r.remaining_essential), explanation=r.explanation,
                )
                for r in report.recommendations
            ],
            uncovered_essential=_gap(report.uncovered_essential),
        )

    return router
