"""The backend contract: what every target (local Ray, a named cluster over Ray Jobs) implements.

:meth:`Backend.prepare` turns the checked arguments into a :class:`SweepSpec` the same way for
every target (resources checked against what the target has, the trials' environment and
runtime_env); the target supplies a few narrow hooks (:meth:`~Backend.capacity`,
:meth:`~Backend.trial_runtime_env`, :meth:`~Backend.check_storage`) and runs the sweep
(:meth:`~Backend.locate`, :meth:`~Backend.run`, :meth:`~Backend.attach`, :meth:`~Backend.stop`).
Results are read the same way everywhere (:meth:`~Backend.open_results`).
"""

from __future__ import annotations

import abc
import asyncio
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radas._reporter import say
from radas.sweep import (
    AUTO,
    AdaptsToOutOfMemory,
    Capacity,
    ExperimentFolder,
    ExperimentState,
    LoggedResults,
    ResultsSoFar,
    StartsWorkers,
    SweepRequest,
    SweepSpec,
    TrialEnvironment,
    TrialResources,
    Tuner,
    check_fits,
    plan_auto_gpu,
    prepare_trainable,
    resolve_resources,
    worker_environment,
)


class Backend(abc.ABC):
    """A place sweeps run. Subclasses implement the hooks; ``run_experiment`` only calls these."""

    target: str
    # trials run in this process's Python environment (local Ray), not on other machines
    trials_run_here: bool = True

    # ---- where results are ----------------------------------------------------------------
    @abc.abstractmethod
    def user_root(self, user_name: str) -> Path:
        """The user's results folder on this target, as this process sees it."""

    def folder(self, spec: SweepSpec) -> ExperimentFolder:
        """The experiment's folder and its protocol files."""
        return ExperimentFolder(self.user_root(spec.user_name), spec.experiment_name)

    def experiment_path(self, spec: SweepSpec) -> Path:
        """The experiment's results folder as this process sees it."""
        return self.folder(spec).path

    def report_path(self, spec: SweepSpec) -> Path | None:
        """Where the experiment's report page is written (None: the target has no results folder)."""
        return self.folder(spec).report_file

    # ---- preparing the trials ---------------------------------------------------------------
    @abc.abstractmethod
    async def capacity(self) -> Capacity | None:
        """The CPUs and GPUs of the target's largest node (None when it cannot be known)."""

    async def gpu_memory_gib(self) -> float | None:
        """The memory of one GPU of the target (None when unknown); for ``gpu_per_trial="auto"``."""
        return None

    def default_gpu_per_trial(self, cpu_per_trial: float) -> float:
        """GPUs per trial when ``gpu_per_trial`` is not given."""
        return 0.0

    @abc.abstractmethod
    def trial_runtime_env(self, runtime_env: Mapping[str, Any]) -> dict[str, Any]:
        """The runtime_env of each trial's actor, from the user's ``runtime_env`` and the
        folders trials must see."""

    async def check_storage(self, will_run: bool) -> None:  # noqa: B027 - a hook: most targets need no check
        """Fail with a clear error when this process cannot see the target's results (``will_run``:
        a sweep is about to start there, not only read)."""

    def prepare_trainable(self, request: SweepRequest, sweep_id: str, resources: TrialResources) -> Any:
        """The trainable as the target runs it: for Ray, Tune's trainable class with the sweep's
        secrets, runtime_env and resources (:func:`radas.sweep._trainable.prepare_trainable`)."""
        runtime_env = self.trial_runtime_env(request.runtime_env)
        if isinstance(request.trainable, StartsWorkers):  # each trial's workers get the per-trial share
            runtime_env = {**runtime_env, "env_vars": {**runtime_env.get("env_vars", {}),
                                                       **worker_environment(resources)}}
        return prepare_trainable(request.trainable, request.user_name, request.experiment_name, sweep_id,
                                 runtime_env, resources.factory,
                                 has_secrets=request.has_secrets, stall_timeout_s=request.stall_timeout_s)

    async def prepare(self, request: SweepRequest, check_resources: bool) -> SweepSpec:
        """The sweep as this target runs it: resources resolved (``gpu_per_trial="auto"``
        planned) and, with ``check_resources``, checked against the largest node; the trials'
        runtime_env; the trainable prepared for Tune."""
        await self.check_storage(check_resources)
        capacity = await self.capacity() if check_resources else None
        gpu = request.gpu_per_trial
        cpu = request.cpu_per_trial
        if gpu == AUTO and capacity is None:  # not running: nothing to plan
            gpu = None
        if gpu == AUTO:
            fraction, plan = plan_auto_gpu(request.trainable, request.param_space, await self.gpu_memory_gib(),
                                           capacity, 1.0 if cpu is None else cpu,
                                           TrialEnvironment(self.trials_run_here, dict(request.runtime_env or {})))
            say("info", f"gpu_per_trial='auto': {plan}")
            gpu = fraction
        resources: TrialResources = resolve_resources(
            request.trainable, cpu, None if gpu is None else float(gpu),
            self.default_gpu_per_trial(1.0 if cpu is None else cpu))
        if isinstance(request.trainable, StartsWorkers) and resources.bundles:
            request.trainable.check_workers(request.param_space, float(resources.bundles[0].get("CPU", 0.0)),
                                            float(resources.bundles[0].get("GPU", 0.0)))
        check_fits(resources, capacity)
        sweep_id = uuid.uuid4().hex[:12]
        trainable = await asyncio.to_thread(self.prepare_trainable, request, sweep_id, resources)
        return SweepSpec(
            sweep_id=sweep_id, user_name=request.user_name, experiment_name=request.experiment_name,
            trainable=trainable,
            param_space=request.param_space, tune_config=request.tune_config, run_config=request.run_config,
            resources=resources.summary(), runtime_env=request.runtime_env, total_trials=request.total_trials,
            metric=request.metric, mode=request.mode, has_secrets=request.has_secrets,
            out_of_memory=(request.trainable.retry_after_out_of_memory
                           if isinstance(request.trainable, AdaptsToOutOfMemory) else None),
            stall_timeout_s=request.stall_timeout_s,
        )

    # ---- running ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Do results exist? Is a sweep of this experiment running? A target with a results folder
        asks :meth:`~radas.sweep.ExperimentFolder.has_results`, which first checks that the
        experiment's folders are the user's own (an :class:`~radas.errors.UnsafePathError` when not)."""

    @abc.abstractmethod
    async def run(self, spec: SweepSpec, restore: bool, secrets: Mapping[str, str]) -> bool:
        """Run a fresh sweep (``restore=False``: earlier results archived) or continue the
        saved one, with ``secrets`` in the trials' environment; return when it ends: True when
        it was stopped before finishing."""

    @abc.abstractmethod
    async def attach(self, spec: SweepSpec) -> None:
        """Follow the running sweep until it ends (at once if none runs); an
        :class:`~radas.errors.ExperimentFailedError` when it did not end normally."""

    @abc.abstractmethod
    async def stop(self, spec: SweepSpec) -> None:
        """Stop the running sweep gracefully (its state saved) and wait until it has stopped."""

    # ---- results ----------------------------------------------------------------------------
    def results_so_far(self, spec: SweepSpec) -> ResultsSoFar:
        """The sweep's results while it runs, read a little at a time (``refresh()``): from the
        results log its driver appends to in the experiment folder."""
        return LoggedResults(self.folder(spec))

    async def open_results(self, spec: SweepSpec) -> Tuner:
        """The experiment's results as a :class:`radas.Tuner` (read off the event loop), once its
        folders are known to be the user's own and writable by no one else
        (:meth:`~radas.sweep.ExperimentFolder.check_owned`): Tune's saved state is unpickled, so
        whoever could write there could run code in this process."""
        folder, path = self.folder(spec), self.experiment_path(spec)

        def read() -> Tuner:
            folder.check_owned()
            return Tuner.restore(path, spec.trainable)

        return await asyncio.to_thread(read)
