"""Training recommendations: from a learner's skills to a target occupation, through the catalog.

The gap is what ESCO says the occupation needs and the profile does not show: its essential
skills first, then its optional ones. A training of the catalog (an active offering of kind
`training`) is a candidate when it teaches at least one gap skill. Candidates are ranked by how
many essential gap skills they cover, then by how many gap skills in all, then oldest first (a
stable order a learner can compare from one day to the next). Each recommendation explains
itself: the gap skills it covers, essential or optional, and the essential ones that would
remain uncovered after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from dases.catalog import service as catalog
from dases.errors import FieldError, InvalidInput, NotFound
from dases.interop.esco import Esco, Occupation
from dases.interop.learner_skills import SkillsProfile

ESCO_OCCUPATION_PREFIX = "http://data.europa.eu/esco/occupation/"


@dataclass(frozen=True)
class GapSkill:
    skill_uri: str
    label: str
    relation: str  # "essential" or "optional"


@dataclass(frozen=True)
class Recommendation:
    offering_id: str
    title: str
    provider: str
    covers_essential: list[GapSkill]
    covers_optional: list[GapSkill]
    #: Essential gap skills this training leaves uncovered.
    remaining_essential: list[GapSkill]
    explanation: str

    @property
    def covered(self) -> int:
        return len(self.covers_essential) + len(self.covers_optional)


@dataclass(frozen=True)
class RecommendationReport:
    occupation: Occupation
    #: Skills of the occupation the learner shows, essential first.
    held: list[GapSkill]
    gap: list[GapSkill]
    recommendations: list[Recommendation]
    #: Essential gap skills no training of the catalog teaches.
    uncovered_essential: list[GapSkill]


def occupation_of(esco: Esco, occupation_uri: str) -> Occupation:
    """The ESCO occupation, or a 4xx naming the `occupation` parameter."""
    if not occupation_uri.startswith(ESCO_OCCUPATION_PREFIX):
        raise InvalidInput(
            f"{occupation_uri!r} is not an ESCO occupation URI",
            errors=[FieldError("occupation", "esco_occupation", f"must start with {ESCO_OCCUPATION_PREFIX}")],
        )
    occupation = esco.occupations.get(occupation_uri)
    if occupation is None:
        raise NotFound(
            f"ESCO has no occupation {occupation_uri}",
            errors=[FieldError("occupation", "esco_occupation", "an occupation of ESCO v1.1.1")],
        )
    return occupation


def _gap_skill(esco: Esco, uri: str, relation: str, lang: str) -> GapSkill:
    skill = esco.skills.get(uri)
    return GapSkill(uri, skill.label(lang) if skill else uri, relation)


def _labels(skills: list[GapSkill]) -> str:
    return ", ".join(skill.label for skill in skills)


def _explain(essential: list[GapSkill], optional: list[GapSkill], remaining: list[GapSkill], occupation: str) -> str:
    parts = []
    if essential:
        parts.append(f"teaches {len(essential)} essential skill(s) of {occupation} you lack: {_labels(essential)}")
    if optional:
        parts.append(f"{'and ' if essential else 'teaches '}{len(optional)} optional skill(s) you lack: {_labels(optional)}")
    sentence = "; ".join(parts)
    if remaining:
        sentence += f". Essential skills still uncovered after it: {_labels(remaining)}"
    else:
        sentence += ". With it, no essential skill of the occupation remains uncovered"
    return sentence[0].upper() + sentence[1:] + "."


def recommend(
    session: Session, profile: SkillsProfile, occupation_uri: str, esco: Esco, *, lang: str = "en", limit: int = 10
) -> RecommendationReport:
    """The learner's gap for the occupation and the trainings of this node's catalog that fill it."""
    occupation = occupation_of(esco, occupation_uri)
    relations = sorted(esco.occupation_skills(occupation.uri), key=lambda r: (r.relation != "essential", r.skill_uri))
    holds = profile.skill_uris
    held, gap = [], []
    for relation in relations:
        skill = _gap_skill(esco, relation.skill_uri, relation.relation, lang)
        (held if relation.skill_uri in holds else gap).append(skill)
    by_uri = {skill.skill_uri: skill for skill in gap}
    essential_gap = [skill for skill in gap if skill.relation == "essential"]
    name = occupation.label(lang)
    candidates = []
    for position, offering in enumerate(catalog.training_offerings(session, set(by_uri))):
        taught = set(offering.skills)
        essential = [skill for skill in essential_gap if skill.skill_uri in taught]
        optional = [skill for skill in gap if skill.relation == "optional" and skill.skill_uri in taught]
        remaining = [skill for skill in essential_gap if skill.skill_uri not in taught]
        recommendation = Recommendation(
            offering_id=offering.id,
            title=offering.title,
            provider=offering.provider_did,
            covers_essential=essential,
            covers_optional=optional,
            remaining_essential=remaining,
            explanation=_explain(essential, optional, remaining, name),
        )
        candidates.append((-len(essential), -recommendation.covered, position, recommendation))
    candidates.sort(key=lambda item: item[:3])
    taught_anywhere = {uri for _, _, _, r in candidates for uri in (s.skill_uri for s in r.covers_essential)}
    return RecommendationReport(
        occupation=occupation,
        held=held,
        gap=gap,
        recommendations=[item[3] for item in candidates[:limit]],
        uncovered_essential=[skill for skill in essential_gap if skill.skill_uri not in taught_anywhere],
    )
