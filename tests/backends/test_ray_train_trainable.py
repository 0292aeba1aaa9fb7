"""A user's own Ray Train trainable (Ray's Train + Tune guide: a driver function that starts a
``TorchTrainer`` and forwards reports with ``TuneReportCallback``) through run_experiment, on local
Ray and on the test cluster (its workers spread over both nodes): it trains with a real collective,
is stopped, and restore resumes its Train run from the last checkpoint; radas's quicker poll of
Ray Train's workers reaches them."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from backend_targets import Target

from radas._ray import TRAIN_POLL_S

pytestmark = pytest.mark.ray

# the guide's pattern, as a user writes it, in a module of the working dir (a cluster job uploads it)
GUIDE = textwrap.dedent('''
    import json, os, tempfile, time

    import ray
    import ray.train
    import ray.train.torch
    import ray.tune
    import torch
    import torch.distributed as dist
    from ray.tune.integration.ray_train import TuneReportCallback


    def train_fn_per_worker(config):
        start = 0
        checkpoint = ray.train.get_checkpoint()
        if checkpoint:
            with checkpoint.as_directory() as folder:
                with open(os.path.join(folder, "state.json")) as f:
                    start = json.load(f)["step"] + 1
        context = ray.train.get_context()
        nodes = [None] * context.get_world_size()
        dist.all_gather_object(nodes, ray.get_runtime_context().get_node_id())
        for step in range(start, config["steps"]):
            total = torch.tensor([float(context.get_world_rank() + 1)])
            dist.all_reduce(total)  # a real collective over the workers' process group
            time.sleep(config["pause"])
            with tempfile.TemporaryDirectory() as folder:
                if context.get_world_rank() == 0:
                    with open(os.path.join(folder, "state.json"), "w") as f:
                        json.dump({"step": step}, f)
                ray.train.report(
                    {"loss": config["lr"] / (step + 1), "step": step, "rank_sum": total.item(),
                     "nodes": len(set(nodes)), "resumed_at": start,
                     "poll_s": float(os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "nan"))},
                    checkpoint=ray.train.Checkpoint.from_directory(folder) if context.get_world_rank() == 0
                    else None)


    def train_driver_fn(config):
        trainer = ray.train.torch.TorchTrainer(
            train_fn_per_worker,
            train_loop_config=config["train_loop_config"],
            scaling_config=ray.train.ScalingConfig(num_workers=config["num_workers"],
                                                   resources_per_worker={"CPU": config["worker_cpus"]},
                                                   placement_strategy="SPREAD"),
            run_config=ray.train.RunConfig(
                name=f"train-trial_id={ray.tune.get_context().get_trial_id()}",
                storage_path=ray.tune.get_context().get_trial_dir(),
                callbacks=[TuneReportCallback()],
            ),
        )
        trainer.fit()
''')


async def test_the_guides_train_driver_trains_stops_and_restores(target: Target, tmp_path):
    (target.workdir / "guide_train.py").write_text(GUIDE)
    train = _guide(target)
    exp = f"guide-{target.kind}"
    # locally the test's Ray has 2 CPUs: the driver's 1 and two half-CPU workers; on the test
    # cluster (head 2 CPUs, worker 1) two 1-CPU workers, spread over both nodes
    worker_cpus = 0.5 if target.kind == "local" else 1.0
    space = {"num_workers": 2, "worker_cpus": worker_cpus,
             "train_loop_config": {"lr": 0.1, "steps": 30, "pause": 0.5}}
    task = asyncio.ensure_future(target.run(exp, train.train_driver_fn, param_space=space, run_choice="run"))
    await target.wait_running(exp)
    await _until_reported(target, exp)
    task.cancel()  # a local sweep stops gracefully; a cluster sweep keeps running, and is stopped
    with pytest.raises(asyncio.CancelledError):
        await task
    if target.kind == "cluster":
        stopped = await target.run(exp, train.train_driver_fn, run_choice="stop_attach")
        assert (stopped["df"]["status"] != "TERMINATED").any()
    done = await target.run(exp, train.train_driver_fn, param_space=space, run_choice="restore")
    df = done["df"]
    assert list(df["status"]) == ["TERMINATED"] and list(df["step"]) == [29]
    assert list(df["rank_sum"]) == [3.0]  # ranks 1 + 2: both workers took part in the collective
    assert df["resumed_at"].iloc[0] > 0, "restore started the Train run over instead of resuming it"
    # radas's poll interval reached Ray Train's controller and workers (a report waits for a poll)
    assert list(df["poll_s"]) == [TRAIN_POLL_S]
    if target.kind == "cluster":
        assert list(df["nodes"]) == [2]


def _guide(target: Target):
    import importlib
    import sys

    sys.path.insert(0, str(target.workdir))
    try:
        sys.modules.pop("guide_train", None)
        return importlib.import_module("guide_train")
    finally:
        sys.path.remove(str(target.workdir))


async def _until_reported(target: Target, exp: str, timeout: float = 300.0) -> None:
    """Until the sweep's results log has a report of the Train run with checkpoints behind it."""
    import json
    import time

    log = target.exp_dir(exp) / ".radas-results.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip().endswith("}")]
            if any(r.get("r", {}).get("step", 0) >= 2 for r in rows):  # rank 0 reported checkpoints at steps 0 and 1
                return
        await asyncio.sleep(0.5)
    raise AssertionError(f"no checkpointed report of {exp} within {timeout:g} s")
