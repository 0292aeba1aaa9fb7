"""A GRPO trial across several GPUs or nodes: Ray's Train + Tune pattern.

With ``num_workers`` k > 1 the Tune trial is a driver: it starts a Ray Train ``TorchTrainer`` of
k workers (each with ``cpu_per_trial`` CPUs and ``gpu_per_trial`` GPUs, placed by Ray Train, on
several nodes where one has too few), and each worker runs TRL's ``GRPOTrainer``
data-parallel through accelerate, its rank and process group from Ray Train (NCCL on GPUs, gloo
on the CPU). FSDP or DeepSpeed come through ``grpo_config_overrides`` (TRL's own ``fsdp`` /
``deepspeed`` settings) where installed; vLLM in colocate mode runs on every rank.

* **Reports**: every rank reports each logged step (Ray Train waits for all of them); rank 0's
  metrics reach Tune (TRL gathers its metrics across ranks; radas's own, such as
  ``percent_correct``, are averaged over the ranks first, so every rank's stop rules see the same
  numbers and stop at the same step), with ``world_size``.
* **Checkpoints**: rank 0's checkpoint folder is persisted by Ray Train in the trial's folder
  (``<trial>/train/checkpoint_*``), its path reported as ``checkpoint_path``.
* **Failures**: a worker that dies fails the trial at once (no rank waits for it forever); one
  that runs out of memory (its own error, or killed by Ray's memory monitor) fails it with
  :class:`~radas.errors.WorkerOutOfMemoryError`, so the retry takes a smaller micro-batch or more
  workers; one killed by the kernel (its OOM killer, a SIGKILL) is retried as any failure. Tune
  retries the trial (``max_failures``), and the new driver's ``TorchTrainer`` - same storage,
  same name - resumes every rank from the last checkpoint. ``run_choice="restore"`` does the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from radas.errors import RadasValueError, WorkerOutOfMemoryError
from radas.grpo._callback import Reporter, reported_metrics
from radas.grpo._stopping import SATURATED, STOP_REASON

# the name of a trial's Ray Train run, in the trial's own folder: stable across retries and restores
RUN_NAME = "train"
WORLD_SIZE = "world_size"
CHECKPOINT_PATH = "checkpoint_path"


def run_distributed(config: Mapping[str, Any], workers: int, train: Callable[..., Any]) -> None:
    """In a Tune trial: train ``config`` on ``workers`` Ray Train workers, each running
    ``train(config, reporter, resume_dir=...)`` (``radas.grpo``'s ``run_grpo``), and forward rank
    0's reports to Tune; returns when the Train run ends (raises when it failed)."""
    import ray.train
    import ray.tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from radas import _ray
    from radas.sweep import trial_secrets_loader, worker_resources

    share = worker_resources()
    gpu = share["GPU"]
    forward: Any = TuneReportCallback()  # Ray Train's callback (typed as Tune's by Ray's stubs)
    trainer = TorchTrainer(
        _worker_loop(train, trial_secrets_loader(), _ray.trial_folder()),
        train_loop_config=dict(config),
        scaling_config=ray.train.ScalingConfig(
            num_workers=workers, use_gpu=gpu > 0,
            resources_per_worker={"CPU": share["CPU"], **({"GPU": gpu} if gpu > 0 else {})}),
        torch_config=TorchConfig(backend="nccl" if gpu > 0 else "gloo"),
        run_config=ray.train.RunConfig(
            name=RUN_NAME, storage_path=trial_storage(),
            callbacks=[forward],
            # one retry budget: the trial's (Tune's max_failures); a retried trial resumes here
            failure_config=ray.train.FailureConfig(max_failures=0),
        ),
    )
    try:
        trainer.fit()
    except ray.train.WorkerGroupError as exc:
        memory = _out_of_memory(exc)
        if memory is None:
            raise
        raise memory from exc


def _out_of_memory(error: Any) -> WorkerOutOfMemoryError | None:
    """A :class:`~radas.errors.WorkerOutOfMemoryError` naming the first worker that ran out of
    memory — its own error, or Ray's memory monitor killing it (a failed health check whose
    cause is Ray's ``OutOfMemoryError``) — so the sweep's out-of-memory retry applies; None
    otherwise."""
    from radas import _ray
    from radas.sweep import is_out_of_memory

    failures = dict(getattr(error, "worker_failures", None) or {})
    for rank, failure in sorted(failures.items()):
        for cause in _ray.failure_causes(failure):
            if is_out_of_memory(cause):
                return WorkerOutOfMemoryError(f"training worker {rank} of the trial ran out of memory: "
                                              f"{type(cause).__name__}: {cause}")
    return None


def trial_storage() -> str:
    """The trial's own folder on the sweep's storage (the experiment folder, shared with a
    cluster's nodes), where its Train run keeps checkpoints a retry or a restore finds again."""
    import ray.tune

    from radas import _ray

    return _ray.trial_folder() or ray.tune.get_context().get_trial_dir()


def _worker_loop(train: Callable[..., Any], load_secrets: Callable[[], None],
                 trial_folder: str | None) -> Callable[[dict[str, Any]], None]:
    """The function every Ray Train worker runs: the sweep's secrets into its environment first
    (as the trial's own process has them), then training, resumed from Ray Train's checkpoint if
    any, rank 0 keeping sample completions in the trial's folder (when its storage is a filesystem).

    Ray Train keeps a checkpoint before its report reaches Tune: a trial stopped in between would
    lose that step's result (or end on the step before its final model). A resumed run therefore
    reports its checkpoint's step again first, with the checkpoint's ``checkpoint_path`` (a report
    Tune had is then there twice; the sweep's results log keeps it once); resumed from a final
    model or from the checkpoint of a step a stop rule ended, that is all (training is done). Rank
    0 reads the checkpoint and tells the others, so every rank reports as often; metrics that
    cannot be read, or without a step: no report."""

    def loop(config: dict[str, Any]) -> None:
        import ray.train

        load_secrets()
        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            train(config, train_reporter, samples_dir=trial_folder)
            return
        with checkpoint.as_directory() as resume_dir:
            done, again = _from_rank_0(lambda: _resumed_at(resume_dir))
            if again is not None:
                train_reporter({**again, CHECKPOINT_PATH: checkpoint.path})
            if not done:
                train(config, train_reporter, resume_dir=resume_dir, samples_dir=trial_folder)

    return loop


def _resumed_at(resume_dir: str) -> tuple[bool, dict[str, Any] | None]:
    """Whether the checkpoint in ``resume_dir`` ends training (a final model, or a stop rule's
    step), and the metrics to report again for it (None: none that can be read with a step)."""
    from radas.grpo._export import final_metrics, is_final_model  # _export reads this module's names

    final = is_final_model(resume_dir)
    metrics = final_metrics(resume_dir) if final else reported_metrics(resume_dir)
    step = (metrics or {}).get("step")
    if metrics is None or isinstance(step, bool) or not isinstance(step, (int, float)):
        return final, None
    metrics.pop(SATURATED, None)  # said once, when it was first reported
    return final or STOP_REASON in metrics, metrics


def _from_rank_0(read: Callable[[], Any]) -> Any:
    """``read()`` on rank 0, its value given to every rank (as is outside distributed training)."""
    rank, size = world()
    if size <= 1:
        return read()
    import torch.distributed as dist

    value = [read() if rank == 0 else None]
    dist.broadcast_object_list(value, src=0)
    return value[0]


def train_reporter(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    """Report one logged step from a Ray Train worker: every rank reports (Ray Train waits for
    all), only rank 0 with its checkpoint folder."""
    import ray.train

    context = ray.train.get_context()
    keep = checkpoint_dir if checkpoint_dir and context.get_world_rank() == 0 else None
    checkpoint = ray.train.Checkpoint.from_directory(keep) if keep else None
    ray.train.report({**metrics, WORLD_SIZE: context.get_world_size()}, checkpoint=checkpoint)


def tune_reporter_with_world(reporter: Reporter) -> Reporter:
    """``reporter`` with ``world_size`` 1 added: a trial that trains in its own process."""

    def report(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        reporter({**metrics, WORLD_SIZE: 1}, checkpoint_dir)

    return report


def world() -> tuple[int, int]:
    """This process's (rank, world size) in torch.distributed; (0, 1) outside distributed training."""
    try:
        import torch.distributed as dist
    except ImportError:
        return 0, 1
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return int(dist.get_rank()), int(dist.get_world_size())


def averaged_over_ranks(metrics_fn: Callable[[], Mapping[str, float]]) -> Callable[[], dict[str, float]]:
    """``metrics_fn`` whose numbers are averaged over the ranks of distributed training (each rank
    scored its own share of the rollout, of the same size), so every rank reports and judges the
    same values; unchanged in a single process. Every rank must call it at the same steps (they
    do: at each logged step)."""

    def averaged() -> dict[str, float]:
        values = dict(metrics_fn())
        _, size = world()
        if size <= 1:
            return values
        import torch.distributed as dist

        gathered: list[Any] = [None] * size
        dist.all_gather_object(gathered, values)
        keys = sorted({k for part in gathered for k in part})
        return {k: sum(float(part[k]) for part in gathered if k in part) / sum(k in part for part in gathered)
                for k in keys}

    return averaged


def check_workers(workers: int, cpu_per_trial: float, gpu_per_trial: float) -> None:
    """Errors before anything starts: several GPUs for one worker (TRL trains a model on one
    device per process), or a fraction of a GPU per worker when there are several (NCCL needs a
    GPU per rank)."""
    if workers == 1 and gpu_per_trial > 1:
        raise RadasValueError(
            f"gpu_per_trial={gpu_per_trial:g} with config['num_workers'] = 1: TRL trains on one GPU per process; "
            f"to use {gpu_per_trial:g} GPUs per trial set num_workers={int(gpu_per_trial)} with gpu_per_trial=1 "
            "(one data-parallel worker per GPU)")
    if workers > 1 and 0 < gpu_per_trial < 1:
        raise RadasValueError(
            f"gpu_per_trial={gpu_per_trial:g} with config['num_workers'] = {workers}: each of a trial's workers "
            "needs whole GPUs (NCCL runs one rank per GPU); use gpu_per_trial=1, or num_workers=1 to pack "
            "trials on a GPU")
    if workers > 1 and gpu_per_trial > 1:
        raise RadasValueError(
            f"gpu_per_trial={gpu_per_trial:g} with config['num_workers'] = {workers}: gpu_per_trial is each "
            f"worker's share and a worker trains on one GPU; use gpu_per_trial=1 and num_workers="
            f"{workers * int(gpu_per_trial)}")
