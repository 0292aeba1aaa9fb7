"""What a trainable may offer the sweep besides training: documented Protocols that
``run_experiment`` and the backends look for (a function with these attributes is one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ChecksParamSpace(Protocol):
    """A trainable that checks its own ``param_space`` (keys, values, the files it names) on
    the driver: ``run_experiment`` calls ``check_param_space(param_space)`` while it checks its
    arguments, before anything starts, and lets its error (naming the key) through.
    ``radas.grpo.grpo_trainable`` is one. Give a function the attribute to make it one::

        def train(config): ...
        train.check_param_space = lambda space: ...
    """

    def check_param_space(self, param_space: Mapping[str, Any]) -> None:
        """Raise a clear error when ``param_space`` cannot work."""


@runtime_checkable
class PlansGpuPerTrial(Protocol):
    """A trainable that can estimate its GPU memory, for ``gpu_per_trial="auto"``:
    ``plan_gpu_per_trial(param_space, gpu_memory_gib=..., cpus_per_gpu=..., cpu_per_trial=...)``
    returns the GPU share per trial and a line saying how it was planned. One that also takes a
    ``trial_environment`` keyword gets a :class:`radas.sweep.TrialEnvironment` (where the trials
    run, their ``runtime_env``: what is installed there). ``radas.grpo.grpo_trainable`` is one."""

    def plan_gpu_per_trial(self, param_space: dict[str, Any], *, gpu_memory_gib: float | None,
                           cpus_per_gpu: float | None, cpu_per_trial: float) -> tuple[float, str]:
        """The GPU share per trial and the plan as text."""


@runtime_checkable
class AdaptsToOutOfMemory(Protocol):
    """A trainable that knows how to retry a trial that ran out of memory better than with twice
    the CPUs and GPUs (radas's default): ``retry_after_out_of_memory(config, resources)`` gets the
    trial's config and its ``{"CPU": ..., "GPU": ...}`` (for a trial that starts training workers,
    :class:`StartsWorkers`, each worker's) and returns ``(config, resources)`` for the
    retry, ``None`` in either place keeping that part as it is; returning ``None`` altogether
    leaves it to radas. ``radas.grpo.grpo_trainable`` is one (a smaller micro-batch on a whole GPU)."""

    def retry_after_out_of_memory(self, config: dict[str, Any], resources: dict[str, float]
                                  ) -> tuple[dict[str, Any] | None, dict[str, float] | None] | None:
        """The config and resources to retry with."""


@runtime_checkable
class NeedsFreshWorkers(Protocol):
    """A trainable whose trials must not share a worker process (one that starts an engine only
    one of may live per process, such as vLLM): with ``needs_fresh_workers(param_space)`` True,
    radas turns Tune's ``reuse_actors`` off unless the user set it."""

    def needs_fresh_workers(self, param_space: Mapping[str, Any]) -> bool:
        """True when trials of ``param_space`` must each get a new worker process."""


@runtime_checkable
class WatchesForStalls(Protocol):
    """A trainable whose trials are watched for stalls by default (``run_experiment``'s
    ``stall_timeout_s`` left None): ``default_stall_timeout_s(slowest_step_s)`` returns how long
    its trial may go without progress, given the slowest step it has taken so far (None before it
    has taken one). A step is the time between two signs of progress: a report, or
    :func:`radas.sweep.note_progress` called by the trainable (``radas.grpo`` calls it at every
    optimizer step). ``radas.grpo.grpo_trainable`` is one: ``max(600 s, 5 x its slowest step)``."""

    def default_stall_timeout_s(self, slowest_step_s: float | None) -> float:
        """Seconds without progress after which the trial counts as stalled."""


@runtime_checkable
class StartsWorkers(Protocol):
    """A trainable whose trials may start training workers of their own (a Ray Train
    ``TorchTrainer`` per trial, Ray's Train + Tune pattern): ``workers(config)`` says how many a
    trial of ``config`` starts (1: none, the trial trains in its own process). Such a trial's
    workers each get ``cpu_per_trial`` CPUs and ``gpu_per_trial`` GPUs, and the trial itself only
    a sliver of a CPU for its driver (:data:`radas.sweep.DRIVER_BUNDLE`); it reads its workers'
    share with :func:`radas.sweep.worker_resources`. ``check_workers(param_space, cpu_per_trial,
    gpu_per_trial)`` fails before anything starts when the workers could not run as asked.
    ``radas.grpo.grpo_trainable`` is one (its ``num_workers`` key)."""

    def workers(self, config: Mapping[str, Any]) -> int:
        """How many training workers a trial of ``config`` starts (1: none)."""

    def check_workers(self, param_space: Mapping[str, Any], cpu_per_trial: float, gpu_per_trial: float) -> None:
        """Raise a clear error when the workers of ``param_space`` cannot run with these resources."""


@runtime_checkable
class UsesSweepMetric(Protocol):
    """A Tune callback (in ``run_config.callbacks``) that wants the sweep's metric and mode (those
    of its ``TuneConfig``, which Tune hands to searchers and schedulers but not to callbacks): the
    sweep's driver calls ``use_sweep_metric(metric, mode)`` before the sweep starts (and again
    when it is restored), None when the sweep has none. ``radas.grpo.KeepBestModels`` is one."""

    def use_sweep_metric(self, metric: str | None, mode: str | None) -> None:
        """Take the sweep's metric and mode (unless given their own)."""
