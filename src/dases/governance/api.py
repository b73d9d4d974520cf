"""HTTP routes of governance, served by the operator's node.

- assemblies and proposals are public to read; the operator (admin) creates them and seats
  working-group members;
- members vote with a signed call addressed to the governance authority; the operator may
  record a member's vote cast in the room (admin), and the vote then says so;
- results are public once the window has closed (the first read tallies); adopted rules are
  public, each with its version history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field

from dases.db import utcnow
from dases.errors import Forbidden, problem_responses
from dases.governance import service
from dases.governance.models import (
    ASSEMBLY_KEY_PATTERN,
    MEMBER_ID_PATTERN,
    RULE_KEY_PATTERN,
    Choice,
    Majority,
    Proposal,
    ProposalIn,
    ProposalKind,
    ProposalStatus,
    Result,
    Rule,
    Vote,
    VoteChannel,
    WorkingGroupIn,
)
from dases.identity.auth import Caller
from dases.node import AdminDep, NodeDep, SessionDep
from dases.registry import service as registry

router = APIRouter(prefix="/governance", tags=["governance"])

AssemblyKeyPath = Annotated[str, Path(pattern=ASSEMBLY_KEY_PATTERN, max_length=63, description="Assembly key ('general' or a working group)")]
ProposalId = Annotated[str, Path(min_length=36, max_length=36, pattern=MEMBER_ID_PATTERN, description="Proposal id (UUID)")]
MemberIdPath = Annotated[str, Path(min_length=36, max_length=36, pattern=MEMBER_ID_PATTERN, description="Member id (UUID)")]
RuleKeyPath = Annotated[str, Path(pattern=RULE_KEY_PATTERN, max_length=100, description="Rule key")]
_ADMIN = problem_responses(401, 403, 404, 409, 422)


class AssemblyOut(BaseModel):
    key: str
    title: str
    is_general: bool
    created_at: datetime
    members: list[str] = Field(description="Ids of the active members seated in it (every active member, for the general assembly).")


class ProposalOut(BaseModel):
    id: str
    assembly: str
    kind: ProposalKind
    title: str
    text: str
    details: dict[str, Any] = Field(description="What adoption does: rule_key/rule_text, offering, or amount/currency/recipient.")
    opens_at: datetime
    closes_at: datetime
    quorum: float = Field(description="Share of the electorate that must vote (abstentions count).")
    majority: Majority
    electorate: list[str] = Field(description="Member ids allowed to vote, fixed when the proposal was created.")
    status: ProposalStatus
    created_at: datetime


class VoteIn(BaseModel):
    choice: Choice


class VoteOut(BaseModel):
    proposal_id: str
    member_id: str
    choice: Choice
    channel: VoteChannel
    cast_at: datetime
    changes: int = Field(description="How many times the member changed its vote; the last one counts.")


class ResultOut(BaseModel):
    proposal_id: str
    outcome: ProposalStatus
    eligible: int
    voted: int
    yes: int
    no: int
    abstain: int
    quorum: float
    majority: Majority
    quorum_reached: bool
    majority_reached: bool
    adopted: bool
    reasons: list[str]
    effect: dict[str, Any] = Field(description="What adoption did: the rule version, the catalog offering id, or the funding granted.")
    tallied_at: datetime


class RuleOut(BaseModel):
    key: str
    version: int
    text: str
    proposal_id: str
    adopted_at: datetime


def _assembly_out(view: service.AssemblyView) -> AssemblyOut:
    return AssemblyOut(key=view.key, title=view.title, is_general=view.is_general, created_at=view.created_at, members=view.members)


def _proposal_out(proposal: Proposal) -> ProposalOut:
    return ProposalOut(
        id=proposal.id, assembly=proposal.assembly_key, kind=ProposalKind(proposal.kind), title=proposal.title,
        text=proposal.text, details=proposal.details, opens_at=proposal.opens_at, closes_at=proposal.closes_at,
        quorum=float(service.quorum(proposal)), majority=Majority(proposal.majority), electorate=proposal.electorate,
        status=ProposalStatus(proposal.status), created_at=proposal.created_at,
    )


def _vote_out(vote: Vote) -> VoteOut:
    return VoteOut.model_validate(vote, from_attributes=True)


def _result_out(result: Result, proposal: Proposal) -> ResultOut:
    return ResultOut(
        proposal_id=result.proposal_id, outcome=ProposalStatus.ADOPTED if result.adopted else ProposalStatus.REJECTED,
        eligible=result.eligible, voted=result.voted, yes=result.yes, no=result.no, abstain=result.abstain,
        quorum=float(service.quorum(proposal)), majority=Majority(proposal.majority), quorum_reached=result.quorum_reached,
        majority_reached=result.majority_reached, adopted=result.adopted, reasons=result.reasons, effect=result.effect,
        tallied_at=result.tallied_at,
    )


def _rule_out(rule: Rule) -> RuleOut:
    return RuleOut.model_validate(rule, from_attributes=True)


# --- assemblies ------------------------------------------------------------------------------


@router.get("/assemblies", response_model=list[AssemblyOut], responses=problem_responses(422))
def list_assemblies(session: SessionDep) -> list[AssemblyOut]:
    """The general assembly and the working groups, with their members."""
    return [_assembly_out(view) for view in service.list_assemblies(session)]


@router.post("/assemblies", response_model=AssemblyOut, status_code=201, dependencies=[AdminDep], responses=_ADMIN)
def create_working_group(body: WorkingGroupIn, session: SessionDep) -> AssemblyOut:
    """Create a working group seated with active members (operator, admin)."""
    return _assembly_out(service.create_working_group(session, body.key, body.title, body.members))


@router.get("/assemblies/{key}", response_model=AssemblyOut, responses=problem_responses(404, 422))
def show_assembly(key: AssemblyKeyPath, session: SessionDep) -> AssemblyOut:
    return _assembly_out(service.get_assembly(session, key))


@router.put("/assemblies/{key}/members/{member_id}", response_model=AssemblyOut, dependencies=[AdminDep], responses=_ADMIN)
def seat_member(key: AssemblyKeyPath, member_id: MemberIdPath, session: SessionDep) -> AssemblyOut:
    """Seat an active member in a working group (operator, admin); seating twice changes nothing."""
    return _assembly_out(service.add_member(session, key, member_id))


@router.delete("/assemblies/{key}/members/{member_id}", response_model=AssemblyOut, dependencies=[AdminDep], responses=_ADMIN)
def unseat_member(key: AssemblyKeyPath, member_id: MemberIdPath, session: SessionDep) -> AssemblyOut:
    """Unseat a member; proposals already put to the group keep their electorate."""
    return _assembly_out(service.remove_member(session, key, member_id))


# --- proposals and votes ---------------------------------------------------------------------


@router.post("/proposals", response_model=ProposalOut, status_code=201, dependencies=[AdminDep], responses=_ADMIN)
def create_proposal(body: Annotated[ProposalIn, Body()], session: SessionDep) -> ProposalOut:
    """Put a motion to an assembly, with its voting window, quorum and majority rule (operator, admin)."""
    return _proposal_out(service.create_proposal(session, body, utcnow()))


@router.get("/proposals", response_model=list[ProposalOut], responses=problem_responses(422))
def list_proposals(
    session: SessionDep,
    assembly: Annotated[str | None, Query(pattern=ASSEMBLY_KEY_PATTERN, max_length=63)] = None,
    status: Annotated[ProposalStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> list[ProposalOut]:
    """Proposals, latest closing first."""
    return [_proposal_out(p) for p in service.list_proposals(session, assembly=assembly, status=status, limit=limit, offset=offset)]


@router.get("/proposals/{proposal_id}", response_model=ProposalOut, responses=problem_responses(404, 422))
def show_proposal(proposal_id: ProposalId, session: SessionDep) -> ProposalOut:
    return _proposal_out(service.get_proposal(session, proposal_id))


@router.post("/proposals/{proposal_id}/votes", response_model=VoteOut, responses=problem_responses(401, 403, 404, 409, 422))
def vote(proposal_id: ProposalId, body: VoteIn, caller: Caller, node: NodeDep, session: SessionDep) -> VoteOut:
    """A member votes, signing the call as its participant, addressed to the governance authority.
    Voting again before the window closes replaces the earlier vote."""
    authority_did = registry.authority_did(session, node.settings)
    if caller.audience != authority_did:
        raise Forbidden(f"votes are addressed to the governance authority {authority_did}")
    authority = service.authority(node.settings, node.sealer)
    return _vote_out(service.vote_by_did(session, authority, proposal_id, caller.did, body.choice, utcnow()))


@router.put("/proposals/{proposal_id}/votes/{member_id}", response_model=VoteOut, dependencies=[AdminDep], responses=_ADMIN)
def record_vote(proposal_id: ProposalId, member_id: MemberIdPath, body: VoteIn, node: NodeDep, session: SessionDep) -> VoteOut:
    """The operator records a member's vote cast in the room (admin); its channel says 'operator'."""
    authority = service.authority(node.settings, node.sealer)
    return _vote_out(service.vote_for_member(session, authority, proposal_id, member_id, body.choice, utcnow()))


@router.get("/proposals/{proposal_id}/votes", response_model=list[VoteOut], dependencies=[AdminDep], responses=_ADMIN)
def list_votes(proposal_id: ProposalId, session: SessionDep) -> list[VoteOut]:
    """Each member's current vote (operator, admin); members see the published counts."""
    return [_vote_out(v) for v in service.votes(session, proposal_id)]


@router.get("/proposals/{proposal_id}/result", response_model=ResultOut, responses=problem_responses(404, 409, 422))
def show_result(proposal_id: ProposalId, node: NodeDep, session: SessionDep) -> ResultOut:
    """The published result; 409 while the window is open. The first read after the close tallies."""
    authority = service.authority(node.settings, node.sealer)
    result = service.result(session, authority, proposal_id, utcnow())
    return _result_out(result, service.get_proposal(session, proposal_id))


@router.post("/proposals/{proposal_id}/close", response_model=ResultOut, dependencies=[AdminDep], responses=_ADMIN)
def close(proposal_id: ProposalId, node: NodeDep, session: SessionDep) -> ResultOut:
    """Tally a proposal whose window has ended and publish its result (operator, admin)."""
    authority = service.authority(node.settings, node.sealer)
    result = service.close(session, authority, proposal_id, utcnow())
    return _result_out(result, service.get_proposal(session, proposal_id))


# --- rules -----------------------------------------------------------------------------------


@router.get("/rules", response_model=list[RuleOut], responses=problem_responses(422))
def current_rules(session: SessionDep) -> list[RuleOut]:
    """The rules in force: the newest adopted version of each."""
    return [_rule_out(rule) for rule in service.current_rules(session)]


@router.get("/rules/{key}", response_model=list[RuleOut], responses=problem_responses(404, 422))
def rule_history(key: RuleKeyPath, session: SessionDep) -> list[RuleOut]:
    """Every adopted version of a rule, oldest first; the last one is in force."""
    return [_rule_out(rule) for rule in service.rule_history(session, key)]
