"""Bad-frame accounting: counted by reason, a connection that sent a bad frame skipped for a while, a noisy one
ignored, replays and rate-limited messages never held against one."""

from __future__ import annotations

import logging
import time

from chain.errors import DecodeError, RateError, ReplayError, SignatureError
from runtime.drops import MAX_TRACKED, Drops


def test_a_connection_is_ignored_after_too_many_bad_frames() -> None:
    drops = Drops(logging.getLogger("test"), max_bad=3, penalty_s=0)
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


def test_a_connection_that_sent_a_bad_frame_is_skipped_for_the_penalty_then_read_again() -> None:
    drops = Drops(logging.getLogger("test"), max_bad=100, penalty_s=0.2)
    drops.drop("router", SignatureError("forged"), peer=b"a")
    assert drops.ignoring(b"a") and drops.ignoring(b"a") and not drops.ignoring(b"b")
    assert drops.ignored == 2 and drops.total == 3
    time.sleep(0.25)
    assert not drops.ignoring(b"a")


def test_rate_limited_messages_never_get_a_connection_skipped() -> None:
    drops = Drops(logging.getLogger("test"), max_bad=2)
    for _ in range(10):
        drops.drop("router", RateError("too soon"), peer=b"keyed")
    assert not drops.ignoring(b"keyed") and drops.reasons["RateError"] == 10
