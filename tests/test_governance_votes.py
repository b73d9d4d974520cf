"""Votes and their tally: one vote per member organisation (the last one before the close counts),
only the electorate of the proposal's assembly votes, only inside the voting window; quorum and
simple or qualified majority decide, abstentions count toward quorum only; the result is
published once, and every vote and result is written to the authority's ledger."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from dases.errors import Conflict, Forbidden, InvalidInput, NotFound
from dases.governance import service as governance
from dases.governance.models import Choice, Majority, ProposalStatus, VoteChannel
from dases.ledger import service as ledger
from dases.registry import service as registry

from .governance_support import (
    AFTER,
    BEFORE,
    CLOSES,
    DURING,
    OPENS,
    Space,
    admit,
    propose,
    result,
    rule_draft,
    space,
    vote,
)

__all__ = ["space"]


def test_a_member_has_one_vote_and_its_last_choice_counts(space: Space) -> None:
    proposal = propose(space)
    vote(space, proposal, 0, "no")
    vote(space, proposal, 0, "yes", DURING + timedelta(hours=1))
    vote(space, proposal, 1, "yes")
    with space.db.transaction() as session:
        votes = governance.votes(session, proposal)
    mine = next(v for v in votes if v.member_id == space.members[0])
    assert (len(votes), mine.choice, mine.changes, mine.channel) == (2, "yes", 1, VoteChannel.SIGNED_CALL)
    published = result(space, proposal)
    assert (published.eligible, published.voted, published.yes, published.no, published.abstain) == (4, 2, 2, 0, 0)
    assert published.adopted


def test_only_the_electorate_votes(space: Space) -> None:
    with space.db.transaction() as session:
        governance.create_working_group(session, "interop-wg", "Interoperability", space.members[:2])
    proposal = propose(space, assembly="interop-wg")
    vote(space, proposal, 0, "yes")
    with pytest.raises(Forbidden, match="not in the electorate"):
        vote(space, proposal, 2, "yes")
    with pytest.raises(Forbidden, match="not an active member"), space.db.transaction() as session:
        governance.vote_by_did(session, space.authority, proposal, "did:web:stranger.example", Choice.YES, DURING)
    assert result(space, proposal).eligible == 2


def test_a_revoked_member_no_longer_votes(space: Space) -> None:
    proposal = propose(space)
    with space.db.transaction() as session:
        registry.revoke(session, space.members[3])
    with pytest.raises(Forbidden):
        vote(space, proposal, 3, "yes")


def test_the_electorate_is_fixed_when_the_proposal_is_created(space: Space) -> None:
    proposal = propose(space)
    newcomer = admit(space.db, space.settings, 9)
    with pytest.raises(Forbidden, match="electorate"):
        vote(space, proposal, 9, "yes")
    with space.db.transaction() as session:
        assert newcomer in governance.get_assembly(session, "general").members
        assert newcomer not in governance.get_proposal(session, proposal).electorate


@pytest.mark.parametrize(("when", "rule"), [(BEFORE, "not_open"), (OPENS - timedelta(seconds=1), "not_open"), (CLOSES, "closed"), (AFTER, "closed")])
def test_votes_outside_the_window_are_refused(space: Space, when: datetime, rule: str) -> None:
    proposal = propose(space)
    with pytest.raises(Conflict) as refused:
        vote(space, proposal, 0, "yes", when)
    assert [(e.field, e.rule) for e in refused.value.errors] == [("voting_window", rule)]
    assert "voting window" in refused.value.detail


def test_the_window_bounds_are_inclusive_then_exclusive(space: Space) -> None:
    proposal = propose(space)
    vote(space, proposal, 0, "yes", OPENS)
    vote(space, proposal, 1, "yes", CLOSES - timedelta(microseconds=1))
    assert result(space, proposal).yes == 2


def test_quorum_not_reached_means_not_adopted(space: Space) -> None:
    proposal = propose(space, quorum=Decimal("0.75"))
    vote(space, proposal, 0, "yes")
    vote(space, proposal, 1, "yes")
    published = result(space, proposal)
    assert (published.quorum_reached, published.majority_reached, published.adopted) == (False, True, False)
    assert published.reasons[0].startswith("quorum not reached: 2 of 4 eligible members voted")


def test_abstentions_count_toward_quorum_but_not_majority(space: Space) -> None:
    proposal = propose(space, quorum=Decimal("0.75"))
    vote(space, proposal, 0, "yes")
    vote(space, proposal, 1, "abstain")
    vote(space, proposal, 2, "abstain")
    published = result(space, proposal)
    assert (published.voted, published.quorum_reached, published.majority_reached, published.adopted) == (3, True, True, True)


def test_a_tie_is_rejected_under_simple_majority(space: Space) -> None:
    proposal = propose(space)
    for member, choice in enumerate(["yes", "no", "yes", "no"]):
        vote(space, proposal, member, choice)
    published = result(space, proposal)
    assert (published.quorum_reached, published.majority_reached, published.adopted) == (True, False, False)
    with space.db.transaction() as session:
        assert governance.get_proposal(session, proposal).status == ProposalStatus.REJECTED


@pytest.mark.parametrize(
    ("yes", "no", "abstain", "majority", "reached"),
    [
        (2, 1, 0, Majority.SIMPLE, True),
        (1, 1, 2, Majority.SIMPLE, False),
        (0, 0, 4, Majority.SIMPLE, False),
        (2, 1, 0, Majority.QUALIFIED, True),  # exactly two thirds
        (3, 2, 0, Majority.QUALIFIED, False),  # 60 %
        (1, 1, 0, Majority.QUALIFIED, False),
        (1, 0, 3, Majority.QUALIFIED, True),
        (0, 0, 4, Majority.QUALIFIED, False),  # no yes at all: never adopted
    ],
)
def test_majority_rules(yes: int, no: int, abstain: int, majority: Majority, reached: bool) -> None:
    tally = governance.count(10, yes, no, abstain, 100, majority)
    assert tally.majority_reached is reached
    assert tally.adopted is reached


@pytest.mark.parametrize(("eligible", "voted", "permille", "reached"), [(4, 2, 500, True), (4, 1, 500, False), (3, 2, 667, False), (3, 2, 666, True), (5, 5, 1000, True)])
def test_quorum_is_a_share_of_the_electorate(eligible: int, voted: int, permille: int, reached: bool) -> None:
    assert governance.count(eligible, voted, 0, 0, permille, Majority.SIMPLE).quorum_reached is reached


def test_qualified_majority_end_to_end(space: Space) -> None:
    proposal = propose(space, majority=Majority.QUALIFIED)
    for member, choice in enumerate(["yes", "yes", "no", "abstain"]):
        vote(space, proposal, member, choice)
    published = result(space, proposal)
    assert published.adopted
    assert "qualified majority" in published.reasons[1]


def test_no_result_while_the_window_is_open_and_one_result_after(space: Space) -> None:
    proposal = propose(space)
    vote(space, proposal, 0, "yes")
    vote(space, proposal, 1, "yes")
    with pytest.raises(Conflict, match="still open"):
        result(space, proposal, DURING)
    first = result(space, proposal, AFTER)
    again = result(space, proposal, AFTER + timedelta(days=3))
    assert (again.tallied_at, again.yes, again.adopted) == (first.tallied_at, 2, True)
    with space.db.transaction() as session:
        assert [r.proposal_id for r in governance.close_due(session, space.authority, AFTER)] == []


def test_close_due_tallies_every_ended_vote(space: Space) -> None:
    early = propose(space, closes_at=OPENS + timedelta(days=2))
    late = propose(space)
    vote(space, early, 0, "yes")
    with space.db.transaction() as session:
        closed = governance.close_due(session, space.authority, OPENS + timedelta(days=3))
    assert [r.proposal_id for r in closed] == [early]
    with space.db.transaction() as session:
        assert governance.get_proposal(session, late).status == ProposalStatus.OPEN


def test_votes_and_results_are_in_the_authoritys_ledger(space: Space) -> None:
    proposal = propose(space)
    vote(space, proposal, 0, "yes")
    vote(space, proposal, 1, "no")
    result(space, proposal)
    with space.db.transaction() as session:
        entries = ledger.entries(session, "operator", kinds=["governance.vote", "governance.result"])
        assert ledger.verify(session, "operator").ok
    assert [e.kind for e in entries] == ["governance.vote", "governance.vote", "governance.result"]
    assert entries[0].body["member_id"] == space.members[0] and entries[0].body["choice"] == "yes"
    assert entries[-1].body | {"effect": None} == entries[-1].body | {
        "proposal_id": proposal, "yes": 1, "no": 1, "adopted": False, "effect": None,
    }


def test_the_operator_records_a_vote_cast_in_the_room(space: Space) -> None:
    proposal = propose(space)
    with space.db.transaction() as session:
        recorded = governance.vote_for_member(session, space.authority, proposal, space.members[2], Choice.ABSTAIN, DURING)
    assert (recorded.channel, recorded.choice) == (VoteChannel.OPERATOR, "abstain")
    with pytest.raises(NotFound), space.db.transaction() as session:
        governance.vote_for_member(session, space.authority, proposal, "00000000-0000-0000-0000-000000000000", Choice.YES, DURING)


def test_a_proposal_needs_a_sensible_window(space: Space) -> None:
    with pytest.raises(InvalidInput) as backwards:
        propose(space, closes_at=OPENS - timedelta(hours=1))
    assert backwards.value.errors[0].field == "closes_at"
    with pytest.raises(InvalidInput) as past, space.db.transaction() as session:
        governance.create_proposal(session, rule_draft(), CLOSES)
    assert (past.value.errors[0].field, past.value.errors[0].rule) == ("closes_at", "in_future")


def test_working_groups_hold_only_active_members(space: Space) -> None:
    with space.db.transaction() as session:
        registry.revoke(session, space.members[3])
    with pytest.raises(InvalidInput) as refused, space.db.transaction() as session:
        governance.create_working_group(session, "wg", "WG", [space.members[0], space.members[3]])
    assert refused.value.errors[0].field == "members.1"
    with space.db.transaction() as session:
        governance.create_working_group(session, "wg", "WG", [space.members[0]])
        governance.add_member(session, "wg", space.members[1])
        governance.add_member(session, "wg", space.members[1])
        assert governance.get_assembly(session, "wg").members == sorted(space.members[:2])
        assert governance.remove_member(session, "wg", space.members[0]).members == [space.members[1]]
    with pytest.raises(Conflict), space.db.transaction() as session:
        governance.add_member(session, "general", space.members[0])
    with pytest.raises(InvalidInput), space.db.transaction() as session:
        governance.create_working_group(session, "general", "Not allowed")
    with space.db.transaction() as session:
        keys = [view.key for view in governance.list_assemblies(session)]
    assert keys == ["general", "wg"]


def test_concurrent_first_reads_publish_one_result(space: Space) -> None:
    proposal = propose(space)
    for member in range(3):
        vote(space, proposal, member, "yes")
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def read() -> None:
        barrier.wait()
        try:
            outcomes.append(result(space, proposal).tallied_at)
        except Exception as error:  # noqa: BLE001 - reported below, with the others
            outcomes.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], datetime), outcomes
    with space.db.transaction() as session:
        assert [rule.version for rule in governance.rule_history(session, "data-retention")] == [1]
        assert len(ledger.entries(session, "operator", kinds=["governance.result"])) == 1


def test_concurrent_votes_of_one_member_leave_one_vote(space: Space) -> None:
    proposal = propose(space)
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def cast(choice: str) -> None:
        barrier.wait()
        try:
            vote(space, proposal, 0, choice)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=cast, args=(choice,)) for choice in ("yes", "no", "yes", "abstain")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with space.db.transaction() as session:
        votes = governance.votes(session, proposal)
    assert [(v.member_id, v.changes) for v in votes] == [(space.members[0], 3)]
