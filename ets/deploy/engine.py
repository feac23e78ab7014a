"""The Docker engine, through its own command-line tools: building the image, a Compose project's containers
and the files on their volumes.

Works with Compose v2 (``docker compose``) and v1 (``docker-compose``); containers are found by the labels
Compose gives them (project and service), which both versions set.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chain.errors import InputError
from ets.deploy import containers

LOCAL_BASE = "ets-base:bookworm"
"""The base image ``docker/base-image.sh`` makes from Debian's packages, where no registry serves python."""
REGISTRY_BASE = "python:3.11-slim"
DEFAULT_PROJECT = "ets"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class EngineError(InputError):
    """A docker command failed, or the engine is not there."""


def _run(args: Sequence[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise EngineError(f"{args[0]}: not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"{' '.join(args)}: no answer in {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        raise EngineError(f"{' '.join(args)}: exit {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done


@functools.cache
def compose_command() -> tuple[str, ...] | None:
    """``docker compose`` (v2) where the plugin is there, else ``docker-compose`` (v1), else None."""
    if shutil.which("docker") is not None:
        try:
            if _run(["docker", "compose", "version"], timeout=20, check=False).returncode == 0:
                return ("docker", "compose")
        except EngineError:
            pass
    return ("docker-compose",) if shutil.which("docker-compose") is not None else None


def unavailable() -> str | None:
    """Why containers cannot run here (no docker command, no engine, no Compose), or None."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        info = _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30, check=False)
    except EngineError as exc:
        return str(exc)
    if info.returncode != 0 or not info.stdout.strip():
        return "no Docker engine reachable (docker info failed)"
    if compose_command() is None:
        return "no Docker Compose (neither docker compose nor docker-compose)"
    return None


def image_exists(tag: str) -> bool:
    return _run(["docker", "image", "inspect", tag], timeout=30, check=False).returncode == 0


def image_size(tag: str) -> int:
    """The image's size in bytes."""
    return int(_run(["docker", "image", "inspect", "-f", "{{.Size}}", tag]).stdout.strip())


def build_base(project_root: Path, *, force: bool = False) -> None:
    """``docker/base-image.sh``: the Debian base, made without a registry (skipped when it exists)."""
    env = {"FORCE": "1"} if force else {}
    script = project_root / "docker" / "base-image.sh"
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=1800, env=_environ() | env, check=False
    )
    if done.returncode != 0:
        raise EngineError(f"{script}: exit {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}")


def build_image(project_root: Path, python_image: str, tag: str = containers.IMAGE) -> None:
    """The project's image on ``python_image``; the build reaches PyPI through the host's network."""
    _run(
        [
            "docker",
            "build",
            "--network",
            "host",
            "--build-arg",
            f"PYTHON_IMAGE={python_image}",
            "-f",
            str(project_root / "docker" / "Dockerfile"),
            "-t",
            tag,
            str(project_root),
        ],
        timeout=1800,
    )


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


@dataclass(frozen=True, slots=True)
class State:
    status: str
    """created, running, paused, restarting, exited or dead."""
    exit_code: int
    restarts: int
    health: str
    """starting, healthy, unhealthy, or empty without a health check."""
    pid: int


@dataclass(frozen=True)
class Project:
    """A Compose project: the file and the name its containers, network and volumes are labelled with."""

    file: Path
    name: str = DEFAULT_PROJECT

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = compose_command()
        if command is None:
            raise EngineError("no Docker Compose (neither docker compose nor docker-compose)")
        return _run([*command, "-f", str(self.file), "-p", self.name, *args], timeout=timeout)

    def up(self) -> None:
        """Create and start every service in the background, with the image already built."""
        self.compose("up", "-d", "--no-build")

    def start(self, *services: str) -> None:
        self.compose("start", *services)

    def down(self) -> None:
        """Stop and remove the containers, the network and the volumes."""
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5")

    def _labelled(self, kind: str, *filters: str) -> list[str]:
        args = ["docker", kind, "ls"] if kind != "ps" else ["docker", "ps", "-a"]
        done = _run([*args, "-q", "--filter", f"label={PROJECT_LABEL}={self.name}", *filters])
        return done.stdout.split()

    def containers(self) -> dict[str, str]:
        """Service name -> container id."""
        ids = self._labelled("ps")
        if not ids:
            return {}
        fmt = f'{{{{.Id}}}} {{{{index .Config.Labels "{SERVICE_LABEL}"}}}}'
        out = _run(["docker", "inspect", "-f", fmt, *ids]).stdout.split("\n")
        return {line.split()[1]: line.split()[0] for line in out if line.strip()}

    def container(self, service: str) -> str:
        found = self.containers().get(service)
        if found is None:
            raise EngineError(f"project {self.name}: no container for service {service}")
        return found

    def networks(self) -> list[str]:
        return self._labelled("network")

    def volumes(self) -> list[str]:
        return self._labelled("volume")

    def states(self) -> dict[str, State]:
        found = self.containers()
        if not found:
            return {}
        fmt = (
            "{{.Id}} {{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{.State.Pid}} "
            "{{if .State.Health}}{{.State.Health.Status}}{{end}}"
        )
        by_id = {v: k for k, v in found.items()}
        states = {}
        for line in _run(["docker", "inspect", "-f", fmt, *found.values()]).stdout.splitlines():
            parts = line.split()
            if len(parts) >= 5:
                health = parts[5] if len(parts) > 5 else ""
                states[by_id[parts[0]]] = State(parts[1], int(parts[2]), int(parts[3]), health, int(parts[4]))
        return states

    def read_file(self, service: str, path: str) -> bytes:
        """A file from the service's container (running or not), through ``docker cp``."""
        done = subprocess.run(
            ["docker", "cp", f"{self.container(service)}:{path}", "-"],
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode != 0:
            raise EngineError(f"{service}:{path}: {done.stderr.decode(errors='replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member is not None else None
            if extracted is None:
                raise EngineError(f"{service}:{path}: not a file")
            return extracted.read()

    def logs(self, service: str) -> str:
        done = _run(["docker", "logs", self.container(service)], timeout=60)
        return done.stdout + done.stderr

    def wait_finished(
        self, timeout_s: float, on_poll: Callable[[dict[str, State]], None] | None = None, poll_s: float = 1.0
    ) -> dict[str, State]:
        """Wait until every container has exited 0 and stays down; raise when one failed for good or time ran
        out. ``on_poll`` sees the states at every poll."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = self.states()
            if on_poll is not None:
                on_poll(states)
            if states and all(s.status == "exited" and s.exit_code == 0 for s in states.values()):
                return states
            dead = sorted(name for name, s in states.items() if s.status == "dead")
            if dead:
                raise EngineError(f"project {self.name}: {', '.join(dead)} dead")
            if time.monotonic() > deadline:
                running = sorted(f"{n} ({s.status}, exit {s.exit_code})" for n, s in states.items())
                raise EngineError(f"project {self.name}: not finished in {timeout_s:.0f} s: {', '.join(running)}")
            time.sleep(poll_s)
