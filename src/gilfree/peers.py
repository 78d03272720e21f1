"""What a user would pick instead of gilfree's own strategies, behind the same interfaces.

* :class:`JoblibExecutor` runs tasks through ``joblib.Parallel``, exactly as a joblib user
  writes it (``Parallel(n_jobs=k, backend=...)(delayed(fn)(*args) for ...)``), with joblib's
  own defaults: on the ``loky`` backend, numpy arguments over 1 MB are dumped to a memory-mapped
  temporary file and handed to the workers read-only (joblib's "automatic memmapping"); on the
  ``threading`` backend they are passed as they are. loky keeps its worker processes between
  calls (its "reusable executor"), so only the first call pays for starting them. joblib is an
  optional dependency (``pip install "gilfree[bench]"``).
* :func:`numpy_sum` and :func:`numpy_logistic` are numpy's own single-threaded calls on the same
  arrays the kernels read: what a user would write before reaching for any parallelism.

joblib runs whole batches, not single submissions, so :class:`JoblibExecutor` offers
``run_batch(fn, argsets)``, which :func:`gilfree.chunked.run_chunks` uses for it. ``submit``
works too, as a batch of one (correct, not parallel).
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ._checks import check_count
from ._futures import worker_ignores_sigint
from .registry import Capabilities

if TYPE_CHECKING:  # numpy is imported where it is used: opening an executor needs none of it
    import numpy as np

__all__ = ["JOBLIB_BACKENDS", "JoblibExecutor", "joblib_version", "numpy_logistic", "numpy_sum"]

#: The joblib backends gilfree runs, and what each can do.
JOBLIB_BACKENDS = {
    "loky": Capabilities(uses="processes", in_process=False, batches=True, transport="whole-array"),
    "threading": Capabilities(uses="threads", in_process=True, batches=True),
}


def joblib_version() -> str | None:
    """joblib's version, or None where it is not installed."""
    try:
        import joblib
    except ImportError:
        return None
    return str(joblib.__version__)


def _import_joblib() -> Any:
    try:
        import joblib
    except ImportError:
        raise ImportError(
            "the joblib strategies need joblib: pip install joblib (or gilfree[bench])") from None
    return joblib


class JoblibExecutor(Executor):
    """``joblib.Parallel`` with ``workers`` jobs on ``backend`` (``"loky"`` or ``"threading"``).

    Each batch is one ``Parallel(...)`` call, the way most joblib code reads; loky's workers
    outlive it, so they start once. One ``with Parallel(...) as parallel:`` block reused for every
    batch would be faster still, but with joblib 1.6.0 it hands the workers a stale copy of an
    array that the caller changed in place between two calls (the memmap of the first call is
    reused): the benchmark's checks caught that, so it is not used here. A batch that raises
    loses the results of the whole batch, as ``Parallel`` itself does: unlike
    :func:`gilfree.chunked.run_chunks` on a pool, joblib hands back all results or none.

    ``shutdown`` stops loky's worker processes too (joblib alone keeps them idle for minutes),
    so that closing this executor leaves no process behind, as closing any other pool does.
    """

    def __init__(self, workers: int, backend: str = "loky") -> None:
        self.workers = check_count(workers, "workers")
        if backend not in JOBLIB_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(JOBLIB_BACKENDS)}, not {backend!r}")
        self._joblib = _import_joblib()
        self.backend = backend
        self._shutdown = False
        self._used_loky = False

    @property
    def gilfree_capabilities(self) -> Capabilities:
        """What this executor can do (:func:`gilfree.registry.capabilities_of` reads it)."""
        return JOBLIB_BACKENDS[self.backend]

    @property
    def in_process(self) -> bool:
        """True for the threading backend: its tasks may take views of the caller's arrays."""
        return self.gilfree_capabilities.in_process

    def run_batch(self, fn: Callable[..., Any], argsets: Iterable[Sequence[Any]]) -> list[Any]:
        """``[fn(*args) for args in argsets]``, run by ``Parallel``; results in argument order."""
        if self._shutdown:
            raise RuntimeError("cannot run a batch on a JoblibExecutor after shutdown")
        delayed = self._joblib.delayed(fn)
        # loky's workers ignore Ctrl-C, as gilfree's own pools' do: a terminal's SIGINT reaches
        # the whole process group, and a worker dying of it mid-task (or printing its traceback)
        # is noise; the parent catches it once and stops them all. Nothing else is changed.
        options = {"initializer": worker_ignores_sigint} if self.backend == "loky" else {}
        with self._joblib.parallel_config(backend=self.backend, **options):
            parallel = self._joblib.Parallel(n_jobs=self.workers)
            self._used_loky = self._used_loky or (self.backend == "loky" and self.workers > 1)
            return list(parallel(delayed(*args) for args in argsets))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """One task as a batch of one: the future is done when this returns."""
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(self.run_batch(partial(fn, **kwargs) if kwargs else fn, [args])[0])
        except Exception as exc:  # the Future carries it, as a pool's would
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        if self._used_loky:
            # joblib's loky backend runs on this process-wide executor; with the same worker
            # count it hands back the one the batches used, and stops its workers.
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor(max_workers=self.workers).shutdown(wait=True)

    def __repr__(self) -> str:
        return f"<JoblibExecutor workers={self.workers} backend={self.backend}>"


def numpy_sum(data: np.ndarray) -> float:
    """``numpy.sum``: one thread, pairwise summation, the sum only (no min, max or variance)."""
    import numpy as np

    return float(np.sum(data))


def numpy_logistic(data: np.ndarray, rounds: int, r: float = 3.9) -> None:
    """The logistic map of :func:`gilfree.arrays.transform_inplace`, in place, in numpy.

    Each round computes ``(r * x) * (1 - x)`` element-wise, the kernels' own order of operations,
    so the result is bit-identical to theirs (numpy does not fuse the multiply and the add).
    """
    import numpy as np

    rounds = check_count(rounds, "rounds")
    scratch = np.empty_like(data)
    for _ in range(rounds):
        np.subtract(1.0, data, out=scratch)
        np.multiply(data, r, out=data)
        np.multiply(data, scratch, out=data)
