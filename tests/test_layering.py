"""The layers stay as README's Code layout draws them: each package imports only the packages below it (the
processes never the application that launches them), and no module imports itself back through others."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.imports import PACKAGES, ROOT, Import, graph, imports_of, modules

ALLOWED: dict[str, set[str]] = {
    "chain": {"chain"},
    "optimizer": {"chain", "optimizer"},
    "runtime": {"chain", "optimizer", "runtime"},
    "node": {"chain", "optimizer", "runtime", "node"},
    "coordinator": {"chain", "optimizer", "runtime", "coordinator"},
    "ets": set(PACKAGES),
}
"""What each package may import. ``node`` and ``coordinator`` do not import each other: they talk over the
wire only."""


def violations(imports: list[Import]) -> list[str]:
    return [
        f"{i.module} (line {i.line}) imports {i.target}"
        for i in imports
        if i.target.split(".")[0] not in ALLOWED[i.module.split(".")[0]]
    ]


def cycles(imports: list[Import]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), and modules importing themselves."""
    edges: dict[str, set[str]] = {}
    for i in imports:
        edges.setdefault(i.module, set()).add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_package_imports_only_the_layers_below_it() -> None:
    assert violations(graph()) == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize("package", ["node", "coordinator", "chain", "optimizer", "runtime"])
@pytest.mark.parametrize(
    "source",
    ["from ets.run.layout import RunLayout\n", "import ets.cli\n", "def f():\n    from ets import cli\n"],
    ids=["from", "import", "lazy"],
)
def test_the_check_catches_a_process_importing_the_application(package: str, source: str, tmp_path: Path) -> None:
    """The same check on a module that imports ``ets`` (at its top or inside a function) fails."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = list(imports_of(f"{package}.probe", path, set(modules())))
    assert violations(found), found


def test_a_type_checking_import_is_no_edge_and_a_cycle_is_found(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from ets.cli import main
            """
        )
    )
    assert list(imports_of("node.probe", path, set(modules()))) == []
    loop = [Import("ets.a", "ets.b", 1), Import("ets.b", "ets.c", 1), Import("ets.c", "ets.a", 1)]
    assert cycles([*loop, Import("ets.c", "chain.codec", 2)]) == [["ets.a", "ets.b", "ets.c"]]


def test_every_module_is_read() -> None:
    """The graph covers every package's modules (a package missing from PACKAGES would escape the check)."""
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in ("tests", "bench")}
    assert packages == set(PACKAGES)
    assert len(modules()) > 100
