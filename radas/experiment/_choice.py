"""Deciding what to do with an experiment: ``run_choice``, or ask when someone can answer."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ctypes
import os
import sys
import threading
from collections.abc import Callable

from radas._reporter import in_notebook
from radas.errors import ChoiceRequiredError, ExperimentNotFoundError
from radas.sweep import ExperimentState

RUN_CHOICES: tuple[str, ...] = ("run", "restore", "attach", "stop_attach")
_MEANING = {
    "run": "archive the existing results and start a fresh sweep",
    "restore": "continue the saved sweep (finished trials are kept)",
    "attach": "follow the running sweep until it ends, then analyze",
    "stop_attach": "stop the running sweep gracefully and analyze what it found",
}


def valid_choices(state: ExperimentState) -> list[str]:
    """The choices that make sense for the experiment's current state."""
    choices = ["run"]
    if state.restorable and not state.running:
        choices.append("restore")
    if state.running:
        choices += ["attach", "stop_attach"]
    return choices


def can_ask() -> bool:
    """True when a person can answer: a notebook that accepts input, or a terminal (not CI)."""
    if os.environ.get("CI"):
        return False
    if in_notebook():
        kernel = getattr(sys.modules["IPython"].get_ipython(), "kernel", None)
        return bool(getattr(kernel, "_allow_stdin", False))
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        return False


# the lock of each running event loop that takes questions one at a time (see _one_at_a_time)
_QUESTION_LOCKS: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _one_at_a_time() -> asyncio.Lock:
    """The running event loop's lock for asking: held for a question (or a series of them, as
    :func:`_ask_choice` asks), so that two experiments under ``asyncio.gather`` ask one after
    the other. Two questions at once would both print, and on a terminal the second one's
    reader of stdin would replace the first one's (an event loop has one reader per file
    descriptor), leaving the first waiting forever; in a notebook two input requests would
    be pending at once. Made lazily, one per loop (an :class:`asyncio.Lock` belongs to the loop
    it first waits in); the locks of closed loops are dropped."""
    loop = asyncio.get_running_loop()
    for closed in [other for other in _QUESTION_LOCKS if other.is_closed()]:
        del _QUESTION_LOCKS[closed]
    lock = _QUESTION_LOCKS.get(loop)
    if lock is None:
        lock = _QUESTION_LOCKS[loop] = asyncio.Lock()
    return lock


async def ask(question: str) -> str:
    """Ask ``question`` and return the answer line, without blocking the event loop: other
    coroutines (another experiment under ``asyncio.gather``) run while the person thinks, and
    cancelling the awaiting coroutine (Ctrl-C) ends the question at once. Questions are asked
    one at a time: one asked while another waits for its answer is asked after it.

    On a terminal the answer is read from stdin's file descriptor when the event loop says it is
    readable, so nothing is left blocked on a read after a cancel (a thread blocked in ``input()``
    would keep ``asyncio.run`` from exiting until Enter is pressed). In a notebook the kernel's
    ``input()`` (an input request to the frontend, answered on the kernel's stdin channel) runs in
    a thread of its own, which a cancel (the kernel interrupted) stops.
    """
    async with _one_at_a_time():
        return await _ask(question)


async def _ask(question: str) -> str:
    """:func:`ask`, by a caller that holds :func:`_one_at_a_time`'s lock."""
    if not in_notebook():
        fd = _terminal_fd()
        if fd is not None:
            with contextlib.suppress(NotImplementedError):  # an event loop without add_reader (Windows)
                return await _read_line(fd, question)
    return await _in_thread(builtins.input, question)


def _terminal_fd() -> int | None:
    """stdin's file descriptor when it is a terminal an event loop can watch (POSIX; None
    otherwise)."""
    try:
        if os.name == "posix" and sys.stdin is not None and sys.stdin.isatty():
            return sys.stdin.fileno()
    except (ValueError, OSError):  # closed, or no file descriptor
        pass
    return None


async def _read_line(fd: int, question: str) -> str:
    """Write ``question`` and read one line from the terminal ``fd`` (without its newline) as the
    event loop sees it arrive; EOF (Ctrl-D on an empty line) is an :class:`EOFError`, as for
    ``input()``."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()
    line = bytearray()

    def readable() -> None:
        if answer.done():
            return
        try:
            byte = os.read(fd, 1)  # one byte at a time: nothing after the line is taken from the terminal
        except BlockingIOError:
            return
        except OSError as exc:
            answer.set_exception(exc)
            return
        if not byte:
            answer.set_exception(EOFError("stdin was closed before the question was answered"))
        elif byte == b"\n":
            answer.set_result(line.decode(sys.stdin.encoding or "utf-8", errors="replace").rstrip("\r"))
        else:
            line.extend(byte)

    loop.add_reader(fd, readable)  # NotImplementedError where the loop cannot watch file descriptors
    try:
        sys.stdout.write(question)
        sys.stdout.flush()
        return await answer
    finally:
        loop.remove_reader(fd)


# how often a question asked in a thread wakes the event loop (see _in_thread)
_WAKE_S = 0.2


class _Abandoned(BaseException):
    """Raised in a question's thread when nobody waits for its answer any more (a BaseException,
    so that no ``except Exception`` of the code reading the answer takes it for its own)."""


def _settle(future: asyncio.Future[str], answer: str | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answer or "")


def _pending_exceptions_land_here() -> None:
    """Nothing: calling a Python function lets an exception set for this thread be raised."""


async def _in_thread(read: Callable[[str], str], question: str) -> str:
    """``read(question)`` in a daemon thread of its own (never an executor's, which
    ``asyncio.run`` waits for at exit). When the awaiting coroutine is cancelled, the thread is
    stopped with :class:`_Abandoned` (the kernel's ``input()`` notices within its 10 ms poll; a
    read blocked in the OS ends with the next line, which is then dropped): an abandoned question
    never answers a later one."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()
    guard = threading.Lock()
    reading = [True]

    def run() -> None:
        try:
            value, error = None, None
            try:
                value = read(question)
            except _Abandoned:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                error = exc
            with guard:
                reading[0] = False
            _pending_exceptions_land_here()
            loop.call_soon_threadsafe(_settle, answer, value, error)
        except _Abandoned:
            return
        except RuntimeError:  # the event loop was closed meanwhile: nobody waits for the answer
            return

    thread = threading.Thread(target=run, name="radas-question", daemon=True)
    thread.start()
    try:
        while not answer.done():
            # wake the event loop now and then: ipykernel's interrupt (the stop button) schedules its
            # cancel with tornado's add_callback, which does not wake a loop that has nothing else
            # to do, so without a wake-up the cancel would wait for the answer
            await asyncio.wait([answer], timeout=_WAKE_S)
        return answer.result()
    finally:
        with guard:
            if reading[0] and thread.ident is not None:
                reading[0] = False
                _raise_in(thread.ident, _Abandoned)


def _raise_in(thread_id: int, exc_type: type[BaseException]) -> None:
    """Raise ``exc_type`` in the thread ``thread_id`` at its next Python instruction (CPython;
    elsewhere the thread is left to end with its read)."""
    with contextlib.suppress(AttributeError):  # no ctypes.pythonapi (not CPython)
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type))


def _describe(name: str, state: ExperimentState) -> str:
    running = f"; a sweep of it is running ({state.running_detail})" if state.running else ""
    return f"experiment {name!r} already has results at {state.path}{running}"


async def choose(run_choice: str | None, state: ExperimentState, experiment_name: str, yes: bool) -> str:
    """The action to take: ``run_choice`` checked against ``state``, or the person's answer."""
    valid = valid_choices(state)
    if run_choice is None:
        if not state.exists and not state.running:
            return "run"
        if not can_ask():
            raise ChoiceRequiredError(
                f"{_describe(experiment_name, state)}, and there is no one to ask what to do "
                f"(no terminal or notebook input). Pass run_choice= one of {valid}: "
                + "; ".join(f"{c!r}: {_MEANING[c]}" for c in valid)
            )
        return await _ask_choice(experiment_name, state, valid)
    if run_choice == "restore" and not state.restorable:
        raise ExperimentNotFoundError(
            f"run_choice='restore': experiment {experiment_name!r} has no saved sweep to restore "
            f"at {state.path}; use run_choice='run' to start it"
        )
    if run_choice in ("attach", "stop_attach") and not state.running and not state.exists:
        raise ExperimentNotFoundError(
            f"run_choice={run_choice!r}: experiment {experiment_name!r} is not running and has "
            f"no results at {state.path}; use run_choice='run' to start it"
        )
    if run_choice == "run" and state.running and not yes and can_ask():
        answer = (await ask(
            f"{_describe(experiment_name, state)}. Stop it and start afresh? [y/N] "
        )).strip().lower()
        if answer not in ("y", "yes"):
            raise ChoiceRequiredError(
                f"not confirmed: the running sweep of {experiment_name!r} was left alone. "
                "Pass yes=True to skip this question, or run_choice='attach' to follow it"
            )
    return run_choice


async def _ask_choice(experiment_name: str, state: ExperimentState, valid: list[str]) -> str:
    lines = [_describe(experiment_name, state) + ". What should radas do?"]
    lines += [f"  {c}: {_MEANING[c]}" for c in valid]
    question = "\n".join(lines) + f"\n[{'/'.join(valid)}] > "
    async with _one_at_a_time():  # a retry follows its question, before another experiment's
        for _ in range(3):
            answer = (await _ask(question)).strip().lower()
            if answer in valid:
                return answer
            question = f"please answer one of {valid} > "
    raise ChoiceRequiredError(f"no valid answer; pass run_choice= one of {valid}")
