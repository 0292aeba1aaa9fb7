"""``run_with="memory"``: sweeps in this process, one trial after another, without Ray.

A real target of the :class:`~radas.backends.Backend` contract for what does not need Ray:
testing the code around ``run_experiment`` (analysis, plots, email, choices) in milliseconds,
in a user's CI or in radas's own fast test lane.

What it honours, as Ray Tune does: Tune's default search (grid searches expanded, distributions
sampled, ``num_samples`` times); metrics a trial returns, yields or passes to ``tune.report``;
``FailureConfig.max_failures`` retries; ``restore`` (finished trials kept, the others run again
from their start); stopping (``stop_attach``, or cancelling the call: the running trial ends at
its next report) and ``attach`` within this process; ``runtime_env["env_vars"]`` and secrets in
the environment while a trial runs (the process's: trials with them run one at a time across the
process's sweeps); ``metric`` / ``mode``; ``cpu_per_trial`` checked against
this machine (``gpu_per_trial`` too: in this process there are none). Settings that only shape
Ray's work do not apply and are accepted: ``max_concurrent_trials`` (trials run one at a time),
``reuse_actors``, ``verbose``, ``progress_reporter``, ``log_to_file``, ``sync_config``, trial
name and folder creators.

What needs Ray it refuses before anything runs, with an :class:`UnsupportedInMemoryError`
naming the setting, its value and ``run_with="local"`` instead: ``search_alg``, ``scheduler``,
``time_budget_s`` and ``num_samples=-1`` of the tune config; ``stop``, ``callbacks``, a
``checkpoint_config`` and ``fail_fast`` of the run config; a ``runtime_env`` other than
``env_vars``; a ``tune.Trainable`` class; ``stall_timeout_s``. A checkpoint a trial reports is not kept.

Results are the same API as the Ray targets': ``results["tuner"]`` has ``get_results()`` (a
:class:`MemoryResultGrid`: ``get_best_result(metric, mode, scope)``, ``get_dataframe()``,
``errors``... of :class:`MemoryResult` objects with ``metrics``, ``config``, ``error``, ``path``,
``metrics_dataframe``, ``checkpoint``) and radas's DataFrame accessors.

State: a :class:`MemoryBackend` keeps sweeps in its :class:`MemoryStore`. A sweep must outlive the
call that ran it (a later call analyzes, restores or archives it), so by default backends share
the process's store, keyed by the user's results folder and the experiment name; :func:`clear`
forgets every sweep in it (archived ones too).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import inspect
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
from ray import tune

from radas import _ray
from radas._reporter import ProgressBar, say
from radas.backends._base import Backend
from radas.core import get_ray_results_dir
from radas.errors import ExperimentNotFoundError, ExperimentRunningError, UnsupportedInMemoryError
from radas.sweep import (
    FINISHED,
    RUNNING,
    STOPPED,
    Capacity,
    ExperimentState,
    Progress,
    ResultFrames,
    ResultsSoFar,
    SweepRequest,
    SweepSpec,
    TrialRecord,
    TrialResources,
    follow,
)

PENDING, TRIAL_RUNNING, TERMINATED, ERROR = "PENDING", "RUNNING", "TERMINATED", "ERROR"  # trial statuses
_POLL_S = 0.1
# held by the trial whose environment is in os.environ (see _environment)
_env_turn = threading.Lock()


# ---- the sweep's data ------------------------------------------------------------------------
@dataclass
class MemoryTrial:
    """One trial of an in-process sweep."""

    trial_id: str
    config: dict[str, Any]
    status: str = PENDING
    reports: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    starts: int = 0

    def error_line(self) -> str | None:
        """The last line of the trial's error, as the DataFrames show it (None: no error)."""
        if self.error is None:
            return None
        lines = [ln for ln in f"{type(self.error).__name__}: {self.error}".splitlines() if ln.strip()]
        return lines[-1]

    def rows(self) -> list[dict[str, Any]]:
        """Every report, numbered (``training_iteration``) as Tune numbers them."""
        return [{**report, "training_iteration": i + 1} for i, report in enumerate(self.reports)]

    def record(self) -> TrialRecord:
        """The trial as the DataFrames show it."""
        rows = self.rows()
        return TrialRecord(trial_id=self.trial_id, config=self.config, last_result=rows[-1] if rows else {},
                           status=self.status, error=self.error_line(), path=None,
                           history=pd.DataFrame(rows) if rows else None)

    def snapshot(self) -> MemoryTrial:
        """A copy that later runs of the sweep leave alone."""
        return MemoryTrial(self.trial_id, copy.deepcopy(self.config), self.status,
                           [dict(r) for r in self.reports], self.error, self.starts)


@dataclass
class MemorySweep:
    """The trials of one experiment, kept in this process."""

    trials: list[MemoryTrial]
    progress: Progress
    metric: str | None = None
    mode: str | None = None
    running: bool = False
    stop_event: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)  # set while no driver runs it

    def __post_init__(self) -> None:
        self.done.set()


@dataclass(frozen=True)
class ArchivedSweep:
    """A sweep a fresh ``run`` moved aside, under the name the run said."""

    name: str
    results: MemoryResults


class MemoryStore:
    """The sweeps of ``run_with="memory"`` that outlive the call that ran them, keyed by the
    user's results folder and the experiment name; archived sweeps under the same key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sweeps: dict[tuple[str, str], MemorySweep] = {}
        self._archive: dict[tuple[str, str], list[ArchivedSweep]] = {}

    def get(self, key: tuple[str, str]) -> MemorySweep | None:
        """The experiment's sweep (None: this store has none)."""
        with self._lock:
            return self._sweeps.get(key)

    def replace(self, key: tuple[str, str], sweep: MemorySweep, archive_as: str) -> ArchivedSweep | None:
        """Make ``sweep`` the experiment's; an earlier one is archived as ``archive_as``."""
        with self._lock:
            old = self._sweeps.get(key)
            self._sweeps[key] = sweep
            if old is None:
                return None
            archived = ArchivedSweep(archive_as, MemoryResults(old, archive_as))
            self._archive.setdefault(key, []).append(archived)
            return archived

    def archived(self, key: tuple[str, str]) -> list[ArchivedSweep]:
        """The experiment's archived sweeps, oldest first."""
        with self._lock:
            return list(self._archive.get(key, []))

    def clear(self) -> None:
        """Forget every sweep (archived ones too)."""
        with self._lock:
            self._sweeps.clear()
            self._archive.clear()


_PROCESS_STORE = MemoryStore()


def clear() -> None:
    """Forget every sweep ``run_with="memory"`` ran in this process (archived ones too)."""
    _PROCESS_STORE.clear()


# ---- results: the API of Ray Tune's ResultGrid and Result ---------------------------------------
def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """A report with nested keys joined by ``/``, as Tune flattens results."""
    flat = pd.json_normalize([dict(row)], sep="/")
    return {str(k): v for k, v in flat.iloc[0].items()} if len(flat.columns) else {}


@dataclass(frozen=True, eq=False)
class MemoryResult:
    """One trial's outcome, as ``ray.tune.Result`` gives it: ``metrics`` (its last report with
    ``config``, ``trial_id`` and ``training_iteration``; empty, and so no ``config``, for a trial
    that never reported), ``config``, ``error`` (the exception its last try raised),
    ``metrics_dataframe`` (every report), ``path`` (None: no trial folder) and ``checkpoint``
    (None: the in-process target keeps none)."""

    metrics: dict[str, Any]
    error: BaseException | None
    metrics_dataframe: pd.DataFrame | None
    path: str | None = None
    checkpoint: None = None
    best_checkpoints: list[Any] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any] | None:
        """The trial's config."""
        return self.metrics.get("config")

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.metrics.items() if k != "config"}
        error = f"error={type(self.error).__name__}, " if self.error is not None else ""
        return f"MemoryResult({error}metrics={shown!r}, config={self.config!r})"


class MemoryResultGrid(Sequence[MemoryResult]):
    """The results of an in-process sweep, one per trial, with the API of ``ray.tune.ResultGrid``:
    ``get_best_result``, ``get_dataframe``, ``errors``, ``num_errors``, ``num_terminated``,
    ``experiment_path``, ``len()``, indexing and iteration."""

    def __init__(self, trials: Sequence[MemoryTrial], experiment_path: str, metric: str | None,
                 mode: str | None) -> None:
        self._trials = list(trials)
        self._results = [_result(trial) for trial in self._trials]
        self._path = experiment_path
        self._metric, self._mode = metric, mode

    @property
    def experiment_path(self) -> str:
        """Where the results are: ``memory:<user>/<experiment>`` (this process)."""
        return self._path

    def __len__(self) -> int:
        return len(self._results)

    @overload
    def __getitem__(self, index: int) -> MemoryResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[MemoryResult]: ...

    def __getitem__(self, index: int | slice) -> MemoryResult | Sequence[MemoryResult]:
        return self._results[index]

    def __repr__(self) -> str:
        return "MemoryResultGrid<[\n" + ",\n".join(f"  {r!r}" for r in self._results) + "\n]>"

    @property
    def errors(self) -> list[BaseException]:
        """The exceptions of the trials that errored."""
        return [r.error for r in self._results if r.error is not None]

    @property
    def num_errors(self) -> int:
        """How many trials errored."""
        return sum(t.status == ERROR for t in self._trials)

    @property
    def num_terminated(self) -> int:
        """How many trials finished without error."""
        return sum(t.status == TERMINATED for t in self._trials)

    def get_best_result(self, metric: str | None = None, mode: str | None = None, scope: str = "last",
                        filter_nan_and_inf: bool = True) -> MemoryResult:
        """The best trial's result, as ``ResultGrid.get_best_result``: by ``metric`` (a nested one
        as ``"a/b"``) and ``mode`` (the sweep's tune config's by default), comparing each trial's
        ``last`` value, or over its reports ``all`` (its best), ``avg``, ``last-5-avg``,
        ``last-10-avg``."""
        if len(self._results) == 1:
            return self._results[0]
        metric, mode = metric or self._metric, mode or self._mode
        if not metric:
            raise ValueError("No metric is provided. Either pass in a `metric` arg to `get_best_result` or "
                             "specify a metric in the `TuneConfig` of your `Tuner`.")
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}: pass mode='min' or 'max' to `get_best_result` or specify a mode in "
                             "the `TuneConfig` of your `Tuner`.")
        if scope not in ("all", "last", "avg", "last-5-avg", "last-10-avg"):
            raise ValueError(f"scope={scope!r}: use one of 'all', 'last', 'avg', 'last-5-avg', 'last-10-avg'")
        best: tuple[float, int] | None = None
        for i, result in enumerate(self._results):
            value = _score(result.metrics_dataframe, metric, mode, scope)
            if value is None or (filter_nan_and_inf and not math.isfinite(value)):
                continue
            if best is None or (value > best[0] if mode == "max" else value < best[0]):
                best = (value, i)
        if best is None:
            raise RuntimeError(
                f"No best trial found for the given metric: {metric}. This means that no trial has reported this "
                "metric" + (", or all values reported for this metric are NaN. To not ignore NaN values, you can "
                            "set the `filter_nan_and_inf` arg to False." if filter_nan_and_inf else "."))
        return self._results[best[1]]

    def get_dataframe(self, filter_metric: str | None = None, filter_mode: str | None = None) -> pd.DataFrame:
        """One row per trial: its last report (with ``filter_metric`` and ``filter_mode``: its
        best one), flattened, with ``config/<key>`` columns, as ``ResultGrid.get_dataframe``."""
        rows = []
        for result in self._results:
            history = result.metrics_dataframe
            if history is None or history.empty:
                continue
            at = len(history) - 1
            if filter_metric and filter_mode and filter_metric in history.columns:
                values = pd.to_numeric(history[filter_metric], errors="coerce").to_numpy(dtype=float)
                if not np.isnan(values).all():
                    at = int(np.nanargmax(values) if filter_mode == "max" else np.nanargmin(values))
            row: dict[str, Any] = {str(k): v for k, v in history.iloc[at].items()}
            rows.append({**row, **_flat({"config": result.config or {}})})
        return pd.DataFrame(rows)


def _score(history: pd.DataFrame | None, metric: str, mode: str, scope: str) -> float | None:
    """A trial's value of ``metric`` under ``scope`` (None: it never reported a number for it)."""
    if history is None or metric not in history.columns:
        return None
    values = pd.to_numeric(history[metric], errors="coerce").dropna()
    if values.empty:
        return None
    if scope == "all":
        return float(values.max() if mode == "max" else values.min())
    if scope == "last":
        return float(values.iloc[-1])
    if scope == "avg":
        return float(values.mean())
    return float(values.iloc[-int(scope.split("-")[1]):].mean())


def _result(trial: MemoryTrial) -> MemoryResult:
    rows = trial.rows()
    history = None
    if rows:
        history = pd.json_normalize([{**row, "trial_id": trial.trial_id} for row in rows], sep="/")
    # as Tune: a trial's metrics are its last report with its config and id (none: it never reported)
    last = {**rows[-1], "trial_id": trial.trial_id, "config": trial.config} if rows else {}
    return MemoryResult(metrics=last, error=trial.error if trial.status == ERROR else None, metrics_dataframe=history)


class MemoryResults(ResultFrames):
    """``results["tuner"]`` of an in-process sweep: :meth:`get_results` as Ray's Tuner has it, and
    the DataFrame accessors of :class:`radas.Tuner`. A snapshot: a later run of the experiment
    leaves it as it is."""

    def __init__(self, sweep: MemorySweep, experiment_path: str) -> None:
        self._trials = [trial.snapshot() for trial in sweep.trials]
        self._path = experiment_path
        self._metric, self._mode = sweep.metric, sweep.mode

    def _records(self) -> list[TrialRecord]:
        return [trial.record() for trial in self._trials]

    def get_results(self) -> MemoryResultGrid:
        """The sweep's results, one per trial (``ray.tune.ResultGrid``'s API)."""
        return MemoryResultGrid(self._trials, self._path, self._metric, self._mode)


class MemoryResultsSoFar(ResultsSoFar):
    """The results of an in-process sweep while it runs (the sweep of the moment: a fresh run
    replaces it)."""

    def __init__(self, store: MemoryStore, key: tuple[str, str]) -> None:
        self._store = store
        self._key = key
        self._seen: list[tuple[int, str]] = []

    def _trials(self) -> list[MemoryTrial]:
        sweep = self._store.get(self._key)
        self.progress = sweep.progress if sweep is not None else None
        return list(sweep.trials) if sweep is not None else []

    def refresh(self) -> bool:
        """True when a trial reported (or its status changed) since the last look."""
        seen = [(len(t.reports), t.status) for t in self._trials()]
        changed, self._seen = seen != self._seen, seen
        return changed

    def _records(self) -> list[TrialRecord]:
        return [trial.record() for trial in self._trials() if trial.reports or trial.status != PENDING]


# ---- what needs Ray --------------------------------------------------------------------------
def _shown(value: Any) -> str:
    """A setting's value in a message: plain values as written, objects by their type."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if dataclasses.is_dataclass(value):
        return repr(value)
    if inspect.isfunction(value) or inspect.isclass(value):
        return value.__qualname__
    return f"{type(value).__name__}(...)"


def _needs_ray(request: SweepRequest) -> list[tuple[str, str, str]]:
    """The settings of ``request`` only Ray Tune honours: (setting, value as shown, why)."""
    tc, rc = request.tune_config, request.run_config
    tune_key, run_key = "tuner_init_kwargs['tune_config']", "tuner_init_kwargs['run_config']"
    found = []
    if tc.search_alg is not None:
        found.append((f"{tune_key} search_alg", _shown(tc.search_alg),
                      "a search algorithm picks each trial's config from the results so far; run_with='memory' "
                      "only samples param_space as Tune's default search does"))
    if tc.scheduler is not None:
        found.append((f"{tune_key} scheduler", _shown(tc.scheduler),
                      "a trial scheduler stops, pauses and restarts trials by their results"))
    if tc.time_budget_s is not None:
        found.append((f"{tune_key} time_budget_s", _shown(tc.time_budget_s), "Tune ends the sweep after it"))
    if tc.num_samples is not None and tc.num_samples < 0:
        found.append((f"{tune_key} num_samples", _shown(tc.num_samples),
                      "sampling until a stopping condition needs Tune's stop and time budget"))
    if rc.stop:
        found.append((f"{run_key} stop", _shown(rc.stop), "stopping conditions end trials by their results"))
    if rc.callbacks:
        found.append((f"{run_key} callbacks", _shown(rc.callbacks), "Tune callbacks are called with Ray's trials"))
    if rc.checkpoint_config is not None and rc.checkpoint_config != tune.CheckpointConfig():
        found.append((f"{run_key} checkpoint_config", _shown(rc.checkpoint_config),
                      "checkpoints are kept and rotated by Ray Tune; run_with='memory' keeps none"))
    if rc.failure_config is not None and rc.failure_config.fail_fast:
        found.append((f"{run_key} failure_config fail_fast", _shown(rc.failure_config.fail_fast),
                      "Tune ends the whole sweep at the first error"))
    for key in request.runtime_env:
        if key not in ("env_vars", "excludes"):  # excludes only concerns uploads: nothing to do
            found.append((f"runtime_env[{key!r}]", "(given)",
                          "Ray sets up each trial's process with it; run_with='memory' runs trials in this "
                          "process and applies only env_vars"))
    stall = getattr(request, "stall_timeout_s", None)  # (a request without the setting: not asked)
    if stall:  # a number: False and None watch nothing
        found.append(("stall_timeout_s", _shown(stall),
                      "a stalled trial is ended with its process, and run_with='memory' runs trials in this one"))
    return found


# ---- the backend -----------------------------------------------------------------------------
class MemoryBackend(Backend):
    """Runs sweeps in this process without Ray; results live in its :class:`MemoryStore` (by
    default the process's, see :func:`clear`)."""

    target = "memory"

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = _PROCESS_STORE if store is None else store

    def user_root(self, user_name: str) -> Path:
        """``<results dir>/<user>`` (nothing is written there; it keys the user's sweeps)."""
        return Path(get_ray_results_dir(user_name))

    def experiment_path(self, spec: SweepSpec) -> Path:
        """``memory:<user>/<experiment>``: the results are in this process."""
        return Path(f"memory:{spec.user_name}/{spec.experiment_name}")

    def report_path(self, spec: SweepSpec) -> None:
        """None: the results live in this process, and so does the report (in the email)."""
        return None

    def key(self, user_name: str, experiment_name: str) -> tuple[str, str]:
        """The store's key of an experiment."""
        return str(self.user_root(user_name)), experiment_name

    def _key(self, spec: SweepSpec) -> tuple[str, str]:
        return self.key(spec.user_name, spec.experiment_name)

    def archived(self, user_name: str, experiment_name: str) -> list[ArchivedSweep]:
        """The experiment's sweeps a fresh ``run`` archived, oldest first."""
        return self.store.archived(self.key(user_name, experiment_name))

    # ---- preparing ------------------------------------------------------------------------
    async def prepare(self, request: SweepRequest, check_resources: bool) -> SweepSpec:
        """As every target, after refusing what only Ray Tune honours."""
        problems = _needs_ray(request)
        if problems:
            setting, value, why = problems[0]
            also = f" (also: {', '.join(p[0] for p in problems[1:])})" if problems[1:] else ""
            raise UnsupportedInMemoryError(
                f"run_with='memory' cannot honour {setting}={value}: {why}{also}. Use run_with='local' "
                "(Ray Tune on this machine), which does.")
        return await super().prepare(request, check_resources)

    async def capacity(self) -> Capacity:
        """This machine's CPUs; no GPUs."""
        return Capacity(cpu=float(os.cpu_count() or 1), gpu=0.0, source="this machine (run_with='memory')")

    def trial_runtime_env(self, runtime_env: Mapping[str, Any]) -> dict[str, Any]:
        """Only ``env_vars`` apply in-process (anything else is refused)."""
        return {"env_vars": {str(k): str(v) for k, v in (runtime_env.get("env_vars") or {}).items()}}

    def prepare_trainable(self, request: SweepRequest, sweep_id: str, resources: TrialResources) -> Any:
        """The trainable as given: a function of the config (a ``tune.Trainable`` class needs Ray)."""
        if inspect.isclass(request.trainable):
            raise UnsupportedInMemoryError(
                f"run_with='memory' cannot honour trainable={request.trainable.__name__}: it is a class "
                "(tune.Trainable), and run_with='memory' runs function trainables. Use run_with='local' "
                "(Ray Tune on this machine), which does.")
        return request.trainable

    # ---- running --------------------------------------------------------------------------
    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Results exist when this process ran the experiment."""
        sweep = self.store.get(self._key(spec))
        running = sweep is not None and sweep.running
        return ExperimentState(path=self.experiment_path(spec), exists=sweep is not None,
                               restorable=sweep is not None, running=running,
                               running_detail="in this process" if running else "")

    async def run(self, spec: SweepSpec, restore: bool, secrets: Mapping[str, str]) -> bool:
        """Run the trials one after another in a worker thread, showing progress; True when
        stopped early. Cancelled: the running trial ends at its next report, then re-raise."""
        key = self._key(spec)
        sweep = self.store.get(key) if restore else None
        if sweep is None:
            samples = spec.tune_config.num_samples if spec.tune_config.num_samples > 0 else 1
            configs = [c for _ in range(samples) for c in _ray.variants(spec.param_space)]
            sweep = MemorySweep(
                trials=[MemoryTrial(f"{i:05d}", c) for i, c in enumerate(configs)],
                progress=Progress(experiment=spec.experiment_name, total=len(configs),
                                  metric=spec.metric, mode=spec.mode),
                metric=spec.metric, mode=spec.mode)
            name = f"memory:{spec.user_name}/.archive/{spec.experiment_name}-{time.strftime('%Y%m%d-%H%M%S')}"
            if self.store.replace(key, sweep, archive_as=name) is not None:
                say("info", f"earlier results of {spec.experiment_name!r} archived (in memory) as {name}")
        if sweep.running:
            raise ExperimentRunningError(f"the sweep of {spec.experiment_name!r} is running in this process: "
                                         "follow it with run_choice='attach' or stop it with "
                                         "run_choice='stop_attach'")
        sweep.running = True
        sweep.done.clear()
        sweep.stop_event.clear()
        sweep.progress.state, sweep.progress.started, sweep.progress.ended = RUNNING, time.time(), 0.0
        env = {**self.trial_runtime_env(spec.runtime_env)["env_vars"], **secrets}
        failure = spec.run_config.failure_config
        most = int(failure.max_failures or 0) if failure is not None else 0
        retries = None if most < 0 else most  # -1: without limit, as in Tune
        driver = asyncio.ensure_future(asyncio.to_thread(_drive, sweep, spec.trainable, env, retries))
        return await follow(driver, sweep.progress, sweep.stop_event, spec.experiment_name,
                            "ends in the background when its running trial next reports")

    async def attach(self, spec: SweepSpec) -> None:
        """Follow the sweep running in this process until it ends, showing progress."""
        sweep = self.store.get(self._key(spec))
        if sweep is None:
            return
        line = ProgressBar(spec.experiment_name)
        try:
            while not sweep.done.is_set():
                sweep.progress.show(line)
                await asyncio.sleep(_POLL_S)
        finally:
            line.close()

    async def stop(self, spec: SweepSpec) -> None:
        """Stop the running sweep (its running trial ends at its next report) and wait for it."""
        sweep = self.store.get(self._key(spec))
        if sweep is not None and not sweep.done.is_set():
            sweep.stop_event.set()
            say("info", f"asked the running sweep of {spec.experiment_name!r} to stop; waiting for it")
            await self.attach(spec)

    # ---- results --------------------------------------------------------------------------
    def results_so_far(self, spec: SweepSpec) -> MemoryResultsSoFar:
        """The sweep's results while it runs, from memory."""
        return MemoryResultsSoFar(self.store, self._key(spec))

    async def open_results(self, spec: SweepSpec) -> MemoryResults:  # type: ignore[override]
        """The sweep's results, read from memory."""
        sweep = self.store.get(self._key(spec))
        if sweep is None:
            raise ExperimentNotFoundError(f"experiment {spec.experiment_name!r} of user {spec.user_name!r} has no "
                                          "results in this process (run_with='memory' keeps them in the process "
                                          "that ran it)")
        return MemoryResults(sweep, str(self.experiment_path(spec)))


# ---- the driver (a worker thread) --------------------------------------------------------------
class _Stopped(BaseException):
    """Raised in a trial at its next report once the sweep is asked to stop (a BaseException: a
    trainable's ``except Exception`` does not swallow it)."""


def _drive(sweep: MemorySweep, trainable: Any, env: Mapping[str, str], retries: int | None) -> bool:
    """Run the sweep's unfinished trials one after another; True when it was stopped first."""
    progress = sweep.progress
    try:
        for trial in sweep.trials:
            if sweep.stop_event.is_set():
                break
            if trial.status == TERMINATED:
                continue
            started = time.monotonic()
            _run_trial(trainable, trial, env, retries, sweep)
            if trial.status == TERMINATED:
                progress.trial_ended(time.monotonic() - started)
            _count(sweep)
        stopped = sweep.stop_event.is_set() and any(t.status == PENDING for t in sweep.trials)
        progress.end(STOPPED if stopped else FINISHED)
        return stopped
    finally:
        _count(sweep)
        sweep.running = False
        sweep.done.set()


def _count(sweep: MemorySweep) -> None:
    statuses = [t.status for t in sweep.trials]
    p = sweep.progress
    p.done, p.errored = statuses.count(TERMINATED), statuses.count(ERROR)
    p.pending, p.running = statuses.count(PENDING), statuses.count(TRIAL_RUNNING)


def _better(value: Any, sweep: MemorySweep) -> None:
    """The progress's best result, after a report of ``value``."""
    p = sweep.progress
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        if p.best is None or (value > p.best if p.mode == "max" else value < p.best):
            p.best = float(value)


@contextlib.contextmanager
def _environment(env: Mapping[str, str], stop: threading.Event) -> Iterator[None]:
    """``env`` in ``os.environ`` while a trial runs, restored exactly after. ``os.environ`` is
    the process's: trials with an ``env`` run one at a time across this process's sweeps (two
    under ``asyncio.gather``), so that none sees another's values (a secret of one sweep in the
    other's trial) and no restore puts back what another trial set. Waiting for its turn, a
    trial ends as at a report (:class:`_Stopped`) when its sweep is asked to stop."""
    if not env:
        yield
        return
    while not _env_turn.acquire(timeout=_POLL_S):
        if stop.is_set():
            raise _Stopped
    try:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        _env_turn.release()


def _run_trial(trainable: Callable[..., Any], trial: MemoryTrial, env: Mapping[str, str], retries: int | None,
               sweep: MemorySweep) -> None:
    """Call the trainable with the trial's config, retried up to ``retries`` times (None: until it
    succeeds); a stop request ends it at its next report (it stays pending: ``restore`` runs it
    again), or stops its retries."""

    def report(metrics: Mapping[str, Any], last: bool = False) -> None:
        if sweep.stop_event.is_set() and not last:  # a trial's returned result ends it anyway
            raise _Stopped
        trial.reports.append(dict(metrics))
        if sweep.progress.metric and sweep.progress.mode:
            _better(metrics.get(sweep.progress.metric), sweep)

    tries = 0
    while True:
        tries += 1
        trial.starts += 1
        trial.reports, trial.status, trial.error = [], TRIAL_RUNNING, None
        _count(sweep)
        try:
            with _environment(env, sweep.stop_event), _ray.reports_to(report):
                output = trainable(dict(trial.config))
                if inspect.isgenerator(output):
                    for item in output:
                        if isinstance(item, Mapping):
                            report(item)
                elif isinstance(output, Mapping):
                    report(output, last=True)
        except _Stopped:
            trial.status = PENDING
            return
        except Exception as exc:  # noqa: BLE001 - a trial's failure is its result, as in Tune
            traceback.clear_frames(exc.__traceback__)  # kept: where it failed, not the trial's objects
            trial.status, trial.error = ERROR, exc
            if (retries is not None and tries > retries) or sweep.stop_event.is_set():
                return
            continue
        trial.status = TERMINATED
        return
