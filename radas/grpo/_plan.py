"""``gpu_per_trial="auto"`` for GRPO sweeps: how many trials fit on one GPU, estimated without loading weights.

A trial's peak GPU memory is estimated from the model's config (its parameters counted on
PyTorch's ``meta`` device, so no weights are read or allocated) and the sweep's settings. A GRPO
step generates, then trains: the two phases never hold their working memory at the same time, so
the peak is what stays (weights, optimizer, reference model, CUDA context) plus the larger of the
two phases. In bytes:

* kept all along: full fine-tuning keeps float32 weights, gradients and AdamW's two moments (16 per
  parameter); LoRA a frozen bf16 base (2 per parameter; 4 with ``generation="paged"``, which trains
  in float32) plus 16 per LoRA parameter (``lora_rank`` x the in + out features of every linear
  layer but the output head); the reference model when ``kl_beta > 0`` (full fine-tuning only:
  LoRA's reference is the base with the adapter off), in float32 like the policy; 1.5 GiB for the
  CUDA context, cuBLAS workspaces and the allocator's slack;
* generating: the KV cache of ``rollout_batch_size x n_samples_per_prompt`` sequences of prompt +
  completion tokens, 2 x layers x KV heads x head size numbers per token — float32 when the
  weights are float32 (full fine-tuning under bf16 autocast keeps the cache in the weights'
  dtype), bf16 for a LoRA base; float32 in 256-token pages with ``"paged"``, plus its attention
  mask; ``"vllm"``: its own bf16 copy of the weights and its bf16 cache (sleep mode frees both while
  training) and 1 GiB; plus the last token's float32 logits of every sequence;
* training a micro-batch (``per_device_train_batch_size`` sequences): bf16 copies of the weights
  that autocast keeps during the forward pass (full fine-tuning: 2 per parameter); with gradient
  checkpointing (TRL's default) one float32 hidden state per token and layer plus one layer's
  activations (34 x hidden bf16 bytes per token), else 34 x hidden per token and layer; TRL's fused,
  chunked LM head, which never builds the full logits: one buffer of at most 4,096 tokens x 32,768
  vocabulary entries in float32, and — when the head is trained (full fine-tuning) — a float32
  gradient of the head's weight.

* reward models (``reward_model``): their weights (in the dtype they were saved in) kept all
  along, whole on every worker, and
  a scoring phase of its own (between generating and training) holding one layer's activations
  of the rank's rollout.

With ``num_workers`` k > 1 the estimate is one worker's: it generates and scores 1/k of the
rollout, and what ``grpo_config_overrides`` shard is divided by k (:func:`sharding`: FSDP
``full_shard`` / ZeRO-3 the weights, gradients, optimizer states, reference model and autocast
copies, with the whole weights gathered back while ``generate`` runs; ``shard_grad_op`` / ZeRO-2
the gradients and optimizer states; ZeRO-1 the optimizer states).

The plan packs ``capacity / (1.2 x peak)`` trials per GPU (20% margin on the estimate); trials
of several workers get a GPU per worker, and one too big for a GPU is told the smallest number
of FSDP workers that fits. The
sequence length is ``max_seq_length``, or the longest prompt's UTF-8 bytes + 32 (a bound on its
tokens with a chat template) + ``rollout_max_response_len`` when that is smaller. Over a
``param_space``, the worst case of its grid-search values (and choices, and both ends of ranges)
counts. ``generation="auto"`` counts as the engine the trials will pick: vLLM where it is
installed in the trials' environment (trials have a GPU), else ``"transformers"``; the larger of
the two where that cannot be known from the driver (a cluster whose ``runtime_env`` does not
install vLLM).
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from radas.errors import RadasValueError
from radas.grpo._config import DEFAULTS, is_search_space, rollout_and_micro_batch
from radas.grpo._deps import require
from radas.grpo._engine import PAGED_BATCH_TOKENS, vllm_installed
from radas.grpo._tiny import SPECIAL_TOKENS, TINY_ARCH, TINY_NAME

GIB = 1024**3
CONTEXT_BYTES = int(1.5 * GIB)
PAGE_TOKENS = 256
VLLM_OVERHEAD_BYTES = GIB
SAFETY = 1.2
# TRL's chunked log-prob of the LM head: tiles of at most this many tokens x vocabulary entries
LM_HEAD_TOKENS = 4096
LM_HEAD_VOCAB = 32768
PROMPT_TEMPLATE_TOKENS = 32
_MAX_COMBINATIONS = 4096
# Keys whose values change a trial's memory.
_MEMORY_KEYS = ("model", "lora_rank", "kl_beta", "rollout_batch_size", "n_samples_per_prompt", "max_seq_length",
                "rollout_max_response_len", "prompt_file", "generation", "grpo_config_overrides", "num_workers",
                "reward_model")
# grpo_config_overrides fields that change a trial's memory
_MEMORY_OVERRIDES = ("per_device_train_batch_size", "gradient_checkpointing", "activation_checkpointing", "fsdp",
                     "fsdp_config", "deepspeed")
# what each sharding divides by the number of workers: (weights, gradients, optimizer states)
_SHARDED = {"full": (True, True, True), "gradients": (False, True, True), "optimizer": (False, False, True)}
_MAX_WORKERS = 64


@dataclass(frozen=True)
class ModelShape:
    """What the memory estimate needs of a model, read from its config."""

    parameters: int
    lora_features: int  # sum of in + out features of the linear layers LoRA adapts (all but the output head)
    layers: int
    hidden: int
    vocab: int
    kv_per_token: int  # KV numbers per token and layer: 2 x KV heads x head size
    dtype_bytes: int = 4  # bytes per weight as saved (the dtype from_pretrained loads by default)


@dataclass(frozen=True)
class Estimate:
    """One trial's estimated peak GPU memory, in bytes, by part."""

    weights: int  # weights, gradients and optimizer state, kept all along
    reference: int
    generation: int  # the rollout's working memory (KV cache, logits; vLLM's engine)
    training: int  # a training micro-batch's working memory (autocast copies, activations, LM head)
    context: int
    shape: ModelShape
    lora_rank: int
    sequences: int
    sequence_length: int
    engine: str = "transformers"
    rewards: int = 0  # the reward models' weights, kept all along
    scoring: int = 0  # the reward models' forward pass over the rank's rollout
    workers: int = 1
    sharding: str | None = None  # "full" (FSDP full_shard, ZeRO-3), "gradients" (SHARD_GRAD_OP, ZeRO-2), "optimizer"

    @property
    def peak(self) -> int:
        """The estimated peak of one worker: what is kept, plus the largest of generating,
        scoring and training."""
        return (self.weights + self.reference + self.rewards + max(self.generation, self.scoring, self.training)
                + self.context)

    @property
    def total(self) -> int:
        """The memory the plan gives a trial: the peak with a 20% margin."""
        return int(SAFETY * self.peak)

    def describe(self) -> str:
        """The parts in words."""
        mode = "full fine-tuning" if not self.lora_rank else f"LoRA rank {self.lora_rank}"
        parts = [f"model {_count(self.shape.parameters)} params, {mode}: weights+optimizer {_gib(self.weights)}"]
        if self.workers > 1:
            parts[0] = (f"per worker of {self.workers} ({_SHARDING_WORDS[self.sharding]}): " + parts[0])
        if self.reference:
            parts.append(f"reference model {_gib(self.reference)}")
        if self.rewards:
            parts.append(f"reward models {_gib(self.rewards)}, scoring {_gib(self.scoring)}")
        parts += [f"generating ({self.engine}) {self.sequences} sequences x {self.sequence_length} tokens "
                  f"{_gib(self.generation)}", f"training {_gib(self.training)}", f"CUDA context {_gib(self.context)}",
                  f"peak {_gib(self.peak)}, +{round((SAFETY - 1) * 100)}% margin"]
        return "; ".join(parts)


_SHARDING_WORDS = {None: "data parallel, nothing sharded", "full": "weights, gradients and optimizer sharded",
                   "gradients": "gradients and optimizer sharded", "optimizer": "optimizer sharded"}


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def _count(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _model_config(model: str) -> Any:
    transformers = require("transformers", "gpu_per_trial='auto'")
    if model == TINY_NAME:
        return transformers.Qwen2Config(vocab_size=256 + len(SPECIAL_TOKENS), **TINY_ARCH)
    try:  # a local folder's config.json, or the hub's (or its cache's) config only
        return transformers.AutoConfig.from_pretrained(os.path.expanduser(model))
    except Exception as exc:
        raise RadasValueError(
            f"gpu_per_trial='auto' cannot read the config of model {model!r} to plan the trials' GPU memory "
            f"({type(exc).__name__}: {exc}); give gpu_per_trial as a number, or a model whose config is reachable "
            f"(a local folder with config.json, a Hugging Face id)"
        ) from exc


def model_shape(model: str, head: str = "causal") -> ModelShape:
    """The :class:`ModelShape` of a model id, local folder or ``"tiny"``, without loading weights;
    with ``head="classification"``, as a one-label sequence classifier (a reward model)."""
    torch = require("torch", "gpu_per_trial='auto'")
    transformers = require("transformers", "gpu_per_trial='auto'")
    config = _model_config(model)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    with torch.device("meta"):
        if head == "classification":
            config.num_labels = 1
            module = transformers.AutoModelForSequenceClassification.from_config(config)
        else:
            module = transformers.AutoModelForCausalLM.from_config(config)
    parameters = sum(p.numel() for p in module.parameters())
    head = module.get_output_embeddings()
    lora = sum(m.in_features + m.out_features for m in module.modules()
               if isinstance(m, torch.nn.Linear) and m is not head)
    heads = int(text.num_attention_heads)
    kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
    saved = str(getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "float32")
    return ModelShape(parameters, lora, int(text.num_hidden_layers), int(text.hidden_size), int(text.vocab_size),
                      2 * kv_heads * head_dim, 2 if "16" in saved else 4)


def _longest_prompt_bytes(prompt_file: Any) -> int | None:
    from radas.grpo._files import read_prompt_file

    try:
        records = read_prompt_file(prompt_file)
    except (RadasValueError, TypeError):
        return None
    return max(len(json.dumps(r.prompt, ensure_ascii=False).encode()) for r in records)


def planned_engine(requested: str) -> str:
    """The engine a trial will use for ``generation = requested`` (trials of a packed sweep have a GPU)."""
    if requested == "auto":
        return "vllm" if vllm_installed() else "transformers"
    return requested


def _json_setting(value: Any) -> Mapping[str, Any] | None:
    """A setting given as a dict or as the path of a JSON file (None when neither, or unreadable)."""
    if isinstance(value, (str, os.PathLike)):
        try:
            with open(os.path.expanduser(value)) as f:
                value = json.load(f)
        except (OSError, ValueError):
            return None
    return value if isinstance(value, Mapping) else None


def sharding(overrides: Mapping[str, Any]) -> str | None:
    """What ``grpo_config_overrides`` shard across a trial's workers: ``"full"`` (FSDP with
    ``reshard_after_forward``, transformers' default, or ``full_shard``; DeepSpeed ZeRO-3),
    ``"gradients"`` (FSDP ``shard_grad_op`` or ``reshard_after_forward=False``; ZeRO-2),
    ``"optimizer"`` (ZeRO-1) or None (nothing, or FSDP's ``hybrid_shard``, which shards within a
    node only: not counted). ``fsdp`` may be True (with ``fsdp_config``), a string or a list;
    ``fsdp_config`` and ``deepspeed`` a dict or a JSON file."""
    fsdp = overrides.get("fsdp")
    words = fsdp if isinstance(fsdp, str) else " ".join(map(str, fsdp)) if isinstance(fsdp, (list, tuple)) else ""
    if fsdp is True or words.strip():
        if "hybrid_shard" in words:
            return None
        if "shard_grad_op" in words:
            return "gradients"
        if "full_shard" in words:
            return "full"
        config = _json_setting(overrides.get("fsdp_config")) or {}
        reshard = str(config.get("reshard_after_forward", config.get("fsdp_reshard_after_forward", True))).lower()
        return {"true": "full", "full_shard": "full", "false": "gradients", "shard_grad_op": "gradients"}.get(reshard)
    deepspeed = _json_setting(overrides.get("deepspeed"))
    if deepspeed is not None:
        stage = (deepspeed.get("zero_optimization") or {}).get("stage")
        return {3: "full", 2: "gradients", 1: "optimizer"}.get(stage) if isinstance(stage, int) else None
    return None


def _kept(parameters: int, lora: int, rank: int, engine: str, workers: int, shard: str | None) -> int:
    """Weights, gradients and optimizer states one worker keeps (module docstring), divided as
    ``shard`` divides them across ``workers``."""
    on_weights, on_gradients, on_optimizer = _SHARDED.get(shard or "", (False, False, False))

    def part(n: int, sharded: bool) -> int:
        return math.ceil(n / workers) if sharded else n

    if rank:  # a frozen base, trained adapter weights (float32), their gradients and AdamW's moments
        base = (4 if engine == "paged" else 2) * parameters
        trained = rank * lora
        return part(base + 4 * trained, on_weights) + part(4 * trained, on_gradients) + part(8 * trained, on_optimizer)
    return part(4 * parameters, on_weights) + part(4 * parameters, on_gradients) + part(8 * parameters, on_optimizer)


def estimate_trial_memory(config: Mapping[str, Any], shape: ModelShape | None = None,
                          reward_shapes: list[ModelShape] | None = None,
                          auto_engines: tuple[str, ...] | None = None) -> Estimate:
    """One trial's peak GPU memory for a concrete GRPO ``config`` (see the module docstring): of
    each worker, with ``num_workers`` > 1. ``reward_shapes``: those of its ``reward_model``
    folders (read from them when not given). ``auto_engines``: the engines ``generation="auto"``
    may become in the trials (the larger estimate counts); None: the one it picks here."""
    from radas.grpo._reward_model import reward_model_paths

    cfg = {**DEFAULTS, **config}
    if cfg.get("generation", "auto") == "auto" and auto_engines:
        return max((estimate_trial_memory({**cfg, "generation": e}, shape, reward_shapes) for e in auto_engines),
                   key=lambda e: e.total)
    shape = shape or model_shape(cfg["model"])
    if reward_shapes is None:
        reward_shapes = [model_shape(path, "classification") for path in reward_model_paths(cfg["reward_model"])]
    overrides = dict(cfg.get("grpo_config_overrides") or {})
    rank = int(cfg["lora_rank"] or 0)
    engine = planned_engine(str(cfg.get("generation", "auto")))
    workers = max(1, int(cfg.get("num_workers") or 1))
    shard = sharding(overrides) if workers > 1 else None
    p = shape.parameters
    weights = _kept(p, shape.lora_features, rank, engine, workers, shard)
    reference = 0 if rank or not cfg["kl_beta"] else (math.ceil(4 * p / workers) if shard == "full" else 4 * p)
    length = int(cfg["max_seq_length"])
    if cfg.get("rollout_max_response_len"):
        prompt_bytes = _longest_prompt_bytes(cfg["prompt_file"])
        if prompt_bytes is not None:
            length = min(length, prompt_bytes + PROMPT_TEMPLATE_TOKENS + int(cfg["rollout_max_response_len"]))
    sequences = math.ceil(int(cfg["rollout_batch_size"]) * int(cfg["n_samples_per_prompt"]) / workers)
    numbers = sequences * length * shape.layers * shape.kv_per_token
    if engine == "paged":
        cached = sequences * math.ceil(length / PAGE_TOKENS) * PAGE_TOKENS
        batch_tokens = max(sequences, min(PAGED_BATCH_TOKENS, sequences * length))
        generation = cached * shape.layers * shape.kv_per_token * 4 + batch_tokens * (cached + batch_tokens) * 4
    elif engine == "vllm":
        generation = 2 * p + numbers * 2 + VLLM_OVERHEAD_BYTES
    else:
        generation = numbers * (2 if rank else 4)
    if shard == "full" and engine != "vllm":  # generate() runs on the whole weights, gathered from the ranks
        whole = (4 if engine == "paged" or not rank else 2) * p
        generation += whole - math.ceil(whole / workers)
    generation += sequences * shape.vocab * 4  # the last token's logits
    micro = int(overrides.get("per_device_train_batch_size") or cfg["n_samples_per_prompt"])
    checkpointing = overrides.get("gradient_checkpointing", overrides.get("activation_checkpointing",
                                                                            cfg["model"] != TINY_NAME))
    tokens = micro * length
    if checkpointing:
        activations = tokens * shape.hidden * (4 * shape.layers + 34 * 2)
    else:
        activations = tokens * shape.hidden * 34 * 2 * shape.layers
    lm_head = min(tokens, LM_HEAD_TOKENS) * min(shape.vocab, LM_HEAD_VOCAB) * 4
    head_gradient = 0 if rank else shape.vocab * shape.hidden * 4
    autocast = 0 if rank else (math.ceil(2 * p / workers) if shard == "full" else 2 * p)
    training = autocast + activations + lm_head + head_gradient
    rewards = sum(r.dtype_bytes * r.parameters for r in reward_shapes)  # as saved, frozen, whole on every worker
    scoring = max((sequences * length * r.hidden * 34 * 2 for r in reward_shapes), default=0)  # one layer at a time
    return Estimate(weights, reference, generation, training, CONTEXT_BYTES, shape, rank, sequences, length, engine,
                    rewards, scoring, workers, shard)


def vllm_memory_share(config: Mapping[str, Any], share: float, gpu_bytes: int) -> tuple[float, str]:
    """``vllm_gpu_memory_utilization`` (a fraction of the whole GPU) for a trial of ``config``
    (concrete, its ``model`` as the trial reads it) holding ``share`` of a GPU of ``gpu_bytes``:
    all the room its share leaves beside what the trial keeps while vLLM generates (weights,
    gradients, optimizer, reference and reward models, CUDA context, each with the plan's 20%
    margin; vLLM's sleep mode frees its own memory while the trial trains); when that room is less
    than vLLM's own need (its bf16 weights, the rollout's KV cache, 1 GiB, the logits), its need,
    and never more than the share (then vLLM's own memory error ends the try, and the text says
    so). Also the sizing in words."""
    estimate = estimate_trial_memory({**config, "generation": "vllm"})
    kept = estimate.weights + estimate.reference + estimate.rewards + estimate.context
    mine = min(share, 1.0) * gpu_bytes
    room = mine - SAFETY * kept
    give = min(mine, max(estimate.generation, room))
    fraction = max(0.01, math.floor(10000 * give / gpu_bytes) / 10000)
    text = (f"vllm_gpu_memory_utilization={fraction:g}: {_gib(give)} of the trial's {_gib(mine)} (vLLM needs "
            f"{_gib(estimate.generation)} for {estimate.sequences} sequences x {estimate.sequence_length} tokens; the "
            f"trial keeps {_gib(kept)})")
    if room < estimate.generation:
        text += "; less room than the plan's margin asks: a trial that runs out of memory is retried with more"
    return fraction, text


def candidates(value: Any) -> list[Any]:
    """The values a search-space entry can take that matter for the worst case."""
    if isinstance(value, Mapping) and set(value) == {"grid_search"}:
        return list(value["grid_search"])
    if not is_search_space(value):
        return [value]
    categories = getattr(value, "categories", None)
    if categories is not None:
        return list(categories)
    upper = getattr(value, "upper", None)
    if upper is not None:  # both ends: the upper end is the worst for most keys, the lower for num_workers
        sampler = value.get_sampler() if hasattr(value, "get_sampler") else None
        exclusive = type(value).__name__ == "Integer" and type(sampler).__name__ != "Quantized"  # randint's upper
        return [getattr(value, "lower", upper), upper - 1 if exclusive else upper]
    raise RadasValueError(
        f"gpu_per_trial='auto' cannot bound the search space {value!r} of a key that changes a trial's memory; "
        f"give gpu_per_trial as a number"
    )


def _extremes(values: list[Any]) -> list[Any]:
    """The values of one key that can be the worst case: of numbers, the smallest, the largest and 0
    (a trial's memory grows or shrinks with each number; 0 turns LoRA or the reference model off);
    other values all."""
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sorted({min(values), max(values), *(v for v in values if v == 0)})
    return values


def _combinations(param_space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The memory-relevant points of ``param_space`` whose worst case is the sweep's: every
    combination of each key's :func:`_extremes`."""
    base = {k: v for k, v in param_space.items() if k in _MEMORY_KEYS}
    overrides = base.pop("grpo_config_overrides", None)
    keys = list(base)
    choices = [_extremes(candidates(base[k])) for k in keys]
    override_choices: list[dict[str, Any]] = [{}]
    if isinstance(overrides, Mapping):
        okeys = [k for k in _MEMORY_OVERRIDES if k in overrides]
        override_choices = [dict(zip(okeys, combo, strict=True))
                            for combo in itertools.product(*(_extremes(candidates(overrides[k])) for k in okeys))]
    elif overrides is not None:
        override_choices = [dict(o) for o in candidates(overrides) if isinstance(o, Mapping)] or [{}]
    count = math.prod(len(c) for c in choices) * len(override_choices)
    if count > _MAX_COMBINATIONS:
        raise RadasValueError(
            f"gpu_per_trial='auto': the param_space has {count} combinations of the values that change a trial's "
            f"memory ({', '.join(keys)}), more than the {_MAX_COMBINATIONS} the plan estimates; give gpu_per_trial "
            f"as a number, or fewer values (e.g. one sweep per model)")
    return [{**dict(zip(keys, combo[:-1], strict=True)), "grpo_config_overrides": combo[-1]}
            for combo in itertools.product(*choices, override_choices)]


def auto_engines(environment: Any) -> tuple[str, ...] | None:
    """The engines ``generation="auto"`` may become in trials of ``environment`` (a
    :class:`radas.sweep.TrialEnvironment`; None: here): vLLM where it is installed, else
    ``"transformers"``; both where that cannot be known (a cluster whose ``runtime_env`` does
    not install vLLM)."""
    if environment is None:
        return None
    has = environment.has("vllm")
    return ("vllm", "transformers") if has is None else ("vllm",) if has else ("transformers",)


def plan_gpu_per_trial(
    param_space: Mapping[str, Any], *, gpu_memory_gib: float | None, cpus_per_gpu: float | None,
    cpu_per_trial: float, trial_environment: Any = None,
) -> tuple[float, str]:
    """The GPU fraction per trial for ``gpu_per_trial="auto"``, and the plan in words.

    Packs ``n`` trials on each GPU (fraction ``1/n``): as many as the estimated memory of the
    worst trial of ``param_space`` allows on a GPU of ``gpu_memory_gib`` (see the module docstring),
    and no more than the CPUs allow (``cpus_per_gpu / cpu_per_trial``, when ``cpus_per_gpu`` is known).
    ``generation="auto"`` counts as the engine the trials will pick in ``trial_environment`` (a
    :class:`radas.sweep.TrialEnvironment`: vLLM where it is installed there; the larger of the two
    where that is unknown; None: as here). Reads the model's config only, never its weights. Raises
    :class:`~radas.errors.RadasValueError` when the GPU memory is unknown (``gpu_memory_gib=None``)
    or one trial does not fit on one GPU.
    """
    if gpu_memory_gib is None:
        raise RadasValueError(
            "gpu_per_trial='auto' needs the GPU memory of the machines the trials run on, and it is unknown here: run "
            "where there is a GPU, or set gram_per_gpu_gb in the cluster's [clusters.<name>] table of the radas "
            "config file (or give gpu_per_trial as a number)"
        )
    if not isinstance(gpu_memory_gib, (int, float)) or gpu_memory_gib <= 0:
        raise RadasValueError(f"gpu_per_trial='auto': gpu_memory_gib = {gpu_memory_gib!r} must be a number > 0")
    shapes: dict[tuple[str, str], ModelShape] = {}

    def shape_of(model: str, head: str = "causal") -> ModelShape:
        if (model, head) not in shapes:
            shapes[model, head] = model_shape(model, head)
        return shapes[model, head]

    def estimate(combo: Mapping[str, Any]) -> Estimate:
        from radas.grpo._reward_model import reward_model_paths

        return estimate_trial_memory(combo, shape_of(str(combo.get("model"))), [
            shape_of(path, "classification") for path in reward_model_paths(combo.get("reward_model"))], engines)

    engines = auto_engines(trial_environment)

    worst: Estimate | None = None
    worst_combo: dict[str, Any] = {}
    most_workers = 1
    for combo in _combinations(param_space):
        candidate = estimate(combo)
        most_workers = max(most_workers, candidate.workers)
        if worst is None or candidate.total > worst.total:
            worst, worst_combo = candidate, combo
    assert worst is not None
    capacity = gpu_memory_gib * GIB
    by_memory = int(capacity // worst.total)
    if by_memory < 1:
        raise RadasValueError(
            f"gpu_per_trial='auto': one {'worker' if worst.workers > 1 else 'trial'} needs about {_gib(worst.total)} "
            f"({worst.describe()}), more than one GPU's {gpu_memory_gib:g} GiB; "
            f"{_spread(worst_combo, worst, estimate, capacity)}use LoRA (lora_rank), a smaller rollout_batch_size "
            f"or per_device_train_batch_size, a smaller model, or GPUs with more memory"
        )
    if most_workers > 1:  # each worker trains on a GPU of its own (NCCL: one rank per GPU): no packing
        many = f"{most_workers}" if most_workers == worst.workers else f"up to {most_workers}"
        return 1.0, (f"1 GPU per worker (a trial of one worker: 1 GPU), {many} workers per trial, "
                     f"~{worst.total / GIB:.1f} GiB per worker with the margin at most ({worst.describe()})"
                     + _unknown_engine(engines))
    by_cpu = int(cpus_per_gpu // cpu_per_trial) if cpus_per_gpu else None
    n = max(1, min(by_memory, by_cpu)) if by_cpu is not None else by_memory
    if by_cpu is not None and by_cpu < by_memory:
        limit = (f"limited by the CPUs: {cpus_per_gpu:g} per GPU at cpu_per_trial={cpu_per_trial:g}; "
                 f"memory allows {by_memory}")
    else:
        limit = f"limited by memory: {gpu_memory_gib:g} GiB per GPU"
    fraction = math.floor(10000 / n) / 10000
    text = (f"{n} trial{'s' if n > 1 else ''} per GPU (gpu_per_trial={fraction:g}, {limit}), "
            f"~{worst.total / GIB:.1f} GiB each with the margin ({worst.describe()})")
    return fraction, text + _unknown_engine(engines)


def _unknown_engine(engines: tuple[str, ...] | None) -> str:
    return ("; generation='auto': whether vLLM is installed where the trials run is unknown here, so the "
            "larger of vLLM's and transformers' needs counts (runtime_env={'pip': ['vllm']} says so)"
            if engines is not None and len(engines) > 1 else "")


def _spread(combo: Mapping[str, Any], worst: Estimate, estimate: Any, capacity: float) -> str:
    """The smallest number of workers whose shards fit a GPU each (FSDP ``full_shard`` unless the
    config shards fully already) and split the rollout evenly (the config check's rule), as
    advice; "" when none up to :data:`_MAX_WORKERS` does."""
    cfg = {**DEFAULTS, **combo}
    overrides = dict(cfg.get("grpo_config_overrides") or {})
    sharded = sharding(overrides) == "full"
    if not sharded:
        overrides = {k: v for k, v in overrides.items() if k not in ("fsdp", "fsdp_config", "deepspeed")} | {
            "fsdp": "full_shard"}
    batch, micro = rollout_and_micro_batch(cfg)
    for k in range(worst.workers + 1 if sharded else 2, _MAX_WORKERS + 1):
        if batch % (micro * k):
            continue
        spread = estimate({**cfg, "num_workers": k, "grpo_config_overrides": overrides})
        if spread.total <= capacity:
            how = "" if sharded else ", grpo_config_overrides={'fsdp': 'full_shard'}"
            return (f"spread each trial over num_workers={k} GPUs (gpu_per_trial=1{how}: ~{_gib(spread.total)} per "
                    f"worker with the margin), or ")
    return ""
