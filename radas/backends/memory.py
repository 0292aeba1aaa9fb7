"""``run_with="memory"``: sweeps in this process, one trial after another, without Ray.

A real target of the :class:`~radas.backends.Backend` contract for what does not need Ray:
testing the code around ``run_experiment`` (analysis, plots, email, choices) in milliseconds,
in a user's CI or in radas's own fast test lane. Trials are the trainable called with each
config Tune's default search would run (grid searches expanded, distributions sampled,
``num_samples`` times); their metrics are what they return, yield or pass to
``tune.report``. A failing trial is retried ``FailureConfig.max_failures`` times; ``restore``
runs the unfinished and errored trials again. Results live in this process only (an archived
sweep too), and the sweep's ``runtime_env`` ``env_vars`` and secrets are in the environment
while it runs. Schedulers, search algorithms, checkpoints and resources are Ray's: use
``run_with="local"`` for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from radas import _ray
from radas._reporter import ProgressBar, say
from radas.backends._base import Backend
from radas.core import get_ray_results_dir
from radas.errors import RadasValueError
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
)

_env_guard = threading.Lock()


@dataclass
class MemoryTrial:
    """One trial of an in-process sweep."""

    trial_id: str
    config: dict[str, Any]
    status: str = "PENDING"
    reports: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    starts: int = 0

    def record(self) -> TrialRecord:
        """The trial as the DataFrames show it."""
        rows = [{**r, "training_iteration": i + 1} for i, r in enumerate(self.reports)]
        return TrialRecord(trial_id=self.trial_id, config=self.config, last_result=rows[-1] if rows else {},
                           status=self.status, error=self.error, path=None,
                           history=pd.DataFrame(rows) if rows else None)


@dataclass
class MemorySweep:
    """The trials of one experiment, kept in this process."""

    trials: list[MemoryTrial]
    progress: Progress
    running: bool = False
    stop_event: threading.Event = field(default_factory=threading.Event)
    ended: asyncio.Event | None = None


class MemoryResults(ResultFrames):
    """The results of an in-process sweep: the DataFrame accessors of :class:`radas.Tuner` and
    ``get_results()`` (one object per trial with ``config``, ``metrics``, ``error``, ``path``)."""

    def __init__(self, sweep: MemorySweep) -> None:
        self._sweep = sweep

    def _records(self) -> list[TrialRecord]:
        return [trial.record() for trial in self._sweep.trials]

    def get_results(self) -> list[Any]:
        """One result per trial (``config``, ``metrics``, ``error``, ``path``, ``checkpoint``)."""
        return [_Result(t.config, t.record().last_result, RuntimeError(t.error) if t.error else None)
                for t in self._sweep.trials]


class MemoryResultsSoFar(ResultsSoFar):
    """The results of an in-process sweep while it runs (the sweep of the moment: a fresh run
    replaces it)."""

    def __init__(self, key: tuple[str, str]) -> None:
        self._key = key
        self._seen: list[tuple[int, str]] = []

    def _trials(self) -> list[MemoryTrial]:
        sweep = MemoryBackend.sweeps.get(self._key)
        self.progress = sweep.progress if sweep is not None else None
        return list(sweep.trials) if sweep is not None else []

    def refresh(self) -> bool:
        """True when a trial reported (or its status changed) since the last look."""
        seen = [(len(t.reports), t.status) for t in self._trials()]
        changed, self._seen = seen != self._seen, seen
        return changed

    def _records(self) -> list[TrialRecord]:
        return [trial.record() for trial in self._trials() if trial.reports or trial.status != "PENDING"]


@dataclass(frozen=True)
class _Result:
    config: dict[str, Any]
    metrics: Mapping[str, Any]
    error: BaseException | None
    path: str | None = None
    checkpoint: None = None


class MemoryBackend(Backend):
    """Runs sweeps in this process without Ray; results live as long as the process."""

    target = "memory"
    sweeps: ClassVar[dict[tuple[str, str], MemorySweep]] = {}
    archive: ClassVar[dict[str, MemorySweep]] = {}

    def user_root(self, user_name: str) -> Path:
        """``<results dir>/<user>`` (nothing is written there)."""
        return Path(get_ray_results_dir(user_name))

    def experiment_path(self, spec: SweepSpec) -> Path:
        """``memory:<user>/<experiment>``: the results are in this process."""
        return Path(f"memory:{spec.user_name}/{spec.experiment_name}")

    def report_path(self, spec: SweepSpec) -> None:
        """None: the results live in this process, and so does the report (in the email)."""
        return None

    async def capacity(self) -> Capacity:
        """This machine's CPUs; no GPUs."""
        return Capacity(cpu=float(os.cpu_count() or 1), gpu=0.0, source="this process")

    def trial_runtime_env(self, runtime_env: Mapping[str, Any]) -> dict[str, Any]:
        """Only ``env_vars`` apply in-process."""
        return {"env_vars": dict(runtime_env.get("env_vars") or {})}

    def prepare_trainable(self, request: SweepRequest, sweep_id: str, resources: TrialResources) -> Any:
        """The trainable as given: a function of the config (a ``tune.Trainable`` class needs Ray)."""
        if inspect.isclass(request.trainable):
            raise RadasValueError(
                f"run_with='memory' runs function trainables; {request.trainable.__name__} is a class "
                "(tune.Trainable): use run_with='local'")
        return request.trainable

    def _key(self, spec: SweepSpec) -> tuple[str, str]:
        return spec.user_name, spec.experiment_name

    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Results exist when this process ran the experiment."""
        sweep = self.sweeps.get(self._key(spec))
        path = self.experiment_path(spec)
        return ExperimentState(path=path, exists=sweep is not None, restorable=sweep is not None,
                               running=bool(sweep and sweep.running),
                               running_detail="in this process" if sweep and sweep.running else "")

    async def run(self, spec: SweepSpec, restore: bool, secrets: Mapping[str, str]) -> bool:
        """Run the trials one after another (off the event loop); True when stopped early."""
        key = self._key(spec)
        old = self.sweeps.get(key)
        if restore and old is not None:
            sweep = old
        else:
            if old is not None:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                self.archive[f"{spec.user_name}/{spec.experiment_name}-{stamp}"] = old
                say("info", f"earlier results of {spec.experiment_name!r} archived (in memory) as "
                    f"{spec.user_name}/{spec.experiment_name}-{stamp}")
            samples = spec.tune_config.num_samples if spec.tune_config.num_samples > 0 else 1
            configs = [c for _ in range(samples) for c in _ray.variants(spec.param_space)]
            sweep = MemorySweep(
                trials=[MemoryTrial(f"{i:05d}", c) for i, c in enumerate(configs)],
                progress=Progress(experiment=spec.experiment_name, total=len(configs),
                                  metric=spec.metric, mode=spec.mode))
            self.sweeps[key] = sweep
        sweep.running, sweep.ended = True, asyncio.Event()
        sweep.stop_event.clear()
        sweep.progress.state, sweep.progress.started, sweep.progress.ended = RUNNING, time.time(), 0.0
        env = {**(self.trial_runtime_env(spec.runtime_env)["env_vars"]), **secrets}
        retries = max(int(spec.run_config.failure_config.max_failures or 0), 0) \
            if spec.run_config.failure_config is not None else 0
        line = ProgressBar(spec.experiment_name)
        try:
            for trial in sweep.trials:
                if trial.status == "TERMINATED":
                    continue
                if sweep.stop_event.is_set():
                    break
                started = time.monotonic()
                await asyncio.to_thread(_run_trial, spec.trainable, trial, env, retries)
                if trial.status == "TERMINATED":
                    sweep.progress.trial_ended(time.monotonic() - started)
                _count(sweep)
                sweep.progress.show(line)
        except asyncio.CancelledError:
            sweep.stop_event.set()
            raise
        finally:
            line.close()
            stopped = sweep.stop_event.is_set()
            sweep.progress.end(STOPPED if stopped else FINISHED)
            sweep.running = False
            sweep.ended.set()
        return stopped

    async def attach(self, spec: SweepSpec) -> None:
        """Wait until the sweep running in this process ends."""
        sweep = self.sweeps.get(self._key(spec))
        if sweep is not None and sweep.running and sweep.ended is not None:
            await sweep.ended.wait()

    async def stop(self, spec: SweepSpec) -> None:
        """Stop the running sweep after its current trial and wait for it."""
        sweep = self.sweeps.get(self._key(spec))
        if sweep is not None and sweep.running:
            sweep.stop_event.set()
            await self.attach(spec)

    def results_so_far(self, spec: SweepSpec) -> MemoryResultsSoFar:
        """The sweep's results while it runs, from memory."""
        return MemoryResultsSoFar(self._key(spec))

    async def open_results(self, spec: SweepSpec) -> MemoryResults:  # type: ignore[override]
        """The sweep's results, read from memory."""
        return MemoryResults(self.sweeps[self._key(spec)])


def _count(sweep: MemorySweep) -> None:
    statuses = [t.status for t in sweep.trials]
    p = sweep.progress
    p.done, p.errored = statuses.count("TERMINATED"), statuses.count("ERROR")
    p.pending, p.running = statuses.count("PENDING"), 0
    if p.metric and p.mode:
        values = [t.reports[-1][p.metric] for t in sweep.trials
                  if t.reports and isinstance(t.reports[-1].get(p.metric), (int, float))]
        if values:
            p.best = float(max(values) if p.mode == "max" else min(values))


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` in ``os.environ`` while a trial runs (restored after)."""
    with _env_guard:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
    try:
        yield
    finally:
        with _env_guard:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _run_trial(trainable: Any, trial: MemoryTrial, env: Mapping[str, str], retries: int) -> None:
    """Call the trainable with the trial's config, retried up to ``retries`` times."""
    for _ in range(retries + 1):
        trial.starts += 1
        trial.reports, trial.status, trial.error = [], "RUNNING", None
        try:
            with _environment(env), _ray.reports_to(trial.reports.append):
                output = trainable(dict(trial.config))
                if inspect.isgenerator(output):
                    for item in output:
                        if isinstance(item, Mapping):
                            trial.reports.append(dict(item))
                elif isinstance(output, Mapping):
                    trial.reports.append(dict(output))
        except Exception as exc:  # noqa: BLE001 - a trial's failure is its result, as in Tune
            lines = [ln for ln in f"{type(exc).__name__}: {exc}".splitlines() if ln.strip()]
            trial.status, trial.error = "ERROR", lines[-1]
            continue
        trial.status = "TERMINATED"
        return
