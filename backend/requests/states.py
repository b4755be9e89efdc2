"""A footage request's states and the only transitions allowed between them (enforced by the service)."""

from __future__ import annotations

import enum


class RequestState(enum.StrEnum):
    SENT = "sent"
    SEEN = "seen"
    ACCEPTED = "accepted"
    UPLOADED = "uploaded"  # at least one clip received; more may follow
    NO_FOOTAGE = "no_footage"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


OPEN_STATES = frozenset({RequestState.SENT, RequestState.SEEN, RequestState.ACCEPTED})
# Until a request closes, its owner and its investigator can write to each other (clips may still follow).
CONVERSATION_STATES = OPEN_STATES | {RequestState.UPLOADED}


class Side(enum.StrEnum):
    """A side of a request's conversation: who wrote a message, who reads a request, whose turn it is."""

    OWNER = "owner"
    INVESTIGATOR = "investigator"


TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.SENT: frozenset(
        {
            RequestState.SEEN,
            RequestState.ACCEPTED,
            RequestState.NO_FOOTAGE,
            RequestState.DECLINED,
            RequestState.EXPIRED,
            RequestState.WITHDRAWN,
        }
    ),  # fmt: skip
    RequestState.SEEN: frozenset(
        {
            RequestState.ACCEPTED,
            RequestState.NO_FOOTAGE,
            RequestState.DECLINED,
            RequestState.EXPIRED,
            RequestState.WITHDRAWN,
        }
    ),  # fmt: skip
    RequestState.ACCEPTED: frozenset({RequestState.UPLOADED, RequestState.EXPIRED, RequestState.WITHDRAWN}),
    RequestState.UPLOADED: frozenset({RequestState.UPLOADED}),  # another clip may be sent
    RequestState.NO_FOOTAGE: frozenset(),
    RequestState.DECLINED: frozenset(),
    RequestState.EXPIRED: frozenset(),
    RequestState.WITHDRAWN: frozenset(),
}

LABELS = {
    RequestState.SENT: "Sent",
    RequestState.SEEN: "Seen",
    RequestState.ACCEPTED: "Accepted",
    RequestState.UPLOADED: "Clips uploaded",
    RequestState.NO_FOOTAGE: "No footage",
    RequestState.DECLINED: "Declined",
    RequestState.EXPIRED: "Expired",
    RequestState.WITHDRAWN: "Withdrawn",
}


# While a question or a reply awaits its answer, the request shows whose turn it is: (whose turn, who reads).
WAITING_LABELS = {
    (Side.INVESTIGATOR, Side.OWNER): "Waiting for the investigator",
    (Side.OWNER, Side.OWNER): "Waiting for you",
    (Side.OWNER, Side.INVESTIGATOR): "Waiting for the owner",
    (Side.INVESTIGATOR, Side.INVESTIGATOR): "Waiting for you",
}


def state_label(state: RequestState, waiting_on: Side | None, reader: Side) -> str:
    """A request's state as one side reads it: whose turn it is in its conversation, else the state."""
    if waiting_on is not None and state in CONVERSATION_STATES:
        return WAITING_LABELS[(waiting_on, reader)]
    return LABELS[state]


# What the owner reads of a closed request, in their words: what they answered, or what happened to it.
NO_FOOTAGE_WORDS = {
    "no_footage": "you said you have no footage of that time",
    "not_recording": "you said your camera was not recording at that time",
    "not_covered": "you said your cameras don't cover that area",
}


def owner_outcome(state: RequestState, reply: str | None, agency: str, day: str, clips_sent: int) -> str:
    """A request's outcome as its owner reads it ("You shared 2 clips on Dec 3", "Withdrawn by Milwaukee PD on
    Dec 3"); `day` is the day it closed (or the last clip arrived) in the owner's zone. Empty while still open."""
    if state is RequestState.UPLOADED:
        return f"You shared {clips_sent} clip{'s' if clips_sent != 1 else ''}" + (f"; the last on {day}" if day else "")
    if state is RequestState.NO_FOOTAGE:
        words = NO_FOOTAGE_WORDS.get(reply or "", "you said you have no footage")
        return f"On {day} {words}" if day else words[0].upper() + words[1:]
    if state is RequestState.DECLINED:
        return "You declined this request" + (f" on {day}" if day else "") + "; declining carries no penalty"
    if state is RequestState.EXPIRED:
        return "This request expired" + (f" on {day}" if day else "") + " without an answer"
    if state is RequestState.WITHDRAWN:
        return f"Withdrawn by {agency}" + (f" on {day}" if day else "") + "; they no longer need footage"
    return ""


class IllegalTransition(Exception):
    def __init__(self, current: RequestState, wanted: RequestState) -> None:
        super().__init__(f"This request is {LABELS[current].lower()}; it cannot become {LABELS[wanted].lower()}")
        self.current, self.wanted = current, wanted


def next_state(current: RequestState, wanted: RequestState) -> RequestState:
    """The state after an event, or IllegalTransition (the API answers 409 with this message)."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(current, wanted)
    return wanted
