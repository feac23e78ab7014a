"""The environment variables of ``ets node``, ``ets coordinator`` and ``ets health``.

Every option of these commands can be set from the environment, so that the same command runs under
``ets run``, Docker Compose and Kubernetes. The scheme: ``ETS_`` + the option's long name in capitals with
``-`` as ``_`` (``--gossip-bind`` is ``ETS_GOSSIP_BIND``). A flag on the command line wins over the
variable.
"""

from __future__ import annotations

RUN_DIR = "ETS_RUN_DIR"
GENESIS = "ETS_GENESIS"
PARAMS = "ETS_PARAMS"
KEY = "ETS_KEY"
LEDGER = "ETS_LEDGER"
DATA = "ETS_DATA"
HEARTBEAT = "ETS_HEARTBEAT"
EXIT_WITH_PARENT = "ETS_EXIT_WITH_PARENT"

HOUSEHOLD = "ETS_HOUSEHOLD"
HOUSEHOLD_INDEX = "ETS_HOUSEHOLD_INDEX"
COORDINATOR_ROUTER = "ETS_COORDINATOR_ROUTER"
COORDINATOR_PUB = "ETS_COORDINATOR_PUB"
GOSSIP_BIND = "ETS_GOSSIP_BIND"
GOSSIP_ADVERTISE = "ETS_GOSSIP_ADVERTISE"
SYNC_BIND = "ETS_SYNC_BIND"
SYNC_ADVERTISE = "ETS_SYNC_ADVERTISE"
METER = "ETS_METER"

ROUTER_BIND = "ETS_ROUTER_BIND"
PUB_BIND = "ETS_PUB_BIND"
ENDPOINTS_FILE = "ETS_ENDPOINTS_FILE"
METRICS_FILE = "ETS_METRICS_FILE"

MAX_AGE = "ETS_MAX_AGE"

LAUNCHER_PID = "ETS_LAUNCHER_PID"
"""Set by ``ets run`` for its processes: the pid ``--exit-with-parent`` watches (the parent at the moment of
the start, even if it is already gone when the process gets to look). Not an option."""

SECURE = "ETS_SECURE"
"""Transport security (CurveZMQ): ``1``/``true`` on, ``0``/``false`` off; unset: on unless every address is
loopback."""

OPTION_VARIABLES = frozenset(
    [
        RUN_DIR,
        GENESIS,
        PARAMS,
        KEY,
        LEDGER,
        DATA,
        HEARTBEAT,
        EXIT_WITH_PARENT,
        HOUSEHOLD,
        HOUSEHOLD_INDEX,
        COORDINATOR_ROUTER,
        COORDINATOR_PUB,
        GOSSIP_BIND,
        GOSSIP_ADVERTISE,
        SYNC_BIND,
        SYNC_ADVERTISE,
        METER,
        SECURE,
        ROUTER_BIND,
        PUB_BIND,
        ENDPOINTS_FILE,
        METRICS_FILE,
        MAX_AGE,
    ]
)
"""What a process started by ``ets run`` must not inherit: the launcher gives it every setting it needs as a
flag, and a variable left in the user's shell (a key, a ledger) would otherwise reach every process."""
