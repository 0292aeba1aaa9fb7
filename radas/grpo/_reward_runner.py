"""Running reward functions the way real reward code needs: in worker processes, each call in a
worker's main thread, with a timeout per call.

Reward libraries rely on things a trial's thread does not have: ``math_verify``'s timeouts use
``signal.alarm``, which only the main thread of a process may use (in a Ray Tune trial, which runs
in a thread, they raise "doesn't support threaded environment"); an LLM-judge reward keeps one
``AsyncOpenAI`` / ``httpx.AsyncClient`` at module level, which needs one event loop for the whole
run. A trial's :class:`RewardRunner` starts ``reward_workers`` processes that import the reward
files and serve calls:

* a reward file is imported once per process that scores with it: in each reward worker, never in
  the trial's own process (it learns the functions' names and forms from the first worker), except
  with ``reward_workers=0``, where the trial's process is the one that scores. The driver's check
  (:func:`validate_reward_file`) runs the functions in one throwaway worker without a GPU
  (``CUDA_VISIBLE_DEVICES=""``). A worker runs in the trial's working folder, environment and
  ``sys.path`` as they are when it starts;
* importing may take up to :func:`import_timeout` (the larger of 600 s and ``reward_timeout_s``;
  no limit when that is None): time for a reward that loads a reward model or a judge's tokenizer
  at import;
* a per-completion function (``reward_fn(completion, **fields)``) is called once per completion,
  spread over the workers, each call in a worker's main thread;
* a batch function (TRL's ``f(completions, **kwargs) -> list``) gets one call per batch, with
  TRL's keyword arguments (``prompts``, ``completions``, ``completion_ids``, ``trainer_state`` as a
  :class:`~radas.grpo._rewards.RewardTrainerState` — the run's progress, not its ``log_history``,
  so a call costs the same at step 5,000 as at step 1 — and ``log_metric`` / ``log_extra``, whose
  calls are passed on to TRL's);
* ``async def`` functions run on one event loop per worker that lives as long as the worker
  (a module-level client works step after step); the async functions of one batch run together,
  as TRL runs them (:meth:`RewardRunner.score_together`), at most ``reward_concurrency`` calls at a
  time per worker;
* module-level state (a cache, a counter) lives in each worker: with ``reward_workers=1`` one
  process makes every call of the trial and its state is whole (with 2 workers, each sees about
  half of the calls).

A call that takes longer than ``reward_timeout_s`` ends its worker together with whatever the
reward started (each worker leads a process group of its own; the group is killed: a code
sandbox's subprocess goes too) and the trial with a :class:`RewardTimeoutError`; a worker that
dies, a :class:`RewardCrashError`; a function that raises, its own error with a note — each naming
the function and the prompt-file line. Never a silent 0. Workers die with their trial's process,
even killed during a call (a watchdog thread in each worker follows the trial's process and ends
the worker's group). With ``reward_workers=0`` the functions run in the trial's process (async
ones on one loop of its own), without timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from radas._reporter import say
from radas.errors import RadasError
from radas.grpo._files import read_prompt_file, resolve_path
from radas.grpo._rewards import (
    RewardFunction,
    RewardSpec,
    RewardTrainerState,
    as_messages,
    load_reward_functions,
    note_error,
    resolved_reward_file,
    result_of,
    values_of_batch,
)

DEFAULT_TIMEOUT_S = 120.0
IMPORT_TIMEOUT_FLOOR_S = 600.0  # a worker may always take this long to import the reward files
SAMPLE_COMPLETION = "This is a sample completion."
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # the driver's check: the driver may have no GPU; it needs none
_DERIVED: Any = object()  # import_timeout_s not given: derived from the call timeout

# One call of a reward function: (function index, "one" | "batch", payload); a "one" payload is
# (completion, extra fields, where), a "batch" payload (keyword arguments, where, n completions).
Call = tuple[int, str, tuple[Any, ...]]


def import_timeout(timeout_s: float | None) -> float | None:
    """How long a reward worker may take to import the reward files: the larger of
    :data:`IMPORT_TIMEOUT_FLOOR_S` (600 s) and ``reward_timeout_s``; None (no limit) with it."""
    return None if timeout_s is None else max(IMPORT_TIMEOUT_FLOOR_S, float(timeout_s))


class RewardTimeoutError(RadasError, TimeoutError):
    """A reward function did not return within ``reward_timeout_s``."""


class RewardCrashError(RadasError, RuntimeError):
    """The process running a reward function died (a crash in native code, killed, out of memory)."""


class RemoteRewardError(RadasError, RuntimeError):
    """A reward function raised in a reward worker (its type, message and traceback tail are in the message)."""


@dataclass
class _Logs:
    """``log_metric`` / ``log_extra`` calls of a batch function made in a worker, to replay in the trial."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def metric(self, name: str, value: float) -> None:
        self.calls.append(("metric", name, value))

    def extra(self, column: str, values: list[Any]) -> None:
        self.calls.append(("extra", column, values))


class _Loop:
    """One event loop for the whole life of a process, running in a thread of its own (the
    functions' module-level clients stay bound to it), with at most ``concurrency`` calls at once."""

    def __init__(self, concurrency: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.limit = asyncio.Semaphore(concurrency)
        threading.Thread(target=self.loop.run_forever, name="radas-reward-loop", daemon=True).start()

    def run(self, coroutines: list[Coroutine[Any, Any, Any]]) -> list[Any]:
        """The results of ``coroutines``, run together on the loop; the first error stops the others."""
        async def every() -> list[Any]:
            tasks = [asyncio.ensure_future(c) for c in coroutines]
            try:
                return list(await asyncio.gather(*tasks))
            finally:
                for task in tasks:
                    task.cancel()

        return asyncio.run_coroutine_threadsafe(every(), self.loop).result()


def _prepare(rf: RewardFunction, kind: str, payload: tuple[Any, ...]
             ) -> tuple[Callable[[], Any], str, Callable[[Any], Any]]:
    """(the call, where it is, how its return value is checked) of one call of ``rf``."""
    if kind == "one":
        completion, extra, where = payload
        return (lambda: rf.fn(as_messages(completion), **extra)), where, lambda out: result_of(out, rf.path, where)
    kwargs, where, n = payload
    logs = _Logs()
    return ((lambda: rf.fn(**{**kwargs, "log_metric": logs.metric, "log_extra": logs.extra})), where,
            lambda out: (values_of_batch(out, rf, n, [where] * n), logs.calls))


def _call_sync(rf: RewardFunction, kind: str, payload: tuple[Any, ...]) -> Any:
    call, where, check = _prepare(rf, kind, payload)
    try:
        out = call()
    except Exception as exc:  # noqa: BLE001 - the user's function failed: say where, with its error
        raise note_error(exc, rf, where) from None
    return check(out)


async def _call_async(rf: RewardFunction, kind: str, payload: tuple[Any, ...], limit: asyncio.Semaphore,
                      timeout: float | None) -> Any:
    call, where, check = _prepare(rf, kind, payload)
    async with limit:
        try:
            task = asyncio.ensure_future(call())
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                task.cancel()
                raise _timed_out([rf], where, timeout)
            out = task.result()
        except RewardTimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's function failed: say where, with its error
            raise note_error(exc, rf, where) from None
    return check(out)


def run_calls(functions: Sequence[RewardFunction], calls: Sequence[Call], loop: _Loop,
              timeout: float | None) -> list[Any]:
    """The results of ``calls`` in this process: the synchronous ones one after another in this
    thread, then the async ones together on ``loop`` (each within ``timeout``)."""
    out: list[Any] = [None] * len(calls)
    later = []
    for j, (index, kind, payload) in enumerate(calls):
        if functions[index].is_async:
            later.append(j)
        else:
            out[j] = _call_sync(functions[index], kind, payload)
    if later:
        values = loop.run([_call_async(functions[calls[j][0]], calls[j][1], calls[j][2], loop.limit, timeout)
                           for j in later])
        for j, value in zip(later, values, strict=True):
            out[j] = value
    return out


def _timed_out(rfs: Sequence[RewardSpec], where: str, timeout: float | None) -> RewardTimeoutError:
    names = ", ".join(repr(rf.name) for rf in rfs)
    files = ", ".join(dict.fromkeys(repr(str(rf.path)) for rf in rfs))
    what = f"reward function {names} of reward_file {files}" if len(rfs) == 1 else \
        f"one of the reward functions {names} (run together; reward_file {files})"
    return RewardTimeoutError(
        f"{what} did not return within reward_timeout_s={timeout:g} s on {where}; make it faster, give it more "
        "time (reward_timeout_s), or make sure it cannot wait forever (a network call without a timeout)")


# ---- the worker process ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Setup:
    """What a worker takes from the trial's process as it starts: the process to die with, and
    the working folder, environment and import path to import the reward files in."""

    parent: int
    cwd: str | None
    env: dict[str, str]
    path: list[str]

    @classmethod
    def here(cls, overrides: Mapping[str, str]) -> _Setup:
        try:
            cwd: str | None = os.getcwd()
        except OSError:  # the working folder was deleted: keep the worker's
            cwd = None
        return cls(os.getpid(), cwd, {**os.environ, **overrides}, list(sys.path))

    def apply(self) -> None:
        if self.cwd is not None:
            with contextlib.suppress(OSError):
                os.chdir(self.cwd)
        os.environ.clear()
        os.environ.update(self.env)
        sys.path[:] = self.path


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True  # no /proc: kill(pid, 0) said it exists


def _watch(parent: int) -> None:
    """Wait until process ``parent`` ends, then kill this process's group (this worker and what
    its rewards started)."""
    try:
        fd = os.pidfd_open(parent)  # readable once the process has ended (Linux 5.3+)
    except (AttributeError, OSError):
        while _alive(parent):
            time.sleep(0.5)
    else:
        select.select([fd], [], [])
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _die_with(parent: int) -> None:
    """Lead a process group of our own (a timeout kills the group: this worker and whatever its
    reward started, a code sandbox's subprocess) and end it when the trial's process ``parent``
    ends, even while a reward call blocks the main thread (a watchdog thread). The group stays in
    the trial's session (a session of its own would also be a scheduling group of its own under
    Linux's autogroup, and wait longer for the CPU on a busy machine)."""
    with contextlib.suppress(OSError):  # already a group leader: keep it
        os.setpgid(0, 0)
    threading.Thread(target=_watch, args=(parent,), name="radas-reward-watchdog", daemon=True).start()


def _serve(conn: multiprocessing.connection.Connection, reward_file: list[str], concurrency: int,
           timeout: float | None, setup: _Setup) -> None:
    """A worker: import the reward files, say what they provide, then answer calls until told to stop."""
    _die_with(setup.parent)
    setup.apply()
    try:
        functions = load_reward_functions(reward_file)
    except BaseException as exc:  # noqa: BLE001 - the trial raises it
        conn.send(("error", _portable_error(exc)))
        return
    conn.send(("ready", [rf.spec() for rf in functions]))
    loop = _Loop(concurrency)
    while True:
        try:
            calls = conn.recv()
        except EOFError:
            return
        if calls is None:
            return
        try:
            conn.send(("ok", run_calls(functions, calls, loop, timeout)))
        except BaseException as exc:  # noqa: BLE001 - sent to the trial, which raises it
            conn.send(("error", _portable_error(exc)))


def _portable_error(exc: BaseException) -> BaseException:
    """``exc`` as it can travel back to the trial: itself (notes included) when it pickles, else a
    :class:`RemoteRewardError` with its type, message, notes and the end of its traceback."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - e.g. an exception of a library the trial cannot unpickle
        notes = "".join(f"\n{n}" for n in getattr(exc, "__notes__", ()))
        tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:]).strip()
        return RemoteRewardError(f"{type(exc).__name__}: {exc}{notes}\n{tail}")


_main_guard = threading.Lock()


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """While a worker starts: multiprocessing would have it import this process's ``__main__``
    again (the user's script, Ray's worker, a notebook) to find the target; the target is
    radas's own, so the worker gets an empty ``__main__`` instead, and runs none of the user's code
    but the reward files."""
    with _main_guard:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection


@dataclass
class _Job:
    """Calls one worker makes in one go, the functions they call (for messages), where they are,
    and how long the trial waits for them."""

    calls: list[Call]
    functions: list[RewardSpec]
    where: str
    budget: float


def _kill(worker: _Worker) -> None:
    """Kill a worker's process group (it and what its rewards started), then the worker."""
    with contextlib.suppress(Exception):
        os.killpg(worker.process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        worker.process.kill()
        worker.process.join(5)
    with contextlib.suppress(Exception):
        worker.conn.close()


class RewardRunner:
    """The reward functions of one trial (``reward_file`` config value; None: none, and no worker),
    run in ``workers`` worker processes (0: in this process) with ``timeout_s`` per call and
    ``concurrency`` async calls at once per worker; a worker may take ``import_timeout_s`` to import the files (default:
    :func:`import_timeout` of ``timeout_s``). ``env``: environment variables the workers get on top
    of this process's (the driver's check: :data:`NO_GPU`)."""

    def __init__(self, reward_file: Any, workers: int = 2, timeout_s: float | None = DEFAULT_TIMEOUT_S,
                 concurrency: int = 16, *, import_timeout_s: float | None = _DERIVED,
                 env: Mapping[str, str] | None = None) -> None:
        self.reward_file = resolved_reward_file(reward_file)  # a missing file fails here, not in a worker
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.import_timeout_s = import_timeout(timeout_s) if import_timeout_s is _DERIVED else import_timeout_s
        self._env = dict(env or {})
        self._local: list[RewardFunction] = []
        self._specs: list[RewardSpec] | None = None
        self._loop: _Loop | None = None
        self._workers: list[_Worker | None] = []
        self._ready: set[int] = set()
        if not self.reward_file:  # reward_file None: the trial's reward models score alone
            self._specs = []
            return
        if workers <= 0:  # this process scores: it imports the files
            self._local = load_reward_functions(self.reward_file)
            self._specs = [rf.spec() for rf in self._local]
            self._loop = _Loop(concurrency)
            return
        # workers fork from a server process that imported radas once: a worker starts in tens of
        # milliseconds, with a main thread of its own and none of the trial's threads
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["radas.grpo._reward_runner"])
        self._workers = [self._start() for _ in range(workers)]

    @property
    def functions(self) -> list[RewardSpec]:
        """The reward functions' names and forms, in order (from the first worker, once it has
        imported the files)."""
        if self._specs is None:
            self._await_ready(0)
        assert self._specs is not None
        return self._specs

    # ---- workers --------------------------------------------------------------------------
    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self.reward_file, self.concurrency, self.timeout_s, _Setup.here(self._env)),
            name="radas-reward-worker", daemon=True)
        with _main_hidden():
            process.start()
        child.close()
        return _Worker(process, parent)

    def _worker(self, i: int) -> _Worker:
        worker = self._workers[i]
        if worker is None:
            worker = self._workers[i] = self._start()
        return worker

    def _await_ready(self, i: int) -> None:
        """Wait until worker ``i`` has imported the reward files (the first to do so tells what they provide)."""
        worker = self._worker(i)
        if i in self._ready:
            return
        if not worker.conn.poll(self.import_timeout_s):
            self._discard(i)
            raise RewardTimeoutError(
                f"a reward worker did not finish importing reward_file {self._files()} within "
                f"{self.import_timeout_s:g} s "
                f"(the import time limit: the larger of {IMPORT_TIMEOUT_FLOOR_S:g} s and reward_timeout_s; "
                "reward_timeout_s=None: no limit); make the import faster (load big things once, lazily) or give it "
                "more time")
        status, detail = self._receive(i, "importing the reward files")
        if status != "ready":
            self._discard(i)
            raise detail  # the file's own error: it does not import, defines no reward_fn...
        self._ready.add(i)
        if self._specs is None:
            self._specs = list(detail)

    def _files(self) -> str:
        return repr(self.reward_file[0] if len(self.reward_file) == 1 else self.reward_file)

    def _receive(self, i: int, doing: str) -> tuple[str, Any]:
        worker = self._worker(i)
        try:
            return tuple(worker.conn.recv())
        except (EOFError, OSError):
            worker.process.join(5)
            code = worker.process.exitcode
            self._discard(i)
            raise RewardCrashError(
                f"the reward worker died (exit code {code}) while {doing}: a crash in native code, the process "
                "killed, or out of memory; the trial ends here rather than score with made-up rewards") from None

    def _discard(self, i: int) -> None:
        """Kill worker ``i`` (and what its rewards started); a new one starts when one is needed."""
        worker = self._workers[i]
        self._workers[i] = None
        self._ready.discard(i)
        if worker is not None:
            _kill(worker)

    def close(self) -> None:
        """Stop the workers (and what their rewards started), and the in-process loop."""
        workers = [w for w in self._workers if w is not None]
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(5)
            _kill(worker)
        self._workers = []
        if self._loop is not None:
            self._loop.loop.call_soon_threadsafe(self._loop.loop.stop)
            self._loop = None

    def __enter__(self) -> RewardRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- calls ----------------------------------------------------------------------------
    def _job(self, calls: list[Call], where: str) -> _Job:
        n_async = sum(self.functions[index].is_async for index, _, _ in calls)
        timeout = self.timeout_s if self.timeout_s is not None else math.inf
        rounds = (len(calls) - n_async) + (math.ceil(n_async / self.concurrency) + 1 if n_async else 0)
        functions = list({index: self.functions[index] for index, _, _ in calls}.values())
        return _Job(calls, functions, where, timeout * rounds + 5.0)

    def _run(self, jobs: Sequence[_Job]) -> list[list[Any]]:
        """The results of ``jobs`` (each a list, one per call), run over the workers with one
        outstanding job per worker, so each call's time is its own."""
        if not self._workers:
            assert self._loop is not None
            return [run_calls(self._local, job.calls, self._loop, None) for job in jobs]
        results: list[list[Any]] = [[] for _ in jobs]
        pending = list(range(len(jobs)))
        busy: dict[int, tuple[int, float]] = {}  # worker -> (job, deadline)
        try:
            while pending or busy:
                for i in range(len(self._workers)):
                    if pending and i not in busy:
                        self._await_ready(i)
                        j = pending.pop(0)
                        self._worker(i).conn.send(jobs[j].calls)
                        busy[i] = (j, time.monotonic() + jobs[j].budget)
                conns = {self._worker(i).conn: i for i in busy}
                ready = multiprocessing.connection.wait(list(conns), timeout=0.5)
                for i, (j, deadline) in list(busy.items()):
                    if self._worker(i).conn in ready:
                        del busy[i]
                        names = ", ".join(repr(rf.name) for rf in jobs[j].functions)
                        status, value = self._receive(i, f"calling {names} on {jobs[j].where}")
                        if status == "error":
                            raise value
                        results[j] = value
                    elif time.monotonic() > deadline:
                        del busy[i]
                        self._discard(i)
                        raise _timed_out(jobs[j].functions, jobs[j].where, self.timeout_s)
        finally:
            for i in busy:  # an error ended the batch: the calls still running would answer the next one
                self._discard(i)
        return results

    def score(self, index: int, prompts: Sequence[Any], completions: Sequence[Any],
              extras: Sequence[Mapping[str, Any]], wheres: Sequence[str],
              trl_kwargs: Mapping[str, Any] | None = None) -> tuple[list[float], list[dict[str, float]]]:
        """Rewards (NaN: not applicable) and ``{name: number}`` infos of function ``index`` for a batch.
        ``trl_kwargs``: TRL's keyword arguments for batch functions (``log_metric`` / ``log_extra``
        calls made by the function are passed on to TRL's)."""
        rf = self.functions[index]
        if rf.is_async or rf.batch:
            return self.score_together([index], prompts, completions, extras, wheres, trl_kwargs)[0]
        jobs = [self._job([(index, "one", (c, e, w))], w) for c, e, w in zip(completions, extras, wheres, strict=True)]
        pairs = [result for [result] in self._run(jobs)]
        return [r for r, _ in pairs], [i for _, i in pairs]

    def score_together(self, indices: Sequence[int], prompts: Sequence[Any], completions: Sequence[Any],
                       extras: Sequence[Mapping[str, Any]], wheres: Sequence[str],
                       trl_kwargs: Mapping[str, Any] | None = None) -> list[tuple[list[float], list[dict[str, float]]]]:
        """:meth:`score` of the functions ``indices`` on one batch, run together: each worker gets a
        share of the completions with the calls of every per-completion function on them, and the
        batch functions' calls in turn; a worker runs its async calls concurrently (at most
        ``reward_concurrency`` at once), as TRL runs the async functions of a step."""
        n = len(completions)
        size = max(1, math.ceil(n / max(1, len(self._workers))))
        spans = [range(s, min(s + size, n)) for s in range(0, n, size)] or [range(0)]
        calls: list[list[Call]] = [[] for _ in spans]
        slots: list[list[tuple[int, int | None]]] = [[] for _ in spans]  # (function, completion or None: batch)
        given = dict(trl_kwargs or {})
        batch_payload: tuple[Any, ...] | None = None
        for k, index in enumerate(indices):
            if self.functions[index].batch:
                if batch_payload is None:
                    batch_payload = self._batch_payload(prompts, completions, extras, wheres, given)
                calls[k % len(spans)].append((index, "batch", batch_payload))
                slots[k % len(spans)].append((index, None))
                continue
            for c, span in enumerate(spans):
                calls[c].extend((index, "one", (completions[j], extras[j], wheres[j])) for j in span)
                slots[c].extend((index, j) for j in span)
        outs: dict[int, tuple[list[float], list[dict[str, float]]]] = {
            index: ([math.nan] * n, [{} for _ in range(n)]) for index in indices}
        jobs = [(c, s) for c, s in zip(calls, slots, strict=True) if c]
        where = _batch_where(wheres)
        results = self._run([self._job(c, where) for c, _ in jobs])
        for (_, job_slots), job_results in zip(jobs, results, strict=True):
            for (index, j), result in zip(job_slots, job_results, strict=True):
                if j is None:
                    values, logs = result
                    outs[index] = (values, [{} for _ in values])
                    _replay(logs, given)
                else:
                    outs[index][0][j], outs[index][1][j] = result
        return [outs[index] for index in indices]

    def score_all(self, prompts: Sequence[Any], completions: Sequence[Any], extras: Sequence[Mapping[str, Any]],
                  wheres: Sequence[str], trl_kwargs: Mapping[str, Any] | None = None
                  ) -> list[tuple[list[float], list[dict[str, float]]]]:
        """:meth:`score` of every function on one batch, as a trial step scores it: the synchronous
        ones one after another, the async ones together."""
        together = [i for i, rf in enumerate(self.functions) if rf.is_async]
        out = dict(zip(together, self.score_together(together, prompts, completions, extras, wheres, trl_kwargs)
                       if together else [], strict=True))
        for i in range(len(self.functions)):
            if i not in out:
                out[i] = self.score(i, prompts, completions, extras, wheres, trl_kwargs)
        return [out[i] for i in range(len(self.functions))]

    def _batch_payload(self, prompts: Sequence[Any], completions: Sequence[Any], extras: Sequence[Mapping[str, Any]],
                       wheres: Sequence[str], given: Mapping[str, Any]) -> tuple[Any, ...]:
        n = len(completions)
        columns: dict[str, list[Any]] = {}
        for i, extra in enumerate(extras):
            for key, value in extra.items():
                columns.setdefault(key, [None] * n)[i] = value
        kwargs = {**columns, **_portable(given), "prompts": list(prompts), "completions": list(completions)}
        where = _batch_where(wheres)
        return kwargs, where, n


def _batch_where(wheres: Sequence[str]) -> str:
    if len(wheres) <= 1:
        return wheres[0] if wheres else "no input"
    return f"a batch of {len(wheres)} completions ({wheres[0]} .. {wheres[-1]})"


# TRL's keyword arguments that always travel to a worker as they are (after trainer_state is slimmed)
_KNOWN = frozenset({"completion_ids", "trainer_state"})


def _portable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """TRL's keyword arguments as a batch function gets them, in a worker or not: ``trainer_state``
    as a :class:`RewardTrainerState` (the run's progress, without the ``log_history`` that grows all
    run long), the ``log_*`` functions left to the runner's stand-ins, anything else only when it
    can be pickled (e.g. a live object of TRL's stays behind), so that a function gets the same
    arguments whatever ``reward_workers`` is."""
    out = {}
    for key, value in kwargs.items():
        if key in ("log_metric", "log_extra"):
            continue
        if key == "trainer_state":
            value = RewardTrainerState.of(value)
        elif key not in _KNOWN:
            try:
                pickle.dumps(value)
            except Exception:  # noqa: BLE001 - the function does without it
                continue
        out[key] = value
    return out


def _replay(calls: Sequence[tuple[str, str, Any]], given: Mapping[str, Any]) -> None:
    for kind, name, value in calls:
        target: Callable[..., Any] | None = given.get("log_metric" if kind == "metric" else "log_extra")
        if callable(target):
            target(name, value)


@contextlib.contextmanager
def running(reward_file: Any, workers: int, timeout_s: float | None, concurrency: int,
            **options: Any) -> Iterator[RewardRunner]:
    """A :class:`RewardRunner` closed at the end of the block (``options``: its keyword-only arguments)."""
    runner = RewardRunner(reward_file, workers, timeout_s, concurrency, **options)
    try:
        yield runner
    finally:
        runner.close()


def trl_keyword_arguments(prompts: Sequence[Any], completions: Sequence[Any]) -> dict[str, Any]:
    """The keyword arguments TRL's GRPOTrainer gives a reward function besides the dataset's
    columns, as the reward-file check passes them (``completion_ids`` and ``trainer_state`` with
    the shapes a trial's have)."""
    return {"prompts": list(prompts), "completions": list(completions),
            "completion_ids": [[0] * len(str(c)) for c in completions], "trainer_state": RewardTrainerState(),
            "log_metric": lambda name, value: None, "log_extra": lambda column, values: None}


class _Imported:
    """The reward functions of a checked ``reward_file``, imported into this process when one is first called."""

    def __init__(self, reward_file: list[str]) -> None:
        self.reward_file = reward_file
        self._functions: dict[str, Callable[..., Any]] | None = None
        self._lock = threading.Lock()

    def function(self, name: str) -> Callable[..., Any]:
        with self._lock:
            if self._functions is None:
                self._functions = {rf.name: rf.fn for rf in load_reward_functions(self.reward_file)}
        return self._functions[name]


class CheckedRewardFunction:
    """A reward function :func:`validate_reward_file` checked, by its metric name: calling it
    imports its file into this process (once) and calls the function; the check itself imported
    nothing here."""

    def __init__(self, source: _Imported, spec: RewardSpec) -> None:
        self._source = source
        self.spec = spec
        self.__name__ = spec.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._source.function(self.spec.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<reward function {self.spec.name!r} of {str(self.spec.path)!r}>"


def validate_reward_file(
    path: str | Any | Sequence[str],
    prompt_file: str | Any | None = None,
    n_lines: int = 3,
    *,
    apply_chat_template: bool = False,
    reward_workers: int = 2,
    reward_timeout_s: float | None = DEFAULT_TIMEOUT_S,
    reward_concurrency: int = 16,
) -> dict[str, Callable[..., Any]]:
    """Check a reward file (or a list of them) before a sweep; return its reward functions by metric name.

    Each file must import and provide ``reward_fn``, ``reward_fns`` or the function named with
    ``"file.py:function"``. The check imports the files in one throwaway reward worker process
    without a GPU (``CUDA_VISIBLE_DEVICES=""``), never in this one: a reward that loads a model at
    import loads it there, and it goes when the check ends. With ``prompt_file``, every function is
    also called on the first ``n_lines`` prompts exactly as a trial will call it (in that worker,
    with ``reward_timeout_s`` per call and ``reward_concurrency``; ``reward_workers`` does not
    change where the check runs), with a sample completion in the shape the trial's completions
    take (text for plain-string prompts, a list of messages for chat prompts), each line's extra
    fields, and TRL's keyword arguments for batch functions; the async functions together. It must
    return a finite number (or ``(number, {"name": number})``, or None where it does not apply;
    TRL's batch form: a list of them); a function that returns None for every sample line is said
    so. Errors name the reward file and, where it applies, its line and the prompt-file line.

    The returned functions are :class:`CheckedRewardFunction`: calling one imports its file into
    this process then.
    """
    del reward_workers  # accepted so that a trial's config values pass as they are
    with running(path, 1, reward_timeout_s, reward_concurrency, env=NO_GPU) as runner:
        functions = runner.functions
        if prompt_file is not None:
            records = read_prompt_file(prompt_file)[: max(1, n_lines)]
            pf = str(resolve_path(prompt_file, "prompt_file"))
            prompts = [[{"role": "user", "content": r.prompt}] if apply_chat_template and isinstance(r.prompt, str)
                       else r.prompt for r in records]
            completions = [SAMPLE_COMPLETION if isinstance(p, str) else as_messages(SAMPLE_COMPLETION)
                           for p in prompts]
            wheres = [f"prompt_file {pf!r} line {r.line}" for r in records]
            scored = runner.score_all(prompts, completions, [r.extra for r in records], wheres,
                                      trl_keyword_arguments(prompts, completions))
            for rf, (rewards, _) in zip(functions, scored, strict=True):
                if all(math.isnan(r) for r in rewards):
                    say("warning", f"reward_file {str(rf.path)!r}: {rf.name} returned None for every sample line "
                        f"({wheres[0]} .. {wheres[-1]}). None means 'does not apply to this completion' (TRL's "
                        "rule): if it applies to no prompt of the file, it never scores anything")
        source = _Imported(runner.reward_file)
    return {rf.name: CheckedRewardFunction(source, rf) for rf in functions}
