"""A learner's skills as Open Badges 3.0 credentials, signed VC-JOSE by the issuing participant.

One `OpenBadgeCredential` per skill, not one per activity: the achievement a badge asserts is the
ESCO skill (what a recruiter, a job centre or the recommender searches for), and evidence from
several activities, or from a later course, strengthens the same achievement instead of
scattering it over course badges a provider's LMS can issue anyway. Each achievement is aligned
with its ESCO concept (`alignment[].targetUrl` is the ESCO URI) and carries, as OB 3.0 evidence,
the activities that back it.

The learner is named by an OB 3.0 `IdentityObject` holding a salted SHA-256 of their xAPI
identifier (the e-mail address of an `mbox`, or the account), never the identifier itself: a
badge travels, and whoever holds it must not learn the learner's login at the provider.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dases.db import utcnow
from dases.errors import FieldError, NotFound
from dases.identity.keys import Signer
from dases.identity.vcjose import sign_credential
from dases.interop.esco import Esco
from dases.interop.learner_skills import SkillEvidence, SkillsProfile

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB3_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
ESCO_TARGET_TYPE = "ext:ESCOSkill"


@dataclass(frozen=True)
class Issuer:
    did: str
    name: str
    signer: Signer


@dataclass(frozen=True)
class IssuedBadge:
    skill_uri: str
    credential: dict[str, Any]
    jwt: str


def _instant(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def achievement_id(issuer_did: str, skill_uri: str) -> str:
    """The same skill from the same issuer is the same achievement, badge after badge."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, issuer_did + ' ' + skill_uri)}"


def identity_object(agent: dict[str, Any], salt: str) -> dict[str, Any]:
    """The learner as an OB 3.0 IdentityObject: salted hash of the mailbox, or of the account."""
    if "mbox" in agent:
        identity_type, value = "emailAddress", str(agent["mbox"]).removeprefix("mailto:").lower()
    elif "account" in agent:
        identity_type, value = "accountId", f"{agent['account']['homePage']} {agent['account']['name']}"
    elif "openid" in agent:
        identity_type, value = "identifier", str(agent["openid"])
    else:  # mbox_sha1sum: already a hash, and all the issuer knows
        identity_type, value = "ext:xapiMboxSha1sum", str(agent["mbox_sha1sum"])
    digest = hashlib.sha256((value + salt).encode()).hexdigest()
    return {"type": "IdentityObject", "hashed": True, "identityHash": f"sha256${digest}", "identityType": identity_type, "salt": salt}


def _criteria(evidence: SkillEvidence, names: dict[str, str]) -> str:
    activities = ", ".join(names.get(activity, activity) for activity in evidence.activity_ids)
    return f"Completed or passed, as recorded in the learning record store of the issuer: {activities}."


def badge_credential(profile: SkillsProfile, evidence: SkillEvidence, esco: Esco, issuer: Issuer, *, now: datetime | None = None, salt: str | None = None) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential asserting one skill of a profile."""
    issued = now or utcnow()
    skill = esco.skills.get(evidence.skill_uri)
    description = (skill.description.get("en") if skill else None) or f"The ESCO skill {evidence.label}."
    alignment: dict[str, Any] = {
        "type": ["Alignment"],
        "targetName": evidence.label,
        "targetUrl": evidence.skill_uri,
        "targetFramework": "ESCO",
        "targetCode": evidence.skill_uri.rsplit("/", 1)[-1],
        "targetType": ESCO_TARGET_TYPE,
    }
    if skill and skill.description.get("en"):
        alignment["targetDescription"] = skill.description["en"]
    span = f"first on {_instant(evidence.first_achieved)}, last on {_instant(evidence.last_achieved)}"
    if evidence.best_score is not None:
        span += f", best scaled score {evidence.best_score:.2f}"
    proofs = [
        {
            "type": ["Evidence"],
            "name": profile.activity_names.get(activity, activity),
            "narrative": f"Activity {activity} completed or passed; evidence of this skill {span}.",
        }
        for activity in evidence.activity_ids
    ]
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "identifier": [identity_object(profile.agent, salt or secrets.token_hex(8))],
        "achievement": {
            "id": achievement_id(issuer.did, evidence.skill_uri),
            "type": ["Achievement"],
            "achievementType": "Competency",
            "name": evidence.label,
            "description": description,
            "criteria": {"narrative": _criteria(evidence, profile.activity_names)},
            "alignment": [alignment],
        },
    }
    return {
        "@context": [CREDENTIALS_V2, OB3_CONTEXT],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": evidence.label,
        "issuer": {"id": issuer.did, "type": ["Profile"], "name": issuer.name},
        "validFrom": _instant(issued),
        "credentialSubject": subject,
        "evidence": proofs,
        "credentialSchema": [{"id": OB3_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }


def issue_badges(profile: SkillsProfile, esco: Esco, issuer: Issuer, *, skill_uri: str | None = None, now: datetime | None = None) -> list[IssuedBadge]:
    """Signed badges for every skill of the profile, or for `skill_uri` alone (404 when the
    learner holds no evidence of it: a badge is never issued on a skill without evidence)."""
    chosen = profile.skills
    if skill_uri is not None:
        found = profile.skill(skill_uri)
        if found is None:
            raise NotFound(
                f"the learner has no evidence of {skill_uri} in {profile.store}'s records",
                errors=[FieldError("skill", "evidenced", "a skill of the learner's profile")],
            )
        chosen = [found]
    badges = []
    for evidence in chosen:
        credential = badge_credential(profile, evidence, esco, issuer, now=now)
        badges.append(IssuedBadge(evidence.skill_uri, credential, sign_credential(credential, issuer.signer)))
    return badges
