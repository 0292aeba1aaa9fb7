"""GRPO trials across several workers (Ray Train inside the Tune trial, gloo on the CPU) through
run_experiment: a two-worker trial trains, reports world_size 2, keeps checkpoints, survives an
interrupt (restore resumes every rank from the last checkpoint) and a killed worker (the trial is
retried from its checkpoint); bad worker resources fail before anything starts."""

from __future__ import annotations

import asyncio
import html
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pandas as pd
import peft
import pytest

import radas
from radas.grpo import grpo_trainable, load_model
from radas.grpo._callback import STATE_FILE, reported_metrics
from radas.grpo._export import MARKER, final_metrics
from radas.sweep import ExperimentFolder, LoggedResults, read_samples

pytestmark = pytest.mark.train

USER = "tester"
# each worker half a CPU: a trial's two workers and its driver fit this machine's 2 CPUs
WORKER = {"cpu_per_trial": 0.5}


def _space(toy_config: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {**toy_config, "num_workers": 2, "max_steps": 6, "checkpoint_every": 2, **overrides}


def _results_log(experiment: str) -> Path:
    return Path(radas.get_ray_results_dir(USER)) / experiment / ".radas-results.jsonl"


def _logged(experiment: str) -> list[dict[str, Any]]:
    """The results reported so far, from the sweep's results log."""
    path = _results_log(experiment)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line).get("r", {}))  # a trial's result (other lines: its config)
        except ValueError:  # a line being written
            continue
    return rows


async def _until(condition: Any, what: str, deadline_s: float = 900.0) -> Any:
    """Poll ``condition()`` until it returns something truthy (a loaded 2-core machine: minutes)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")


def _steps(df: pd.DataFrame) -> list[int]:
    return [int(s) for s in df["step"].dropna()]


async def test_a_two_worker_trial_trains_is_interrupted_restores_and_its_final_model_loads(local_ray, toy_config,
                                                                                      tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = "grpo-two-workers"
    space = _space(toy_config, lora_rank=4)
    task = asyncio.ensure_future(radas.run_experiment(
        user_name=USER, experiment_name=exp, trainable=grpo_trainable, param_space=space, run_choice="run",
        **WORKER))
    # interrupted once a checkpoint of the two ranks is on disk, before the run ends
    # step 3 is reported after step 2's checkpoint was persisted
    await _until(lambda: any(r.get("step", 0) >= 3 for r in _logged(exp)), "the first checkpoint")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    done = await radas.run_experiment(user_name=USER, experiment_name=exp, trainable=grpo_trainable,
                                      param_space=space, run_choice="restore", **WORKER)
    df = done["df"]
    assert list(df["status"]) == ["TERMINATED"] and list(df["world_size"]) == [2] and list(df["step"]) == [6]
    result = done["tuner"].get_results()[0]
    steps = _steps(result.metrics_dataframe)
    assert steps.count(1) == 1, f"the restored trial started over instead of resuming: steps {steps}"
    assert steps[-1] == 6
    # the sweep's own results (the page's): the steps before the restore are kept, every step once
    live = LoggedResults(ExperimentFolder(Path(radas.get_ray_results_dir(USER)), exp))
    live.refresh()
    assert sorted(live.get_iteration_dataframe()["step"]) == [1, 2, 3, 4, 5, 6]
    # rank 0's sample completions, before and after the restore, on the report page
    samples = read_samples(result.path)
    assert {1, 6} <= set(samples) and all(kept[0]["sample"] == "best" for kept in samples.values())
    page = (Path(radas.get_ray_results_dir(USER)) / exp / "radas-report.html").read_text()
    assert 'id="grpo-samples"' in page and html.escape(samples[6][0]["completion"])[:40] in page
    # rank 0's final model (a LoRA adapter), persisted by Ray Train in the trial's own folder on
    # the sweep's storage, loads with the documented call and generates
    checkpoint = Path(result.metrics["checkpoint_path"])
    assert checkpoint.is_dir() and checkpoint.is_relative_to(Path(result.path))
    assert (checkpoint / MARKER).is_file() and any(checkpoint.rglob("*.safetensors"))
    assert (reported_metrics(checkpoint) or {}).get("step") == 6  # what a resumed run reports again
    model, tokenizer = load_model(done)
    assert isinstance(model, peft.PeftModel)
    batch = tokenizer(["Say a"], return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (1, batch["input_ids"].shape[1] + 3)


# a reward that runs out of host memory on rank 1 at step 3 (after step 2's checkpoint), once: a real
# allocation failure, in the rank's own process (reward_workers=0)
OUT_OF_MEMORY_ONCE = """
import os
from pathlib import Path

ONCE = Path(__file__).with_name("ran-out-of-memory")
calls = 0


def reward_fn(completion, **kwargs):
    global calls
    if os.environ.get("RANK") == "1":
        calls += 1
        if calls > 4 and not ONCE.exists():  # two completions per step on each rank
            ONCE.touch()
            bytearray(1 << 60)  # MemoryError: no machine has an exbibyte
    return float("a" in completion[0]["content"])
"""


async def test_a_worker_out_of_memory_then_a_killed_worker_make_the_trial_retry_from_its_checkpoint(
        local_ray, toy_config, tmp_path, monkeypatch, capsys):
    """Out of memory on a rank: retried with half the micro-batch (the rollout still split over
    the two ranks), from its checkpoint; then a worker killed: retried from its checkpoint again."""
    from ray.util.state import list_actors

    monkeypatch.chdir(tmp_path)
    exp = "grpo-killed-worker"
    reward = tmp_path / "hungry.py"
    reward.write_text(OUT_OF_MEMORY_ONCE)
    task = asyncio.ensure_future(radas.run_experiment(
        user_name=USER, experiment_name=exp, trainable=grpo_trainable,
        param_space=_space(toy_config, reward_file=str(reward), reward_workers=0, max_steps=8),
        run_choice="run", **WORKER))
    # the retry after the memory error resumed from step 2's checkpoint and reported step 5, after
    # step 4's checkpoint was persisted
    await _until(lambda: (tmp_path / "ran-out-of-memory").exists() and any(r.get("step", 0) >= 5
                                                                        for r in _logged(exp)), "the retry's step 5")

    import ray

    ours = ray.get_runtime_context().gcs_address  # this test's Ray (the machine may run several)

    def a_worker() -> int | None:
        workers = [a for a in list_actors(address=ours, filters=[("state", "=", "ALIVE")], detail=True)
                   if a.class_name == "RayTrainWorker" and a.pid]
        return workers[-1].pid if workers else None

    pid = await _until(a_worker, "a live Ray Train worker")
    os.kill(pid, signal.SIGKILL)
    done = await task
    df = done["df"]
    assert list(df["status"]) == ["TERMINATED"] and list(df["step"]) == [8]
    result = done["tuner"].get_results()[0]
    assert result.config["grpo_config_overrides"] == {"per_device_train_batch_size": 1}
    assert "ran out of memory" in capsys.readouterr().out
    steps = _steps(result.metrics_dataframe)
    assert steps.count(1) == 1, f"a retried trial started over instead of resuming: steps {steps}"


def test_a_resumed_run_reports_its_checkpoints_step_again_first(local_ray, tmp_path):
    """Ray Train keeps a checkpoint before its report reaches Tune: a trial stopped in between has
    that checkpoint on disk and an earlier step as its last result. Resumed, every rank reports the
    checkpoint's step again first, with its place; from a checkpoint training goes on after it,
    from a final model nothing trains (Ray Train, two gloo workers, its own resume by name)."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.train.v2.api.callback import UserCallback

    from radas.grpo._distributed import _worker_loop

    step_4 = tmp_path / "checkpoint-4"
    step_4.mkdir()
    (step_4 / STATE_FILE).write_text(json.dumps({"best": 0.5, "reported": {"step": 4, "reward": 0.5}}))
    final = tmp_path / "final-model"
    final.mkdir()
    (final / MARKER).write_text(json.dumps({"step": 6, "kind": "adapter", "files": [], "folders": [],
                                            "metrics": {"step": 6, "reward": 0.75}}))

    def stopped_after_step_4(config: dict[str, Any]) -> None:  # its report of step 4 never reached Tune
        rank = ray.train.get_context().get_world_rank()
        ray.train.report({"step": 4}, checkpoint=ray.train.Checkpoint.from_directory(str(step_4)) if rank == 0
                         else None)

    def trains_on(config: dict[str, Any], reporter: Any, resume_dir: str | None = None, **kwargs: Any) -> None:
        assert resume_dir is not None and (Path(resume_dir) / STATE_FILE).is_file()
        reporter({"step": 6, "reward": 0.75}, str(final))  # ends with its final model

    def must_not_train(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a run resumed from its final model trained again")

    reports = tmp_path / "reports.jsonl"

    class Reports(UserCallback):  # what reaches the trial (TuneReportCallback's place), into a file
        def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
            with reports.open("a") as f:
                f.write(json.dumps(metrics) + "\n")

    def resumed(loop: Any) -> list[list[dict[str, Any]]]:
        """Run ``loop`` as the Train run of the same name and storage (it resumes from its last
        checkpoint); what every rank reported, a checkpoint_path checked (Ray Train's copy of the
        checkpoint: where load_model and KeepBestModels find the model) and shown as "kept"."""
        reports.unlink(missing_ok=True)
        result = TorchTrainer(loop, scaling_config=ray.train.ScalingConfig(num_workers=2,
                                                                           resources_per_worker={"CPU": 0.5}),
                              torch_config=TorchConfig(backend="gloo"),
                              run_config=ray.train.RunConfig(name="resumed", storage_path=str(tmp_path / "runs"),
                                                             callbacks=[Reports()])).fit()
        assert result.error is None
        every_report = [json.loads(line) for line in reports.read_text().splitlines()]
        for rank in (rank for report in every_report for rank in report if "checkpoint_path" in rank):
            kept = rank["checkpoint_path"]
            assert Path(kept).is_dir() and not kept.startswith((str(step_4), str(final)))
            rank["checkpoint_path"] = "kept"
        return every_report

    resumed(stopped_after_step_4)
    assert resumed(_worker_loop(trains_on, lambda: None, None)) == [
        [{"step": 4, "reward": 0.5, "checkpoint_path": "kept", "world_size": 2}] * 2,
        [{"step": 6, "reward": 0.75, "world_size": 2}] * 2]
    assert resumed(_worker_loop(must_not_train, lambda: None, None)) == [
        [{"step": 6, "reward": 0.75, "checkpoint_path": "kept", "world_size": 2}] * 2]


@pytest.mark.parametrize(("marker", "state", "ends", "again"), [
    ({"metrics": {"step": 6, "reward": 0.75}}, None, True, {"step": 6, "reward": 0.75}),
    (None, {"step": 4, "reward": 0.5, "saturated": "all solved"}, False, {"step": 4, "reward": 0.5}),
    (None, {"step": 4, "stop_reason": "reward collapse"}, True, {"step": 4, "stop_reason": "reward collapse"}),
    (None, {"reward": 0.5}, False, None),  # no step: where it resumed is unknown, nothing reported
    (None, None, False, None),  # an older radas's checkpoint: trains on, reports nothing again
], ids=["final-model", "checkpoint", "stopped-by-a-rule", "no-step", "no-metrics"])
def test_a_resumed_checkpoint_says_whether_training_is_done_and_what_to_report_again(tmp_path, marker, state, ends,
                                                                                      again):
    """A checkpoint a stop rule ended is as done as a final model (the restored run must not
    train past its stop); a run's saturation was said when it was first reported."""
    from radas.grpo._distributed import _resumed_at

    if marker is not None:
        (tmp_path / MARKER).write_text(json.dumps(marker))
    (tmp_path / STATE_FILE).write_text(json.dumps({"best": 0.5, **({"reported": state} if state else {})}))
    assert _resumed_at(str(tmp_path)) == (ends, again)


@pytest.mark.parametrize("marker", ["[]", '{"metrics": "ab"}', '{"metrics": [1]}', '{"metrics": {}}', '{"step": 6}',
                                    '{"metrics": {"step"', ""])
def test_a_final_model_marker_or_checkpoint_state_that_cannot_be_read_has_no_metrics(tmp_path, marker):
    """A damaged marker or checkpoint state (or one without metrics) is no report and no error:
    the resumed run goes on (or ends) as it is."""
    (tmp_path / MARKER).write_text(marker)
    (tmp_path / STATE_FILE).write_text(marker.replace('"metrics"', '"reported"'))
    assert final_metrics(tmp_path) is None and reported_metrics(tmp_path) is None


@pytest.mark.parametrize(("workers", "gpu", "words"), [
    (1, 2, ["gpu_per_trial=2", "num_workers", "num_workers=2 with gpu_per_trial=1"]),
    (2, 0.5, ["gpu_per_trial=0.5", "num_workers'] = 2", "whole GPUs"]),
])
async def test_worker_gpus_that_cannot_work_fail_before_anything_starts(local_ray, toy_config, workers, gpu, words):
    with pytest.raises(radas.RadasValueError) as info:
        await radas.run_experiment(user_name=USER, experiment_name="grpo-bad-workers", trainable=grpo_trainable,
                                   param_space=_space(toy_config, num_workers=workers), gpu_per_trial=gpu,
                                   run_choice="run")
    for word in words:
        assert word in str(info.value)
