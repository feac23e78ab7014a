"""Deterministic YAML: keys in the order they were built, no anchors, one document after another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(documents: Sequence[dict[str, Any]], header: str) -> str:
    """``header`` as comment lines, then the documents, separated by ``---``."""
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    several = len(documents) > 1
    body = yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=10_000, explicit_start=several
    )
    return comment + body
