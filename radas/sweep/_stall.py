"""The stall watchdog: a trial that stops making progress is ended, saying where it was stuck.

Ray Tune has no per-trial watchdog: a trial blocked in an NCCL collective that never returns, in
a deadlocked generation engine or on a reward server that accepts and never answers holds its
GPU until someone notices. radas watches each trial from inside the trial's own process, the
same way on this machine and on a cluster's nodes (nothing crosses nodes):

* the prepared trainable (:func:`watch_for_stalls`) starts a watchdog thread when the trial's
  function starts (a class trainable: its ``setup``) and stops it when the function returns or
  raises;
* progress is a report (``tune.report``, a yielded or returned result, a class trainable's
  ``step`` returning) or :func:`note_progress` called by the trainable (``radas.grpo`` calls it
  at every optimizer step). Time spent inside ``tune.report`` (waiting there for Tune to ask for
  the next result, persisting a checkpoint) is Tune's, not the trial's, and does not count;
* past the limit (``run_experiment(stall_timeout_s=...)`` seconds, or the trainable's own rule,
  :class:`~radas.sweep.WatchesForStalls`), the watchdog takes the stack of every thread of the
  process (``py-spy dump --native`` where py-spy is installed, and Python's own view from
  ``sys._current_frames()`` always), saves them in the trial's folder as ``stall-<time>.txt``,
  notes the stall in the trial's notes (the DataFrame's ``stalled`` column), raises
  :class:`~radas.errors.TrialStalledError` in the training thread and, when the trial has not
  ended within a grace period (it is blocked in C: a socket, a CUDA or NCCL call, a lock), ends
  the process (``os._exit``) so that Tune sees the trial fail.

Either way the trial failed like any other: it is retried up to ``max_failures`` times and the
other trials are untouched. Its error (the DataFrame's ``error``, the report page, the email) is
the watchdog's message: the exception's own when it got in, else the note, which
:func:`stalled_error` puts in place of Ray's "the actor died" for the process the watchdog ended
(matched by its pid).

Not covered: a thread that blocks in C *holding the GIL* (a buggy extension) stops the watchdog
too; the workers of a Ray Train trainer run in other processes, so a stall there is caught (the
trial stops reporting) but the dump shows the trial's own process, waiting for them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import inspect
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from ray import tune

from radas import _ray, errors
from radas.sweep._hooks import WatchesForStalls
from radas.sweep._tuner import annotate_trial

# the trial notes (radas-notes.json) of a stall: the message, and the pid of the process it ended
STALL_NOTE = "stalled"
STALL_PID_NOTE = "stalled_pid"
DUMP_PREFIX = "stall-"  # stall-<time>.txt in the trial's folder: the stacks of all its threads
GRACE_S = 10.0  # after the TrialStalledError: the trial's time to end before its process is ended
EXIT_CODE = 70  # the exit status of a process the watchdog ended
CHECK_S = 1.0  # the watchdog looks at least this often
PY_SPY_TIMEOUT_S = 60.0
_MOST_FRAMES = 6  # innermost frames named in the message, at most

_LIBRARIES = tuple(os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib", "stdlib"))
_FAILURE_HEADER = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)$", re.MULTILINE)
_PID_LINE = re.compile(r"^\s*pid: (\d+)\s*$", re.MULTILINE)

Rule = Callable[[float | None], float]


@dataclass(frozen=True)
class Fixed:
    """A stall timeout that does not depend on the steps seen: ``stall_timeout_s`` as given."""

    seconds: float

    def __call__(self, slowest_step_s: float | None) -> float:
        return self.seconds


def stall_rule(trainable: Any, stall_timeout_s: float | bool | None) -> Rule | None:
    """How long the trials of ``trainable`` may go without progress: ``stall_timeout_s``
    seconds when given, the trainable's ``default_stall_timeout_s`` when it has one and
    ``stall_timeout_s`` is None; None (not watched) otherwise, and for ``False``."""
    if stall_timeout_s is None:
        return trainable.default_stall_timeout_s if isinstance(trainable, WatchesForStalls) else None
    if isinstance(stall_timeout_s, bool):
        return None
    return Fixed(float(stall_timeout_s))


# ---- the trial's side ---------------------------------------------------------------------------
_current: Watchdog | None = None  # the watchdog of the trial running in this process


def note_progress() -> None:
    """Tell the stall watchdog of the trial running in this process that it made progress (a
    step that ended without a report); nothing when no watchdog runs here."""
    dog = _current
    if dog is not None:
        dog.progress()


def watch_for_stalls(trainable: Any, stall_timeout_s: float | bool | None) -> Any:
    """``trainable`` (a function or a ``tune.Trainable`` class, same name and attributes) whose
    trials are watched for stalls (:func:`stall_rule`); ``trainable`` itself when they are not.
    Outside a Tune trial nothing is watched (nothing would be there to retry it)."""
    rule = stall_rule(trainable, stall_timeout_s)
    if rule is None or not callable(trainable):
        return trainable
    if inspect.isclass(trainable):
        return _watched_class(trainable, rule)
    function = trainable
    if inspect.isgeneratorfunction(function):  # Tune reports what it yields

        @functools.wraps(function)
        def watching_each(config: dict[str, Any]) -> Any:
            with _watching(rule):
                yield from function(config)

        return watching_each

    @functools.wraps(function)
    def watching(config: dict[str, Any]) -> Any:
        with _watching(rule):
            return function(config)

    return watching


@contextlib.contextmanager
def _watching(rule: Rule) -> Iterator[None]:
    """The trial's function runs in this block, in this thread, watched."""
    global _current
    folder = _ray.trial_folder()
    if folder is None:  # not in a Tune trial
        yield
        return
    dog = Watchdog(rule, folder, tune.get_context().get_trial_id())
    previous, _current = _current, dog
    dog.start()
    try:
        with _ray.reports_watched(dog.entering_report, dog.leaving_report):
            yield
    finally:
        try:
            dog.end()
        finally:
            _current = previous


def _watched_class(user_class: Any, rule: Rule) -> Any:
    """A subclass of the ``tune.Trainable`` ``user_class`` whose ``setup`` and ``step`` calls are
    watched; the time between them is Tune's."""

    class _Watched(user_class):  # type: ignore[misc]
        _radas_watchdog: Watchdog | None = None

        @contextlib.contextmanager
        def _radas_watched(self) -> Iterator[None]:
            global _current
            dog = self._radas_watchdog
            if dog is None:
                folder = _ray.trial_folder(self)
                if folder is None:
                    yield
                    return
                dog = self._radas_watchdog = Watchdog(rule, folder, str(self.trial_id))
                dog.start()
            else:
                dog.thread = threading.current_thread()
                dog.leaving_report()
            _current = dog
            try:
                yield
            except BaseException:
                self._radas_end()
                raise
            dog.entering_report()

        def _radas_end(self) -> None:
            global _current
            dog, self._radas_watchdog = self._radas_watchdog, None
            if dog is not None:
                dog.end()
                if _current is dog:
                    _current = None

        def setup(self, config: dict[str, Any]) -> None:
            with self._radas_watched():
                super().setup(config)

        def step(self) -> Any:
            with self._radas_watched():
                return super().step()

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            self._radas_end()  # the next trial gets its own watchdog
            return bool(super().reset_config(new_config))

        def cleanup(self) -> None:
            self._radas_end()
            super().cleanup()

    _Watched.__name__ = user_class.__name__
    _Watched.__qualname__ = user_class.__qualname__
    return _Watched


class Watchdog:
    """Watches the trial running in this process: started in its training thread, it ends the
    trial when it makes no progress for as long as ``rule(slowest step so far)`` says."""

    def __init__(self, rule: Rule, folder: str | os.PathLike[str], trial_id: str,
                 grace_s: float = GRACE_S) -> None:
        self.rule = rule
        self.folder = Path(folder)
        self.trial_id = trial_id
        self.grace_s = grace_s
        self.thread = threading.current_thread()  # the training thread
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._slowest: float | None = None
        self._signals = 0
        self._in_report = 0
        self._ended = threading.Event()
        self._raised = False
        self._watcher = threading.Thread(target=self._watch, name="radas-stall-watchdog", daemon=True)

    # -- what the trial tells it --
    def start(self) -> None:
        """Start watching (the time so far counts)."""
        self._watcher.start()

    def progress(self) -> None:
        """The trial made progress: the time since the last progress was a step."""
        with self._lock:
            now = time.monotonic()
            if self._signals and not self._in_report:  # the time before the first is the trial's start
                step = now - self._last
                self._slowest = step if self._slowest is None else max(self._slowest, step)
            self._signals += 1
            self._last = now

    def entering_report(self) -> None:
        """The trial reports (progress), then waits for Tune: not watched until it is back."""
        self.progress()
        with self._lock:
            self._in_report += 1

    def leaving_report(self) -> None:
        """The trial is back from a report (a class trainable: its next ``step`` starts)."""
        with self._lock:
            self._in_report = max(self._in_report - 1, 0)
            self._last = time.monotonic()

    def end(self) -> None:
        """The trial ended (returned or raised): stop watching; a TrialStalledError raised but
        not yet delivered is taken back."""
        with self._lock:
            self._ended.set()
            if self._raised:
                _raise_in(self.thread, None)

    @property
    def slowest_step_s(self) -> float | None:
        """The slowest step seen so far (None before the second sign of progress)."""
        return self._slowest

    # -- the watchdog thread --
    def _limit(self) -> float:
        try:
            return float(self.rule(self._slowest))
        except Exception:  # noqa: BLE001 - a broken rule must not end a healthy trial
            return math.inf

    def _watch(self) -> None:
        while True:
            with self._lock:
                idle = 0.0 if self._in_report else time.monotonic() - self._last
                limit = math.inf if self._in_report else self._limit()
            if idle >= limit:
                break
            if self._ended.wait(min(CHECK_S, max(limit - idle, 0.01))):
                return
        self._stalled(idle, limit)

    def _stalled(self, idle: float, limit: float) -> None:
        """Dump every thread's stack, note the stall, raise it in the training thread and, when
        that does not end the trial in time, end the process."""
        thread = self.thread
        frame = sys._current_frames().get(thread.ident or -1)
        native, how = _py_spy(os.getpid())
        path = self._dump(idle, limit, native, how, thread)
        where = _where(frame, _native_top(native, thread.native_id))
        message = (f"trial {self.trial_id} stalled: no progress for {idle:.0f} s (stall timeout {limit:g} s), "
                   f"stuck in {where}; the stacks of all its threads are in {path}")
        _say(message)
        with contextlib.suppress(OSError):
            annotate_trial(self.folder, **{STALL_NOTE: message, STALL_PID_NOTE: os.getpid()})
        with self._lock:
            if self._ended.is_set():
                return
            self._raised = True
            _raise_in(thread, _error_class(message))
        grace = min(self.grace_s, limit)
        if self._ended.wait(grace) or not thread.is_alive() or _current is not self:
            return  # it ended (a trial whose error got in while it was ending, too)
        _say(f"trial {self.trial_id} did not end within {grace:g} s of the TrialStalledError (its training thread "
             "is blocked outside Python): ending its process")
        os._exit(EXIT_CODE)

    def _dump(self, idle: float, limit: float, native: str, how: str, thread: threading.Thread) -> Path:
        """Write the stacks of every thread into ``stall-<time>.txt`` in the trial's folder (else
        the temporary folder) and return its path."""
        header = (f"radas stall watchdog: trial {self.trial_id}, process {os.getpid()} on {socket.gethostname()}, "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
                  f"no progress for {idle:.1f} s (stall timeout {limit:g} s; slowest step so far: "
                  f"{'none yet' if self._slowest is None else f'{self._slowest:.1f} s'}); "
                  f"training thread: {thread.name!r} (native id {thread.native_id})\n")
        text = (f"{header}\n== every thread, by {how} ==\n{native}\n" if native else f"{header}\n({how})\n")
        text += f"\n== every thread, as Python sees them (sys._current_frames) ==\n{_python_view(thread)}"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for folder in (self.folder, Path(tempfile.gettempdir())):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{DUMP_PREFIX}{stamp}.txt"
                n = 1
                while path.exists():
                    n += 1
                    path = folder / f"{DUMP_PREFIX}{stamp}-{n}.txt"
                path.write_text(text)
                return path
            except OSError:
                continue
        return Path("(not saved: neither the trial's folder nor the temporary folder is writable)")


def _say(line: str) -> None:
    """A line in the trial's log (its stderr)."""
    with contextlib.suppress(Exception):
        print(f"radas: {line}", file=sys.stderr, flush=True)


def _raise_in(thread: threading.Thread, error: type[BaseException] | None) -> None:
    """Raise ``error`` in ``thread`` when it next runs Python (None: take back one not raised yet)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(error) if error is not None else None)


def _error_class(message: str) -> type[errors.TrialStalledError]:
    """A :class:`~radas.errors.TrialStalledError` that says ``message`` when raised without
    arguments (how Python raises an exception in another thread), named as its base."""

    class TrialStalledError(errors.TrialStalledError):
        def __init__(self, *args: object) -> None:
            super().__init__(*(args or (message,)))

    TrialStalledError.__module__ = errors.TrialStalledError.__module__
    TrialStalledError.__qualname__ = errors.TrialStalledError.__qualname__
    TrialStalledError.__doc__ = errors.TrialStalledError.__doc__
    return TrialStalledError


def _py_spy(pid: int) -> tuple[str, str]:
    """py-spy's dump of process ``pid`` (with native frames when it can) and the command; ("",
    why not) when py-spy is not installed or fails."""
    exe = shutil.which("py-spy")
    if exe is None:
        return "", "py-spy is not installed here (pip install py-spy): Python's own view only"
    problem = ""
    for extra in (["--native"], []):
        command = [exe, "dump", "--pid", str(pid), *extra]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PY_SPY_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            continue
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout, "py-spy dump --pid " + " ".join(command[4:])
        problem = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
    return "", f"py-spy dump failed: {problem}; Python's own view only"


def _native_top(dump: str, native_id: int | None) -> str | None:
    """Where thread ``native_id`` waits outside Python, as py-spy saw it: the innermost named
    native frame under its innermost Python frame (``recv (libc.so.6)``, an NCCL function), not
    the interpreter's own (a lock wait is said by its Python frames); None when there is none."""
    if not dump or native_id is None:
        return None
    lines = dump.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"Thread {native_id} ")), None)
    if start is None:
        return None
    for line in lines[start + 1:]:
        frame = line.strip()
        if not line.startswith(" ") or ".py:" in frame:
            return None  # the next thread, or the Python frames: nothing native named below them
        if not frame.startswith("0x") and "libpython" not in frame and "(python" not in frame:
            return frame
    return None


def _own_code(filename: str) -> bool:
    return not os.path.realpath(filename).startswith(_LIBRARIES)


def _where(frame: FrameType | None, native_top: str | None) -> str:
    """The innermost frames of a thread, innermost first, down to the first frame of the trial's
    own code (not the standard library's or an installed package's): ``f (file.py:12) < ...``."""
    shown = [native_top] if native_top else []
    count = 0
    while frame is not None and count < _MOST_FRAMES:
        code = frame.f_code
        shown.append(f"{getattr(code, 'co_qualname', code.co_name)} ({Path(code.co_filename).name}:{frame.f_lineno})")
        count += 1
        if _own_code(code.co_filename):
            break
        frame = frame.f_back
    return " < ".join(shown) if shown else "(its training thread has no Python frame)"


def _python_view(training: threading.Thread) -> str:
    """Every thread's Python stack, the training thread first."""
    threads = {t.ident: t for t in threading.enumerate()}
    frames = sys._current_frames()
    order = sorted(frames, key=lambda ident: ident != training.ident)
    parts = []
    for ident in order:
        thread = threads.get(ident)
        label = f"Thread {ident}"
        if thread is not None:
            label += f" (native id {thread.native_id}) {thread.name!r}" + (" daemon" if thread.daemon else "")
        if ident == training.ident:
            label += "  <- the trial's training thread"
        elif ident == threading.get_ident():
            label += "  <- the stall watchdog"
        parts.append(f"{label}:\n{''.join(traceback.format_stack(frames[ident]))}")
    return "\n".join(parts)


# ---- the driver's side ------------------------------------------------------------------------
def stalled_error(notes: Mapping[str, Any], error_text: str | None) -> str | None:
    """The watchdog's message for a trial whose latest failure (``error_text``: Tune's error
    text) is the death of the process the watchdog ended (the pid in its notes); else None."""
    message, pid = notes.get(STALL_NOTE), notes.get(STALL_PID_NOTE)
    if not isinstance(message, str) or not error_text or pid is None:
        return None
    latest = _FAILURE_HEADER.split(error_text)[-1]
    return message if str(pid) in _PID_LINE.findall(latest) else None


def stalled_error_of(trial: Any, notes: Mapping[str, Any]) -> str | None:
    """:func:`stalled_error` of a Tune trial: its latest error as the driver wrote it (next to
    itself first, on the results storage when it syncs)."""
    if STALL_NOTE not in notes:
        return None
    local = Path(trial.local_path or "") / "error.txt" if getattr(trial, "local_path", None) else None
    try:
        text = local.read_text(errors="replace") if local is not None and local.is_file() else None
    except OSError:
        text = None
    if text is None:
        error = trial.get_error()
        text = str(error) if error is not None else None
    return stalled_error(notes, text)
