"""``grpo_trainable``: one GRPO fine-tuning run (TRL's ``GRPOTrainer``) as a Ray Tune trial."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from radas.errors import RadasValueError
from radas.grpo._callback import Reporter, make_callback, read_state, tune_reporter
from radas.grpo._config import (
    DEFAULTS,
    grpo_config_field_names,
    is_search_space,
    require_concrete,
    rollout_and_micro_batch,
    validate_grpo_config,
)
from radas.grpo._dataset import build_dataset, completion_budget, normalize_prompts, prompt_lengths
from radas.grpo._deps import require
from radas.grpo._distributed import averaged_over_ranks, run_distributed, tune_reporter_with_world, world
from radas.grpo._distributed import check_workers as check_worker_resources
from radas.grpo._engine import (
    VLLM_WHOLE_GPU_SHARE,
    Engine,
    choose_engine,
    engine_fields,
    gpu_share,
    prepare_process,
    vllm_installed,
    vllm_memory_errors,
)
from radas.grpo._export import final_model_saver, is_final_model, say_final_model_disk
from radas.grpo._files import read_prompt_file, resolve_path, validate_prompt_file
from radas.grpo._model import Device, load_model, load_tokenizer, model_path, pick_device
from radas.grpo._plan import candidates, plan_gpu_per_trial, vllm_memory_share
from radas.grpo._release import DISTRIBUTED_ENV, build_one_at_a_time, release, restore_env
from radas.grpo._reward_model import (
    check_names,
    check_reward_model,
    load_reward_model,
    reward_model_name,
    reward_model_paths,
    reward_model_sets,
)
from radas.grpo._reward_runner import RewardRunner, validate_reward_file
from radas.grpo._rewards import make_adapters
from radas.grpo._stopping import StopRules
from radas.grpo._tiny import TINY_NAME
from radas.sweep import DRIVER_BUNDLE
from radas.utils import set_seed

logger = logging.getLogger("radas")

# radas module, its init / log / finish functions, for each tracker key of the trial config.
_TRACKERS = {
    "wandb": ("radas.rwandb", "rwandb_init", "rwandb_log", "rwandb_finish"),
    "swanlab": ("radas.rswanlab", "rswanlab_init", "rswanlab_log", "rswanlab_finish"),
}


@contextlib.contextmanager
def _trackers(config: Mapping[str, Any]) -> Iterator[list[Callable[[dict[str, Any]], None]]]:
    """Start the W&B / SwanLab runs asked for in ``config``; yield their log functions; finish them."""
    sinks: list[Callable[[dict[str, Any]], None]] = []
    finishers: list[Callable[[], Any]] = []
    for key, (module_name, init, log, finish) in _TRACKERS.items():
        if key not in config:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            logger.warning("radas.grpo: config has %r but %s is not available; not logging there", key, module_name)
            continue
        getattr(module, init)(config)
        step_log = getattr(module, log)

        def sink(metrics: dict[str, Any], _log: Callable[..., Any] = step_log) -> None:
            _log(metrics, step=metrics.get("step"))

        sinks.append(sink)
        finishers.append(getattr(module, finish))
    try:
        yield sinks
    finally:
        for fin in finishers:
            try:
                fin()
            except Exception:
                logger.exception("radas.grpo: finishing a metrics logger failed")


def grpo_args(
    cfg: Mapping[str, Any], output_dir: str, device: Device, max_completion_length: int,
    engine: Engine | None = None, prompt_length: int | None = None, world_size: int = 1, vllm_share: float = 0.0,
) -> Any:
    """The ``trl.GRPOConfig`` of a normalized radas GRPO config.

    One optimizer step per rollout: ``rollout_batch_size * n_samples_per_prompt`` completions are
    generated, then trained on in micro-batches of ``per_device_train_batch_size`` (a
    ``grpo_config_overrides`` field, default ``n_samples_per_prompt``) with gradient accumulation.
    ``engine`` (default ``"transformers"``) adds its fields, for prompts of at most
    ``prompt_length`` tokens (vLLM with ``vllm_share`` of the GPU). With ``world_size``
    data-parallel ranks (``num_workers``), each rank accumulates its share: one optimizer step
    still sees one rollout.
    """
    trl = require("trl")
    overrides = dict(cfg["grpo_config_overrides"])
    n = cfg["n_samples_per_prompt"]
    generation_batch = cfg["rollout_batch_size"] * n
    micro = overrides.pop("per_device_train_batch_size", None) or n  # divides the rollout: checked with the config
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        "learning_rate": cfg["learning_rate"],
        "lr_scheduler_type": cfg["lr_scheduler_type"],
        "weight_decay": cfg["weight_decay"],
        "adam_beta1": cfg["adam_beta1"],
        "adam_beta2": cfg["adam_beta2"],
        "beta": cfg["kl_beta"],
        "num_generations": n,
        "per_device_train_batch_size": micro,
        "gradient_accumulation_steps": generation_batch // (micro * world_size),
        "max_completion_length": max_completion_length,
        "temperature": cfg["rollout_temperature"],
        "epsilon": cfg["eps_clip"],
        "epsilon_high": cfg["eps_clip_high"],
        "seed": cfg["seed"],
        "num_train_epochs": cfg["epochs"],
        "max_steps": cfg["max_steps"] or -1,
        "logging_strategy": "steps",
        "logging_steps": cfg["logging_steps"],
        "save_strategy": "steps" if cfg["checkpoint_every"] else "no",
        "save_steps": cfg["checkpoint_every"] or 500,
        "save_total_limit": 1,
        "report_to": "none",
        "use_cpu": device.type == "cpu",
        "bf16": device.bf16,
        "disable_tqdm": True,
        "logging_nan_inf_filter": False,  # a NaN loss is logged as NaN (the stop rules see it), not hidden
    }
    if cfg["reward_weights"] is not None:
        kwargs["reward_weights"] = list(cfg["reward_weights"])
    if device.tf32:
        kwargs["tf32"] = True
    if world_size > 1:  # every parameter gets a gradient in GRPO: DDP's extra graph walk finds nothing
        kwargs["ddp_find_unused_parameters"] = False
    fields = {f.name for f in dataclasses.fields(trl.GRPOConfig)}
    # transformers >= 5 takes the warmup ratio as a float warmup_steps < 1; older ones as warmup_ratio.
    kwargs["warmup_ratio" if "warmup_ratio" in fields else "warmup_steps"] = cfg["warmup_ratio"]
    user_set = {"activation_checkpointing", "gradient_checkpointing"} & set(overrides)
    if cfg["model"] == TINY_NAME and not user_set:  # saves nothing on a tiny model, and is slower
        name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
        kwargs[name] = False
    if engine is not None:
        kwargs.update(engine_fields(
            engine, fields, overrides, sequences=generation_batch, vllm_share=vllm_share,
            sequence_length=(prompt_length or 0) + max_completion_length if prompt_length else cfg["max_seq_length"],
            prompt_length=prompt_length or cfg["max_seq_length"],
        ))
        if engine.name == "paged":  # merged into the engine's settings above
            overrides.pop("transformers_continuous_batching_config", None)
    kwargs.update(overrides)
    try:
        return trl.GRPOConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise RadasValueError(f"the GRPO settings are inconsistent: {exc}") from exc


def lora_config(cfg: Mapping[str, Any]) -> Any:
    """A ``peft.LoraConfig`` on all linear layers when ``lora_rank > 0``, else None."""
    rank = cfg["lora_rank"]
    if not rank:
        return None
    peft = require("peft")
    alpha = cfg["lora_alpha"] if cfg["lora_alpha"] is not None else 2 * rank
    return peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear",
                           task_type="CAUSAL_LM")


def run_grpo(config: Mapping[str, Any], reporter: Reporter, resume_dir: str | None = None,
             keep_trainer: bool = False, samples_dir: str | None = None) -> Any:
    """Train with GRPO as ``config`` says, reporting to ``reporter``; resume from ``resume_dir`` if
    given; keep sample completions (:class:`radas.sweep.SampleLog`) in ``samples_dir`` (the
    trial's folder) if given, from rank 0.

    Whatever happens, the run lets go of what it holds when it ends: its reward workers, the
    trainer and the model (GPU memory back to the process's neighbours, vLLM's engine shut down),
    and the distributed-training variables TRL set (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``), so the next trial of a reused worker starts clean. Returns
    the trainer with ``keep_trainer`` (tests, notebooks), else None.
    """
    cfg = validate_grpo_config(config)
    require_concrete(cfg, "grpo_trainable")
    if is_final_model(resume_dir):  # retried after its final report: its training is done
        logger.info("radas.grpo: the trial's last checkpoint is its final model: training is done")
        return None
    saved_env = {name: os.environ.get(name) for name in DISTRIBUTED_ENV}
    runner = RewardRunner(cfg["reward_file"], cfg["reward_workers"], cfg["reward_timeout_s"],
                          cfg["reward_concurrency"])
    made: dict[str, Any] = {}
    try:
        _train(cfg, config, reporter, resume_dir, runner, made, samples_dir)
        return made.get("trainer") if keep_trainer else None
    finally:
        runner.close()
        release(None if keep_trainer else made.pop("trainer", None))  # _train's frame is gone by now
        restore_env(saved_env)


def _train(cfg: Mapping[str, Any], config: Mapping[str, Any], reporter: Reporter, resume_dir: str | None,
           runner: RewardRunner, made: dict[str, Any], samples_dir: str | None) -> None:
    """The training of :func:`run_grpo`; the trainer goes into ``made["trainer"]`` as soon as it exists."""
    from radas.sweep import SampleLog

    trl = require("trl")
    transformers = require("transformers")
    set_seed(cfg["seed"])
    records = read_prompt_file(cfg["prompt_file"])
    prompt_path = str(resolve_path(cfg["prompt_file"], "prompt_file"))
    if len(records) < cfg["rollout_batch_size"]:
        raise RadasValueError(
            f"rollout_batch_size = {cfg['rollout_batch_size']} but prompt_file {prompt_path!r} has only "
            f"{len(records)} prompts; lower rollout_batch_size to at most {len(records)}"
        )
    overrides = cfg["grpo_config_overrides"]
    base_device = pick_device(overrides)
    engine = choose_engine(cfg["generation"], base_device.type, grpo_config_field_names() or frozenset())
    device = base_device.for_engine(engine.name, overrides)
    model_name = model_path(cfg["model"])
    tokenizer = load_tokenizer(model_name)
    prompts = normalize_prompts(records, tokenizer, prompt_path, cfg["apply_chat_template"])
    lengths = prompt_lengths(prompts, tokenizer)
    budget = completion_budget(lengths, records, cfg["max_seq_length"], cfg["rollout_max_response_len"],
                               prompt_path)
    model = load_model(
        model_name, tokenizer, device.weights_dtype(trained_in_full=not cfg["lora_rank"]), cfg["seed"],
        cfg["max_seq_length"], overrides.get("model_init_kwargs"),
    )
    logger.info("radas.grpo: %s on %s, weights in %s, bf16 autocast: %s, generation: %s (%s)", model_name,
                device.type, model.dtype, device.bf16, engine.name, engine.why)
    dataset = build_dataset(records, prompts)
    reward_models = [load_reward_model(path) for path in reward_model_paths(cfg["reward_model"])]
    adapters, book = make_adapters(runner, cfg["reward_weights"], prompt_path, cfg["correct_threshold"],
                                   cfg["n_samples_per_prompt"], reward_models,
                                   lambda: (made["trainer"].accelerator.device, bool(made["trainer"].args.bf16)))
    prepare_process(engine)
    vllm_share, vllm_sizing = _vllm_share(cfg, model_name) if engine.name == "vllm" else (0.0, "")
    if engine.name == "vllm":
        logger.info("radas.grpo: %s", vllm_sizing)
    output_dir = tempfile.mkdtemp(prefix="radas-grpo-")
    try:
        if model_name == TINY_NAME:
            # TRL builds the KL reference model and vLLM its engine from the policy's `name_or_path`:
            # give the tiny one a folder.
            initial = os.path.join(output_dir, "tiny-initial")
            model.save_pretrained(initial)
            tokenizer.save_pretrained(initial)
            model.config._name_or_path = initial
        rank, world_size = world()
        with _trackers(config if rank == 0 else {}) as sinks:  # one tracker run per trial: rank 0's
            callback = make_callback(reporter, book.state, sinks, averaged_over_ranks(book.take_metrics),
                                     StopRules.from_config(cfg["early_stopping"]),
                                     final_model_saver(lambda: made["trainer"], bool(cfg["lora_rank"]))
                                     if cfg["keep_final_model"] else None,
                                     SampleLog(samples_dir if rank == 0 else None, book.take_samples))

            def build() -> Any:
                return trl.GRPOTrainer(
                    model=model,
                    reward_funcs=adapters,
                    args=grpo_args(cfg, output_dir, device, budget, engine, max(lengths), world_size, vllm_share),
                    train_dataset=dataset,
                    processing_class=tokenizer,
                    peft_config=lora_config(cfg),
                    callbacks=[callback],
                )

            if engine.name == "vllm":
                with vllm_memory_errors(vllm_sizing, more_can_help=gpu_share() < 1):
                    trainer = made["trainer"] = build_one_at_a_time(build)
            else:
                trainer = made["trainer"] = build()
            trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
            if resume_dir is not None:
                book.load_state(read_state(resume_dir))
                logger.info("radas.grpo: resuming from %s", resume_dir)
            with _frozen_gc(engine.name == "paged"):
                trainer.train(resume_from_checkpoint=resume_dir)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def _vllm_share(cfg: Mapping[str, Any], model_name: str) -> tuple[float, str]:
    """vLLM's ``vllm_gpu_memory_utilization`` on this trial's GPU share, from the memory plan
    (:func:`radas.grpo._plan.vllm_memory_share`), and the sizing in words; when no plan can be made
    (the model's config cannot be read), 0.3 (TRL's default for a whole GPU) x the share."""
    torch = require("torch")
    share = gpu_share()
    gpu_bytes = int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)
    try:
        return vllm_memory_share({**cfg, "model": model_name}, share, gpu_bytes)
    except Exception as exc:  # noqa: BLE001 - a plan that cannot be made must not end the trial
        fraction = max(0.01, round(VLLM_WHOLE_GPU_SHARE * min(share, 1.0), 4))
        return fraction, f"vllm_gpu_memory_utilization={fraction:g}, 0.3 x its GPU share {share:g} ({exc})"


@contextlib.contextmanager
def _frozen_gc(freeze: bool) -> Iterator[None]:
    """Move the objects alive now out of the garbage collector's sight while training.

    transformers' continuous batching runs ``gc.collect()`` twice per rollout; with the model,
    TRL and torch loaded, each full collection takes about a second. Frozen, those objects are
    skipped (about 15x faster on the CPU) and are released to the collector again at the end.
    """
    if not freeze:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def grpo_trainable(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: GRPO fine-tuning with TRL's ``GRPOTrainer``.

    Trains on the trial's GPU when it has one, with bf16 mixed precision (float32 weights for full
    fine-tuning, a bf16 frozen base for LoRA), else on the CPU in float32, generating with the
    ``generation`` engine. Reports TRL's full metric set under radas's names (``reward_mean``,
    ``frac_reward_zero_std``, ``entropy``, ``clip_ratio_region``, ``completion_clipped_ratio``,
    ``kl``, ``step_time``, ``reward/<function>``...; see :mod:`radas.grpo`), ``percent_correct``
    and ``tokens_per_s`` every ``logging_steps`` steps, and a checkpoint every
    ``checkpoint_every`` steps and at the end. Its last checkpoint is its final model
    (``keep_final_model``, the default: the adapter or the weights and the tokenizer, for
    :func:`radas.grpo.load_model`). With ``early_stopping`` a dead run ends early
    with ``stop_reason`` in its last report. A restored trial (``ray.tune.get_checkpoint()``)
    continues from its checkpoint's step with the saved model, optimizer and scheduler. See
    :mod:`radas.grpo` for the config keys.
    """
    from ray import tune

    workers = workers_of(config)
    if workers > 1:
        run_distributed(config, workers, run_grpo)
        return
    from radas import _ray

    reporter = tune_reporter_with_world(tune_reporter)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        run_grpo(config, reporter, samples_dir=_ray.trial_folder())
        return
    with checkpoint.as_directory() as resume_dir:
        run_grpo(config, reporter, resume_dir=resume_dir, samples_dir=_ray.trial_folder())


def _file_values(value: Any) -> list[Any]:
    """The concrete values of a config value: the value, or every value of a grid search."""
    if isinstance(value, Mapping) and set(value) == {"grid_search"}:
        return list(value["grid_search"])
    return [value] if isinstance(value, (str, os.PathLike, list, tuple)) else []


def _concrete(config: Mapping[str, Any], key: str) -> Any:
    """``config[key]``, or its default while it is still a search space (the check runs once)."""
    return DEFAULTS[key] if is_search_space(config[key]) else config[key]


def check_param_space(param_space: Mapping[str, Any]) -> None:
    """Check a GRPO sweep's ``param_space`` on the driver, before any trial starts: the config
    keys and values (search spaces accepted), every prompt file, every reward file (called on
    sample lines of the prompt file), every reward model folder (its config, weights and
    tokenizer there; no weights read) and ``reward_weights`` against the number of rewards. Says
    how much disk the trials' final models will take (``keep_final_model``).
    ``radas.run_experiment`` calls this by itself."""
    config = validate_grpo_config(param_space)
    prompt_files = [p for p in _file_values(config["prompt_file"]) if isinstance(p, (str, os.PathLike))]
    summaries = [validate_prompt_file(prompt_file) for prompt_file in prompt_files]
    weights = [w for w in _file_values(config["reward_weights"]) if w is None or isinstance(w, (list, tuple))]
    model_sets = reward_model_sets(config["reward_model"])
    chat = _concrete(config, "apply_chat_template") is True or any(summary.conversational for summary in summaries)
    for folder in sorted({f for models in model_sets for f in models}):
        check_reward_model(folder, chat)
    files = _file_values(config["reward_file"]) if config["reward_file"] is not None else [None]
    for reward_file in files:
        functions = [] if reward_file is None else list(validate_reward_file(
            reward_file, prompt_file=prompt_files[0] if prompt_files else None,
            apply_chat_template=_concrete(config, "apply_chat_template"),
            reward_workers=_concrete(config, "reward_workers"),
            reward_timeout_s=_concrete(config, "reward_timeout_s"),
            reward_concurrency=_concrete(config, "reward_concurrency")))
        for models in model_sets:
            if reward_file is None and not models:
                raise RadasValueError("config has no reward: a reward_model value is None while reward_file is None; "
                                      "give a reward_file or a reward_model folder for every trial")
            names = functions + [reward_model_name(m) for m in models]
            check_names(names)
            for w in weights:
                if w is not None and len(w) != len(names):
                    raise RadasValueError(
                        f"config['reward_weights'] = {list(w)} has {len(w)} weight(s) but reward_file "
                        f"{reward_file!r} provides {len(functions)} reward function(s) ({', '.join(functions)})"
                        + (f" and reward_model {len(models)} model(s) ({', '.join(names[len(functions):])})"
                           if models else "") + "; give one weight each")
    say_final_model_disk(param_space)


def retry_after_out_of_memory(config: dict[str, Any], resources: dict[str, float]
                              ) -> tuple[dict[str, Any] | None, dict[str, float] | None] | None:
    """How a GRPO trial that ran out of memory is retried. Sharing a GPU: with twice its share,
    up to the whole GPU. On a whole GPU (TRL trains on one GPU per process: more GPUs for the
    process would not help): with half the micro-batch (``grpo_config_overrides
    ["per_device_train_batch_size"]``; the gradient accumulation doubles, so each optimizer step
    sees the same completions). A trial of several workers (``num_workers``; ``resources`` are
    each worker's): with half the micro-batch, else with twice the workers when the cluster's
    alive nodes hold the CPUs and GPUs of twice as many (each generates, scores and trains half
    as much of the rollout; sharded state divides further). On the CPU: as radas retries any
    trial (more CPUs)."""
    workers = workers_of(config)
    if workers > 1:
        return retry_with_more_workers(config, workers, resources, _cluster_totals())
    gpu = float(resources.get("GPU", 0.0))
    if 0 < gpu < 1:
        return None, {**resources, "GPU": min(1.0, 2 * gpu)}
    if gpu == 0:
        return None
    smaller = _smaller_micro_batch(config, 1)
    return (smaller, None) if smaller is not None else (None, None)  # else one sequence per micro-batch already


def retry_with_more_workers(config: dict[str, Any], workers: int, each: Mapping[str, float],
                            cluster: Mapping[str, float]) -> tuple[dict[str, Any] | None, None]:
    """:func:`retry_after_out_of_memory` of a trial of ``workers`` workers of ``each`` CPUs and
    GPUs on a cluster of ``cluster`` CPUs and GPUs (its alive nodes): half the micro-batch, else
    twice the workers when the cluster can ever hold them and their driver (a worker group it
    cannot place would wait forever) and the rollout still divides among them (as the config
    check asks), else nothing to change."""
    smaller = _smaller_micro_batch(config, workers)
    if smaller is not None:
        return smaller, None
    more = 2 * workers
    fits = all(float(cluster.get(k, 0.0)) + 1e-9 >= more * float(each.get(k, 0.0)) + float(DRIVER_BUNDLE.get(k, 0.0))
               for k in ("CPU", "GPU"))
    rollout, micro = rollout_and_micro_batch(config)
    if fits and rollout % (micro * more) == 0:
        return {**config, "num_workers": more}, None
    return None, None


def _smaller_micro_batch(config: dict[str, Any], workers: int) -> dict[str, Any] | None:
    """``config`` with the largest micro-batch below its own that splits the rollout among the
    ``workers`` evenly; None when there is none."""
    batch, micro = rollout_and_micro_batch(config)
    smaller = next((m for m in range(micro // 2, 0, -1) if batch % (m * workers) == 0), None)
    if smaller is None:
        return None
    overrides = dict(config.get("grpo_config_overrides") or {})
    return {**config, "grpo_config_overrides": {**overrides, "per_device_train_batch_size": smaller}}


def _cluster_totals() -> dict[str, float]:
    """The CPUs and GPUs of the connected Ray cluster's alive nodes ({} when not connected)."""
    import ray

    if not ray.is_initialized():
        return {}
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    return {k: sum(float(n.get(k, 0.0)) for n in nodes) for k in ("CPU", "GPU")}


def needs_fresh_workers(param_space: Mapping[str, Any]) -> bool:
    """True when trials may start vLLM (``generation`` "vllm", or "auto" where vLLM is installed):
    vLLM allows one engine per process, so such trials never share a worker process."""
    value = param_space.get("generation", DEFAULTS["generation"])
    if isinstance(value, Mapping) and set(value) == {"grid_search"}:
        values = list(value["grid_search"])
    else:
        values = list(getattr(value, "categories", None) or [value])
    return any(v == "vllm" or (v == "auto" and vllm_installed()) for v in values)


# The stall watchdog's default for GRPO trials (run_experiment's stall_timeout_s left None): the
# time to the end of the first optimizer step (model download and load, engine start, warm-up),
# then STALL_STEPS x the slowest optimizer step so far, never less than STALL_FLOOR_S.
STALL_START_S = 1800.0
STALL_FLOOR_S = 600.0
STALL_STEPS = 5.0


def default_stall_timeout_s(slowest_step_s: float | None) -> float:
    """How long a GRPO trial may go without progress (a report or an optimizer step) before the
    stall watchdog ends it: :data:`STALL_START_S` until its first step has ended, then
    ``max(STALL_FLOOR_S, STALL_STEPS x slowest_step_s)``."""
    if slowest_step_s is None:
        return STALL_START_S
    return max(STALL_FLOOR_S, STALL_STEPS * slowest_step_s)


def workers_of(config: Mapping[str, Any]) -> int:
    """How many training workers a trial of ``config`` starts (``num_workers``; 1: none)."""
    return int(config.get("num_workers", DEFAULTS["num_workers"]))


def check_workers(param_space: Mapping[str, Any], cpu_per_trial: float, gpu_per_trial: float) -> None:
    """Before anything starts: the trials' ``num_workers`` (every value of a grid search or a
    choice, both ends of a range; a ``sample_from`` cannot be known) can run with
    ``gpu_per_trial`` GPUs each (:func:`radas.grpo._distributed.check_workers`)."""
    try:
        values = candidates(param_space.get("num_workers", DEFAULTS["num_workers"]))
    except RadasValueError:
        values = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            check_worker_resources(value, cpu_per_trial, gpu_per_trial)


grpo_trainable.check_param_space = check_param_space  # type: ignore[attr-defined]
grpo_trainable.workers = workers_of  # type: ignore[attr-defined]
grpo_trainable.check_workers = check_workers  # type: ignore[attr-defined]
grpo_trainable.default_stall_timeout_s = default_stall_timeout_s  # type: ignore[attr-defined]
grpo_trainable.plan_gpu_per_trial = plan_gpu_per_trial  # type: ignore[attr-defined]
grpo_trainable.retry_after_out_of_memory = retry_after_out_of_memory  # type: ignore[attr-defined]
grpo_trainable.needs_fresh_workers = needs_fresh_workers  # type: ignore[attr-defined]
