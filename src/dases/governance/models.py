"""Tables and input schemas of governance: assemblies, proposals, votes, results, adopted rules.

Choices the tables encode (docs/governance.md explains them to members):

- The general assembly is every active member of the registry; a working group is a named
  subset the operator manages. Both are rows of `governance_assembly`, the general assembly
  under the reserved key `general`.
- A proposal's electorate (its roll) is fixed when the proposal is created: the active members of
  its assembly at that moment. Quorum is computed on the roll, so admitting members during a vote
  does not move the goalposts.
- One row per (proposal, member) in `governance_vote`: a member may change its vote until the
  window closes and the last choice counts; `changes` says how often it did.
- Quorum is stored in thousandths (`quorum_permille`), so the tally is integer arithmetic and the
  ledger, which refuses floats, can record it as it is.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy import Text as LongText
from sqlalchemy.orm import Mapped, mapped_column

from dases.catalog.models import OfferingIn
from dases.db import Base, JSONDocument, UTCDateTime, utcnow
from dases.types import Text

GENERAL_ASSEMBLY = "general"
ASSEMBLY_KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
RULE_KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
MEMBER_ID_PATTERN = r"^[0-9a-f-]{36}$"
#: The keyword that marks an offering adopted by the general assembly as an infrastructure service.
INFRASTRUCTURE_KEYWORD = "infrastructure-service"


class ProposalKind(StrEnum):
    RULE = "rule"
    INFRASTRUCTURE_SERVICE = "infrastructure_service"
    FUNDING = "funding"


class Majority(StrEnum):
    #: More yes than no; a tie rejects.
    SIMPLE = "simple"
    #: Yes is at least two thirds of the yes and no votes, and there is at least one yes.
    QUALIFIED = "qualified"


class Choice(StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class ProposalStatus(StrEnum):
    #: Not tallied yet: before, during or just after its voting window.
    OPEN = "open"
    ADOPTED = "adopted"
    REJECTED = "rejected"


class VoteChannel(StrEnum):
    #: The member's participant signed the call itself.
    SIGNED_CALL = "signed_call"
    #: The operator recorded it for the member (a vote cast in the room, read into the record).
    OPERATOR = "operator"


# --- tables ----------------------------------------------------------------------------------


class Assembly(Base):
    """The general assembly or a working group."""

    __tablename__ = "governance_assembly"

    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    is_general: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AssemblyMember(Base):
    """A member organisation seated in a working group (the general assembly has no rows here)."""

    __tablename__ = "governance_assembly_member"

    assembly_key: Mapped[str] = mapped_column(ForeignKey("governance_assembly.key", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Proposal(Base):
    """A motion put to an assembly, with its voting window and the rules of its tally."""

    __tablename__ = "governance_proposal"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    assembly_key: Mapped[str] = mapped_column(ForeignKey("governance_assembly.key"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(LongText)
    #: What adoption does: {rule_key, rule_text}, {offering}, or {amount, currency, recipient}.
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    quorum_permille: Mapped[int] = mapped_column(Integer)
    majority: Mapped[str] = mapped_column(String(16))
    #: Member ids of the electorate, fixed at creation.
    electorate: Mapped[list[str]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16), default=ProposalStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_governance_proposal_status_closes", "status", "closes_at"),)


class Vote(Base):
    """A member's current vote on a proposal; a changed vote overwrites this row."""

    __tablename__ = "governance_vote"

    proposal_id: Mapped[str] = mapped_column(ForeignKey("governance_proposal.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id"), primary_key=True)
    choice: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changes: Mapped[int] = mapped_column(Integer, default=0)


class Result(Base):
    """The published result of a proposal, written once when its window has closed."""

    __tablename__ = "governance_result"

    proposal_id: Mapped[str] = mapped_column(ForeignKey("governance_proposal.id", ondelete="CASCADE"), primary_key=True)
    eligible: Mapped[int] = mapped_column(Integer)
    voted: Mapped[int] = mapped_column(Integer)
    yes: Mapped[int] = mapped_column(Integer)
    no: Mapped[int] = mapped_column(Integer)
    abstain: Mapped[int] = mapped_column(Integer)
    quorum_reached: Mapped[bool] = mapped_column(Boolean)
    majority_reached: Mapped[bool] = mapped_column(Boolean)
    adopted: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSONDocument)
    #: What adoption did: {rule_key, version}, {offering_id}, {amount, currency, recipient}, or {}.
    effect: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    tallied_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Rule(Base):
    """One adopted version of a data space rule; the highest version of a key is the rule in force."""

    __tablename__ = "governance_rule"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(LongText)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("governance_proposal.id"), unique=True)
    adopted_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- what the operator sends -----------------------------------------------------------------

AssemblyKey = Annotated[str, Field(pattern=ASSEMBLY_KEY_PATTERN, max_length=63, examples=["interop-wg"])]
MemberId = Annotated[str, Field(min_length=36, max_length=36, pattern=MEMBER_ID_PATTERN, description="Member id (UUID)")]
Quorum = Annotated[
    Decimal,
    Field(gt=0, le=1, max_digits=4, decimal_places=3, description="Share of the electorate that must vote (abstentions count), e.g. 0.5."),
]


class WorkingGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: AssemblyKey
    title: Text = Field(min_length=1, max_length=200, pattern=r"\S", examples=["Interoperability working group"])
    members: list[MemberId] = Field(default_factory=list, max_length=1000)


class _ProposalBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assembly: AssemblyKey = GENERAL_ASSEMBLY
    title: Text = Field(min_length=1, max_length=300, pattern=r"\S")
    text: Text = Field(min_length=1, max_length=20_000, pattern=r"\S", description="The motion, as members read it.")
    opens_at: AwareDatetime = Field(description="Start of the voting window (inclusive), with a time zone.")
    closes_at: AwareDatetime = Field(description="End of the voting window (exclusive), with a time zone.")
    quorum: Quorum = Decimal("0.5")
    majority: Majority = Majority.SIMPLE


class RuleProposalIn(_ProposalBase):
    """Adopt a new rule, or a new version of a rule in force."""

    kind: Literal["rule"]
    rule_key: str = Field(pattern=RULE_KEY_PATTERN, max_length=100, examples=["data-retention"])
    rule_text: Text = Field(min_length=1, max_length=20_000, pattern=r"\S")


class ServiceProposalIn(_ProposalBase):
    """Make a service part of the data space's infrastructure (general assembly only)."""

    kind: Literal["infrastructure_service"]
    service: OfferingIn = Field(description="The catalog offering to publish once adopted (kind data_service or software_service).")


class FundingProposalIn(_ProposalBase):
    """Grant an amount to a member."""

    kind: Literal["funding"]
    amount: str = Field(pattern=r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$", description="Decimal amount, at most two decimals.", examples=["25000.00"])
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["EUR"])
    recipient: MemberId


ProposalIn = Annotated[RuleProposalIn | ServiceProposalIn | FundingProposalIn, Field(discriminator="kind")]
