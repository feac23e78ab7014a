"""A finished container run, brought back: ledgers, metrics and logs out of the containers' volumes into a
run directory of the usual layout, with the results written as ``ets run`` writes them."""

from __future__ import annotations

from pathlib import Path

from ets.deploy.compose import household_service
from ets.deploy.containers import COORDINATOR_LEDGER, HOUSEHOLD_LEDGER, Mounts
from ets.deploy.engine import Project
from ets.run.layout import RunLayout


def collect(project: Project, source: Path, results: Path, *, quiet: bool = True) -> Path:
    """Copy the run out of ``project``'s containers into a new directory under ``results`` (genesis,
    parameters and public keys from ``source``, the directory ``ets docker setup`` made), write
    optimized_results.csv and summary.json, and return the new directory; ``ets verify`` checks it."""
    from ets.results.outcome import finish_run
    from ets.run.workflow import adopt_run, digest_of_ledger

    prepared = adopt_run(source, results)
    layout = RunLayout(prepared.run_dir)
    mounts = Mounts()
    sources = {"coordinator": ("coordinator", COORDINATOR_LEDGER)}
    for i, hid in enumerate(prepared.genesis.household_ids):
        sources[household_service(i)] = (hid, HOUSEHOLD_LEDGER)
    for service, (name, ledger) in sources.items():
        layout.ledger(name).write_bytes(project.read_file(service, mounts.on_volume(ledger)))
        layout.log(name).write_text(project.logs(service))
    layout.metrics.write_bytes(project.read_file("coordinator", mounts.on_volume("network_metrics.csv")))
    finish_run(prepared, digest_of_ledger(prepared), quiet=quiet)
    return prepared.run_dir
