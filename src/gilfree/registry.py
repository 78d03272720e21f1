"""The strategy registry: every way to run tasks, declared once, with what it can do.

A :class:`Strategy` has a name, a one-line description, an opener (a function that returns a
``concurrent.futures.Executor`` for a worker count) and its :class:`Capabilities`. Everything
that offers a choice of strategies (``open_executor``, the chunked pattern, the lab, the bench,
the fault drill, the command line's choices and help) reads this table; none keeps a list of
its own. gilfree's own strategies are declared in :mod:`gilfree.strategies`.

Adding one::

    from gilfree.registry import Capabilities, Strategy, register_strategy

    register_strategy(Strategy(
        name="inline", description="my executor, running each task at once",
        opener=lambda workers, **options: InlineExecutor(),
        capabilities=Capabilities(uses="threads", in_process=True)))

A strategy registered in code exists in that process only. To reach every process (the
``gilfree`` command, the fault drill's fresh interpreters), publish it as an entry point of the
group ``gilfree.strategies`` in a package's metadata; the entry point names a :class:`Strategy`
(or a function returning one), loaded the first time the registry is read.

Code that needs to know what an executor *is* asks :func:`capabilities_of`, never
``isinstance``: executors opened here carry their strategy's capabilities; a user's own executor
declares them in a ``gilfree_capabilities`` attribute (or its class is declared once with
:func:`declare_capabilities`); anything else is assumed to run tasks in other processes, which
is the safe assumption (it gets shared-memory handles, which work anywhere).
"""

from __future__ import annotations

import importlib
import threading
import weakref
from concurrent.futures import Executor
from dataclasses import dataclass, field
from dataclasses import replace as _replace_fields
from importlib import metadata
from typing import Any, Callable, Iterator, Literal, Protocol, get_args

__all__ = [
    "ENTRY_POINT_GROUP",
    "Capabilities",
    "Opener",
    "Strategy",
    "capabilities_of",
    "declare_capabilities",
    "get_strategy",
    "plugin_errors",
    "register_strategy",
    "strategies",
    "strategy_names",
    "unregister_strategy",
]

ENTRY_POINT_GROUP = "gilfree.strategies"

Uses = Literal["serial", "threads", "processes"]
#: Every kind of :attr:`Capabilities.uses`, in order: where a strategy runs its tasks.
USES: tuple[Uses, ...] = get_args(Uses)
#: How a strategy's tasks receive a chunk of an array by default (see :mod:`gilfree.transports`).
TransportName = Literal["views", "copies", "whole-array", "shared-memory", "description"]
#: Every transport a strategy may declare, in the order of :data:`TransportName`.
TRANSPORT_NAMES: tuple[str, ...] = get_args(TransportName)


@dataclass(frozen=True)
class Capabilities:
    """What a strategy's executor can do; code asks these instead of the executor's type.

    uses
        ``"serial"`` (one task after another in the caller), ``"threads"`` (threads of this
        process) or ``"processes"`` (other processes, here or elsewhere).
    in_process
        Tasks run in this process: they can take views of the caller's arrays and see its
        memory. False for anything that pickles its tasks.
    can_stop_task
        One running task can be stopped from outside (a per-task timeout) without breaking the
        executor.
    survives_worker_death
        A dead worker costs only the task it held; the executor takes more work afterwards.
    start_methods
        The executor's workers honour a ``multiprocessing`` start method.
    batches
        The executor runs whole batches only (``run_batch(fn, argsets)``, as joblib does):
        the chunked pattern hands it every chunk at once.
    transport
        How its tasks receive a chunk of an array when the caller has no preference: views for
        in-process executors, otherwise pickled copies (what the pool does with an array
        argument), the whole array plus a range (joblib's idiom), a shared-memory handle, or a
        description of the chunk that the worker turns into data itself (a cluster's way: data
        that can be generated or read where the task runs need not travel).
    connects
        The strategy can join an existing cluster at an address (``open_executor``'s
        ``scheduler`` option) instead of starting workers of its own.
    places_tasks
        Its executor has ``submit_to(where, fn, *args)``: a task can ask for the worker that
        holds its inputs (``where`` is what :func:`gilfree.cluster.where_am_i` said there).
    """

    uses: Uses
    in_process: bool
    can_stop_task: bool = False
    survives_worker_death: bool = False
    start_methods: bool = False
    batches: bool = False
    transport: TransportName | None = None
    connects: bool = False
    places_tasks: bool = False

    def __post_init__(self) -> None:
        if self.uses not in USES:
            raise ValueError(f"uses must be 'serial', 'threads' or 'processes', not {self.uses!r}")
        for name in ("in_process", "can_stop_task", "survives_worker_death", "start_methods", "batches",
                     "connects", "places_tasks"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {type(getattr(self, name)).__name__}")
        if self.uses != "processes" and not self.in_process:
            raise ValueError(f"a strategy that uses {self.uses} runs tasks in this process: "
                             "in_process must be True")
        if self.transport is None:
            object.__setattr__(self, "transport", "views" if self.in_process else "copies")
        elif self.transport not in TRANSPORT_NAMES:
            raise ValueError(f"transport must be one of {', '.join(map(repr, TRANSPORT_NAMES))}, "
                             f"not {self.transport!r}")
        if self.transport == "views" and not self.in_process:
            raise ValueError("tasks in other processes cannot take views of the caller's arrays: "
                             "choose another transport")

    @property
    def shares_memory(self) -> bool:
        """Tasks see the caller's memory (its arrays, without a copy or a segment)."""
        return self.in_process

    def as_dict(self) -> dict[str, Any]:
        return {"uses": self.uses, "in_process": self.in_process, "can_stop_task": self.can_stop_task,
                "survives_worker_death": self.survives_worker_death,
                "start_methods": self.start_methods, "batches": self.batches,
                "transport": self.transport, "connects": self.connects, "places_tasks": self.places_tasks}


class Opener(Protocol):
    """``opener(workers, *, mp_context=None, task_timeout=None, scheduler=None) -> Executor``.

    ``mp_context`` is passed only to strategies with ``start_methods``, ``task_timeout`` only to
    those with ``can_stop_task``, ``scheduler`` only to those that ``connect``; an opener may
    take them as keyword arguments with defaults.
    """

    def __call__(self, workers: int, **options: Any) -> Executor: ...


@dataclass(frozen=True)
class Strategy:
    """One way to run tasks: its name, a one-line description, its opener and capabilities.

    ``requires`` names modules that must import for the strategy to be usable here (joblib, say);
    ``install`` tells the user how to get them. ``executor_type``, if given, lets
    :func:`capabilities_of` recognise an executor of that class that was opened elsewhere.
    ``peer`` marks another library's executor, run as that library ships it for comparison:
    gilfree promises nothing about its faults, so the fault drill leaves it out by default.
    """

    name: str
    description: str
    opener: Callable[..., Executor]
    capabilities: Capabilities
    requires: tuple[str, ...] = ()
    install: str = ""
    executor_type: type | None = None
    peer: bool = False
    origin: str = field(default="gilfree", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a strategy's name must be a non-empty str, not {self.name!r}")
        if self.name != self.name.strip().lower() or " " in self.name or "," in self.name:
            raise ValueError(f"strategy name {self.name!r}: use lower case, no spaces or commas "
                             "(it is typed on the command line)")
        if not isinstance(self.description, str) or not self.description.strip():
            raise TypeError(f"strategy {self.name!r} needs a one-line description (a non-empty str)")
        if not callable(self.opener):
            raise TypeError(f"strategy {self.name!r}: opener must be callable, "
                            f"not {type(self.opener).__name__}")
        if not isinstance(self.capabilities, Capabilities):
            raise TypeError(f"strategy {self.name!r}: capabilities must be a gilfree.registry.Capabilities, "
                            f"not {type(self.capabilities).__name__}")
        if isinstance(self.requires, str) or not all(isinstance(r, str) for r in self.requires):
            raise TypeError(f"strategy {self.name!r}: requires must be a tuple of module names")

    def missing(self) -> str | None:
        """None when the strategy can run here; otherwise why not, and how to fix it."""
        for module in self.requires:
            try:
                importlib.import_module(module)
            except ImportError:
                hint = f" ({self.install})" if self.install else ""
                return f"the {self.name} strategy needs {module}, which is not installed{hint}"
        return None

    @property
    def available(self) -> bool:
        return self.missing() is None


_lock = threading.RLock()
_table: dict[str, Strategy] = {}
_by_type: dict[type, Capabilities] = {}
_opened: weakref.WeakKeyDictionary[Executor, Capabilities] = weakref.WeakKeyDictionary()
_plugins_loaded = False
_plugin_errors: dict[str, str] = {}


def _ensure_loaded() -> None:
    """gilfree's own strategies first, then those published as entry points (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    importlib.import_module("gilfree.strategies")  # declares the built-in strategies
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry.load()
                strategy = loaded() if callable(loaded) and not isinstance(loaded, Strategy) else loaded
                if not isinstance(strategy, Strategy):
                    raise TypeError(f"it gave a {type(strategy).__name__}, not a gilfree.registry.Strategy")
                if strategy.name not in _table:
                    _register(_replace_fields(strategy, origin=entry.value))
            except Exception as exc:  # one broken plugin must not take gilfree down with it
                _plugin_errors[entry.name] = f"{type(exc).__name__}: {exc}"


def _register(strategy: Strategy) -> None:
    _table[strategy.name] = strategy
    if strategy.executor_type is not None:
        _by_type[strategy.executor_type] = strategy.capabilities


def register_strategy(strategy: Strategy, *, replace: bool = False) -> Strategy:
    """Add ``strategy`` to the table; a name already taken needs ``replace=True``."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"register_strategy needs a gilfree.registry.Strategy, not {type(strategy).__name__}")
    with _lock:
        if strategy.name in _table and not replace:
            raise ValueError(f"a strategy named {strategy.name!r} is registered already "
                             "(pass replace=True to replace it)")
        _register(strategy)
    return strategy


def unregister_strategy(name: str) -> Strategy:
    """Remove the strategy ``name`` and return it (tests, plugins that withdraw)."""
    with _lock:
        strategy = get_strategy(name)
        del _table[name]
        if strategy.executor_type is not None and _by_type.get(strategy.executor_type) is strategy.capabilities:
            del _by_type[strategy.executor_type]
    return strategy


def strategy_names(*, available_only: bool = False, peers: bool = True) -> tuple[str, ...]:
    """Every registered strategy's name, in registration order (gilfree's own first).

    ``available_only`` drops those that cannot run here (a missing dependency); ``peers=False``
    drops other libraries' executors (see :attr:`Strategy.peer`).
    """
    _ensure_loaded()
    with _lock:
        table = dict(_table)
    return tuple(name for name, s in table.items()
                 if (peers or not s.peer) and (not available_only or s.available))


def strategies(*, available_only: bool = False, peers: bool = True) -> Iterator[Strategy]:
    """The registered strategies, in registration order (see :func:`strategy_names`)."""
    for name in strategy_names(available_only=available_only, peers=peers):
        yield _table[name]


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; a clear error naming the choices when there is none."""
    if not isinstance(name, str):
        raise TypeError(f"strategy must be a str, one of {', '.join(strategy_names())}, "
                        f"not {type(name).__name__}")
    _ensure_loaded()
    with _lock:
        found = _table.get(name)
    if found is None:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(strategy_names())}")
    return found


def plugin_errors() -> dict[str, str]:
    """Entry points of the ``gilfree.strategies`` group that failed to load, with the reason."""
    _ensure_loaded()
    return dict(_plugin_errors)


def declare_capabilities(target: type | Executor, capabilities: Capabilities) -> None:
    """Say what an executor class (or one executor) can do, when it cannot say so itself."""
    if not isinstance(capabilities, Capabilities):
        raise TypeError(f"capabilities must be a gilfree.registry.Capabilities, "
                        f"not {type(capabilities).__name__}")
    if isinstance(target, type):
        if not issubclass(target, Executor):
            raise TypeError(f"{target.__name__} is not a concurrent.futures.Executor class")
        with _lock:
            _by_type[target] = capabilities
    elif isinstance(target, Executor):
        _opened[target] = capabilities
    else:
        raise TypeError(f"expected an Executor or an Executor class, not {type(target).__name__}")


#: What an executor nobody described is taken to be: tasks elsewhere, handed handles.
UNKNOWN = Capabilities(uses="processes", in_process=False, transport="shared-memory")


def capabilities_of(executor: Executor) -> Capabilities:
    """What ``executor`` can do: its own declaration, its strategy's, or its class's.

    Looked up in that order: a ``gilfree_capabilities`` attribute of the executor; the
    capabilities of the strategy that opened it (:func:`gilfree.strategies.open_executor`); a
    declaration for its class or a base class (the standard ``ThreadPoolExecutor`` and
    ``ProcessPoolExecutor`` are declared by gilfree). Anything else gets :data:`UNKNOWN`.
    """
    if not isinstance(executor, Executor):
        raise TypeError(f"expected a concurrent.futures.Executor, not {type(executor).__name__}")
    own = getattr(executor, "gilfree_capabilities", None)
    if isinstance(own, Capabilities):
        return own
    _ensure_loaded()
    with _lock:
        try:
            found = _opened.get(executor)
        except TypeError:  # not weak-referenceable
            found = None
        if found is not None:
            return found
        for cls in type(executor).__mro__:
            if cls in _by_type:
                return _by_type[cls]
    return UNKNOWN


def remember(executor: Executor, capabilities: Capabilities) -> None:
    """Tie an executor just opened for a strategy to that strategy's capabilities."""
    try:
        with _lock:
            _opened[executor] = capabilities
    except TypeError:  # an executor without __weakref__: its class declaration must do
        pass
