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


class IllegalTransition(Exception):
    def __init__(self, current: RequestState, wanted: RequestState) -> None:
        super().__init__(f"This request is {LABELS[current].lower()}; it cannot become {LABELS[wanted].lower()}")
        self.current, self.wanted = current, wanted


def next_state(current: RequestState, wanted: RequestState) -> RequestState:
    """The state after an event, or IllegalTransition (the API answers 409 with this message)."""
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(current, wanted)
    return wanted
