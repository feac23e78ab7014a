"""Leaving with the launching process: ``--exit-with-parent`` of ``ets node`` and ``ets coordinator``.

On Linux the kernel is asked (``prctl(PR_SET_PDEATHSIG)``) to send this process SIGTERM the moment its
parent ends, however the parent ended (SIGKILL included); the process then stops as on any SIGTERM,
without sealing or offering anything more. Everywhere, the process also compares ``os.getppid()`` with the
launcher's pid in its loops: the portable fallback, and the check for a parent that was gone before the
request was made.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

from runtime import envvars

PR_SET_PDEATHSIG = 1


def launcher_pid() -> int:
    """The pid of the process that started this one: what ``ets run`` recorded, else the parent now."""
    with contextlib.suppress(KeyError, ValueError):
        return int(os.environ[envvars.LAUNCHER_PID])
    return os.getppid()


def signal_when_parent_dies(signum: int = signal.SIGTERM) -> None:
    """Have the kernel send ``signum`` to this process when its parent ends (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


def parent_gone(launcher: int) -> bool:
    """True once the process that started this one has ended (this one was handed to another parent)."""
    return os.getppid() != launcher
