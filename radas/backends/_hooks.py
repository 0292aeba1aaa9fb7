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
    returns the GPU share per trial and a line saying how it was planned.
    ``radas.grpo.grpo_trainable`` is one."""

    def plan_gpu_per_trial(self, param_space: dict[str, Any], *, gpu_memory_gib: float | None,
                           cpus_per_gpu: float | None, cpu_per_trial: float) -> tuple[float, str]:
        """The GPU share per trial and the plan as text."""
