"""The Compose cluster for real: the image built here, `ets docker setup` + `ets docker compose` into a
directory of the test's own, `ets docker up` and `ets docker collect`, `ets verify`, and the results equal
to `ets simulate`'s for the same inputs. Then the same run broken with the engine's own tools: a household's
process killed (the restart policy brings it back), `docker kill` of a household and of the coordinator
(Compose starts them again), `docker network disconnect`/`connect` and `docker pause`/`unpause` of a
household for several steps; the ledgers stay identical and verify passes.

Skipped where there is no Docker engine. Every container, network and volume a test made is removed by its
project's labels at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from chain.genesis import Genesis
from ets.cli.common import PROJECT_ROOT
from ets.deploy import engine
from ets.deploy.compose import household_service
from ets.deploy.engine import Project, State
from tests.conftest import cli, only_run_dir, write_params

HOUSEHOLDS = 10
STEPS = 96
RUN_TIMEOUT_S = 600
PARAMS = {
    "simulation": {"steps": STEPS},
    "household": {"max_households": HOUSEHOLDS},
    "network": {"start_timeout_s": 300.0, "offer_timeout_s": 20.0},
}

_reason = engine.unavailable()
pytestmark = [
    pytest.mark.skipif(_reason is not None, reason=f"no containers here: {_reason}"),
    pytest.mark.timeout(1500),  # the first build of the image included
]


@pytest.fixture(scope="module")
def image() -> str:
    """The project's image, built (layers cached by the engine) on python:3.11-slim where the engine has it,
    else on the Debian base docker/base-image.sh makes without a registry (cached too)."""
    base = engine.REGISTRY_BASE if engine.image_exists(engine.REGISTRY_BASE) else engine.LOCAL_BASE
    if base == engine.LOCAL_BASE and not engine.image_exists(base):
        if os.geteuid() != 0:
            pytest.skip(f"no {base}: docker/base-image.sh needs root (debootstrap)")
        try:
            engine.build_base(PROJECT_ROOT)
        except engine.EngineError as exc:
            pytest.skip(f"no base image {base}: {str(exc).splitlines()[-1][:200]}")
    engine.build_image(PROJECT_ROOT, base)
    return base


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_params(tmp_path_factory.mktemp("params") / "params.json", PARAMS)


@pytest.fixture(scope="module")
def simulated(params_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("simulate")
    done = cli("simulate", "--params", str(params_file), "--results", str(results), "--quiet")
    assert done.exit_code == 0, done.output
    return only_run_dir(results)


def _cluster(root: Path, params_file: Path) -> Project:
    """`ets docker setup` and `ets docker compose` into ``root``, with a project name of its own."""
    run = root / "run"
    done = cli("docker", "setup", "--params", str(params_file), "--output", str(run))
    assert done.exit_code == 0, done.output
    done = cli("docker", "compose", "--households", str(HOUSEHOLDS), "--output", str(root / "compose.yaml"))
    assert done.exit_code == 0, done.output
    _check_health_often(root / "compose.yaml", "coordinator")
    return Project(root / "compose.yaml", f"ets-test-{uuid.uuid4().hex[:10]}")


def _check_health_often(file: Path, service: str) -> None:
    """The image's health check (`ets health`, every 10 s) for ``service`` every second instead: the
    coordinator seals the 96 blocks of 10 households in about 10 s here, which one 10 s interval can miss
    altogether. The check itself and what it reads stay the image's own."""
    compose = yaml.safe_load(file.read_text())
    compose["services"][service]["healthcheck"] = {
        "test": ["CMD", "ets", "health"],
        "interval": "1s",
        "timeout": "10s",
        "retries": 3,
        "start_period": "120s",
    }
    file.write_text(yaml.safe_dump(compose, sort_keys=False))


@pytest.fixture
def project(tmp_path: Path, params_file: Path, image: str) -> Iterator[Project]:
    p = _cluster(tmp_path, params_file)
    try:
        yield p
    finally:
        _tear_down(p)


def _tear_down(p: Project) -> None:
    """Everything of the project, by its labels: containers, then its network and volumes."""
    with contextlib.suppress(engine.EngineError):
        p.down()
    for kind, ids in (("container", list(p.containers().values())), ("network", p.networks()), ("volume", p.volumes())):
        if ids:
            args = ["docker", kind, "rm", *(["-f", "-v"] if kind == "container" else []), *ids]
            subprocess.run(args, capture_output=True, timeout=120, check=False)
    assert not p.containers() and not p.volumes() and not p.networks()


class Watch:
    """The states at every poll: which services were seen healthy while running."""

    def __init__(self) -> None:
        self.healthy: set[str] = set()
        self.last: dict[str, State] = {}

    def __call__(self, states: dict[str, State]) -> None:
        self.last = states
        self.healthy |= {n for n, s in states.items() if s.status == "running" and s.health == "healthy"}


def _passed_health_checks(p: Project, service: str) -> int:
    """How many of the service's health checks exited 0, from its container's health log."""
    done = subprocess.run(
        ["docker", "inspect", "-f", "{{json .State.Health}}", p.container(service)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    health = json.loads(done.stdout or "null") or {}
    return sum(1 for entry in health.get("Log") or [] if entry.get("ExitCode") == 0)


def _up(p: Project) -> None:
    done = cli("docker", "up", "--file", str(p.file), "--project", p.name, "--detach")
    assert done.exit_code == 0, done.output
    assert f"{HOUSEHOLDS + 1} containers started" in done.output


def _collect(p: Project, results: Path) -> Path:
    run = p.file.parent / "run"
    args = ["docker", "collect", str(run), "-f", str(p.file), "-p", p.name, "-r", str(results), "-q"]
    done = cli(*args)
    assert done.exit_code == 0, done.output
    return Path(done.output.strip().splitlines()[-1])


def _verified(run_dir: Path) -> str:
    done = cli("verify", str(run_dir))
    assert done.exit_code == 0, done.output
    assert f"ok: {HOUSEHOLDS + 1} ledgers, {STEPS + 1} blocks" in done.output
    ledgers = sorted((run_dir / "ledgers").glob("*.ledger"))
    assert len(ledgers) == HOUSEHOLDS + 1 and len({p.read_bytes() for p in ledgers}) == 1
    return done.output


def test_the_compose_cluster_equals_simulate(project: Project, simulated: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    _up(project)
    watch = Watch()
    states = project.wait_finished(RUN_TIMEOUT_S, on_poll=watch, poll_s=0.5)
    wall = time.monotonic() - started
    assert all(s.restarts == 0 for s in states.values()), states
    run_dir = _collect(project, tmp_path / "results")
    _verified(run_dir)
    for name in ("optimized_results.csv", "baseline_results.csv"):
        assert (run_dir / name).read_bytes() == (simulated / name).read_bytes(), name
    metrics = pd.read_csv(run_dir / "network_metrics.csv")
    assert len(metrics) == STEPS + 1 and (metrics["absent"] == 0).all()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["optimized"]["capacity_violations"] == 0
    assert "CurveZMQ on" in (run_dir / "logs" / "coordinator.log").read_text()
    # The coordinator's health check runs every second here: up for the whole run, it passed them (its
    # container keeps the checks' log after it exited, so this does not depend on catching it between polls).
    assert _passed_health_checks(project, "coordinator"), "the coordinator never passed a health check"
    print(f"compose run: {wall:.1f} s from up to every container exited, seen healthy: {sorted(watch.healthy)}")


def _height(p: Project) -> int:
    """The coordinator's ledger height, from its heartbeat (rewritten every 2 s: a few steps behind)."""
    try:
        return int(json.loads(p.read_file("coordinator", "/data/heartbeat.json"))["height"])
    except (engine.EngineError, ValueError, KeyError):
        return -1


def _when(p: Project, height: int, watch: Watch, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while _height(p) < height:
        assert time.monotonic() < deadline, f"height {height} not reached: {_height(p)}"
        watch(p.states())
        time.sleep(0.2)


def _docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=120)


def _until(what: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _absent_steps(p: Project, hid: str) -> list[int]:
    """The steps the coordinator sealed with ``hid`` absent, from its log."""
    found = re.findall(r"step (\d+): absent (.*)", p.logs("coordinator"))
    return [int(step) for step, who in found if hid in who.split(", ")]


def test_the_compose_cluster_survives_the_engines_faults(project: Project, tmp_path: Path) -> None:
    hids = Genesis.load(project.file.parent / "run" / "genesis.json").household_ids
    crashed, killed, cut, paused = (household_service(i) for i in (1, 3, 5, 7))
    started = time.monotonic()
    _up(project)
    watch = Watch()
    network = project.networks()[0]
    _when(project, 4, watch)
    # All four at once, so that the faults overlap the run however fast its steps go: a household's process
    # dies (SIGKILL from outside, as a crash: the restart policy starts it again); `docker kill` of another
    # (the engine takes it for a deliberate stop: Compose starts it again); a third off the network; a
    # fourth frozen.
    os.kill(project.states()[crashed].pid, signal.SIGKILL)
    _docker("kill", project.container(killed))
    _docker("network", "disconnect", network, project.container(cut))
    _docker("pause", project.container(paused))
    _until(lambda: project.states()[killed].status == "exited")
    project.start(killed)
    # Absent for several steps, then back: the cut one under its service name again.
    _until(lambda: len(_absent_steps(project, hids[5])) >= 3 and len(_absent_steps(project, hids[7])) >= 3, 180)
    _docker("network", "connect", "--alias", cut, network, project.container(cut))
    _docker("unpause", project.container(paused))
    # The coordinator killed mid-run: started again, it resumes from its ledger.
    assert _height(project) < STEPS - 10, "the run went too fast for the coordinator's fault"
    _docker("kill", project.container("coordinator"))
    _until(lambda: project.states()["coordinator"].status == "exited")
    project.start("coordinator")
    states = project.wait_finished(RUN_TIMEOUT_S, on_poll=watch, poll_s=0.5)
    wall = time.monotonic() - started
    assert states[crashed].restarts >= 1
    run_dir = _collect(project, tmp_path / "results")
    _verified(run_dir)
    log = (run_dir / "logs" / "coordinator.log").read_text()
    absent = re.findall(r"step (\d+): absent (.*)", log)
    for i in (1, 3, 5, 7):
        steps = [int(s) for s, who in absent if hids[i] in who.split(", ")]
        # A killed household is back within a few seconds and may catch up before the coordinator gives up
        # on its offer; the cut and the paused ones were seen absent above. All came back: each offered in a
        # step after its first absence (on a loaded machine an offer now and then comes too late, absent too).
        back = [s for s in range(min(steps, default=0), STEPS) if s not in steps]
        assert not steps or back, f"household-{i} ({hids[i]}) did not come back: absent in {steps}"
    assert "resumed" in log or "resuming" in log, log[-2000:]
    assert _passed_health_checks(project, "coordinator"), "the coordinator never passed a health check"
    print(f"compose run with faults: {wall:.1f} s, seen healthy: {sorted(watch.healthy)}")
