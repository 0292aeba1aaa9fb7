"""The data a sweep travels as: the checked request, the spec a target runs (pickled with
cluster jobs, so it never holds a secret) and where an experiment stands on its target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune


@dataclass
class SweepRequest:
    """The checked arguments of one sweep, before a target prepares it."""

    user_name: str
    experiment_name: str
    trainable: Callable[..., Any]
    param_space: dict[str, Any]
    tune_config: tune.TuneConfig
    run_config: tune.RunConfig
    runtime_env: dict[str, Any]
    cpu_per_trial: float | None
    gpu_per_trial: float | str | None
    total_trials: int | None = None
    metric: str | None = None
    mode: str | None = None
    has_secrets: bool = False  # the values travel separately (never in a request or spec)
    # seconds a trial may go without reporting before the watchdog ends it (radas.sweep._stall);
    # None: the trainable's default (none for most), False: not watched
    stall_timeout_s: float | bool | None = None


@dataclass
class SweepSpec:
    """Everything a target needs to run one sweep, already checked. It travels with cluster
    jobs (pickled), so it never holds a secret."""

    user_name: str
    experiment_name: str
    trainable: Any
    param_space: dict[str, Any]
    tune_config: tune.TuneConfig
    run_config: tune.RunConfig
    resources: dict[str, float] = field(default_factory=dict)
    runtime_env: dict[str, Any] = field(default_factory=dict)
    total_trials: int | None = None
    metric: str | None = None
    mode: str | None = None
    sweep_id: str = ""  # names the sweep's secrets file
    has_secrets: bool = False  # the driver and the trials read them from that file
    out_of_memory: Any = None  # the trainable's retry_after_out_of_memory, when it has one
    stall_timeout_s: float | bool | None = None  # as asked (the prepared trainable watches its trials)


@dataclass(frozen=True)
class ExperimentState:
    """Where an experiment stands on its target."""

    path: Path
    exists: bool
    restorable: bool
    running: bool
    running_detail: str = ""
    ended_badly: str = ""  # why the last sweep did not end normally (its driver died, failed...)
