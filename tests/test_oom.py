"""Trials that run out of memory are retried with doubled resources."""

from __future__ import annotations

import ray

import radas
from radas._oom import is_out_of_memory


def hungry(config):
    """Runs out of memory unless it has at least two CPUs."""
    if ray.get_runtime_context().get_assigned_resources().get("CPU", 0) < 2:
        raise MemoryError("cannot allocate the activations with one CPU's share of memory")
    return {"cpus": ray.get_runtime_context().get_assigned_resources()["CPU"]}


async def test_out_of_memory_trial_is_retried_with_doubled_cpus(local_ray, capsys):
    results = await radas.run_experiment(user_name="tester", experiment_name="oom", trainable=hungry,
                                         param_space={"x": 1}, cpu_per_trial=1, run_choice="run")
    assert list(results["df"]["status"]) == ["TERMINATED"] and list(results["df"]["cpus"]) == [2.0]
    out = capsys.readouterr().out
    assert "ran out of memory with 1 CPU(s)" in out and "start from cpu_per_trial=2" in out


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(MemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("Task was killed due to the node running low on memory."))
    assert not is_out_of_memory(ValueError("lr too high"))
