"""Run pytest (or import gilfree) in an interpreter that looks like Windows to portable code.

    python tests/_posixless.py --collect-only -q tests      # pytest's arguments, as usual
    python tests/_posixless.py --import-gilfree             # import every gilfree module

Before gilfree or a test module is imported (after the platform's own modules, see
``PLATFORM_MODULES``, and pytest's plugins), it removes from :mod:`signal` and
:mod:`os` the names that Windows lacks, makes the modules that only POSIX has unimportable, and
leaves :mod:`multiprocessing` with the ``spawn`` start method alone (``fork`` and ``forkserver``
unknown to ``get_context`` and ``get_all_start_methods``, their context classes gone, ``spawn``
the default). Code that names a POSIX-only facility at import or collection time then fails here
as it would on Windows; code that looks the name up when it runs, and skips without it, passes.
``tests/test_portable.py`` runs the suite's collection this way.

It imitates the missing names only: ``sys.platform`` and ``os.name`` stay what they are, so code
that branches on them takes the branch of the real platform. That is why it is for collecting and
importing, not for running tests: the standard library of a POSIX platform needs the removed
names at run time (``subprocess`` waits with ``os.WNOHANG``, pytest's ``tmp_path`` asks
``os.getuid``), and would fail where the real Windows would not.
"""

from __future__ import annotations

import enum
import os
import signal
import sys

#: What Windows' :mod:`signal` has (the rest of the public names go).
WINDOWS_SIGNAL = frozenset({
    "SIGABRT", "SIGBREAK", "SIGFPE", "SIGILL", "SIGINT", "SIGSEGV", "SIGTERM",
    "CTRL_BREAK_EVENT", "CTRL_C_EVENT", "NSIG", "SIG_DFL", "SIG_IGN",
    "Handlers", "Signals", "default_int_handler", "getsignal", "raise_signal", "set_wakeup_fd",
    "signal", "strsignal", "valid_signals",
})

#: Names of :mod:`os` that Windows lacks (typeshed's stubs declare them for non-Windows only);
#: those the running interpreter does not have are skipped.
POSIX_ONLY_OS = frozenset("""
    CLD_CONTINUED CLD_DUMPED CLD_EXITED CLD_KILLED CLD_STOPPED CLD_TRAPPED EX_CANTCREAT EX_CONFIG
    EX_DATAERR EX_IOERR EX_NOHOST EX_NOINPUT EX_NOPERM EX_NOUSER EX_OK EX_OSERR EX_OSFILE
    EX_PROTOCOL EX_SOFTWARE EX_TEMPFAIL EX_UNAVAILABLE EX_USAGE F_LOCK F_TEST F_TLOCK F_ULOCK
    NGROUPS_MAX O_ACCMODE O_ASYNC O_CLOEXEC O_DIRECTORY O_DSYNC O_FSYNC O_NDELAY O_NOCTTY O_NOFOLLOW
    O_NONBLOCK O_SYNC POSIX_FADV_DONTNEED POSIX_FADV_NOREUSE POSIX_FADV_NORMAL POSIX_FADV_RANDOM
    POSIX_FADV_SEQUENTIAL POSIX_FADV_WILLNEED POSIX_SPAWN_CLOSE POSIX_SPAWN_DUP2 POSIX_SPAWN_OPEN
    PRIO_PGRP PRIO_PROCESS PRIO_USER P_ALL P_PGID P_PID P_PIDFD RTLD_GLOBAL RTLD_LAZY RTLD_LOCAL
    RTLD_NODELETE RTLD_NOLOAD RTLD_NOW RWF_APPEND RWF_DSYNC RWF_HIPRI RWF_NOWAIT RWF_SYNC SCHED_FIFO
    SCHED_OTHER SCHED_RR ST_APPEND ST_MANDLOCK ST_NOATIME ST_NODEV ST_NODIRATIME ST_NOEXEC
    ST_NOSUID ST_RDONLY ST_RELATIME ST_SYNCHRONOUS ST_WRITE WCONTINUED WCOREDUMP WEXITED
    WEXITSTATUS WIFCONTINUED WIFEXITED WIFSIGNALED WIFSTOPPED WNOHANG WNOWAIT WSTOPPED WSTOPSIG
    WTERMSIG WUNTRACED XATTR_CREATE XATTR_REPLACE XATTR_SIZE_MAX chown chroot confstr
    confstr_names ctermid environb fchdir fchmod fchown fdatasync fork forkpty fpathconf fstatvfs
    fwalk get_blocking getegid getenvb geteuid getgid getgrouplist getgroups getloadavg getpgid
    getpgrp getpriority getresgid getresuid getsid getuid getxattr initgroups killpg lchown
    listxattr lockf login_tty major makedev minor mkfifo mknod nice openpty pathconf
    pathconf_names pipe2 posix_fadvise posix_fallocate posix_spawn posix_spawnp pread preadv pwrite
    pwritev readv register_at_fork removexattr sched_get_priority_max sched_get_priority_min
    sched_getaffinity sched_getparam sched_getscheduler sched_param sched_rr_get_interval
    sched_setaffinity sched_setparam sched_setscheduler sched_yield sendfile set_blocking setegid
    seteuid setgid setgroups setpgid setpgrp setpriority setregid setresgid setresuid setreuid
    setsid setuid setxattr spawnlp spawnlpe spawnvp spawnvpe statvfs sync sysconf sysconf_names
    tcgetpgrp tcsetpgrp ttyname uname wait wait3 wait4 waitid waitid_result writev
""".split())

#: Modules only POSIX has: importing one fails here, as on Windows (unless already imported).
POSIX_ONLY_MODULES = ("fcntl", "grp", "pty", "pwd", "resource", "syslog", "termios", "tty")

#: The platform's own code, imported before the names go: these modules branch on
#: ``sys.platform`` (``subprocess`` reads ``os.WIFSTOPPED`` on POSIX, numpy ``os.uname``), which
#: stays the real one, so each is right on every real platform. What is put to the test is what
#: comes after: gilfree and the test modules. Optional ones are skipped where not installed.
PLATFORM_MODULES = (
    "asyncio", "concurrent.futures", "concurrent.futures.process", "concurrent.futures.thread",
    "ctypes", "ctypes.util", "mmap", "platform", "select", "selectors", "shutil", "subprocess",
    "sysconfig", "tempfile", "uuid",
    "multiprocessing", "multiprocessing.connection", "multiprocessing.managers",
    "multiprocessing.pool", "multiprocessing.process", "multiprocessing.queues",
    "multiprocessing.reduction", "multiprocessing.resource_tracker", "multiprocessing.shared_memory",
    "multiprocessing.spawn", "multiprocessing.synchronize", "multiprocessing.util",
    "multiprocessing.popen_spawn_posix", "multiprocessing.popen_spawn_win32",
    "numpy", "tqdm", "pytest",  # not hypothesis: a pytest plugin, which pytest must import (to rewrite)
    "joblib", "loky", "matplotlib", "mpire",
)

#: The start methods Windows lacks.
POSIX_ONLY_START_METHODS = ("fork", "forkserver")


def hide() -> None:
    """Import the platform's modules, then remove the POSIX-only names, modules and start methods."""
    import importlib

    for module in PLATFORM_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # optional (matplotlib, mpire...), or the other platform's (popen_spawn_win32)
            pass
    for name in [n for n in vars(signal) if not n.startswith("_") and n not in WINDOWS_SIGNAL]:
        delattr(signal, name)
    signal.Signals = enum.IntEnum("Signals", {  # type: ignore[misc]
        name: getattr(signal, name) for name in sorted(WINDOWS_SIGNAL)
        if name.startswith("SIG") and not name.startswith("SIG_") and hasattr(signal, name)})
    for name in POSIX_ONLY_OS:
        if hasattr(os, name):
            delattr(os, name)
    for name in POSIX_ONLY_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "import x" fails

    import multiprocessing
    from multiprocessing import context

    for method in POSIX_ONLY_START_METHODS:
        context._concrete_contexts.pop(method, None)  # get_context(method) raises ValueError
    for name in ("ForkContext", "ForkServerContext", "ForkProcess", "ForkServerProcess"):
        if hasattr(context, name):
            delattr(context, name)
    default = context._default_context
    default._default_context = context._concrete_contexts["spawn"]

    def get_all_start_methods(self: object = default) -> list[str]:
        return ["spawn"]

    context.DefaultContext.get_all_start_methods = get_all_start_methods  # type: ignore[method-assign]
    multiprocessing.get_all_start_methods = get_all_start_methods


def _check_hidden() -> None:
    """Fail loudly if the hiding did not take (a later Python that rebuilds these differently)."""
    import multiprocessing

    assert not hasattr(signal, "SIGKILL") and not hasattr(os, "fork") and not hasattr(os, "killpg")
    assert multiprocessing.get_all_start_methods() == ["spawn"]
    assert multiprocessing.get_start_method() == "spawn"
    try:
        multiprocessing.get_context("fork")
    except ValueError:
        pass
    else:
        raise AssertionError("multiprocessing still knows the 'fork' start method")


def import_gilfree() -> list[str]:
    """Import every module of the installed (or PYTHONPATH's) gilfree; return their names."""
    import importlib
    import pkgutil

    import gilfree

    names = ["gilfree"]
    for module in pkgutil.walk_packages(gilfree.__path__, "gilfree."):
        if module.name.rsplit(".", 1)[-1] == "__main__":
            continue  # it runs the command line
        importlib.import_module(module.name)
        names.append(module.name)
    return names


def main(argv: list[str]) -> int:
    if argv == ["--import-gilfree"]:
        hide()
        _check_hidden()
        for name in import_gilfree():
            print(name)
        return 0
    import pytest

    class HideBeforeConftests:
        """Hides the names once pytest has loaded its plugins (the platform's code, hypothesis's
        among them) and before it imports the first conftest or test module."""

        @pytest.hookimpl(tryfirst=True)
        def pytest_load_initial_conftests(self) -> None:
            hide()
            _check_hidden()

    return int(pytest.main(argv, plugins=[HideBeforeConftests()]))


if __name__ == "__main__":
    # Run as a script, sys.path[0] is tests/: drop it, so that imports resolve as under pytest.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    raise SystemExit(main(sys.argv[1:]))
