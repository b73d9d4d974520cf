"""The DSP negotiation state machine: every legal transition, and every illegal one refused."""

from __future__ import annotations

import itertools

import pytest

from dases.negotiation.states import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    Role,
    State,
    is_repetition,
    next_state,
)

LEGAL = [
    ("ContractRequestMessage", Role.CONSUMER, None, State.REQUESTED),
    ("ContractRequestMessage", Role.CONSUMER, State.OFFERED, State.REQUESTED),
    ("ContractOfferMessage", Role.PROVIDER, None, State.OFFERED),
    ("ContractOfferMessage", Role.PROVIDER, State.REQUESTED, State.OFFERED),
    ("ACCEPTED", Role.CONSUMER, State.OFFERED, State.ACCEPTED),
    ("ContractAgreementMessage", Role.PROVIDER, State.REQUESTED, State.AGREED),
    ("ContractAgreementMessage", Role.PROVIDER, State.ACCEPTED, State.AGREED),
    ("ContractAgreementVerificationMessage", Role.CONSUMER, State.AGREED, State.VERIFIED),
    ("FINALIZED", Role.PROVIDER, State.VERIFIED, State.FINALIZED),
] + [
    ("ContractNegotiationTerminationMessage", role, state, State.TERMINATED)
    for role in Role
    for state in State
    if state not in TERMINAL
]


@pytest.mark.parametrize(("kind", "sender", "current", "expected"), LEGAL)
def test_legal_transition(kind: str, sender: Role, current: State | None, expected: State) -> None:
    assert next_state(kind, sender, current) == expected


def _illegal() -> list[tuple[str, Role, State | None]]:
    legal = {(kind, sender, current) for kind, sender, current, _ in LEGAL}
    kinds = {kind for kind, _ in TRANSITIONS}
    return [
        (kind, sender, current)
        for kind, sender, current in itertools.product(sorted(kinds), list(Role), [None, *State])
        if (kind, sender, current) not in legal
    ]


@pytest.mark.parametrize(("kind", "sender", "current"), _illegal())
def test_illegal_transition_is_refused(kind: str, sender: Role, current: State | None) -> None:
    with pytest.raises(IllegalTransition):
        next_state(kind, sender, current)


def test_terminal_states_accept_nothing() -> None:
    for (kind, sender), _ in TRANSITIONS.items():
        for state in TERMINAL:
            with pytest.raises(IllegalTransition):
                next_state(kind, sender, state)


def test_a_repeated_message_is_recognised() -> None:
    assert is_repetition("ACCEPTED", Role.CONSUMER, State.ACCEPTED, "ACCEPTED")
    assert not is_repetition("ACCEPTED", Role.CONSUMER, State.OFFERED, "ContractOfferMessage")
    assert not is_repetition("ContractAgreementMessage", Role.PROVIDER, State.AGREED, "ACCEPTED")
    # A second counter-request in a row is not a retry: DSP forbids REQUESTED -> REQUESTED.
    assert not is_repetition("ContractRequestMessage", Role.CONSUMER, State.REQUESTED, "ContractRequestMessage")
