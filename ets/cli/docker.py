"""``ets docker``: the run directory, Compose file and Kubernetes manifests of a container cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ets.cli.common import PROJECT_ROOT, fail_cleanly, load_params, resolve_data_path

DOCKER_DIR = PROJECT_ROOT / "docker"

if TYPE_CHECKING:
    from ets.deploy.engine import Project


def _image_data(data: str | None) -> str:
    """The data file's path inside the image (the default data unless ``data``)."""
    from ets.deploy.containers import image_path
    from runtime.params import Params

    return image_path(resolve_data_path(data or Params().household.data_file), PROJECT_ROOT)


def _default_households() -> int:
    from runtime.params import Params

    return Params().household.max_households


households_option = click.option(
    "--households", "-n", type=click.IntRange(1), help="Number of households (default: the parameters', 10)."
)
data_option = click.option(
    "--data", type=str, help="Household data file, in the project's household_dbs/ (default: the shipped data)."
)


@click.group()
def docker() -> None:
    """Containers: the run directory, the Compose file, the Kubernetes manifests, the image and the Compose
    cluster's life (docker/README.md)."""


@docker.command("setup")
@households_option
@click.option("--steps", "-s", type=int, help="Number of steps to run.")
@click.option("--start-step", type=int, help="First step of the data window (run steps).")
@data_option
@click.option("--params", "params_file", type=click.Path(path_type=Path), help="Parameters JSON file.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The run directory to create (default: the project's docker/run, beside the Compose file).",
)
@fail_cleanly
def setup(
    households: int | None,
    steps: int | None,
    start_step: int | None,
    data: str | None,
    params_file: Path | None,
    output: Path | None,
) -> None:
    """Create the run directory a container cluster starts from: parameters, genesis and keys, each private
    key in a file of its own for the one container that gets it."""
    from ets.deploy.containers import image_path
    from ets.deploy.kubernetes import kubectl_commands
    from ets.deploy.provision import prepare

    params = load_params(params_file, households, steps, data, start_step)
    image_path(Path(params.household.data_file), PROJECT_ROOT)  # the containers must find the data
    run_dir = output or DOCKER_DIR / "run"
    genesis = prepare(params, run_dir)
    n = len(genesis.members)
    click.echo(f"{run_dir}: {n} households, {genesis.steps} steps")
    click.echo(f"Compose: ets docker compose --households {n}, then see docker/README.md")
    click.echo(f"Kubernetes: ets docker k8s --households {n}, kubectl apply -f docker/k8s/namespace.yaml, then")
    for line in kubectl_commands(run_dir):
        click.echo(f"  {line}")
    click.echo("  kubectl apply -f docker/k8s/")


@docker.command("compose")
@households_option
@data_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write (default: the project's docker/compose.yaml).",
)
@fail_cleanly
def compose(households: int | None, data: str | None, output: Path | None) -> None:
    """Write the Compose file: the coordinator and a service per household, each with its own volume and key,
    CurveZMQ on."""
    from ets.deploy.compose import compose_text

    path = output or DOCKER_DIR / "compose.yaml"
    n = households or _default_households()
    path.write_text(compose_text(n, _image_data(data)))
    click.echo(f"wrote {path} (coordinator and {n} households)")


@docker.command("k8s")
@households_option
@data_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory to write the manifests to (default: the project's docker/k8s).",
)
@fail_cleanly
def k8s(households: int | None, data: str | None, output: Path | None) -> None:
    """Write the Kubernetes manifests: the coordinator's Deployment and Service, the households' StatefulSet."""
    from ets.deploy.kubernetes import manifests

    directory = output or DOCKER_DIR / "k8s"
    directory.mkdir(parents=True, exist_ok=True)
    n = households or _default_households()
    for name, text in manifests(n, _image_data(data)).items():
        (directory / name).write_text(text)
    click.echo(f"wrote {directory} (coordinator and {n} households)")


project_option = click.option(
    "--project",
    "-p",
    default="ets",
    show_default=True,
    help="The Compose project name (its containers, network and volumes are labelled with it).",
)
compose_file_option = click.option(
    "--file",
    "-f",
    "compose_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The Compose file (default: the project's docker/compose.yaml).",
)


def _project(compose_file: Path | None, project: str) -> Project:
    from ets.deploy.engine import Project

    return Project(compose_file or DOCKER_DIR / "compose.yaml", project)


@docker.command("build")
@click.option(
    "--python-image",
    default=None,
    help="The base image (default: python:3.11-slim when the engine has it or --registry, else the Debian "
    "base docker/base-image.sh makes without a registry).",
)
@click.option("--registry", is_flag=True, help="Pull python:3.11-slim from a registry instead of making a base.")
@click.option("--tag", "-t", default=None, help="The image's tag (default: energy-trading-network:latest).")
@fail_cleanly
def build(python_image: str | None, registry: bool, tag: str | None) -> None:
    """Build the image the Compose file and the manifests run (docker build; dependencies from PyPI)."""
    import time

    from ets.deploy import containers, engine

    image = tag or containers.IMAGE
    base = python_image or (
        engine.REGISTRY_BASE if registry or engine.image_exists(engine.REGISTRY_BASE) else engine.LOCAL_BASE
    )
    started = time.monotonic()
    if base == engine.LOCAL_BASE:
        click.echo(f"base {base}: docker/base-image.sh (skipped when it exists)")
        engine.build_base(PROJECT_ROOT)
    click.echo(f"building {image} on {base}")
    engine.build_image(PROJECT_ROOT, base, image)
    size = engine.image_size(image) / 1e6
    click.echo(f"built {image} ({size:.0f} MB) in {time.monotonic() - started:.0f} s")


@docker.command("up")
@compose_file_option
@project_option
@click.option("--timeout", type=click.FloatRange(1), default=1800, show_default=True, help="Seconds to wait.")
@click.option("--detach", "-d", is_flag=True, help="Start the containers and return at once.")
@fail_cleanly
def up(compose_file: Path | None, project: str, timeout: float, detach: bool) -> None:
    """Start the Compose cluster (the image built, the run directory set up) and wait until the run is over:
    every container exited 0."""
    from ets.deploy.engine import State

    p = _project(compose_file, project)
    p.up()
    click.echo(f"project {p.name}: {len(p.containers())} containers started from {p.file}")
    if detach:
        return
    last: dict[str, State] = {}

    def show(states: dict[str, State]) -> None:
        changed = {n: s for n, s in states.items() if last.get(n) != s and (n == "coordinator" or s.restarts)}
        for name, state in sorted(changed.items()):
            health = f", {state.health}" if state.health else ""
            click.echo(f"  {name}: {state.status}{health}, restarts {state.restarts}")
        last.update(states)

    p.wait_finished(timeout, on_poll=show)
    run_dir = p.file.parent / "run"
    click.echo(f"run over; collect it with: ets docker collect {run_dir} -f {p.file} -p {p.name}")


@docker.command("collect")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=False)
@compose_file_option
@project_option
@click.option(
    "--results",
    "-r",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("results"),
    show_default=True,
    help="Where the run directory is made.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the run directory.")
@fail_cleanly
def collect(run_dir: Path | None, compose_file: Path | None, project: str, results: Path, quiet: bool) -> None:
    """Copy a finished container run's ledgers, metrics and logs out of its containers into a run directory
    under --results, with the results and summary of `ets run` (RUN_DIR: what `ets docker setup` made,
    default docker/run). Check it with `ets verify`."""
    from ets.deploy.collect import collect as collect_run

    out = collect_run(_project(compose_file, project), run_dir or DOCKER_DIR / "run", results, quiet=quiet)
    click.echo(str(out))


@docker.command("down")
@compose_file_option
@project_option
@fail_cleanly
def down(compose_file: Path | None, project: str) -> None:
    """Remove the Compose cluster's containers, network and volumes (the ledgers in them too)."""
    p = _project(compose_file, project)
    p.down()
    click.echo(f"project {p.name}: removed")
