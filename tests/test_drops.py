"""Bad-frame accounting: counted by reason, a noisy connection ignored, replays never held against one."""

from __future__ import annotations

import logging

from chain.errors import DecodeError, ReplayError
from runtime.drops import MAX_TRACKED, Drops


def test_a_connection_is_ignored_after_too_many_bad_frames() -> None:
    drops = Drops(logging.getLogger("test"), max_bad=3)
    for _ in range(2):
        drops.drop("router", DecodeError("bad"), peer=b"a")
    assert not drops.ignoring(b"a")
    drops.drop("router", DecodeError("bad"), peer=b"a")
    assert drops.ignoring(b"a") and not drops.ignoring(b"b")
    assert drops.total == 4 and drops.ignored == 1 and drops.reasons["DecodeError"] == 3


def test_replays_are_counted_but_never_get_a_connection_ignored() -> None:
    drops = Drops(logging.getLogger("test"), max_bad=2)
    for _ in range(10):
        drops.drop("router", ReplayError("again"), peer=b"honest")
    assert not drops.ignoring(b"honest") and drops.total == 10


def test_the_tables_stay_bounded_whatever_the_number_of_connections() -> None:
    drops = Drops(logging.getLogger("test"), max_bad=2)
    for i in range(3 * MAX_TRACKED):
        drops.drop("router", DecodeError("bad"), peer=i.to_bytes(4, "big"))
        drops.drop("router", DecodeError("bad"), peer=(i // 2).to_bytes(4, "big"))
    assert len(drops._bad) <= MAX_TRACKED and len(drops._ignored_peers) <= MAX_TRACKED
