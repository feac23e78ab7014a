"""The household step state machine, driven without sockets."""

from __future__ import annotations

import pytest

from chain.errors import ProtocolError
from node.state import Phase, StepMachine


def test_normal_cycle() -> None:
    m = StepMachine()
    m.open(0)
    assert m.phase is Phase.OFFERED and m.offered_in(0)
    m.cleared(0)
    assert m.phase is Phase.CLEARED
    m.settled(0)
    assert m.phase is Phase.SETTLED
    m.open(1)
    assert m.step == 1


def test_block_without_offer_is_allowed_for_a_later_step() -> None:
    m = StepMachine()
    m.cleared(0)
    m.settled(0)
    m.cleared(3)
    assert (m.phase, m.step) == (Phase.CLEARED, 3)


@pytest.mark.parametrize(
    "events",
    [
        [("settled", 0)],
        [("open", 0), ("open", 1)],
        [("open", 2), ("cleared", 1)],
        [("open", 0), ("cleared", 0), ("open", 1)],
        [("open", 0), ("cleared", 0), ("settled", 0), ("open", 0)],
        [("open", 0), ("cleared", 0), ("settled", 1)],
    ],
)
def test_illegal_events_raise_and_leave_state_unchanged(events: list[tuple[str, int]]) -> None:
    m = StepMachine()
    for name, step in events[:-1]:
        getattr(m, name)(step)
    before = (m.phase, m.step)
    name, step = events[-1]
    with pytest.raises(ProtocolError):
        getattr(m, name)(step)
    assert (m.phase, m.step) == before
