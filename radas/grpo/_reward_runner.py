"""Running reward functions the way real reward code needs: in worker processes, each call in a
worker's main thread, with a timeout per call.

Reward libraries rely on things a trial's thread does not have: ``math_verify``'s timeouts use
``signal.alarm``, which only the main thread of a process may use (in a Ray Tune trial, which runs
in a thread, they raise "doesn't support threaded environment"); an LLM-judge reward keeps one
``AsyncOpenAI`` / ``httpx.AsyncClient`` at module level, which needs one event loop for the whole
run. A trial's :class:`RewardRunner` starts ``reward_workers`` processes that import the reward
files and serve calls:

* a per-completion function (``reward_fn(completion, **fields)``) is called once per completion,
  spread over the workers, each call in a worker's main thread;
* a batch function (TRL's ``f(completions, **kwargs) -> list``) gets one call per batch, with
  TRL's keyword arguments (``prompts``, ``completions``, ``completion_ids``, ``trainer_state``, and
  ``log_metric`` / ``log_extra``, whose calls are passed on to TRL's);
* ``async def`` functions run on one event loop per worker that lives as long as the worker
  (a module-level client works step after step), at most ``reward_concurrency`` calls at a time.

A call that takes longer than ``reward_timeout_s`` ends its worker (a new one takes its place) and
the trial with a :class:`RewardTimeoutError`; a worker that dies, a :class:`RewardCrashError`; a
function that raises, its own error with a note — each naming the function and the prompt-file
line. Never a silent 0. With ``reward_workers=0`` the functions run in the trial's process (async
ones on one loop of its own), without timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import math
import multiprocessing
import multiprocessing.connection
import pickle
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
    as_messages,
    load_reward_functions,
    note_error,
    result_of,
    values_of_batch,
)

DEFAULT_TIMEOUT_S = 120.0
SAMPLE_COMPLETION = "This is a sample completion."
# where TRL's trainer_state comes from: workers are forked with it imported, to unpickle it fast
TRAINER_STATE_MODULE = "transformers.trainer_callback"
_START_S = 120.0  # how long a worker may take to import the reward files


class RewardTimeoutError(RadasError, TimeoutError):
    """A reward function did not return within ``reward_timeout_s``."""


class RewardCrashError(RadasError, RuntimeError):
    """The process running a reward function died (a crash in native code, killed, out of memory)."""


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

    def gather(self, coroutines: list[Coroutine[Any, Any, Any]], timeout: float | None) -> list[Any]:
        """Await ``coroutines`` on the loop, at most ``concurrency`` at once, each within ``timeout``."""
        async def limited(coroutine: Coroutine[Any, Any, Any]) -> Any:
            async with self.limit:
                return await asyncio.wait_for(coroutine, timeout)

        async def every() -> list[Any]:
            return list(await asyncio.gather(*(limited(c) for c in coroutines)))

        return asyncio.run_coroutine_threadsafe(every(), self.loop).result()


def _invoke(rf: RewardFunction, where: str, loop: _Loop, timeout: float | None, call: Callable[[], Any]) -> Any:
    """``call()`` (awaited on ``loop`` when ``rf`` is async), its failure named: the function, the input."""
    try:
        out = call()
        return loop.gather([out], timeout)[0] if rf.is_async else out
    except (asyncio.TimeoutError, TimeoutError):
        raise _timed_out(rf, where, timeout) from None
    except Exception as exc:  # noqa: BLE001 - the user's function failed: say where, with its error
        raise note_error(exc, rf, where) from None


def call_here(rf: RewardFunction, kind: str, payload: tuple[Any, ...], loop: _Loop, timeout: float | None) -> Any:
    """One call of ``rf`` in this process: ``kind`` "one" (a completion), "ones" (async calls of a
    chunk of completions, together on the loop) or "batch"."""
    if kind == "one":
        completion, extra, where = payload
        out = _invoke(rf, where, loop, timeout, lambda: rf.fn(as_messages(completion), **extra))
        return result_of(out, rf.path, where)
    if kind == "ones":
        completions, extras, wheres = payload
        where = f"one of {wheres[0]} .. {wheres[-1]}"
        plain = dataclasses.replace(rf, is_async=False)  # gathered here, not one by one
        outs = _invoke(plain, where, loop, timeout, lambda: loop.gather(
            [rf.fn(as_messages(c), **e) for c, e in zip(completions, extras, strict=True)], timeout))
        return [result_of(o, rf.path, w) for o, w in zip(outs, wheres, strict=True)]
    kwargs, where, n = payload
    logs = _Logs()
    out = _invoke(rf, where, loop, timeout, lambda: rf.fn(**{**kwargs, "log_metric": logs.metric,
                                                           "log_extra": logs.extra}))
    return values_of_batch(out, rf, n, [where] * n), logs.calls


def _timed_out(rf: RewardFunction, where: str, timeout: float | None) -> RewardTimeoutError:
    return RewardTimeoutError(
        f"reward function {rf.name!r} of reward_file {str(rf.path)!r} did not return within reward_timeout_s="
        f"{timeout:g} s on {where}; make it faster, give it more time (reward_timeout_s), or make sure it cannot "
        "wait forever (a network call without a timeout)")


def _serve(conn: multiprocessing.connection.Connection, reward_file: Any, concurrency: int,
           timeout: float | None) -> None:
    """A worker: import the reward files, then answer calls until told to stop."""
    try:
        functions = load_reward_functions(reward_file)
    except BaseException as exc:  # noqa: BLE001 - the trial reports it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    loop = _Loop(concurrency)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, kind, payload = message
        try:
            conn.send(("ok", call_here(functions[index], kind, payload, loop, timeout)))
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


class RemoteRewardError(RadasError, RuntimeError):
    """A reward function raised in a reward worker (its type, message and traceback tail are in the message)."""


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


class RewardRunner:
    """The reward functions of one trial (``reward_file`` config value), run in ``workers`` worker
    processes (0: in this process) with ``timeout_s`` per call and ``concurrency`` async calls at once."""

    def __init__(self, reward_file: Any, workers: int = 2, timeout_s: float | None = DEFAULT_TIMEOUT_S,
                 concurrency: int = 16) -> None:
        self.reward_file = reward_file
        self.functions = load_reward_functions(reward_file)
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        # workers fork from a server process that imported radas once: a worker starts in tens of
        # milliseconds, with a main thread of its own and none of the trial's threads
        # (with transformers, when this process has it: TRL's trainer_state is one of its objects)
        self._context = multiprocessing.get_context("forkserver")
        # (the server is started once per process, by its first runner: it imports what any
        # runner's workers may need, TRL's trainer_state for batch functions included)
        preload = ["radas.grpo._reward_runner"]
        with contextlib.suppress(ImportError):
            importlib.import_module(TRAINER_STATE_MODULE)
            preload.append(TRAINER_STATE_MODULE)
        self._context.set_forkserver_preload(preload)
        self._workers: list[_Worker] = [self._start() for _ in range(max(0, workers))]
        self._loop = _Loop(concurrency) if not self._workers else None
        self._ready: set[int] = set()

    # ---- workers --------------------------------------------------------------------------
    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child, self.reward_file, self.concurrency,
                                                               self.timeout_s),
                                        name="radas-reward-worker", daemon=True)
        with _main_hidden():
            process.start()
        child.close()
        return _Worker(process, parent)

    def _await_ready(self, i: int) -> None:
        if i in self._ready:
            return
        worker = self._workers[i]
        if not worker.conn.poll(_START_S):
            raise RewardCrashError(f"a reward worker did not import reward_file {self.reward_file!r} within "
                                   f"{_START_S:g} s")
        status, detail = self._receive(i, "importing the reward files")
        if status != "ready":
            raise RewardCrashError(f"a reward worker could not import reward_file {self.reward_file!r}: {detail}")
        self._ready.add(i)

    def _receive(self, i: int, doing: str) -> tuple[str, Any]:
        worker = self._workers[i]
        try:
            return tuple(worker.conn.recv())
        except (EOFError, OSError):
            worker.process.join(5)
            code = worker.process.exitcode
            self._replace(i)
            raise RewardCrashError(
                f"the reward worker died (exit code {code}) while {doing}: a crash in native code, the process "
                "killed, or out of memory; the trial ends here rather than score with made-up rewards") from None

    def _replace(self, i: int) -> None:
        old = self._workers[i]
        with contextlib.suppress(Exception):
            old.process.kill()
            old.process.join(5)
        self._workers[i] = self._start()
        self._ready.discard(i)

    def close(self) -> None:
        """Stop the workers (and the in-process loop)."""
        for worker in self._workers:
            with contextlib.suppress(Exception):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
        self._workers = []
        if self._loop is not None:
            self._loop.loop.call_soon_threadsafe(self._loop.loop.stop)

    def __enter__(self) -> RewardRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- calls ----------------------------------------------------------------------------
    def _jobs(self, index: int, kind: str, payloads: Sequence[tuple[Any, ...]], wheres: Sequence[str]) -> list[Any]:
        """Run ``payloads`` (calls of function ``index``) over the workers, one outstanding call per
        worker so each call's time is its own; results in order."""
        rf = self.functions[index]
        if not self._workers:
            assert self._loop is not None
            return [call_here(rf, kind, p, self._loop, None) for p in payloads]
        results: list[Any] = [None] * len(payloads)
        pending = list(range(len(payloads)))
        busy: dict[int, tuple[int, float]] = {}  # worker -> (job, deadline)
        budget = self._budget(kind, payloads)
        while pending or busy:
            for i in range(len(self._workers)):
                if pending and i not in busy:
                    self._await_ready(i)
                    job = pending.pop(0)
                    self._workers[i].conn.send((index, kind, payloads[job]))
                    busy[i] = (job, time.monotonic() + budget[job])
            ready = multiprocessing.connection.wait([self._workers[i].conn for i in busy], timeout=0.5)
            for i, (job, deadline) in list(busy.items()):
                if self._workers[i].conn in ready:
                    del busy[i]
                    status, value = self._receive(i, f"calling {rf.name!r} on {wheres[job]}")
                    if status == "error":
                        raise value
                    results[job] = value
                elif time.monotonic() > deadline:
                    self._replace(i)
                    raise _timed_out(rf, wheres[job], self.timeout_s)
        return results

    def _budget(self, kind: str, payloads: Sequence[tuple[Any, ...]]) -> list[float]:
        timeout = self.timeout_s if self.timeout_s is not None else math.inf
        if kind != "ones":
            return [timeout + 5.0] * len(payloads)
        return [timeout * (math.ceil(len(p[0]) / self.concurrency) + 1) + 5.0 for p in payloads]

    def score(self, index: int, prompts: Sequence[Any], completions: Sequence[Any],
              extras: Sequence[Mapping[str, Any]], wheres: Sequence[str],
              trl_kwargs: Mapping[str, Any] | None = None) -> tuple[list[float], list[dict[str, float]]]:
        """Rewards (NaN: not applicable) and ``{name: number}`` infos of function ``index`` for a batch.
        ``trl_kwargs``: TRL's keyword arguments for batch functions (``log_metric`` / ``log_extra``
        calls made by the function are passed on to TRL's)."""
        rf = self.functions[index]
        n = len(completions)
        if rf.batch:
            columns: dict[str, list[Any]] = {}
            for i, extra in enumerate(extras):
                for key, value in extra.items():
                    columns.setdefault(key, [None] * n)[i] = value
            given = dict(trl_kwargs or {})
            kwargs = {**columns, **_portable(given), "prompts": list(prompts), "completions": list(completions)}
            where = wheres[0] if n == 1 else f"a batch of {n} completions ({wheres[0]} .. {wheres[-1]})"
            [(values, logs)] = self._jobs(index, "batch", [(kwargs, where, n)], [where])
            _replay(logs, given)
            return values, [{} for _ in values]
        if rf.is_async and self._workers:
            size = math.ceil(n / len(self._workers))
            chunks = [(list(completions[s:s + size]), list(extras[s:s + size]), list(wheres[s:s + size]))
                      for s in range(0, n, size)]
            pairs = [pair for chunk in self._jobs(index, "ones", chunks, [c[2][0] for c in chunks]) for pair in chunk]
        else:
            pairs = self._jobs(index, "one", list(zip(completions, extras, wheres, strict=True)), list(wheres))
        return [r for r, _ in pairs], [i for _, i in pairs]


def _portable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """TRL's keyword arguments that can travel to a worker (its ``log_*`` functions are stood in for
    there; anything that cannot be pickled stays behind)."""
    out = {}
    for key, value in kwargs.items():
        if key in ("log_metric", "log_extra"):
            continue
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001 - e.g. a live object of TRL's: the function does without it
            continue
        out[key] = value
    return out


def _replay(calls: Sequence[tuple[str, str, Any]], given: Mapping[str, Any]) -> None:
    for kind, name, value in calls:
        target: Callable[..., Any] | None = given.get("log_metric" if kind == "metric" else "log_extra")
        if callable(target):
            target(name, value)


@contextlib.contextmanager
def running(reward_file: Any, workers: int, timeout_s: float | None, concurrency: int) -> Iterator[RewardRunner]:
    """A :class:`RewardRunner` closed at the end of the block."""
    runner = RewardRunner(reward_file, workers, timeout_s, concurrency)
    try:
        yield runner
    finally:
        runner.close()


def trl_keyword_arguments(prompts: Sequence[Any], completions: Sequence[Any]) -> dict[str, Any]:
    """The keyword arguments TRL's GRPOTrainer gives a reward function besides the dataset's
    columns, as the reward-file check passes them (``completion_ids`` and ``trainer_state`` with
    the shapes a trial's have)."""
    try:
        from transformers import TrainerState

        state: Any = TrainerState()
    except ImportError:  # without transformers no trial can run either; the check still calls the function
        state = None
    return {"prompts": list(prompts), "completions": list(completions),
            "completion_ids": [[0] * len(str(c)) for c in completions], "trainer_state": state,
            "log_metric": lambda name, value: None, "log_extra": lambda column, values: None}


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
    ``"file.py:function"``. With ``prompt_file``, every function is also called on the first
    ``n_lines`` prompts exactly as a trial will call it: in a reward worker process (the same
    ``reward_workers`` / ``reward_timeout_s`` / ``reward_concurrency``), with a sample completion
    in the shape the trial's completions take (text for plain-string prompts, a list of messages
    for chat prompts), each line's extra fields, and TRL's keyword arguments for batch functions.
    It must return a finite number (or ``(number, {"name": number})``, or None where it does not
    apply; TRL's batch form: a list of them); a function that returns None for every sample line is
    said so. Errors
    name the reward file and, where it applies, its line and the prompt-file line.
    """
    with running(path, reward_workers, reward_timeout_s, reward_concurrency) as runner:
        if prompt_file is not None:
            records = read_prompt_file(prompt_file)[: max(1, n_lines)]
            pf = str(resolve_path(prompt_file, "prompt_file"))
            prompts = [[{"role": "user", "content": r.prompt}] if apply_chat_template and isinstance(r.prompt, str)
                       else r.prompt for r in records]
            completions = [SAMPLE_COMPLETION if isinstance(p, str) else as_messages(SAMPLE_COMPLETION)
                           for p in prompts]
            wheres = [f"prompt_file {pf!r} line {r.line}" for r in records]
            for i, rf in enumerate(runner.functions):
                rewards, _ = runner.score(i, prompts, completions, [r.extra for r in records], wheres,
                                          trl_keyword_arguments(prompts, completions))
                if all(math.isnan(r) for r in rewards):
                    say("warning", f"reward_file {str(rf.path)!r}: {rf.name} returned None for every sample line "
                        f"({wheres[0]} .. {wheres[-1]}). None means 'does not apply to this completion' (TRL's "
                        "rule): if it applies to no prompt of the file, it never scores anything")
        return {rf.name: rf.fn for rf in runner.functions}
