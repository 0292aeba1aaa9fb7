"""Trials that run out of memory are retried with doubled resources, up to a node's size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune import Callback

from radas._reporter import say

_OOM_SIGNS = ("OutOfMemoryError", "MemoryError", "out of memory", "running low on memory", "OOM")


def is_out_of_memory(error: object) -> bool:
    """True when a trial's error says it ran out of (host or GPU) memory."""
    text = f"{type(error).__name__}: {error}"
    return any(sign in text for sign in _OOM_SIGNS)


def _node_size() -> dict[str, float]:
    """The CPUs and GPUs of the largest alive node of the connected Ray cluster."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    return {kind: max((n.get(kind, 0.0) for n in nodes), default=0.0) for kind in ("CPU", "GPU")}


def _latest_error(trial: Any) -> str:
    """The trial's latest error text: Tune writes it next to the driver first, and to the
    results storage only when it next syncs."""
    error_file = Path(trial.local_path or "") / "error.txt"
    if error_file.is_file():
        return error_file.read_text(errors="replace")
    return str(trial.get_error() or "")


class OutOfMemoryRetry(Callback):
    """When Tune retries a trial that ran out of memory, double its CPUs and GPUs first
    (capped at one node) and tell the user the value to start from next time."""

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:  # type: ignore[override]
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
