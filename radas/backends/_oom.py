"""Trials that run out of memory are retried with doubled resources, up to a node's size."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ray.tune import Callback

from radas._reporter import say
from radas.backends import _ray

# the exception types that mean "out of memory" (subclasses count too), by qualified name so
# that torch need not be imported to check
OUT_OF_MEMORY_TYPES = frozenset(
    {"MemoryError", "torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError", "ray.exceptions.OutOfMemoryError"}
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


def _node_size() -> dict[str, float]:
    """The CPUs and GPUs of the largest alive node of the connected Ray cluster."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return {kind: max((n.get(kind, 0.0) for n in nodes), default=0.0) for kind in ("CPU", "GPU")}


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
    """When Tune retries a trial that ran out of memory, double its CPUs and GPUs first
    (capped at one node) and tell the user the value to start from next time."""

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if not is_out_of_memory(_latest_error(trial)):
            return
        current = trial.placement_group_factory.required_resources
        cpu, gpu = float(current.get("CPU", 0)), float(current.get("GPU", 0))
        node = _node_size()
        new_cpu = min(cpu * 2, node["CPU"]) if cpu else cpu
        new_gpu = min(gpu * 2, node["GPU"]) if gpu else gpu
        if (new_cpu, new_gpu) == (cpu, gpu):
            say("warning", f"trial {trial.trial_id} ran out of memory with {cpu:g} CPU(s) and {gpu:g} GPU(s), "
                "already a whole node; retrying as it is")
            return
        trial.update_resources({"CPU": new_cpu, "GPU": new_gpu})
        say("warning", f"trial {trial.trial_id} ran out of memory with {cpu:g} CPU(s) and {gpu:g} GPU(s); "
            f"retrying with {new_cpu:g} CPU(s) and {new_gpu:g} GPU(s). Next time start from "
            f"cpu_per_trial={new_cpu:g}" + (f", gpu_per_trial={new_gpu:g}" if gpu else ""))
