"""The request state machine, explored with hypothesis: no path breaks its rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backend.requests.states import OPEN_STATES, TRANSITIONS, IllegalTransition, RequestState, next_state

TERMINAL = {RequestState.NO_FOOTAGE, RequestState.DECLINED, RequestState.EXPIRED, RequestState.WITHDRAWN}


@given(st.lists(st.sampled_from(list(RequestState)), max_size=12))
def test_any_sequence_of_events_keeps_the_rules(events: list[RequestState]) -> None:
    state = RequestState.SENT
    history = [state]
    for wanted in events:
        try:
            state = next_state(state, wanted)
        except IllegalTransition as refused:
            assert wanted not in TRANSITIONS[state]
            assert str(refused).startswith("This request is ")
            continue
        history.append(state)
    for before, after in zip(history, history[1:], strict=False):
        assert before not in TERMINAL  # nothing follows withdrawn, expired, declined, no footage
        if after is RequestState.UPLOADED:
            assert before in {RequestState.ACCEPTED, RequestState.UPLOADED}  # no upload unless accepted
        if after is RequestState.SEEN:
            assert before is RequestState.SENT


def test_every_state_is_in_the_table_and_open_states_can_end() -> None:
    assert set(TRANSITIONS) == set(RequestState)
    for state in OPEN_STATES:
        assert RequestState.EXPIRED in TRANSITIONS[state] and RequestState.WITHDRAWN in TRANSITIONS[state]
