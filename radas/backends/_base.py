"""What every backend (local Ray, Ray Jobs on a cluster) is given and must offer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ray import tune


@dataclass
class SweepSpec:
    """Everything a backend needs to run one sweep, already checked."""

    user_name: str
    experiment_name: str
    trainable: Callable[..., Any]
    param_space: dict[str, Any]
    tune_config: tune.TuneConfig
    run_config: tune.RunConfig
    resources: dict[str, float]
    runtime_env: dict[str, Any] = field(default_factory=dict)
    total_trials: int | None = None
    metric: str | None = None
    mode: str | None = None


@dataclass(frozen=True)
class ExperimentState:
    """Where an experiment stands on its target."""

    path: Path
    exists: bool
    restorable: bool
    running: bool
    running_detail: str = ""


class Backend(Protocol):
    """A place sweeps run: ``locate`` the experiment, then ``run`` / ``restore`` / ``attach``
    / ``stop`` it; results are read from :meth:`experiment_path` afterwards."""

    target: str

    def experiment_path(self, spec: SweepSpec) -> Path:
        """The experiment's results folder as this process sees it."""

    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Do results exist? Is a sweep of this experiment running?"""

    async def run(self, spec: SweepSpec, restore: bool) -> bool:
        """Run a fresh sweep (``restore=False``) or continue the saved one; return when it
        ends: True when it was stopped before finishing."""

    async def attach(self, spec: SweepSpec) -> None:
        """Follow a running sweep until it ends (return at once if none runs)."""

    async def stop(self, spec: SweepSpec) -> None:
        """Stop a running sweep gracefully (its state saved) and wait until it has stopped."""
