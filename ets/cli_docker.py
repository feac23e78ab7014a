"""``ets docker``: the run directory, Compose file and Kubernetes manifests of a container cluster."""

from __future__ import annotations

from pathlib import Path

import click

from ets.cli import PROJECT_ROOT, _fail_cleanly, load_params, resolve_data_path

DOCKER_DIR = PROJECT_ROOT / "docker"


def _image_data(data: str | None) -> str:
    """The data file's path inside the image (the default data unless ``data``)."""
    from ets.deploy.containers import image_path
    from ets.params import Params

    return image_path(resolve_data_path(data or Params().household.data_file), PROJECT_ROOT)


def _default_households() -> int:
    from ets.params import Params

    return Params().household.max_households


households_option = click.option(
    "--households", "-n", type=click.IntRange(1), help="Number of households (default: the parameters', 10)."
)
data_option = click.option(
    "--data", type=str, help="Household data file, in the project's household_dbs/ (default: the shipped data)."
)


@click.group()
def docker() -> None:
    """Containers: the run directory, the Compose file and the Kubernetes manifests (docker/README.md)."""


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
@_fail_cleanly
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
@_fail_cleanly
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
@_fail_cleanly
def k8s(households: int | None, data: str | None, output: Path | None) -> None:
    """Write the Kubernetes manifests: the coordinator's Deployment and Service, the households' StatefulSet."""
    from ets.deploy.kubernetes import manifests

    directory = output or DOCKER_DIR / "k8s"
    directory.mkdir(parents=True, exist_ok=True)
    n = households or _default_households()
    for name, text in manifests(n, _image_data(data)).items():
        (directory / name).write_text(text)
    click.echo(f"wrote {directory} (coordinator and {n} households)")
