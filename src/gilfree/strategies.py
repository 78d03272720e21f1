"""Execution strategies: gilfree's own, declared once, and one way to open any of them.

==================  ===================================================  ==========================
name                runs tasks on                                        the GIL
==================  ===================================================  ==========================
``serial``          the calling thread, one after another (reference)    irrelevant
``threads``         a ``ThreadPoolExecutor``                             shared: only nogil code scales
``pool``            a ``multiprocessing.Pool`` (behind an Executor)      one per process
``processes``       a ``concurrent.futures.ProcessPoolExecutor``         one per process
``failsafe``        a :class:`gilfree.pool.FailSafePool`                 one per process
``joblib-loky``     ``joblib.Parallel``, loky backend (a peer)           one per process
``joblib-threads``  ``joblib.Parallel``, threading backend (a peer)      shared
``dask``            Dask's distributed scheduler: a LocalCluster or an   one per worker process
                    existing cluster (needs ``gilfree[dask]``)
==================  ===================================================  ==========================

Each row is a :class:`~gilfree.registry.Strategy` in :mod:`gilfree.registry`; everything that
offers a choice of strategies reads that table, and users add rows of their own with
:func:`~gilfree.registry.register_strategy`. Each executor lives in a module of its own
(:mod:`gilfree.serial`, :mod:`gilfree.mp_pool`, :mod:`gilfree.processes`, :mod:`gilfree.pool`,
:mod:`gilfree.peers`). How data reaches the tasks is :mod:`gilfree.transports`'s business.

Every process strategy here fails fast and says why when a worker dies (see
:mod:`gilfree.errors`): a dead worker becomes a :class:`~gilfree.errors.WorkerDied` naming its
signal or exit status, within a fraction of a second, instead of a hang (``multiprocessing.Pool``)
or a cause-less ``BrokenProcessPool``. How much survives differs, and that is the lesson:
``failsafe`` loses only the dead worker's task and carries on; ``processes`` fails every
unfinished task (the stdlib pool is broken for good); ``pool`` cannot tell which task died with
the worker, so it fails every outstanding one. Completed results are kept in every case (their
futures hold them). The joblib peers come as joblib ships them, for comparison.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator

from ._checks import check_count, check_seconds
from ._futures import worker_ignores_sigint
from .cluster import INSTALL as DASK_INSTALL
from .cluster import DaskExecutor
from .mp_pool import GuardedPool, PoolExecutor
from .peers import JOBLIB_BACKENDS, JoblibExecutor
from .pool import FailSafePool
from .processes import ABORT_GRACE_S, ProcessesExecutor, abort_process_pool
from .registry import (Capabilities, Strategy, capabilities_of, get_strategy, register_strategy, remember,
                       strategy_names)
from .serial import SerialExecutor

__all__ = [
    "ABORT_GRACE_S",
    "TYPICAL",
    "FailSafePool",
    "GuardedPool",
    "PoolExecutor",
    "ProcessesExecutor",
    "SerialExecutor",
    "capabilities_of",
    "check_workers",
    "get_strategy",
    "open_executor",
    "stop_executor",
    "strategy_names",
    "typical",
]


def check_workers(workers: object) -> int:
    """A worker count must be a positive int."""
    return check_count(workers, "workers")


# -- gilfree's own strategies, declared once ---------------------------------------------------

#: The strategy that stands for each kind of :attr:`~gilfree.registry.Capabilities.uses` where a
#: lesson shows one of each (lab step 7's sweep): the standard library's own executors.
TYPICAL: dict[str, str] = {"serial": "serial", "threads": "threads", "processes": "processes"}


def typical(uses: str) -> str:
    """The strategy that stands for ``uses`` ("serial", "threads" or "processes")."""
    try:
        return TYPICAL[uses]
    except KeyError:
        raise ValueError(f"uses must be one of {', '.join(TYPICAL)}, not {uses!r}") from None


SERIAL = Capabilities(uses="serial", in_process=True)
THREADS = Capabilities(uses="threads", in_process=True)
PROCESSES = Capabilities(uses="processes", in_process=False, start_methods=True)
#: Dask: workers may be on other machines, so chunks travel as descriptions by default; the
#: scheduler runs a dead worker's tasks again elsewhere; it can join a cluster at an address.
DASK = Capabilities(uses="processes", in_process=False, survives_worker_death=True, transport="description",
                    connects=True, places_tasks=True)


def _open_serial(workers: int, **options: Any) -> Executor:
    return SerialExecutor()


def _open_threads(workers: int, **options: Any) -> Executor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gilfree")


def _open_pool(workers: int, *, mp_context: Any = None, **options: Any) -> Executor:
    return PoolExecutor(workers, mp_context)


def _open_processes(workers: int, *, mp_context: Any = None, **options: Any) -> Executor:
    return ProcessesExecutor(max_workers=workers, mp_context=mp_context,
                             initializer=worker_ignores_sigint)


def _open_failsafe(workers: int, *, mp_context: Any = None, task_timeout: float | None = None,
                   **options: Any) -> Executor:
    return FailSafePool(workers, mp_context=mp_context, task_timeout=task_timeout)


def _open_dask(workers: int, *, scheduler: str | None = None, **options: Any) -> Executor:
    from .cluster import open_dask

    return open_dask(workers, scheduler=scheduler)


def _open_joblib(backend: str) -> Any:
    def opener(workers: int, **options: Any) -> Executor:
        return JoblibExecutor(workers, backend)
    return opener


#: gilfree's openers that start worker processes whose first act is to ignore Ctrl-C and unblock
#: SIGINT and SIGTERM (worker_ignores_sigint, FailSafePool's worker, the Dask workers' preload
#: gilfree.cluster.dask_setup): only these run under
#: :func:`_interrupts_deferred`. Another opener's workers (a plugin's) would keep both blocked.
_DEFERRING_OPENERS = frozenset({_open_pool, _open_processes, _open_failsafe, _open_dask})

_JOBLIB_INSTALL = 'pip install joblib, or pip install "gilfree[bench]"'

for _strategy in (
    Strategy("serial", "one task after another in the calling thread", _open_serial, SERIAL,
             executor_type=SerialExecutor),
    Strategy("threads", "a ThreadPoolExecutor: threads share one interpreter and, with it, the GIL",
             _open_threads, THREADS, executor_type=ThreadPoolExecutor),
    Strategy("pool", "a multiprocessing.Pool: worker processes, each with its own interpreter",
             _open_pool, PROCESSES, executor_type=PoolExecutor),
    Strategy("processes", "a ProcessPoolExecutor: worker processes behind the futures interface",
             _open_processes, PROCESSES, executor_type=ProcessPoolExecutor),
    Strategy("failsafe", "gilfree's FailSafePool: one pipe per worker; a dead worker fails only its task",
             _open_failsafe,
             Capabilities(uses="processes", in_process=False, can_stop_task=True,
                          survives_worker_death=True, start_methods=True),
             executor_type=FailSafePool),
    Strategy("joblib-loky", "joblib.Parallel on loky worker processes (a peer; needs joblib)",
             _open_joblib("loky"), JOBLIB_BACKENDS["loky"], requires=("joblib",), install=_JOBLIB_INSTALL, peer=True),
    Strategy("joblib-threads", "joblib.Parallel on threads (a peer; needs joblib)",
             _open_joblib("threading"), JOBLIB_BACKENDS["threading"], requires=("joblib",),
             install=_JOBLIB_INSTALL, peer=True),
    # Another library's scheduler, so a peer: the lab and the drill leave it out unless it is
    # asked for by name (a default run would otherwise start a cluster); the bench matrix has it.
    Strategy("dask", "Dask's distributed scheduler: a LocalCluster of worker processes, or a cluster "
             "at --scheduler (needs gilfree[dask])", _open_dask, DASK, requires=("distributed",),
             install=DASK_INSTALL, executor_type=DaskExecutor, peer=True),
):
    register_strategy(_strategy)


def _mp_context(start_method: str | None) -> Any:
    if start_method is None:
        return None
    if not isinstance(start_method, str):
        raise TypeError(f"start_method must be a str or None, not {type(start_method).__name__}")
    if start_method not in multiprocessing.get_all_start_methods():
        raise ValueError(
            f"start method {start_method!r} is not available here; choose one of "
            f"{', '.join(multiprocessing.get_all_start_methods())}"
        )
    return multiprocessing.get_context(start_method)


def stop_executor(executor: Executor, *, abort: bool, grace: float = ABORT_GRACE_S) -> None:
    """Shut an executor down; with ``abort`` (an error or Ctrl-C), drop the work not yet started.

    On abort an executor with an ``abort(grace)`` method (gilfree's process pools) uses it: the
    ``processes`` pool gives running chunks ``grace`` seconds, then kills busy workers; the
    ``pool`` and ``failsafe`` pools stop at once. A caller's own ``ProcessPoolExecutor`` gets the
    same treatment as ``processes``. Anything else (threads cannot be stopped from outside) is
    shut down with its pending tasks cancelled, its running ones waited for.
    """
    if not abort:
        executor.shutdown(wait=True)
        return
    own_abort = getattr(executor, "abort", None)
    if callable(own_abort):
        own_abort(grace)
    elif isinstance(executor, ProcessPoolExecutor):  # the standard class, not a peer
        abort_process_pool(executor, grace)
    else:
        executor.shutdown(wait=True, cancel_futures=True)


#: The signals that stop a run, held while a pool starts its workers.
_STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _interrupts_deferred(wanted: bool = True) -> Iterator[None]:
    """SIGINT and SIGTERM wait while an executor starts its workers, then act as usual.

    Two halves. In this thread both are blocked, so workers forked or spawned meanwhile start
    with them blocked and cannot die of one in their start-up, before they ignore Ctrl-C (their
    initializer unblocks them), as the stdlib's resource tracker starts its process. And in the
    main thread their Python handlers are swapped for one that only notes the signal (another
    thread may receive it, and Python would run the handler here at once); once the executor
    exists the handlers come back and each noted signal is raised again.
    """
    if not wanted:
        yield
        return
    noted: list[int] = []
    swapped: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in _STOPPING:
            previous = signal.getsignal(signum)
            if callable(previous):  # a Python handler; SIG_DFL and SIG_IGN keep their meaning
                swapped[signum] = previous
                signal.signal(signum, lambda received, frame: noted.append(received))
    masked = hasattr(signal, "pthread_sigmask")
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(_STOPPING)) if masked else None
    try:
        yield
    finally:
        if old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # a pending one is noted now
        for held, previous in swapped.items():
            signal.signal(held, previous)
        for again in dict.fromkeys(noted):
            signal.raise_signal(again)


@contextmanager
def open_executor(strategy: str, workers: int = 1, *, start_method: str | None = None,
                  task_timeout: float | None = None, scheduler: str | None = None) -> Iterator[Executor]:
    """An executor for ``strategy`` with ``workers`` workers, stopped when the block ends.

    ``strategy`` is any registered name (:func:`strategy_names`). If the block raises (a task's
    exception, Ctrl-C), the tasks not yet started are dropped (see :func:`stop_executor`).
    Worker processes ignore SIGINT: Ctrl-C is handled once, here. A Ctrl-C or SIGTERM that
    arrives while the executor starts its workers waits until the executor exists, and then
    stops it: a worker killed in its start-up (before it ignores Ctrl-C) would otherwise leave a
    half-built pool that nobody stops, and the program's exit waiting for it. ``start_method`` (``"fork"``,
    ``"spawn"``, ``"forkserver"``) applies to strategies whose workers honour one and is ignored
    by in-process ones; ``task_timeout`` (seconds) needs a strategy that can stop one task;
    ``scheduler`` (an address such as ``"tcp://host:8786"``) needs one that ``connects`` to an
    existing cluster (``dask``), and then ``workers`` is the cluster's business.
    """
    workers = check_workers(workers)
    task_timeout = check_seconds(task_timeout, "task_timeout", allow_none=True)
    declared = get_strategy(strategy)
    caps = declared.capabilities
    missing = declared.missing()
    if missing:
        raise ImportError(missing)
    ctx = _mp_context(start_method)
    options: dict[str, Any] = {}
    if task_timeout is not None:
        if not caps.can_stop_task:
            able = [s for s in strategy_names() if get_strategy(s).capabilities.can_stop_task]
            raise ValueError(
                f"task_timeout needs a strategy that can stop one task ({', '.join(able)}), not "
                f"{strategy!r}: threads cannot be stopped from outside, and the standard pools "
                "cannot stop one task without breaking the pool")
        options["task_timeout"] = task_timeout
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise TypeError(f"scheduler must be an address such as 'tcp://host:8786', not {scheduler!r}")
        if not caps.connects:
            able = [s for s in strategy_names() if get_strategy(s).capabilities.connects]
            raise ValueError(f"scheduler needs a strategy that joins an existing cluster "
                             f"({', '.join(able) or 'none is registered'}), not {strategy!r}")
        options["scheduler"] = scheduler.strip()
    if ctx is not None and caps.uses == "processes":
        if not caps.start_methods:
            raise ValueError(f"start_method does not apply to {strategy!r}: it starts its own workers")
        options["mp_context"] = ctx
    executor = None
    try:
        with _interrupts_deferred(declared.opener in _DEFERRING_OPENERS):
            executor = declared.opener(workers, **options)
        if not isinstance(executor, Executor):
            raise TypeError(f"the {strategy!r} strategy's opener returned a {type(executor).__name__}, "
                            "not a concurrent.futures.Executor")
        remember(executor, caps)
        yield executor
    except BaseException as error:
        if not isinstance(executor, Executor):
            raise
        try:
            stop_executor(executor, abort=True)
        except Exception as cleanup:  # the error that stopped the run is the one to report
            if hasattr(error, "add_note"):  # Python 3.11 and newer
                error.add_note(f"stopping the {strategy!r} executor afterwards also failed: "
                               f"{type(cleanup).__name__}: {cleanup}")
        raise
    else:
        stop_executor(executor, abort=False)
