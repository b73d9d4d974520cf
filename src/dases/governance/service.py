"""Assemblies, proposals, votes and their results; adopted rules. No HTTP here.

Time is always passed in (`now`): the voting window is a business rule, and tests, the CLI and
the HTTP API each decide what "now" is. A proposal is tallied once, the first time its result is
asked for after its window has closed (or when the operator closes it explicitly); the stored
result is what everyone reads from then on, and adoption's effects (a new rule version, a catalog
offering, a funding decision) happen in that same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dases.catalog import service as catalog
from dases.catalog.models import OfferingIn, OfferingKind
from dases.catalog.offer_policy import validate_offer_policy
from dases.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from dases.governance.models import (
    GENERAL_ASSEMBLY,
    INFRASTRUCTURE_KEYWORD,
    Assembly,
    AssemblyMember,
    Choice,
    FundingProposalIn,
    Majority,
    Proposal,
    ProposalKind,
    ProposalStatus,
    Result,
    Rule,
    RuleProposalIn,
    ServiceProposalIn,
    Vote,
    VoteChannel,
)
from dases.identity.keys import KeySealer
from dases.ledger import service as ledger
from dases.registry import service as registry
from dases.registry.models import Member, MemberStatus
from dases.settings import Settings

SERVICE_KINDS = (OfferingKind.DATA_SERVICE, OfferingKind.SOFTWARE_SERVICE)


@dataclass(frozen=True)
class Authority:
    """The governance authority hosted on this node: whose ledger records votes and results, and
    who publishes adopted infrastructure services in the catalog."""

    slug: str
    sealer: KeySealer


def authority(settings: Settings, sealer: KeySealer) -> Authority:
    if not settings.governance_authority:
        raise Conflict("this node hosts no governance authority: set DASES_GOVERNANCE_AUTHORITY to a participant slug")
    return Authority(settings.governance_authority, sealer)


# --- assemblies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssemblyView:
    key: str
    title: str
    is_general: bool
    created_at: datetime
    members: list[str]


def _general(session: Session) -> Assembly:
    """The general assembly's row, created the first time it is needed."""
    assembly = session.get(Assembly, GENERAL_ASSEMBLY)
    if assembly is None:
        try:
            with session.begin_nested():
                session.add(Assembly(key=GENERAL_ASSEMBLY, title="General assembly", is_general=True))
        except IntegrityError:
            pass  # created by a concurrent request
        assembly = session.get(Assembly, GENERAL_ASSEMBLY)
    assert assembly is not None
    return assembly


def _get_assembly(session: Session, key: str) -> Assembly:
    if key == GENERAL_ASSEMBLY:
        return _general(session)
    assembly = session.get(Assembly, key)
    if assembly is None:
        raise NotFound(f"no assembly {key!r}: create the working group first")
    return assembly


def _active_member_ids(session: Session) -> list[str]:
    return [member.id for member in registry.list_members(session, MemberStatus.ACTIVE)]


def _seated(session: Session, assembly: Assembly) -> list[str]:
    """Member ids of the assembly's active members, sorted: the electorate a new proposal gets."""
    active = _active_member_ids(session)
    if assembly.is_general:
        return sorted(active)
    seated = set(session.scalars(sa.select(AssemblyMember.member_id).where(AssemblyMember.assembly_key == assembly.key)))
    return sorted(seated.intersection(active))


def _view(session: Session, assembly: Assembly) -> AssemblyView:
    return AssemblyView(assembly.key, assembly.title, assembly.is_general, assembly.created_at, _seated(session, assembly))


def _check_members(session: Session, member_ids: Sequence[str], field: str) -> None:
    active = set(_active_member_ids(session))
    errors = [
        FieldError(f"{field}.{i}", "active_member", f"{member_id} is not an active member of the data space")
        for i, member_id in enumerate(member_ids)
        if member_id not in active
    ]
    if errors:
        raise InvalidInput("only active members sit in a working group: " + errors[0].message, errors=errors)


def create_working_group(session: Session, key: str, title: str, member_ids: Sequence[str] = ()) -> AssemblyView:
    """A working group, seated with active members (the operator manages its membership)."""
    if key == GENERAL_ASSEMBLY:
        raise InvalidInput(
            "'general' is the general assembly, which every active member belongs to",
            errors=[FieldError("key", "reserved", "'general' is reserved for the general assembly")],
        )
    if session.get(Assembly, key) is not None:
        raise Conflict(f"there is already an assembly {key!r}")
    _check_members(session, member_ids, "members")
    assembly = Assembly(key=key, title=title.strip(), is_general=False)
    session.add(assembly)
    session.flush()
    session.add_all(AssemblyMember(assembly_key=key, member_id=member_id) for member_id in dict.fromkeys(member_ids))
    session.flush()
    return _view(session, assembly)


def list_assemblies(session: Session) -> list[AssemblyView]:
    """The general assembly first, then the working groups by key."""
    _general(session)
    assemblies = session.scalars(sa.select(Assembly).order_by(Assembly.is_general.desc(), Assembly.key))
    return [_view(session, assembly) for assembly in assemblies]


def get_assembly(session: Session, key: str) -> AssemblyView:
    return _view(session, _get_assembly(session, key))


def _working_group(session: Session, key: str) -> Assembly:
    assembly = _get_assembly(session, key)
    if assembly.is_general:
        raise Conflict("the general assembly's members are the registry's active members; admit or revoke members there")
    return assembly


def add_member(session: Session, key: str, member_id: str) -> AssemblyView:
    assembly = _working_group(session, key)
    _check_members(session, [member_id], "member")
    if session.get(AssemblyMember, (key, member_id)) is None:
        session.add(AssemblyMember(assembly_key=key, member_id=member_id))
        session.flush()
    return _view(session, assembly)


def remove_member(session: Session, key: str, member_id: str) -> AssemblyView:
    """Unseat a member; proposals already put to the group keep their electorate."""
    assembly = _working_group(session, key)
    seat = session.get(AssemblyMember, (key, member_id))
    if seat is None:
        raise NotFound(f"member {member_id} does not sit in working group {key!r}")
    session.delete(seat)
    session.flush()
    return _view(session, assembly)


# --- proposals -------------------------------------------------------------------------------

ProposalDraft = RuleProposalIn | ServiceProposalIn | FundingProposalIn


def _details(session: Session, draft: ProposalDraft, assembly: Assembly) -> dict[str, Any]:
    """What adoption will do, checked now so that a tally never fails on a malformed motion."""
    if isinstance(draft, RuleProposalIn):
        return {"rule_key": draft.rule_key, "rule_text": draft.rule_text}
    if isinstance(draft, ServiceProposalIn):
        if not assembly.is_general:
            raise InvalidInput(
                "only the general assembly adopts infrastructure services",
                errors=[FieldError("assembly", "general_assembly_only", "infrastructure_service proposals go to 'general'")],
            )
        if draft.service.kind not in SERVICE_KINDS:
            raise InvalidInput(
                "an infrastructure service is a data_service or a software_service",
                errors=[FieldError("service.kind", "enum", "data_service or software_service")],
            )
        if draft.service.skills:
            raise InvalidInput(
                "only a training teaches skills", errors=[FieldError("service.skills", "not_allowed", "only for kind training")]
            )
        validate_offer_policy(draft.service.policy, field="service.policy")
        return {"offering": draft.service.model_dump(mode="json", exclude_none=True)}
    recipient = session.get(Member, draft.recipient)
    if recipient is None or recipient.status != MemberStatus.ACTIVE:
        raise InvalidInput(
            f"the recipient {draft.recipient} is not an active member",
            errors=[FieldError("recipient", "active_member", "funding goes to an active member of the data space")],
        )
    return {"amount": draft.amount, "currency": draft.currency, "recipient": draft.recipient}


def create_proposal(session: Session, draft: ProposalDraft, now: datetime) -> Proposal:
    """Put a motion to an assembly; its electorate is the assembly's active members now."""
    if draft.closes_at <= draft.opens_at:
        raise InvalidInput(
            "the voting window closes before it opens",
            errors=[FieldError("closes_at", "after_opens_at", "closes_at must be later than opens_at")],
        )
    if draft.closes_at <= now:
        raise InvalidInput(
            "the voting window has already closed",
            errors=[FieldError("closes_at", "in_future", f"closes_at must be later than now ({now.isoformat()})")],
        )
    assembly = _get_assembly(session, draft.assembly)
    electorate = _seated(session, assembly)
    if not electorate:
        raise Conflict(f"assembly {assembly.key!r} has no active member to vote")
    proposal = Proposal(
        id=str(uuid.uuid4()),
        assembly_key=assembly.key,
        kind=draft.kind,
        title=draft.title.strip(),
        text=draft.text,
        details=_details(session, draft, assembly),
        opens_at=draft.opens_at,
        closes_at=draft.closes_at,
        quorum_permille=int(draft.quorum * 1000),
        majority=draft.majority.value,
        electorate=electorate,
        status=ProposalStatus.OPEN.value,
        created_at=now,
    )
    session.add(proposal)
    session.flush()
    return proposal


def get_proposal(session: Session, proposal_id: str) -> Proposal:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id!r}")
    return proposal


def list_proposals(
    session: Session, *, assembly: str | None = None, status: ProposalStatus | None = None, limit: int = 100, offset: int = 0
) -> list[Proposal]:
    """Proposals, newest voting window first."""
    query = sa.select(Proposal).order_by(Proposal.closes_at.desc(), Proposal.id)
    if assembly is not None:
        query = query.where(Proposal.assembly_key == assembly)
    if status is not None:
        query = query.where(Proposal.status == status.value)
    return list(session.scalars(query.limit(limit).offset(offset)))


def quorum(proposal: Proposal) -> Decimal:
    return Decimal(proposal.quorum_permille) / 1000


# --- votes -----------------------------------------------------------------------------------


def _lock(session: Session, proposal_id: str) -> None:
    """Take the proposal's row lock before reading what a write depends on (a member's vote, the
    stored result): concurrent votes of one member, or concurrent first tallies, then run one
    after the other. An UPDATE rather than SELECT ... FOR UPDATE because SQLite has no row locks:
    there the UPDATE takes the database's write lock at once, waiting for it (busy timeout) instead
    of failing when a read transaction later tries to become a write transaction."""
    session.execute(sa.update(Proposal).where(Proposal.id == proposal_id).values(status=Proposal.status))


def _check_window(proposal: Proposal, now: datetime) -> None:
    window = f"[{proposal.opens_at.isoformat()}, {proposal.closes_at.isoformat()})"
    if now < proposal.opens_at:
        raise Conflict(
            f"the voting window of proposal {proposal.id} has not opened: it is {window}",
            reason="voting_window_not_open",
            errors=[FieldError("voting_window", "not_open", f"votes are accepted from {proposal.opens_at.isoformat()}")],
        )
    if now >= proposal.closes_at:
        raise Conflict(
            f"the voting window of proposal {proposal.id} has closed: it was {window}",
            reason="voting_window_closed",
            errors=[FieldError("voting_window", "closed", f"votes were accepted until {proposal.closes_at.isoformat()}")],
        )


def cast_vote(
    session: Session, authority: Authority, proposal_id: str, member: Member, choice: Choice, now: datetime, channel: VoteChannel
) -> Vote:
    """Record a member's vote, or replace its earlier one (the last vote before the close counts)."""
    proposal = get_proposal(session, proposal_id)
    if member.status != MemberStatus.ACTIVE:
        raise Forbidden(f"member {member.id} is {member.status}; only active members vote")
    if member.id not in proposal.electorate:
        raise Forbidden(f"member {member.id} is not in the electorate of proposal {proposal.id} (assembly {proposal.assembly_key!r})")
    _check_window(proposal, now)
    _lock(session, proposal.id)
    if session.get(Result, proposal.id) is not None:  # tallied while this vote waited for the lock
        raise Conflict(
            f"the result of proposal {proposal.id} has been published; votes are closed",
            reason="voting_window_closed",
            errors=[FieldError("voting_window", "closed", f"votes were accepted until {proposal.closes_at.isoformat()}")],
        )
    vote = session.get(Vote, (proposal.id, member.id))
    if vote is None:
        vote = Vote(proposal_id=proposal.id, member_id=member.id, changes=0)
        session.add(vote)
    else:
        vote.changes += 1
    vote.choice, vote.channel, vote.cast_at = choice.value, channel.value, now
    session.flush()
    ledger.append(
        session,
        authority.sealer,
        authority.slug,
        "governance.vote",
        {"proposal_id": proposal.id, "member_id": member.id, "counterparty": member.did, "choice": choice.value, "channel": channel.value},
        now=now,
    )
    return vote


def vote_by_did(session: Session, authority: Authority, proposal_id: str, voter_did: str, choice: Choice, now: datetime) -> Vote:
    """A vote over a signed call: the caller's DID must be an active member's."""
    member = registry.active_member(session, voter_did)
    if member is None:
        raise Forbidden(f"{voter_did} is not an active member of the data space")
    return cast_vote(session, authority, proposal_id, member, choice, now, VoteChannel.SIGNED_CALL)


def vote_for_member(session: Session, authority: Authority, proposal_id: str, member_id: str, choice: Choice, now: datetime) -> Vote:
    """A vote the operator records for a member (cast in the room); the channel says so."""
    return cast_vote(session, authority, proposal_id, registry.get_member(session, member_id), choice, now, VoteChannel.OPERATOR)


def votes(session: Session, proposal_id: str) -> list[Vote]:
    get_proposal(session, proposal_id)
    return list(session.scalars(sa.select(Vote).where(Vote.proposal_id == proposal_id).order_by(Vote.member_id)))


# --- tally and results -----------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    eligible: int
    yes: int
    no: int
    abstain: int
    quorum_reached: bool
    majority_reached: bool
    reasons: list[str]

    @property
    def voted(self) -> int:
        return self.yes + self.no + self.abstain

    @property
    def adopted(self) -> bool:
        return self.quorum_reached and self.majority_reached


def count(eligible: int, yes: int, no: int, abstain: int, quorum_permille: int, majority: Majority) -> Tally:
    """The rules of the tally, as a pure function.

    Quorum: voters (abstentions included) are at least `quorum` of the electorate.
    Simple majority: more yes than no (a tie rejects). Qualified: yes is at least two thirds of
    yes + no, and at least one member voted yes. Abstentions count toward quorum only.
    """
    voted = yes + no + abstain
    quorum_reached = eligible > 0 and voted * 1000 >= quorum_permille * eligible
    share = f"{voted} of {eligible} eligible members voted"
    needed = f"{quorum_permille / 10:g}% needed"
    reasons = [f"quorum reached: {share} ({needed})" if quorum_reached else f"quorum not reached: {share} ({needed})"]
    if majority == Majority.SIMPLE:
        majority_reached = yes > no
        rule = "simple majority (more yes than no)"
    else:
        majority_reached = yes > 0 and 3 * yes >= 2 * (yes + no)
        rule = "qualified majority (yes at least two thirds of yes and no)"
    verdict = "reached" if majority_reached else "not reached"
    reasons.append(f"{rule} {verdict}: {yes} yes, {no} no, {abstain} abstaining")
    return Tally(eligible, yes, no, abstain, quorum_reached, majority_reached, reasons)


def _adopt(session: Session, authority: Authority, proposal: Proposal, now: datetime) -> dict[str, Any]:
    """Adoption's effect, in the tally's transaction."""
    details = proposal.details
    if proposal.kind == ProposalKind.RULE:
        key = details["rule_key"]
        current = session.scalar(sa.select(sa.func.max(Rule.version)).where(Rule.key == key)) or 0
        session.add(Rule(key=key, version=current + 1, text=details["rule_text"], proposal_id=proposal.id, adopted_at=now))
        session.flush()
        return {"rule_key": key, "version": current + 1}
    if proposal.kind == ProposalKind.INFRASTRUCTURE_SERVICE:
        draft = OfferingIn.model_validate(details["offering"])
        keywords = draft.keywords if INFRASTRUCTURE_KEYWORD in (k.lower() for k in draft.keywords) else [*draft.keywords, INFRASTRUCTURE_KEYWORD]
        offering = catalog.publish(session, authority.slug, draft.model_copy(update={"keywords": keywords}))
        return {"offering_id": offering.id}
    return {"amount": details["amount"], "currency": details["currency"], "recipient": details["recipient"]}


def _tally(session: Session, authority: Authority, proposal: Proposal, now: datetime) -> Result:
    counts = dict.fromkeys(Choice, 0)
    for choice, n in session.execute(
        sa.select(Vote.choice, sa.func.count()).where(Vote.proposal_id == proposal.id).group_by(Vote.choice)
    ):
        counts[Choice(choice)] = int(n)
    tally = count(len(proposal.electorate), counts[Choice.YES], counts[Choice.NO], counts[Choice.ABSTAIN], proposal.quorum_permille, Majority(proposal.majority))
    result = Result(
        proposal_id=proposal.id, eligible=tally.eligible, voted=tally.voted, yes=tally.yes, no=tally.no, abstain=tally.abstain,
        quorum_reached=tally.quorum_reached, majority_reached=tally.majority_reached, adopted=tally.adopted,
        reasons=tally.reasons, effect={}, tallied_at=now,
    )
    session.add(result)
    session.flush()
    if tally.adopted:
        result.effect = _adopt(session, authority, proposal, now)
    proposal.status = (ProposalStatus.ADOPTED if tally.adopted else ProposalStatus.REJECTED).value
    session.flush()
    ledger.append(
        session,
        authority.sealer,
        authority.slug,
        "governance.result",
        {
            "proposal_id": proposal.id, "kind": proposal.kind, "eligible": tally.eligible, "voted": tally.voted,
            "yes": tally.yes, "no": tally.no, "abstain": tally.abstain, "quorum_permille": proposal.quorum_permille,
            "majority": proposal.majority, "adopted": tally.adopted, "effect": result.effect,
        },
        now=now,
    )
    return result


def result(session: Session, authority: Authority, proposal_id: str, now: datetime) -> Result:
    """The published result: tallied the first time it is asked for after the window closed."""
    proposal = get_proposal(session, proposal_id)
    stored = session.get(Result, proposal.id)
    if stored is not None:
        return stored
    if now < proposal.closes_at:
        raise Conflict(
            f"proposal {proposal.id} is still open for votes until {proposal.closes_at.isoformat()}; its result comes after",
            reason="voting_window_open",
            errors=[FieldError("voting_window", "open", f"results are published from {proposal.closes_at.isoformat()}")],
        )
    _lock(session, proposal.id)
    stored = session.get(Result, proposal.id)  # tallied while this request waited for the lock
    if stored is not None:
        return stored
    return _tally(session, authority, proposal, now)


def close(session: Session, authority: Authority, proposal_id: str, now: datetime) -> Result:
    """The operator closes a vote whose window has ended: the same tally, asked for explicitly."""
    return result(session, authority, proposal_id, now)


def close_due(session: Session, authority: Authority, now: datetime) -> list[Result]:
    """Tally every open proposal whose window has ended (for a periodic job or the CLI)."""
    due = session.scalars(
        sa.select(Proposal.id).where(Proposal.status == ProposalStatus.OPEN.value, Proposal.closes_at <= now).order_by(Proposal.closes_at)
    )
    return [result(session, authority, proposal_id, now) for proposal_id in list(due)]


# --- rules -----------------------------------------------------------------------------------


def current_rules(session: Session) -> list[Rule]:
    """The rule in force for each key: its highest adopted version."""
    newest = sa.select(Rule.key, sa.func.max(Rule.version).label("version")).group_by(Rule.key).subquery()
    query = sa.select(Rule).join(newest, sa.and_(Rule.key == newest.c.key, Rule.version == newest.c.version)).order_by(Rule.key)
    return list(session.scalars(query))


def rule_history(session: Session, key: str) -> list[Rule]:
    """Every adopted version of a rule, oldest first."""
    versions = list(session.scalars(sa.select(Rule).where(Rule.key == key).order_by(Rule.version)))
    if not versions:
        raise NotFound(f"no rule {key!r} has been adopted")
    return versions
