"""Dask behind the ``concurrent.futures`` interface: a cluster on this machine, or one elsewhere.

gilfree's pools end at the edge of one machine; Dask's distributed scheduler does not. The
``dask`` strategy (:mod:`gilfree.strategies`) opens a :class:`DaskExecutor`:

* by default on a ``LocalCluster`` that gilfree starts and closes: one worker process per
  worker (each under a Nanny, which restarts it if it dies), one thread each, every socket on
  the loopback interface, logs down to warnings, no dashboard unless ``GILFREE_DASK_DASHBOARD``
  names an address for one (``127.0.0.1:8787``, say; its link is printed);
* with ``scheduler="tcp://host:8786"`` on an existing cluster: gilfree connects a client and
  closes only that client. A scheduler that does not answer within :data:`CONNECT_TIMEOUT_S`
  is a :class:`SchedulerUnreachable`, not a hang.

A :class:`DaskExecutor` keeps the ``concurrent.futures`` contract (``submit`` returns a standard
``Future``; ``shutdown(wait, cancel_futures=...)``), names every task after its function and its
number (so Dask's own error about a task whose workers kept dying names the chunk), and turns
that error into :class:`gilfree.errors.WorkerDied`. A worker that dies mid-run costs a retry:
the scheduler runs its tasks again elsewhere, and :meth:`DaskExecutor.rescheduled` lists them.
A caller's own ``distributed.Client`` goes in through :func:`executor_for`; the executor of
``client.get_executor()`` is declared to gilfree's registry as well.

Nothing here imports ``distributed`` until a cluster is asked for: gilfree works without it.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import uuid
import weakref
from concurrent.futures import Executor, Future
from concurrent.futures import wait as futures_wait
from functools import partial
from typing import Any, Callable

from .errors import WorkerDied

__all__ = ["CONNECT_TIMEOUT_S", "DASHBOARD_ENV", "INSTALL", "DaskExecutor", "SchedulerUnreachable",
           "executor_for", "open_dask", "where_am_i"]

#: How long a scheduler address may take to answer before gilfree gives up on it.
CONNECT_TIMEOUT_S = 5.0
#: An address for the LocalCluster's dashboard (``127.0.0.1:8787``); unset, there is none.
DASHBOARD_ENV = "GILFREE_DASK_DASHBOARD"
#: How to get Dask, in the words every "not installed" error uses.
INSTALL = 'pip install "gilfree[dask]"'
#: How long closing a cluster may take before its workers are killed.
CLOSE_TIMEOUT_S = 10.0


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given."""


def where_am_i() -> str:
    """Where a task runs: its Dask worker's address, or ``pid:N`` outside a Dask worker.

    Runs inside tasks; the answer is what :meth:`DaskExecutor.submit_to` takes.
    """
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker

            return str(get_worker().address)
        except ValueError:  # not inside a Dask worker
            pass
    return f"pid:{os.getpid()}"


def _dashboard_address() -> str | None:
    value = os.environ.get(DASHBOARD_ENV, "").strip()
    return value or None


class DaskExecutor(Executor):
    """A ``concurrent.futures.Executor`` over a ``distributed.Client``.

    ``owned`` (what ``open_dask`` passes) says that closing the executor closes the client and,
    if there is one, the cluster gilfree started. An executor made by :func:`executor_for` from
    a caller's client leaves both open.
    """

    def __init__(self, client: Any, cluster: Any = None, *, owned: bool = True,
                 scratch: str | None = None, dashboard: bool = True) -> None:
        self._client = client
        self._dashboard = dashboard
        self._cluster = cluster
        self._scratch = scratch
        self._owned = owned
        self._lock = threading.Lock()
        self._shutdown = False
        self._closed = False
        self._inner = client.get_executor(pure=False)  # distributed's ClientExecutor
        self._pending: weakref.WeakSet[Future[Any]] = weakref.WeakSet()  # what callers still wait for
        self._numbers = itertools.count()
        self._token = uuid.uuid4().hex[:10]

    # -- what it is ------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        return self._client

    @property
    def scheduler_address(self) -> str:
        return str(self._client.scheduler.address)

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's address, when the scheduler serves one (the scheduler's web server runs
        either way, so a LocalCluster started without a dashboard says None)."""
        if not self._dashboard:
            return None
        try:
            services = self._client.scheduler_info().get("services", {})
        except Exception:  # the scheduler is gone; so is its dashboard
            return None
        return str(self._client.dashboard_link) if "dashboard" in services else None

    @property
    def workers(self) -> int:
        """Threads across the cluster's workers: the tasks it runs at once."""
        try:
            info = self._client.scheduler_info(n_workers=-1)["workers"]
        except TypeError:  # a distributed without n_workers
            info = self._client.scheduler_info()["workers"]
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))

    def worker_pids(self) -> dict[str, int]:
        """Each worker's address and process id (the fault tests kill one)."""
        return {str(k): int(v) for k, v in self._client.run(os.getpid).items()}

    # -- the executor ----------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._submit(fn, args, kwargs, {})

    def submit_to(self, where: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """``submit``, asking for the worker at ``where`` (from :func:`where_am_i`), where the task's
        inputs are kept; any other worker takes it if that one is gone."""
        placement = {"workers": [where], "allow_other_workers": True} if not where.startswith("pid:") else {}
        return self._submit(fn, args, kwargs, placement)

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                placement: dict[str, Any]) -> Future[Any]:
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__name__}")
        call = partial(fn, **kwargs) if kwargs else fn
        name = getattr(fn, "__name__", type(fn).__name__)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            key = f"gilfree-{name}-{next(self._numbers)}-{self._token}"
            # Dask's own Executor does the submitting and settles its standard future in the
            # client's event loop (its submit passes key and placement on to Client.submit).
            inner: Future[Any] = self._inner.submit(call, *args, key=key, **placement)
        local: Future[Any] = Future()

        def cancel_inner(f: Future[Any]) -> None:
            if f.cancelled():
                inner.cancel()

        local.add_done_callback(cancel_inner)
        inner.add_done_callback(partial(_settle, local, key))
        self._pending.add(local)
        return local

    def rescheduled(self) -> list[str]:
        """This executor's tasks that lost their worker and were run again (or failed for it)."""
        try:
            events = self._client.get_events()
        except Exception:
            return []
        keys: dict[str, None] = {}
        for topic, entries in events.items():
            if topic == "all":
                continue
            for _, msg in entries:
                if isinstance(msg, dict) and msg.get("action") == "remove-worker" and not msg.get("expected"):
                    for key in sorted(map(str, msg.get("processing-tasks", ()))):
                        if key.endswith(self._token):
                            keys[key] = None
        return list(keys)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            already = self._shutdown
            self._shutdown = True
        if not already:
            if wait and not cancel_futures:  # the callers' futures that are not settled yet
                futures_wait([f for f in list(self._pending) if not f.done()])
            try:
                # Cancels (releases) whatever Dask still tracks: not Dask's own wait, which also
                # waits for the keys of results already handed over and lost since with a worker.
                self._inner.shutdown(wait=False)
            except Exception:  # the client is gone: nothing left to cancel
                pass
        self._close()

    def abort(self, grace: float = 0.0) -> None:
        """Drop the work not yet done and close what gilfree opened (an error, Ctrl-C, SIGTERM)."""
        self.shutdown(wait=False, cancel_futures=True)

    def _close(self) -> None:
        with self._lock:
            if self._closed or not self._owned:
                self._closed = True
                return
            self._closed = True
        try:
            self._client.close(timeout=CLOSE_TIMEOUT_S)
        finally:
            try:
                if self._cluster is not None:
                    self._cluster.close(timeout=CLOSE_TIMEOUT_S)
            finally:
                if self._scratch is not None:
                    shutil.rmtree(self._scratch, ignore_errors=True)

    def __repr__(self) -> str:
        where = "a LocalCluster" if self._cluster is not None else "a cluster"
        return f"<gilfree DaskExecutor on {where} at {self.scheduler_address}>"


def _settle(local: Future[Any], key: str, inner: Future[Any]) -> None:
    """Hand the outcome of Dask's standard future to the one the caller holds."""
    if local.done():
        return
    if inner.cancelled():
        if local.cancel():
            local.set_running_or_notify_cancel()
        return
    error = inner.exception()
    if error is not None:
        local.set_exception(_explained(error, key))
    else:
        local.set_result(inner.result())


def _explained(error: BaseException, key: str) -> BaseException:
    """Dask's ``KilledWorker`` as gilfree's :class:`WorkerDied`, naming the chunk's task."""
    if type(error).__name__ == "KilledWorker":
        allowed = getattr(error, "allowed_failures", None)
        tries = f" {allowed + 1} times" if isinstance(allowed, int) else ""
        died = WorkerDied(f"task {key} lost its Dask worker{tries} (each died while running it); "
                          "Dask gave up on it", task=key)
        died.__cause__ = error
        return died
    return error


def dask_setup(worker: Any) -> None:
    """Run by Dask in each worker process of a LocalCluster gilfree starts (a preload).

    Ctrl-C is the parent's business, handled once there: a worker ignores it, as gilfree's pool
    workers do, instead of dying with a traceback when a terminal's Ctrl-C reaches the whole
    process group. The parent started the workers with SIGINT and SIGTERM blocked (so that one
    arriving in a worker's start-up waits); here both are unblocked again.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _silence(level: int = logging.WARNING) -> None:
    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.worker",
                 "distributed.core", "distributed.http.proxy", "distributed.deploy"):
        logging.getLogger(name).setLevel(level)


def _declare_client_executor() -> None:
    """A caller's ``client.get_executor()`` is a Dask executor to the registry too."""
    from distributed.cfexecutor import ClientExecutor

    from .registry import declare_capabilities, get_strategy

    declare_capabilities(ClientExecutor, get_strategy("dask").capabilities)


def open_dask(workers: int, *, scheduler: str | None = None, threads_per_worker: int = 1,
              **options: Any) -> DaskExecutor:
    """A :class:`DaskExecutor` on a new LocalCluster of ``workers`` processes, or on ``scheduler``."""
    try:
        import distributed
    except ImportError:
        raise ImportError(f"the dask strategy needs distributed, which is not installed ({INSTALL})") from None
    _silence()
    _declare_client_executor()
    if scheduler is not None:
        return DaskExecutor(_connect(distributed, scheduler), owned=True)
    dashboard = _dashboard_address()
    scratch = tempfile.mkdtemp(prefix="gilfree-dask-")  # every scratch folder of the cluster, removed on close
    import dask

    try:
        with dask.config.set({"temporary-directory": scratch}):
            cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers, threads_per_worker=threads_per_worker, processes=True, host="127.0.0.1",
                dashboard_address=dashboard, worker_dashboard_address=None, silence_logs=logging.WARNING,
                local_directory=scratch, preload=[__name__],
                scheduler_kwargs={"dashboard_address": dashboard or "127.0.0.1:0",
                                  "dashboard": dashboard is not None})
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        client = distributed.Client(cluster, set_as_default=False)  # type: ignore[no-untyped-call]
    except BaseException:
        cluster.close(timeout=CLOSE_TIMEOUT_S)
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    import importlib.util

    drawn = dashboard is not None and importlib.util.find_spec("bokeh") is not None
    executor = DaskExecutor(client, cluster, owned=True, scratch=scratch, dashboard=drawn)
    link = executor.dashboard_link
    if link:
        print(f"gilfree: the Dask dashboard is at {link}", file=sys.stderr, flush=True)
    elif dashboard is not None:
        print(f"gilfree: {DASHBOARD_ENV} asks for a Dask dashboard, which needs bokeh (pip install bokeh)",
              file=sys.stderr, flush=True)
    return executor


def _connect(distributed: Any, address: str) -> Any:
    if not isinstance(address, str) or not address.strip():
        raise TypeError(f"scheduler must be an address such as 'tcp://host:8786', not {address!r}")
    import dask

    _probe(address)
    _handshake(address)
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT_S}s"}):
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise _unreachable(address, exc) from exc
    except Exception as exc:  # something answered, but not as a Dask scheduler (an HTTP server, a proxy)
        raise _unreachable(address, f"what answered is not a Dask scheduler: {type(exc).__name__}") from exc
    link = client.dashboard_link if "dashboard" in client.scheduler_info().get("services", {}) else None
    if link:
        print(f"gilfree: the Dask dashboard is at {link}", file=sys.stderr, flush=True)
    return client


def _unreachable(address: str, why: object) -> SchedulerUnreachable:
    return SchedulerUnreachable(
        f"no Dask scheduler answered at {address} within {CONNECT_TIMEOUT_S:g} s ({why}); "
        "start one there (dask scheduler, then dask worker ADDRESS on each machine) or "
        "leave --scheduler out for a LocalCluster on this machine")


def _probe(address: str) -> None:
    """A plain TCP connection to a ``tcp://host:port`` address first: a port where nothing listens
    is refused at once, where Dask's client would retry until its timeout. Other schemes (tls,
    ucx, inproc) go straight to Dask."""
    scheme, _, rest = address.partition("://")
    if scheme != "tcp" or not rest:
        return
    host, _, port = rest.rpartition(":")
    if not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise _unreachable(address, exc) from exc


def _handshake(address: str) -> None:
    """Dask's own handshake with whatever listens there, without a Client: a Client that fails to
    start lingers until exit and spends its close timeout there."""
    import asyncio

    from distributed.comm.core import connect

    async def shake() -> None:
        comm = await connect(address, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        await comm.close()

    try:
        asyncio.run(asyncio.wait_for(shake(), CONNECT_TIMEOUT_S))
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        raise _unreachable(address, exc) from exc
    except Exception as exc:  # something answered, but not as a Dask scheduler (an HTTP server, a proxy)
        raise _unreachable(address, f"what answered is not a Dask scheduler: {type(exc).__name__}") from exc


def executor_for(client: Any) -> DaskExecutor:
    """An executor over a caller's own ``distributed.Client``; closing it leaves the client open."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(f"executor_for needs distributed, which is not installed ({INSTALL})") from None
    if not isinstance(client, Client):
        raise TypeError(f"executor_for needs a distributed.Client, not {type(client).__name__}")
    _declare_client_executor()
    return DaskExecutor(client, owned=False)
