"""CurveZMQ: a secure coordinator admits genesis keys only; a secure cluster runs end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.utils.z85

from chain.crypto import SigningKey
from chain.genesis import Genesis
from ets.run.setup import RunLayout
from runtime.curve import CurveIdentity, is_loopback, secure_by_default
from tests.conftest import cli, only_run_dir, write_params

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def secure_coordinator(cluster_run: Path, tmp_path: Path) -> Iterator[RunLayout]:
    """A coordinator process with ``--secure`` waiting at its start barrier (publishing beacons)."""
    run = tmp_path / "run"
    (run / "ledgers").mkdir(parents=True)
    (run / "logs").mkdir()
    for name in ("genesis.json", "params.json"):
        shutil.copy(cluster_run / name, run / name)
    shutil.copytree(cluster_run / "keys", run / "keys")
    layout = RunLayout(run)
    args = ["coordinator", "--run-dir", str(run), "--secure"]
    with layout.log("coordinator").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ets", *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not layout.endpoints.exists():
            assert proc.poll() is None, layout.log("coordinator").read_text()
            assert time.monotonic() < deadline, "no endpoints"
            time.sleep(0.05)
        yield layout
    finally:
        proc.kill()
        proc.wait()


def _listen(pub: str, setup: Any, seconds: float = 2.0) -> int:
    """Frames a SUB socket configured by ``setup`` receives from ``pub`` within ``seconds``."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    setup(sub)
    sub.connect(pub)
    received = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if sub.poll(100):
                sub.recv()
                received += 1
    finally:
        sub.close()
        ctx.term()
    return received


def test_only_genesis_keys_hear_a_secure_coordinator(secure_coordinator: RunLayout) -> None:
    layout = secure_coordinator
    genesis = Genesis.load(layout.genesis)
    pub = json.loads(layout.endpoints.read_text())["pub"]
    member = SigningKey.load(layout.key(genesis.household_ids[0]))
    allowed = CurveIdentity.of(member, ())
    stranger = CurveIdentity.of(SigningKey.generate(), ())

    def as_member(sock: zmq.Socket[bytes]) -> None:
        allowed.connect_to(sock, genesis.coordinator_key)

    def as_stranger(sock: zmq.Socket[bytes]) -> None:
        stranger.connect_to(sock, genesis.coordinator_key)

    def in_plaintext(sock: zmq.Socket[bytes]) -> None:
        pass

    assert _listen(pub, as_member) > 0, "an allowed key heard nothing"
    assert _listen(pub, as_stranger) == 0, "a key genesis does not name was let in"
    assert _listen(pub, in_plaintext) == 0, "a plaintext client was let in"
    assert "refused a CURVE client" in layout.log("coordinator").read_text()


def test_a_secure_cluster_runs_end_to_end(tmp_path: Path) -> None:
    params = write_params(tmp_path / "p.json", {"simulation": {"steps": 6}, "household": {"max_households": 3}})
    result = cli("run", "--params", str(params), "--results", str(tmp_path / "r"), "-q", "--secure")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "r")
    assert cli("verify", str(run)).exit_code == 0
    for name in ("coordinator", "h01", "h02", "h03"):
        assert "CurveZMQ on" in (run / "logs" / f"{name}.log").read_text(), name


def test_curve_keys_follow_from_the_ed25519_keys() -> None:
    key = SigningKey.generate()
    mine = CurveIdentity.of(key, [key.public])
    assert len(zmq.utils.z85.decode(mine.public)) == 32
    assert mine.allowed == {mine.public}
    assert CurveIdentity.of(SigningKey.from_seed(key.seed()), ()).secret == mine.secret


@pytest.mark.parametrize(
    ("endpoints", "secure"),
    [
        (["tcp://127.0.0.1:*", "tcp://127.0.0.1:5555"], False),
        (["tcp://localhost:1", "ipc:///tmp/x"], False),
        (["tcp://127.0.0.1:*", "tcp://10.1.2.3:5555"], True),
        (["tcp://*:5555"], True),
        (["tcp://coordinator:5555"], True),
    ],
)
def test_secure_by_default_unless_every_address_is_loopback(endpoints: list[str], secure: bool) -> None:
    assert secure_by_default(endpoints) is secure
    assert is_loopback("tcp://[::1]:5")
