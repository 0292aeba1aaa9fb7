"""Trials that run out of memory are retried with doubled resources, up to a node's size."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.tune import Callback

from radas import _ray
from radas._reporter import say
from radas.sweep._resources import DRIVER_BUNDLE

# the exception types that mean "out of memory" (subclasses count too), by qualified name so
# that torch need not be imported to check
OUT_OF_MEMORY_TYPES = frozenset(
    {"MemoryError", "torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError", "ray.exceptions.OutOfMemoryError",
     "radas.errors.EngineOutOfMemoryError", "radas.errors.WorkerOutOfMemoryError"}
)
# what Ray's memory monitor says when it kills a trial's worker (its error has no traceback)
_RAY_MEMORY_MONITOR = "killed due to the node running low on memory"
_FAILURE_HEADER = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)$", re.MULTILINE)
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def _qualified_name(cls: type) -> str:
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def is_out_of_memory(error: BaseException | str | None) -> bool:
    """True when a trial's error is an out-of-memory error: host memory (``MemoryError``),
    GPU memory (``torch.OutOfMemoryError``) or Ray's memory monitor
    (``ray.exceptions.OutOfMemoryError``).

    An exception is judged by its type (a Ray task error by its cause's); a text (Tune's
    ``error.txt``) by the type name of the exception its latest traceback ends with, or by
    Ray's memory-monitor message when it has no traceback. Words in a message never count.
    """
    if isinstance(error, BaseException):
        return any(_qualified_name(cls) in OUT_OF_MEMORY_TYPES for cls in type(error).__mro__)
    if not isinstance(error, str):
        return False
    failure = _latest_failure(error)
    name = _exception_type_name(failure)
    if name is None:
        return _RAY_MEMORY_MONITOR in failure
    return name in OUT_OF_MEMORY_TYPES


def _latest_failure(text: str) -> str:
    """The text of the latest failure in Tune's ``error.txt`` (one section per failure)."""
    return _FAILURE_HEADER.split(text)[-1]


def _exception_type_name(failure: str) -> str | None:
    """The type name on the exception line that ends the failure's traceback (None when the
    failure has no traceback)."""
    lines = failure.splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    if not frames:
        return None
    for line in lines[frames[-1] + 1:]:
        if line and not line[0].isspace():
            match = _EXCEPTION_LINE.match(line)
            return match.group(1) if match else None
    return None


def _nodes() -> list[dict[str, float]]:
    """The resources of every alive node of the connected Ray cluster."""
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


def doubled(bundles: list[dict[str, float]], strategy: str, nodes: list[dict[str, float]]
            ) -> list[dict[str, float]] | None:
    """``bundles`` with their CPUs and GPUs doubled (custom resources and memory kept), as far as
    one node can give them: each bundle is capped by the node that could hold the most of it (for
    ``STRICT_PACK``, all bundles together on one node). None when nothing can grow."""
    def total(kind: str, items: list[dict[str, float]]) -> float:
        return sum(float(b.get(kind, 0.0)) for b in items)

    def fits(items: list[dict[str, float]], node: dict[str, float]) -> bool:
        return all(total(k, items) <= float(node.get(k, 0.0)) + 1e-9
                   for k in {k for b in items for k in b} if k not in ("memory", "object_store_memory"))

    def grown(factor_cpu: float, factor_gpu: float) -> list[dict[str, float]]:
        return [{**b, "CPU": float(b.get("CPU", 0.0)) * factor_cpu, "GPU": float(b.get("GPU", 0.0)) * factor_gpu}
                for b in bundles]

    together = strategy == "STRICT_PACK" or len(bundles) == 1
    best: list[dict[str, float]] | None = None
    for node in nodes:  # the largest request one node can hold, up to double
        room = {k: float(node.get(k, 0.0)) for k in ("CPU", "GPU")}
        need = {k: total(k, bundles) if together else max(float(b.get(k, 0.0)) for b in bundles)
                for k in ("CPU", "GPU")}
        factors = [min(2.0, room[k] / need[k]) if need[k] else 2.0 for k in ("CPU", "GPU")]
        if min(factors) < 1.0:
            continue  # this node cannot even hold the request as it is
        candidate = grown(*factors)
        if (together and fits(candidate, node)) or not together:
            if best is None or total("CPU", candidate) + total("GPU", candidate) > total("CPU", best) + total(
                    "GPU", best):
                best = candidate
    if best is None or all(abs(total(k, best) - total(k, bundles)) < 1e-9 for k in ("CPU", "GPU")):
        return None
    return best


def _latest_error(trial: Any) -> BaseException | str:
    """The trial's latest error: the exception the trainable raised when Tune kept it (a Ray
    task error, an instance of the trainable's exception type too) and it is the latest
    failure, else the latest error text (Ray's own errors, such as its memory monitor's, are
    judged by their message). Tune writes both next to the driver first, and to the results
    storage only when it next syncs."""
    from ray.exceptions import RayTaskError

    error_file = Path(trial.local_path or "") / "error.txt"
    text = error_file.read_text(errors="replace") if error_file.is_file() else str(trial.get_error() or "")
    exception = _ray.pickled_error(trial)
    if isinstance(exception, RayTaskError) and str(exception).strip() == _latest_failure(text).strip():
        return exception
    return text


class OutOfMemoryRetry(Callback):
    """When Tune retries a trial that ran out of memory: as the trainable says
    (``adapt``, its ``retry_after_out_of_memory``: e.g. a smaller micro-batch; a trial that starts
    training workers tells it each worker's ``worker_share``, not its driver's sliver), else with
    its CPUs and GPUs doubled (as far as one node can give them, every bundle and custom resource kept);
    and tell the user what changed and the value to start from next time."""

    def __init__(self, adapt: Callable[..., Any] | None = None, worker_share: dict[str, float] | None = None) -> None:
        self.adapt = adapt
        self.worker_share = worker_share  # each training worker's, for trials that start workers

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if not is_out_of_memory(_latest_error(trial)):
            return
        factory = trial.placement_group_factory
        bundles = [dict(b) for b in factory.bundles]
        before = factory.required_resources
        cpu, gpu = float(before.get("CPU", 0)), float(before.get("GPU", 0))
        if self.adapt is not None:
            starts_workers = self.worker_share is not None and {k: v for k, v in before.items() if v} == DRIVER_BUNDLE
            share = dict(self.worker_share or {}) if starts_workers else {"CPU": cpu, "GPU": gpu}
            plan = self.adapt(dict(trial.config), share)
            if plan is not None:
                self._retry_as_adapted(trial, plan, bundles, factory.strategy, cpu, gpu)
                return
        bigger = doubled(bundles, factory.strategy, _nodes())
        if bigger is None:
            say("warning", f"trial {trial.trial_id} ran out of memory with {cpu:g} CPU(s) and {gpu:g} GPU(s), "
                "already as much as one node can give; retrying as it is")
            return
        from ray.tune import PlacementGroupFactory

        trial.update_resources(PlacementGroupFactory(bigger, strategy=factory.strategy))
        new_cpu, new_gpu = (sum(float(b.get(k, 0.0)) for b in bigger) for k in ("CPU", "GPU"))
        say("warning", f"trial {trial.trial_id} ran out of memory with {cpu:g} CPU(s) and {gpu:g} GPU(s); "
            f"retrying with {new_cpu:g} CPU(s) and {new_gpu:g} GPU(s). Next time start from "
            f"cpu_per_trial={new_cpu:g}" + (f", gpu_per_trial={new_gpu:g}" if gpu else ""))

    def _retry_as_adapted(self, trial: Any, plan: tuple[Any, Any], bundles: list[dict[str, float]], strategy: str,
                          cpu: float, gpu: float) -> None:
        config, resources = plan
        changes = []
        if config is not None and config != trial.config:
            changed = sorted(k for k in set(config) | set(trial.config) if config.get(k) != trial.config.get(k))
            trial.set_config(config)
            changes.append("its config (" + ", ".join(f"{k}={config.get(k)!r}" for k in changed) + ")")
        if resources is not None:
            from ray.tune import PlacementGroupFactory

            scale = {k: float(resources.get(k, 0.0)) / v for k, v in (("CPU", cpu), ("GPU", gpu)) if v}
            trial.update_resources(PlacementGroupFactory(
                [{**b, **{k: float(b.get(k, 0.0)) * s for k, s in scale.items()}} for b in bundles], strategy=strategy))
            changes.append(f"{resources.get('CPU', cpu):g} CPU(s) and {resources.get('GPU', gpu):g} GPU(s)")
        say("warning", f"trial {trial.trial_id} ran out of memory with {cpu:g} CPU(s) and {gpu:g} GPU(s); retrying "
            f"with {' and '.join(changes) or 'nothing changed (nothing smaller is possible)'}")
