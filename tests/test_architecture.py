"""The pictures of the code cannot go stale: README's and docs/architecture.md's layer picture is the one the
imports give, every module or function they name exists, and README's Code layout table lists the tree."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.imports import PACKAGES, PICTURES, ROOT, graph, layer_picture, shown_picture

DOTTED = re.compile(r"`((?:chain|optimizer|runtime|node|coordinator|ets)(?:\.\w+)+)`|<br/>((?:\w+\.)+\w+)\"")


def resolves(dotted: str) -> bool:
    """A module, or a name (an attribute chain) in the longest module prefix of ``dotted``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_the_layer_picture_is_the_imports(path: Path) -> None:
    assert shown_picture(path) == layer_picture(graph()), "run `uv run python -m tests.imports`"


@pytest.mark.parametrize("path", PICTURES, ids=lambda p: p.name)
def test_every_name_the_pictures_give_exists(path: Path) -> None:
    text = path.read_text()
    start = text.index("## Code layout") if path.name == "README.md" else 0
    names = {a or b for a, b in DOTTED.findall(text[start:])}
    assert len(names) >= 7
    assert sorted(n for n in names if not resolves(n)) == []


def test_a_name_that_is_gone_is_caught() -> None:
    assert resolves("chain.ledger.Ledger.append")
    assert not resolves("chain.ledger.Ledger.append_block")
    assert not resolves("ets.check.gone")


def _layout_rows() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Code layout") : text.index("## Figures")]
    return {m.rstrip("/") for m in re.findall(r"^\| `([\w/]+)/` \|", section, flags=re.M)}


def _tree() -> set[str]:
    """Every package and sub-package of the project, and the top-level folders that hold no Python package."""
    found = {str(p.parent.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")}
    others = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in found and p.name not in {"results"}
    }
    return found | others


def test_readmes_code_layout_lists_the_tree() -> None:
    assert _layout_rows() == _tree()
