"""Connecting to a Dask ``distributed`` scheduler, for every stage that can run on one.

The simulation's chunks (engine.simulation.executors.DaskExecutor) and the ideal observer's
pieces (engine.scoring.ceiling_dataset) run on the same kind of cluster, reached the same way:
an address ``tcp://HOST:PORT`` (or a ``distributed.Client`` already made). A malformed address
is refused at once, an unreachable scheduler after CONNECT_TIMEOUT_S, both as DaskConnectError
naming the address and saying what to check; ``distributed`` is imported only when connecting.

Example::

    client, owned = connect("tcp://10.0.0.5:8786")     # DaskConnectError if it cannot
    threads = worker_threads(client)                   # worker threads the cluster has now
    if owned:
        client.close()
"""
from __future__ import annotations

import inspect
import re

CONNECT_TIMEOUT_S = 10
_ADDRESS = re.compile(r"((tcp|tls|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})")


class DaskConnectError(ValueError):
    """A scheduler address that is malformed or cannot be reached; the message names it."""


def check_scheduler_address(address, option: str = "--scheduler") -> None:
    """Refuse, at once, an address distributed could not connect to (it would try for a
    minute and end in a traceback)."""
    if not isinstance(address, str) or not (m := _ADDRESS.fullmatch(address.strip())) \
            or not 0 < int(m.group(4)) < 65536:
        raise DaskConnectError(f"{option} {address!r}: not a Dask scheduler address (expected tcp://HOST:PORT, "
                               "e.g. tcp://10.0.0.5:8786)")


def connect(scheduler, option: str = "--scheduler"):
    """(client, owned): a Client for ``scheduler`` (an address, or a Client used as it is;
    ``owned``: made here, so the caller closes it)."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    check_scheduler_address(scheduler, option)
    try:
        return Client(scheduler, set_as_default=False, timeout=CONNECT_TIMEOUT_S), True
    except OSError as exc:  # distributed's connect timeout is an OSError too
        raise DaskConnectError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S} s "
                               f"({first_line(exc)}); is it running (dask scheduler) and reachable from "
                               "here?") from None


def worker_threads(client) -> int:
    """Worker threads the cluster has now (at least 1)."""
    info = client.scheduler_info(n_workers=-1) if _accepts_n_workers(client) else client.scheduler_info()
    return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))


def _accepts_n_workers(client) -> bool:
    """Newer distributed lists only the first few workers unless asked for all (n_workers=-1)."""
    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
