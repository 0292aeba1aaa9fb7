"""GRPO fine-tuning sweeps on Ray Tune, with TRL's ``GRPOTrainer``.

:func:`grpo_trainable` is a Ray Tune function trainable: pass it to ``radas.run_experiment`` (or a
``ray.tune.Tuner``) with a ``param_space`` of the keys below. Files use the hosted RL API's
formats: the prompt file is JSONL, one object per line with ``prompt`` (a list of chat messages
``{"role", "content"}`` or a plain string) and any extra fields; the reward file is a Python file
defining ``reward_fn(completion, **kwargs) -> float``, where ``completion`` is a list of messages
(``completion[0]["content"]`` is the generated text) and ``kwargs`` holds the line's extra fields.
Check both on the driver with :func:`validate_prompt_file` / :func:`validate_reward_file`, the
config with :func:`validate_grpo_config`, and the whole chain with :func:`test_inference`.

Config keys (defaults from the hosted RL API's ``create_run`` and slime's ``SlimeRunner``)::

    key                       default    meaning
    model                     required   HF model id, local folder, or "tiny" (random ~100k-parameter model, built locally)
    prompt_file               required   JSONL prompt file (relative: to the folder the sweep was launched from)
    reward_file               required   Python file defining reward_fn(completion, **kwargs) -> float
    learning_rate             5e-6       AdamW learning rate                                  (hosted API)
    weight_decay              0.1        AdamW weight decay                                   (slime)
    adam_beta1                0.9        AdamW beta1
    adam_beta2                0.98       AdamW beta2                                          (slime)
    warmup_ratio              0.0        fraction of the steps with a linear LR warmup, in [0, 1)
    kl_beta                   0.0        KL penalty; 0 loads no reference model (less memory)
    lora_rank                 0          0 = full fine-tuning, > 0 = LoRA on all linear layers (hosted API)
    lora_alpha                None       LoRA alpha; None = 2 * lora_rank
    max_seq_length            1024       max prompt + completion tokens                       (hosted API)
    epochs                    1          passes over the prompt file                          (hosted API)
    max_steps                 None       optimizer steps (one rollout each); overrides epochs
    n_samples_per_prompt      8          completions per prompt = GRPO group size             (slime)
    rollout_batch_size        32         prompts per rollout; one optimizer step per rollout  (slime)
    rollout_temperature       1.0        sampling temperature                                 (slime)
    rollout_max_response_len  None       max completion tokens; None = max_seq_length - longest prompt
    eps_clip                  0.2        lower clip: ratio >= 1 - eps_clip                    (slime)
    eps_clip_high             0.28       upper clip: ratio <= 1 + eps_clip_high               (slime)
    seed                      0          seeds Python/NumPy/torch, the tiny model and the data order
    checkpoint_every          None       Tune checkpoint every N steps and at the end; None = none
    logging_steps             1          report metrics to Tune every N steps
    correct_threshold         None       percent_correct counts reward >= this (see below)
    grpo_config_overrides     {}         any other trl.GRPOConfig field, e.g. {"loss_type": "dr_grpo"}

A trial trains on its GPU when it has one (give it one, e.g. with
``tune.with_resources(grpo_trainable, {"gpu": 1})``), with bf16 mixed precision (float32
weights for full fine-tuning, a bf16 frozen base for LoRA), else on the CPU in float32.
``wandb`` / ``swanlab`` blocks, which radas puts into trial configs, are accepted and turn on
logging through :mod:`radas.rwandb` / ``radas.rswanlab``. The rollout produces
``rollout_batch_size * n_samples_per_prompt`` completions per optimizer step, trained on in
micro-batches of ``grpo_config_overrides["per_device_train_batch_size"]`` (default
``n_samples_per_prompt``).

Metrics reported to Tune every ``logging_steps``: ``reward_mean``, ``reward_std``,
``percent_correct``, ``loss``, ``kl`` (only when ``kl_beta > 0``), ``completion_length`` (mean
tokens), ``learning_rate``, ``step`` (optimizer step), ``tokens_per_s`` (prompt + completion
tokens processed per second) and TRL's other logs as ``trl/<name>`` (``trl/entropy``...).
``percent_correct`` is the share of the step's completions that are correct: reward ``>=
correct_threshold`` when it is set; otherwise reward equal to the best reward seen so far in the
run (counted only once some reward has beaten the worst one, so 0 while all rewards are equal).
For 0/1 rewards set ``correct_threshold=1.0`` to get the plain accuracy.

Install with ``pip install "radas[grpo]"``; nothing heavy is imported until it is used.
"""

from __future__ import annotations

from radas.grpo._callback import METRIC_NAMES
from radas.grpo._config import DEFAULTS, ENGINES, KEY_NAMES, REQUIRED_KEYS, describe_keys, validate_grpo_config
from radas.grpo._files import RESERVED_FIELDS, PromptFileSummary, validate_prompt_file
from radas.grpo._inference import test_inference
from radas.grpo._plan import estimate_trial_memory, plan_gpu_per_trial
from radas.grpo._rewards import validate_reward_file
from radas.grpo._stopping import GRPOEarlyStopping, StopRules
from radas.grpo._trainable import grpo_trainable

__all__ = [
    "grpo_trainable",
    "GRPOEarlyStopping",
    "StopRules",
    "plan_gpu_per_trial",
    "estimate_trial_memory",
    "validate_grpo_config",
    "validate_prompt_file",
    "validate_reward_file",
    "test_inference",
    "PromptFileSummary",
    "DEFAULTS",
    "KEY_NAMES",
    "REQUIRED_KEYS",
    "describe_keys",
    "ENGINES",
    "METRIC_NAMES",
    "RESERVED_FIELDS",
]
