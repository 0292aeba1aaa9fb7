"""GRPO fine-tuning sweeps on Ray Tune, with TRL's ``GRPOTrainer``.

:func:`grpo_trainable` is a Ray Tune function trainable: pass it to ``radas.run_experiment`` (or a
``ray.tune.Tuner``) with a ``param_space`` of the keys below. Files use the hosted RL API's
formats: the prompt file is JSONL, one object per line with ``prompt`` (a list of chat messages
``{"role", "content"}`` or a plain string) and any extra fields (``prompt`` and ``completion`` are
reserved: :data:`RESERVED_FIELDS`); the reward file is a Python file defining
``reward_fn(completion, **kwargs) -> float``, where ``completion`` is a list of messages
(``completion[0]["content"]`` is the generated text) and ``kwargs`` holds the line's extra fields.
Check both on the driver with :func:`validate_prompt_file` / :func:`validate_reward_file`, the
config with :func:`validate_grpo_config`, and the whole chain with :func:`test_inference`.

Reward files as users bring them: ``reward_fn`` may return ``(reward, {"name": number, ...})``
(the numbers are reported as ``reward_info/<name>``), or None where it does not apply (TRL's
rule: left out of the sums and means); a file may define ``reward_fns`` (a list or dict of
functions) instead; ``"file.py:function"`` picks one function; ``reward_file`` may be a list of
these, summed with ``reward_weights`` (TRL's) and reported each as ``reward/<name>``. The reward
file's folder is put first on ``sys.path`` before it is imported, so a helper module next to it
imports. TRL's batch form ``f(completions, **kwargs) -> list`` (a parameter named
``completions``) gets ``prompts``, ``completions``, every extra field as a list and TRL's keyword
arguments; its ``trainer_state`` is the run's progress under TRL's ``TrainerState`` names
(``global_step``, ``max_steps``, ``epoch``, ``num_train_epochs``, ``num_input_tokens_seen``), without
the ``log_history``. Reward functions run in ``reward_workers`` worker processes per trial, each
call in a worker's main thread (``math_verify``'s signal-based timeouts work), with
``reward_timeout_s`` per call; ``async def`` ones on one event loop per worker for the whole run (a
module-level client works), the async functions of a step together, as TRL runs them,
``reward_concurrency`` calls at a time per worker. A reward file is imported once in each process
that scores with it: each reward worker (the trial's own process only with ``reward_workers=0``),
and, for :func:`validate_reward_file`, one throwaway worker without a GPU, never the driver; the
import may take the larger of 600 s and ``reward_timeout_s`` (a reward model loaded at import).
Module-level state (a cache, a counter) is per worker: ``reward_workers=1`` keeps it whole for the
trial. A timeout ends the worker with what its reward started (a sandbox's subprocess), and
workers end with their trial's process, even one killed mid-call. Prompts and completions take
TRL's standard format: plain-string prompts stay text unless ``apply_chat_template``.

Config keys (defaults from the hosted RL API's ``create_run`` and slime's ``SlimeRunner``): the
fields of :class:`GRPOTrialConfig`, listed at the end of this docstring.

A trial trains on its GPU when it has one (give it one, e.g. with
``tune.with_resources(grpo_trainable, {"gpu": 1})``), with bf16 mixed precision (float32
weights for full fine-tuning, a bf16 frozen base for LoRA), else on the CPU in float32.
``wandb`` / ``swanlab`` blocks, which radas puts into trial configs, are accepted and turn on
logging through :mod:`radas.rwandb` / ``radas.rswanlab``. The rollout produces
``rollout_batch_size * n_samples_per_prompt`` completions per optimizer step, trained on in
micro-batches of ``grpo_config_overrides["per_device_train_batch_size"]`` (default
``n_samples_per_prompt``).

Trials across GPUs or nodes (``num_workers`` k > 1): the Tune trial becomes a driver that starts
a Ray Train ``TorchTrainer`` of k workers (Ray's Train + Tune pattern), each with
``cpu_per_trial`` CPUs and ``gpu_per_trial`` GPUs (whole GPUs, one per worker), placed by Ray
Train across the nodes; each runs TRL's ``GRPOTrainer`` data-parallel through accelerate (NCCL on
GPUs, gloo on the CPU; FSDP or DeepSpeed through ``grpo_config_overrides`` where installed). One
optimizer step still sees one rollout of ``rollout_batch_size * n_samples_per_prompt``
completions, split across the ranks (it must divide by k x the micro-batch: checked before
anything starts). Rank 0 reports (TRL's metrics are gathered across ranks, radas's own averaged,
so every rank's stop rules agree) and checkpoints into the trial's folder (``checkpoint_path``);
every trial reports ``world_size``. A worker that dies fails the trial at once and Tune retries
it (``max_failures``): the new driver's Train run resumes every rank from the last checkpoint, as
``run_choice="restore"`` does. ``gpu_per_trial > 1`` with one worker is an error naming
``num_workers``. A user's own Ray Train trainable (a driver function that starts a
``TorchTrainer`` with ``TuneReportCallback``, as in Ray's guide) runs through
``run_experiment`` as it is.

Rollout engines (``generation``): ``"transformers"`` is ``model.generate``; ``"paged"`` is
transformers' continuous batching (TRL's ``use_transformers_continuous_batching``, transformers
>= 5.8), with a KV cache sized to the rollout, trained in float32 with TF32 matmuls on a GPU
(TRL would otherwise cast the policy to bf16 for good); ``"vllm"`` is TRL's vLLM colocate mode
with a rendezvous port of the trial's own, ``vllm_gpu_memory_utilization`` sized from the
memory plan (the room the trial's GPU share leaves beside what it keeps, at least the rollout's KV
cache) and sleep mode (vLLM's "too little memory" errors are :class:`radas.EngineOutOfMemoryError`,
retried with more memory); ``"auto"`` takes vLLM when it is installed and the trial has a GPU,
else ``"transformers"`` (faster than ``"paged"`` per step in radas's measurements, on an H100 and
on the CPU). A missing engine is an error naming the key and the install.

Metrics reported to Tune every ``logging_steps`` (TRL's names in brackets): ``reward_mean``
(reward), ``reward_std``, ``frac_reward_zero_std`` (share of prompt groups whose completions all
got the same reward), ``frac_groups_failed`` / ``frac_groups_solved`` (radas's: groups all of
whose completions got the same reward and none / all correct, whatever TRL's ``scale_rewards``:
no learning signal / nothing left to learn), ``percent_correct`` (radas's, below), ``loss``,
``grad_norm``, ``kl`` (only when ``kl_beta > 0``), ``entropy``, ``clip_ratio_low`` /
``clip_ratio_high`` / ``clip_ratio_region`` (clip_ratio/low_mean, high_mean, region_mean; also
``clip_ratio_low_min``, ``clip_ratio_high_max``), ``completion_length`` (+ ``_min``, ``_max``),
``completion_clipped_ratio`` (completions/clipped_ratio: share truncated at the length limit),
``terminated_length`` (+ ``_min``, ``_max``: lengths of the completions that ended), ``reward/<f>``
and ``reward_std/<f>`` per reward function (rewards/<f>/mean, std), ``reward_info/<name>``,
``learning_rate``, ``step_time`` (seconds per optimizer step), ``num_tokens`` (cumulative prompt +
completion tokens), ``epoch``, ``step`` (optimizer step), ``tokens_per_s`` (radas's: tokens per
second since the last report) and any other TRL log as ``trl/<name>``; a run stopped by
``early_stopping`` adds ``stop_reason`` to its last report. ``percent_correct`` is the share of
the step's completions that are correct, judged on the (weighted) reward: reward ``>=
correct_threshold`` when it is set; otherwise reward equal to the best reward seen so far in the
run (counted only once some reward has beaten the worst one, so 0 while all rewards are equal).
For 0/1 rewards set ``correct_threshold=1.0`` to get the plain accuracy. What the model wrote is
kept too: the best and the worst completion of the rollout (prompt, completion, reward) at the
first logged step of each power-of-two range of steps (1, 2-3, 4-7...) and at the last logged step,
in the trial's folder (:class:`radas.sweep.SampleLog`), shown on the report page for the sweep's
best and worst trial.

Early stopping (:class:`StopRules`; windows in optimizer steps): no learning signal
(``frac_groups_failed`` >= 0.95 for 20 steps), NaN/inf ``loss`` or ``grad_norm``, ``kl`` > 1.0
for 5 steps, a reward collapse (the 10-step moving average of ``reward_mean`` below its best by
more than 4 standard errors of that difference, estimated from the run's own reports, and by at
least 0.2, for 10 steps: a healthy run's noise is not a collapse, a fall to near 0 stops within
about 25 steps), an entropy collapse (``entropy`` < 0.01 for 20 steps) or runaway length
(``completion_clipped_ratio`` climbing to >= 0.95 for 20 steps). A saturated run
(``frac_groups_solved`` >= 0.95 for 20 steps) is said in a ``saturated`` column, and stopped only
with ``stop_on_saturation``. The no-signal and saturation rules judge completions correct, so
they need ``correct_threshold`` (1.0 for 0/1 rewards): without it, ``early_stopping`` is an
error before anything starts, unless both rules are turned off. On in each trial with
``early_stopping``, or on the driver with the :class:`GRPOEarlyStopping` scheduler (which wraps
another, e.g. ASHA); either way the DataFrame's ``stop_reason`` says why.

Packing (``gpu_per_trial="auto"``): :func:`plan_gpu_per_trial` (also
``grpo_trainable.plan_gpu_per_trial``) estimates a trial's GPU memory from the model's config
(:func:`estimate_trial_memory`, no weights loaded; reward models counted; per worker with
``num_workers`` > 1, dividing what FSDP / DeepSpeed ZeRO shard) and packs as many trials per GPU
as fit and as the CPUs allow; a trial too big for one GPU is told the smallest ``num_workers``
that fits.

Reward models (``reward_model``: local sequence-classification model folders) score each
completion as a model in TRL's ``reward_funcs`` does, loaded once per trial on its device,
summed with the reward file's functions (``reward_weights``: the file's functions, then the
models) and reported as ``reward/<folder name>``; or alone, without ``reward_file`` (one of the
two is required).

The trained model: every trial keeps its final model (``keep_final_model``, on by default)
as its last Tune checkpoint — the LoRA adapter, or the weights (float32 for full fine-tuning),
and the tokenizer, no optimizer state — also when a stop rule ends it (the last step's
``checkpoint_every`` checkpoint, when it has one, is the final model; of a trial of several
workers, rank 0's, reported as ``checkpoint_path``). Before the sweep starts, radas says how much
disk they will take (from the model's config). :func:`load_model` ``(results)`` gives the best
trial's ``(model, tokenizer)`` by the sweep's metric (or ``metric`` / ``mode``, or ``trial``),
ready for ``generate`` (LoRA: the base with the adapter, a ``peft.PeftModel``);
:func:`export_model` ``(results, output_path, merge_lora=False)`` writes it to a folder that
``transformers`` (and ``peft`` for an adapter) loads. Both take what ``run_experiment`` returned,
a ``radas.Tuner`` or an experiment folder (a cluster's shared one too), and raise
:class:`ModelNotFoundError` naming what is missing. :class:`KeepBestModels` ``(k)``, a Tune
callback, keeps the final models of only the best ``k`` trials by the sweep's metric, removing
the others' as trials finish. A trial that a driver-side scheduler stops (ASHA,
:class:`GRPOEarlyStopping`) is ended from outside and keeps only its ``checkpoint_every``
checkpoints.

Stalls: GRPO trials are watched by radas's stall watchdog by default (``run_experiment``'s
``stall_timeout_s`` left None; a number of seconds given there wins, ``False`` turns it off). A
trial has 30 minutes to the end of its first optimizer step (download and load the model, start
the engine, warm up), then ``max(600 s, 5 x`` its slowest optimizer step so far) from one step or
report to the next; time inside ``tune.report`` (Tune persisting a checkpoint) does not count,
TRL's own checkpoint save counts to its step. A trial stuck longer (an NCCL collective that never
returns, a deadlocked vLLM engine, a reward call that never answers with
``reward_timeout_s=None``) has the stacks of all its process's threads saved in its folder
(``stall-<time>.txt``) and fails with a ``radas.TrialStalledError`` saying for how long and where
it was stuck; it is retried like any failed trial.

Install with ``pip install "radas[grpo]"``; nothing heavy is imported until it is used.
"""

from __future__ import annotations

from radas.grpo._callback import METRIC_NAMES
from radas.grpo._config import (
    DEFAULTS,
    ENGINES,
    KEY_NAMES,
    REQUIRED_KEYS,
    GRPOTrialConfig,
    describe_keys,
    validate_grpo_config,
)
from radas.grpo._export import ModelNotFoundError, export_model, load_model
from radas.grpo._files import RESERVED_FIELDS, PromptFileSummary, validate_prompt_file
from radas.grpo._inference import test_inference
from radas.grpo._keep import KeepBestModels
from radas.grpo._plan import estimate_trial_memory, plan_gpu_per_trial
from radas.grpo._reward_runner import RemoteRewardError, RewardCrashError, RewardTimeoutError, validate_reward_file
from radas.grpo._stopping import GRPOEarlyStopping, StopRules
from radas.grpo._trainable import grpo_trainable

__doc__ = f"{__doc__}\nConfig keys::\n\n" + "\n".join(f"    {line}" for line in describe_keys().splitlines()) + "\n"

__all__ = [
    "grpo_trainable",
    "RewardTimeoutError",
    "RewardCrashError",
    "RemoteRewardError",
    "GRPOTrialConfig",
    "GRPOEarlyStopping",
    "StopRules",
    "plan_gpu_per_trial",
    "estimate_trial_memory",
    "validate_grpo_config",
    "validate_prompt_file",
    "validate_reward_file",
    "test_inference",
    "load_model",
    "export_model",
    "ModelNotFoundError",
    "KeepBestModels",
    "PromptFileSummary",
    "DEFAULTS",
    "KEY_NAMES",
    "REQUIRED_KEYS",
    "describe_keys",
    "ENGINES",
    "METRIC_NAMES",
    "RESERVED_FIELDS",
]
