"""The DSP transfer process state machine, shared by both sides.

Both parties apply the same table to every message they send or receive. A message that
repeats the one that produced the current state, from the same sender, is a retry and changes
nothing; a TransferStartMessage from the provider in STARTED is not a retry but a new data
address (a token refreshed, a transfer resumed).
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    REQUESTED = "REQUESTED"
    STARTED = "STARTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"


class Role(StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"


TERMINAL = frozenset({State.COMPLETED, State.TERMINATED})
OPEN = frozenset(set(State) - TERMINAL)

#: (message kind, sender) -> (states it may arrive in, state it leads to); None: no process yet.
TRANSITIONS: dict[tuple[str, Role], tuple[frozenset[State | None], State]] = {
    ("TransferRequestMessage", Role.CONSUMER): (frozenset({None}), State.REQUESTED),
    ("TransferStartMessage", Role.PROVIDER): (frozenset({State.REQUESTED, State.STARTED, State.SUSPENDED}), State.STARTED),
    ("TransferStartMessage", Role.CONSUMER): (frozenset({State.SUSPENDED}), State.STARTED),
    ("TransferSuspensionMessage", Role.PROVIDER): (frozenset({State.STARTED}), State.SUSPENDED),
    ("TransferSuspensionMessage", Role.CONSUMER): (frozenset({State.STARTED}), State.SUSPENDED),
    ("TransferCompletionMessage", Role.PROVIDER): (frozenset({State.STARTED}), State.COMPLETED),
    ("TransferCompletionMessage", Role.CONSUMER): (frozenset({State.STARTED}), State.COMPLETED),
    ("TransferTerminationMessage", Role.PROVIDER): (frozenset(OPEN), State.TERMINATED),
    ("TransferTerminationMessage", Role.CONSUMER): (frozenset(OPEN), State.TERMINATED),
}

#: Messages that may follow themselves legitimately: the provider's start carries a new address.
RENEWABLE = frozenset({("TransferStartMessage", Role.PROVIDER)})


class IllegalTransition(Exception):
    """The message is not allowed in the transfer's current state."""


def next_state(kind: str, sender: Role, current: State | None) -> State:
    """The state `kind` sent by `sender` leads to from `current`, or IllegalTransition."""
    entry = TRANSITIONS.get((kind, sender))
    if entry is None:
        raise IllegalTransition(f"a {sender.value} does not send {kind}")
    allowed, target = entry
    if current not in allowed:
        where = current.value if current else "a new transfer"
        raise IllegalTransition(f"{kind} from the {sender.value} is not allowed in {where}")
    return target


def is_repetition(kind: str, sender: Role, current: State, last_received: str | None) -> bool:
    """Whether the message repeats the one that brought the transfer to its current state."""
    entry = TRANSITIONS.get((kind, sender))
    return entry is not None and (kind, sender) not in RENEWABLE and current == entry[1] and last_received == kind
