"""Executors for training and leave-one-year-out runs: serial, a thread pool, or Dask distributed.

Why one small seam instead of Dask everywhere: the training and LOYO code only needs
``submit(fn, *args) -> future`` and ``future.result()``, which a
:class:`concurrent.futures.Executor` and a ``dask.distributed.Client`` both offer. The serial path
stays the reference (no scheduler, nothing to install), and a cluster is one argument away.
Results do not depend on the executor because every task is a pure function of its arguments and
LightGBM runs with ``deterministic=True``, fixed seeds and a fixed thread count per task.

Large inputs (the whole wide frame and its features, ~300 MB for the Han archive) go to Dask
workers once with :func:`share` (``Client.scatter(broadcast=True)``) instead of inside every task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

EXECUTORS = ("serial", "threads", "dask")


def is_dask_client(executor: Any) -> bool:
    """True for a ``dask.distributed.Client`` (checked by duck type: it can scatter)."""
    return executor is not None and hasattr(executor, "scatter") and hasattr(executor, "gather")


def share(executor: Any, obj: Any) -> Any:
    """``obj`` ready to pass to many tasks: a broadcast Dask future, else ``obj`` itself."""
    if is_dask_client(executor):
        return executor.scatter(obj, broadcast=True, hash=False)
    return obj


def local_cluster_client(workers: int, processes: bool = True) -> Any:
    """A ``dask.distributed.Client`` on a new LocalCluster: one thread per worker, no dashboard
    (the scheduler's health routes listen on a free loopback port).

    One thread per worker because each task runs LightGBM with its own fixed thread count;
    more Dask threads would only oversubscribe the cores.
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - dask is a declared dependency
        raise RuntimeError("the dask executor needs `dask[distributed]` installed") from err
    # dashboard_address=None turns the dashboard off but the scheduler still serves its health
    # and metrics routes, by default on :8787 — a second cluster on the machine then warns
    # "Port 8787 is already in use". A free loopback port avoids the clash.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                           dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    return Client(cluster)


@contextmanager
def executor_for(kind: str, workers: int = 2, processes: bool = True) -> Iterator[Any]:
    """``None`` (serial), a ThreadPoolExecutor or a Dask Client on a LocalCluster; closed on exit.

    To use an existing cluster, pass its ``Client`` to the training / LOYO functions directly.
    """
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r} (known: {', '.join(EXECUTORS)})")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if kind == "serial":
        yield None
    elif kind == "threads":
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield pool
    else:
        client = local_cluster_client(workers, processes=processes)
        cluster = client.cluster
        log.info("dask LocalCluster with %d workers at %s", workers, cluster.scheduler_address)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
