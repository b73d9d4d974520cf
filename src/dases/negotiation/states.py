"""The DSP contract negotiation state machine, shared by both sides.

Each side applies the same table to every message it sends or receives, so provider and
consumer move through the same states. A message that would move a negotiation to the state
it is already in, from the same kind of message, is a repetition: it changes nothing.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class Role(StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"


TERMINAL = frozenset({State.FINALIZED, State.TERMINATED})

#: (message kind, sender) -> (states it may arrive in, state it leads to). `None` stands for
#: "no negotiation yet" (the message that opens one).
TRANSITIONS: dict[tuple[str, Role], tuple[frozenset[State | None], State]] = {
    ("ContractRequestMessage", Role.CONSUMER): (frozenset({None, State.OFFERED}), State.REQUESTED),
    ("ContractOfferMessage", Role.PROVIDER): (frozenset({None, State.REQUESTED}), State.OFFERED),
    ("ACCEPTED", Role.CONSUMER): (frozenset({State.OFFERED}), State.ACCEPTED),
    ("ContractAgreementMessage", Role.PROVIDER): (frozenset({State.REQUESTED, State.ACCEPTED}), State.AGREED),
    ("ContractAgreementVerificationMessage", Role.CONSUMER): (frozenset({State.AGREED}), State.VERIFIED),
    ("FINALIZED", Role.PROVIDER): (frozenset({State.VERIFIED}), State.FINALIZED),
    ("ContractNegotiationTerminationMessage", Role.PROVIDER): (frozenset(set(State) - TERMINAL), State.TERMINATED),
    ("ContractNegotiationTerminationMessage", Role.CONSUMER): (frozenset(set(State) - TERMINAL), State.TERMINATED),
}


class IllegalTransition(Exception):
    """The message is not allowed in the negotiation's current state."""


def next_state(kind: str, sender: Role, current: State | None) -> State:
    """The state `kind` sent by `sender` leads to from `current`, or IllegalTransition."""
    entry = TRANSITIONS.get((kind, sender))
    if entry is None:
        raise IllegalTransition(f"a {sender.value} does not send {kind}")
    allowed, target = entry
    if current not in allowed:
        where = current.value if current else "a new negotiation"
        raise IllegalTransition(f"{kind} from the {sender.value} is not allowed in {where}")
    return target


#: Messages that may legally follow themselves as counters (a new request after an offer...):
#: sent twice in a row they are not a retry but an illegal transition (DSP TCK CN:03-04).
COUNTER_MESSAGES = frozenset({"ContractRequestMessage", "ContractOfferMessage"})


def is_repetition(kind: str, sender: Role, current: State | None, last_received: str | None) -> bool:
    """Whether the message repeats the one that brought the negotiation to its current state."""
    entry = TRANSITIONS.get((kind, sender))
    return entry is not None and kind not in COUNTER_MESSAGES and current == entry[1] and last_received == kind
