"""Trials that run out of memory are retried with doubled resources."""

from __future__ import annotations

import pytest
import ray
import ray.exceptions
from ray import tune

import radas
from radas.sweep._oom import is_out_of_memory


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


class ActivationsTooLarge(MemoryError):
    """A project's own out-of-memory error: recognised by its type, whatever its name."""


def picky(config):
    """Runs out of memory (its own MemoryError subclass) with one CPU; the other kind fails
    with a message that merely mentions OOM."""
    if config["kind"] == "zoom":
        raise ValueError("ZOOM factor must be positive; see the OOM notes in the docs")
    if ray.get_runtime_context().get_assigned_resources().get("CPU", 0) < 2:
        raise ActivationsTooLarge("activations do not fit")
    return {"cpus": ray.get_runtime_context().get_assigned_resources()["CPU"]}


async def test_only_out_of_memory_exception_types_double_resources(local_ray, capsys):
    results = await radas.run_experiment(
        user_name="tester", experiment_name="oom-types", trainable=picky,
        param_space={"kind": tune.grid_search(["big", "zoom"])}, cpu_per_trial=1, run_choice="run",
        tuner_init_kwargs={"run_config": {"failure_config": {"max_failures": 1}}},
    )
    df = results["df"].set_index("config/kind")
    assert df.loc["big", "status"] == "TERMINATED" and df.loc["big", "cpus"] == 2.0
    assert df.loc["zoom", "status"] == "ERROR"
    assert capsys.readouterr().out.count("ran out of memory") == 1


def _traceback(last_line: str) -> str:
    """A trial's error text as Tune writes it: a header, the traceback, the exception line."""
    return ("Failure # 1 (occurred at 2026-01-01_00-00-00)\n"
            "ray::ImplicitFunc.train() (pid=1, ip=127.0.0.1, repr=trainable)\n"
            '  File "/work/train.py", line 3, in trainable\n'
            '    raise error  # OOM handling below\n'
            f"{last_line}\n")


def test_out_of_memory_exceptions_are_recognised_by_type():
    import torch

    assert is_out_of_memory(MemoryError("x"))
    assert is_out_of_memory(ActivationsTooLarge("x"))
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(ray.exceptions.OutOfMemoryError("the node is running low on memory"))
    assert not is_out_of_memory(ValueError("OOM"))
    assert not is_out_of_memory(RuntimeError("ZOOM level out of memory range"))


def test_out_of_memory_error_texts_are_recognised_by_type_name():
    assert is_out_of_memory(_traceback("MemoryError: cannot allocate"))
    assert is_out_of_memory(_traceback("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(_traceback("torch.cuda.OutOfMemoryError: CUDA out of memory."))
    assert is_out_of_memory(_traceback("ray.exceptions.OutOfMemoryError: Task was killed"))
    assert is_out_of_memory("1 worker(s) were killed due to the node running low on memory. Memory on the node ...")
    assert not is_out_of_memory(_traceback("ValueError: ZOOM factor must be positive; see the OOM notes"))
    assert not is_out_of_memory(_traceback("RuntimeError: model out of memory budget? MemoryError: no"))
    assert not is_out_of_memory(_traceback("ValueError: failed\n\nMemoryError: a line of the message"))
    retried = _traceback("MemoryError: first attempt") + _traceback("ValueError: second attempt")
    assert not is_out_of_memory(retried)
    assert not is_out_of_memory("")


@pytest.mark.parametrize(("bundles", "strategy", "nodes", "expected"), [
    # the largest CPU node and the largest GPU node are different machines: the GPU node decides
    ([{"CPU": 1, "GPU": 1}], "PACK", [{"CPU": 64}, {"CPU": 2, "GPU": 2}], [{"CPU": 2.0, "GPU": 2.0}]),
    # several bundles and a custom resource: each bundle doubled, the custom resource kept
    ([{"CPU": 1, "accelerator_type:A100": 0.1}, {"CPU": 2}], "PACK", [{"CPU": 8, "accelerator_type:A100": 1}],
     [{"CPU": 2.0, "GPU": 0.0, "accelerator_type:A100": 0.1}, {"CPU": 4.0, "GPU": 0.0}]),
    # all bundles on one node: grown only as far as that node can hold them together
    ([{"CPU": 1}, {"CPU": 1}], "STRICT_PACK", [{"CPU": 3}], [{"CPU": 1.5, "GPU": 0.0}, {"CPU": 1.5, "GPU": 0.0}]),
    # already a whole node: nothing to grow
    ([{"CPU": 2, "GPU": 2}], "PACK", [{"CPU": 64}, {"CPU": 2, "GPU": 2}], None),
])
def test_doubling_keeps_bundles_and_custom_resources_and_fits_one_node(bundles, strategy, nodes, expected):
    from radas.sweep._oom import doubled

    assert doubled(bundles, strategy, nodes) == expected


def micro_batched(config):
    """Runs out of memory when its micro-batch is larger than 2 (the torch error a GPU gives)."""
    import torch

    if config["micro"] > 2:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    return {"micro": config["micro"]}


def _halve_the_micro_batch(config, resources):
    return {**config, "micro": config["micro"] // 2}, None


micro_batched.retry_after_out_of_memory = _halve_the_micro_batch


async def test_a_trainable_that_knows_better_is_retried_its_way(local_ray, capsys):
    """A trainable's own retry_after_out_of_memory (a GRPO trial: a smaller micro-batch, since
    more GPUs would not help) is used instead of doubling the resources."""
    results = await radas.run_experiment(user_name="tester", experiment_name="oom-adapted", trainable=micro_batched,
                                         param_space={"micro": 8}, run_choice="run")
    df = results["df"]
    assert list(df["status"]) == ["TERMINATED"] and list(df["micro"]) == [2] and list(df["config/micro"]) == [2]
    assert "retrying with its config (micro=4)" in capsys.readouterr().out


def test_grpo_retries_a_whole_gpu_trial_with_a_smaller_micro_batch_and_a_shared_one_with_more_gpu():
    from radas.grpo._trainable import retry_after_out_of_memory as retry

    config = {"n_samples_per_prompt": 8, "rollout_batch_size": 4}
    smaller, same = retry(config, {"CPU": 1, "GPU": 1})
    assert smaller["grpo_config_overrides"]["per_device_train_batch_size"] == 4 and same is None
    assert retry({**config, "grpo_config_overrides": {"per_device_train_batch_size": 1}}, {"CPU": 1, "GPU": 1}) == (
        None, None)
    assert retry(config, {"CPU": 1, "GPU": 0.25}) == (None, {"CPU": 1, "GPU": 0.5})
    assert retry(config, {"CPU": 1, "GPU": 0}) is None  # on the CPU: radas's doubling


def test_grpo_retries_a_trial_of_several_workers_with_a_smaller_micro_batch_then_more_workers():
    from radas.grpo._trainable import retry_after_out_of_memory, retry_with_more_workers

    config = {"n_samples_per_prompt": 8, "rollout_batch_size": 4, "num_workers": 2}
    each = {"CPU": 8.0, "GPU": 1.0}  # each worker's share (the trial's own is its driver's sliver)
    smaller, same = retry_after_out_of_memory(config, each)
    assert smaller["grpo_config_overrides"]["per_device_train_batch_size"] == 4 and same is None
    one = {**config, "grpo_config_overrides": {"per_device_train_batch_size": 1}}
    assert retry_with_more_workers(one, 2, each, {"CPU": 64, "GPU": 8}) == ({**one, "num_workers": 4}, None)
    # a worker group the cluster can never hold would wait forever: no GPU, or no CPU, for each of 4 workers
    # (4 x 8 CPUs and the driver's sliver do not fit 32 CPUs)
    assert retry_with_more_workers(one, 2, each, {"CPU": 64, "GPU": 3}) == (None, None)
    assert retry_with_more_workers(one, 2, each, {"CPU": 32, "GPU": 4}) == (None, None)
    odd = {**one, "rollout_batch_size": 3, "n_samples_per_prompt": 2}  # 6 completions do not split in 4
    assert retry_with_more_workers(odd, 2, each, {"CPU": 64, "GPU": 8}) == (None, None)
    # three workers: 24 completions split as 3 x 8; the next micro-batch that splits is 4 (3 x 2 x 4)
    three = {**config, "rollout_batch_size": 3, "num_workers": 3}
    assert retry_with_more_workers(three, 3, each, {})[0]["grpo_config_overrides"]["per_device_train_batch_size"] == 4


def test_a_worker_killed_by_rays_memory_monitor_is_out_of_memory_too():
    """Ray Train reports a worker its memory monitor killed as a failed health check whose cause
    is Ray's OutOfMemoryError (Ray's own classes here): the trial fails with
    WorkerOutOfMemoryError, as for the worker's own MemoryError."""
    import ray.exceptions
    from ray.train.v2._internal.exceptions import WorkerHealthCheckFailedError

    from radas.errors import WorkerOutOfMemoryError
    from radas.grpo._distributed import _out_of_memory

    class Group:  # what ray.train.WorkerGroupError carries
        worker_failures = {0: RuntimeError("a neighbour's failure"), 1: WorkerHealthCheckFailedError(
            "worker 1 failed its health check", ray.exceptions.OutOfMemoryError(
                "Task was killed due to the node running low on memory."))}

    found = _out_of_memory(Group())
    assert isinstance(found, WorkerOutOfMemoryError) and "training worker 1" in str(found)
    assert _out_of_memory(type("Other", (), {"worker_failures": {0: RuntimeError("no")}})()) is None
