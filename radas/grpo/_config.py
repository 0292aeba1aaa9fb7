"""The GRPO trial config: known keys, defaults, validation and translation to ``GRPOConfig``."""

from __future__ import annotations

import difflib
import logging
import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from radas.errors import RadasTypeError, RadasValueError

logger = logging.getLogger("radas")

_REQUIRED = object()

# Values of the `generation` key: the rollout engine of a trial.
ENGINES: tuple[str, ...] = ("auto", "transformers", "paged", "vllm")

# Keys radas itself puts into trial configs; the GRPO trainable passes them on, never rejects them.
RADAS_INJECTED_KEYS: frozenset[str] = frozenset({"wandb", "swanlab"})


@dataclass(frozen=True)
class _Key:
    name: str
    default: Any
    check: Callable[[str, Any], Any]
    doc: str


def _fmt(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _str(name: str, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise RadasTypeError(f"config[{name!r}] must be a non-empty string; got {_fmt(value)}")
    return str(value)


def _real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
          high_open: bool = False, optional: bool = False) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> float | None:
        if value is None and optional:
            return None
        if not _is_real(value):
            raise RadasTypeError(f"config[{name!r}] must be a number; got {_fmt(value)}")
        value = float(value)
        bad = math.isnan(value)
        bad |= low is not None and (value <= low if low_open else value < low)
        bad |= high is not None and (value >= high if high_open else value > high)
        if bad:
            lo = "" if low is None else f"{'(' if low_open else '['}{low}"
            hi = "" if high is None else f"{high}{')' if high_open else ']'}"
            raise RadasValueError(f"config[{name!r}] = {value!r} is out of range; valid: {lo or '(-inf'}, {hi or 'inf)'}")
        return value

    return check


def _int(low: int, *, optional: bool = False) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> int | None:
        if value is None and optional:
            return None
        if not _is_int(value):
            raise RadasTypeError(
                f"config[{name!r}] must be an int{' or None' if optional else ''}; got {_fmt(value)}"
            )
        if value < low:
            raise RadasValueError(f"config[{name!r}] = {value!r} is too small; valid: an int >= {low}")
        return int(value)

    return check


def _reward_files(name: str, value: Any) -> str | list[str]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise RadasValueError(f"config[{name!r}] is an empty list; give one reward file or a list of them")
        return [_str(name, v) for v in value]
    return _str(name, value)


def _weights(name: str, value: Any) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not value or not all(_is_real(v) and math.isfinite(v) for v in value):
        raise RadasTypeError(
            f"config[{name!r}] must be a list of numbers, one per reward function (TRL's reward_weights), or None; "
            f"got {_fmt(value)}"
        )
    return [float(v) for v in value]


def _choice(valid: tuple[str, ...]) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> str:
        if value not in valid:
            raise RadasValueError(f"config[{name!r}] = {value!r} is not valid; valid values: {', '.join(map(repr, valid))}")
        return str(value)

    return check


# transformers' SchedulerType values (5.x); a name not here is looked up in the installed transformers.
KNOWN_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                    "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
                    "warmup_stable_decay")


def _scheduler_type(name: str, value: Any) -> str:
    value = _str(name, value)
    if value in KNOWN_SCHEDULERS:
        return value
    try:  # slow (imports torch): only for names radas does not know
        from transformers.trainer_utils import SchedulerType
    except ImportError:  # checked in the trial, where transformers is needed anyway
        return value
    valid = [s.value for s in SchedulerType]
    if value not in valid:
        raise RadasValueError(f"config[{name!r}] = {value!r} is not a transformers scheduler; valid: {', '.join(valid)}")
    return value


def _early_stopping(name: str, value: Any) -> Any:
    from radas.grpo._stopping import StopRules

    StopRules.from_config(value, name)
    return value


def _overrides(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise RadasTypeError(f"config[{name!r}] must be a dict of GRPOConfig fields; got {_fmt(value)}")
    for key in value:
        if not isinstance(key, str):
            raise RadasTypeError(f"config[{name!r}] keys must be strings (GRPOConfig field names); got {_fmt(key)}")
    return dict(value)


KEYS: tuple[_Key, ...] = (
    _Key("model", _REQUIRED, _str, 'Hugging Face model id, local folder, or "tiny" (a small random model built locally).'),
    _Key("prompt_file", _REQUIRED, _str, "JSONL prompt file: one object per line with `prompt` and any extra fields."),
    _Key("reward_file", _REQUIRED, _reward_files,
         "Python file defining `reward_fn(completion, **extra_fields) -> float` (or `reward_fns`), "
         "'file.py:function', or a list of them."),
    _Key("reward_weights", None, _weights, "Weight of each reward function in the summed reward; None = all 1."),
    _Key("learning_rate", 5e-6, _real(0.0, low_open=True), "AdamW learning rate."),
    _Key("weight_decay", 0.1, _real(0.0), "AdamW weight decay."),
    _Key("adam_beta1", 0.9, _real(0.0, 1.0, high_open=True), "AdamW beta1."),
    _Key("adam_beta2", 0.98, _real(0.0, 1.0, high_open=True), "AdamW beta2."),
    _Key("warmup_ratio", 0.0, _real(0.0, 1.0, high_open=True), "Fraction of the steps with a linear LR warmup."),
    _Key("lr_scheduler_type", "linear", _scheduler_type,
         "Learning-rate schedule after the warmup (transformers' names); 'linear' decays to 0 (TRL's default)."),
    _Key("kl_beta", 0.0, _real(0.0), "KL penalty coefficient; 0 loads no reference model (less memory)."),
    _Key("lora_rank", 0, _int(0), "LoRA rank; 0 = full fine-tuning."),
    _Key("lora_alpha", None, _real(0.0, low_open=True, optional=True), "LoRA alpha; None = 2 * lora_rank."),
    _Key("max_seq_length", 1024, _int(2), "Maximum prompt + completion tokens."),
    _Key("epochs", 1, _real(0.0, low_open=True), "Passes over the prompt file (ignored when max_steps is set)."),
    _Key("max_steps", None, _int(1, optional=True), "Number of optimizer steps (one rollout batch each); overrides epochs."),
    _Key("n_samples_per_prompt", 8, _int(2), "Completions sampled per prompt (the GRPO group size)."),
    _Key("rollout_batch_size", 32, _int(1), "Prompts per rollout; one optimizer step per rollout."),
    _Key("rollout_temperature", 1.0, _real(0.0, low_open=True), "Sampling temperature of the rollouts."),
    _Key("rollout_max_response_len", None, _int(1, optional=True),
         "Maximum completion tokens; None = max_seq_length minus the longest prompt."),
    _Key("eps_clip", 0.2, _real(0.0, low_open=True), "Lower PPO clip range (ratio >= 1 - eps_clip)."),
    _Key("eps_clip_high", 0.28, _real(0.0, low_open=True, optional=True),
         "Upper PPO clip range (ratio <= 1 + eps_clip_high); None = eps_clip."),
    _Key("seed", 0, _int(0), "Seed of Python, NumPy, torch, the tiny model's weights and the data order."),
    _Key("checkpoint_every", None, _int(1, optional=True),
         "Report a Tune checkpoint every N steps (and at the end); None = no checkpoints."),
    _Key("logging_steps", 1, _int(1), "Report metrics to Tune every N steps."),
    _Key("correct_threshold", None, _real(optional=True),
         "percent_correct counts rewards >= this; None = rewards at the best reward seen so far."),
    _Key("generation", "auto", _choice(ENGINES),
         "Rollout engine: 'auto', 'transformers' (model.generate), 'paged' (continuous batching), 'vllm' (colocated)."),
    _Key("early_stopping", False, _early_stopping,
         "Stop a dead run (no learning signal, NaN loss, KL blow-up, reward collapse): True, or a dict of StopRules."),
    _Key("grpo_config_overrides", {}, _overrides, "Any other trl.GRPOConfig field, e.g. {'loss_type': 'dr_grpo'}."),
)

KEY_NAMES: tuple[str, ...] = tuple(k.name for k in KEYS)
_BY_NAME = {k.name: k for k in KEYS}

DEFAULTS: dict[str, Any] = {k.name: k.default for k in KEYS if k.default is not _REQUIRED}
REQUIRED_KEYS: tuple[str, ...] = tuple(k.name for k in KEYS if k.default is _REQUIRED)

# GRPOConfig fields radas sets from its own keys (or itself); overriding them is an error that names the key to use.
MANAGED_FIELDS: dict[str, str] = {
    "learning_rate": "use the top-level key 'learning_rate'",
    "weight_decay": "use the top-level key 'weight_decay'",
    "adam_beta1": "use the top-level key 'adam_beta1'",
    "adam_beta2": "use the top-level key 'adam_beta2'",
    "warmup_steps": "use the top-level key 'warmup_ratio'",
    "warmup_ratio": "use the top-level key 'warmup_ratio'",
    "beta": "use the top-level key 'kl_beta'",
    "num_generations": "use the top-level key 'n_samples_per_prompt'",
    "max_completion_length": "use the top-level key 'rollout_max_response_len'",
    "temperature": "use the top-level key 'rollout_temperature'",
    "epsilon": "use the top-level key 'eps_clip'",
    "epsilon_high": "use the top-level key 'eps_clip_high'",
    "seed": "use the top-level key 'seed'",
    "num_train_epochs": "use the top-level key 'epochs'",
    "max_steps": "use the top-level key 'max_steps'",
    "logging_steps": "use the top-level key 'logging_steps'",
    "save_steps": "use the top-level key 'checkpoint_every'",
    "save_strategy": "use the top-level key 'checkpoint_every'",
    "generation_batch_size": "use the top-level key 'rollout_batch_size'",
    "steps_per_generation": "use the top-level key 'rollout_batch_size' (one optimizer step per rollout)",
    "gradient_accumulation_steps": "set 'per_device_train_batch_size' instead; radas derives the accumulation",
    "output_dir": "radas puts the trainer's output in a folder of the trial",
    "report_to": "radas reports metrics to Ray Tune; use the 'wandb' / 'swanlab' keys for loggers",
    "resume_from_checkpoint": "radas resumes from the trial's Tune checkpoint",
    "lr_scheduler_type": "use the top-level key 'lr_scheduler_type'",
    "reward_weights": "use the top-level key 'reward_weights'",
    "use_vllm": "use the top-level key 'generation' ('vllm')",
    "vllm_mode": "use the top-level key 'generation' ('vllm' runs vLLM colocated in the trial)",
    "use_transformers_paged": "use the top-level key 'generation' ('paged')",
    "use_transformers_continuous_batching": "use the top-level key 'generation' ('paged')",
}


def is_search_space(value: Any) -> bool:
    """True for a Ray Tune search-space value: a ``Domain`` (``tune.uniform``...) or ``{"grid_search": [...]}``."""
    if isinstance(value, Mapping) and set(value) == {"grid_search"}:
        return True
    try:
        from ray.tune.search.sample import Domain
    except ImportError:  # pragma: no cover - ray is a core dependency
        return False
    return isinstance(value, Domain)


def grpo_config_field_names() -> frozenset[str] | None:
    """The field names of the installed ``trl.GRPOConfig``, or None when trl is not installed."""
    try:
        import dataclasses

        from trl import GRPOConfig
    except ImportError:
        return None
    return frozenset(f.name for f in dataclasses.fields(GRPOConfig))


def _check_overrides(overrides: Mapping[str, Any]) -> None:
    if not overrides:
        return
    managed = sorted(k for k in overrides if k in MANAGED_FIELDS)
    if managed:
        k = managed[0]
        raise RadasValueError(
            f"config['grpo_config_overrides'][{k!r}]: radas sets this GRPOConfig field itself; {MANAGED_FIELDS[k]}"
        )
    fields = grpo_config_field_names()
    if fields is None:
        logger.warning(
            "trl is not installed here, so the names in grpo_config_overrides (%s) are checked only in the trials",
            sorted(overrides),
        )
        return
    unknown = sorted(k for k in overrides if k not in fields)
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, fields, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise RadasValueError(
            f"config['grpo_config_overrides'][{k!r}] is not a field of trl.GRPOConfig.{hint} "
            f"Valid fields: {', '.join(sorted(fields))}"
        )


def validate_grpo_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a GRPO trial config and return it normalized (defaults filled in, numbers as float/int).

    Call it on the driver before the sweep: the values may be Ray Tune search-space objects
    (``tune.uniform(...)``, ``tune.grid_search([...])``), which are accepted as they are. Keys radas
    injects into trial configs (``wandb``, ``swanlab``) are passed through. Raises
    :class:`~radas.errors.RadasValueError` for an unknown key (listing the known ones), a missing
    required key, a value out of range or a ``grpo_config_overrides`` name that is not a field of
    ``trl.GRPOConfig``; :class:`~radas.errors.RadasTypeError` for a value of the wrong type.
    """
    if not isinstance(config, Mapping):
        raise RadasTypeError(f"config must be a dict; got {_fmt(config)}")
    unknown = [k for k in config if k not in _BY_NAME and k not in RADAS_INJECTED_KEYS]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(str(k), KEY_NAMES, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise RadasValueError(
            f"config key {k!r} is not a GRPO config key.{hint} Known keys: {', '.join(KEY_NAMES)} "
            f"(and {', '.join(sorted(RADAS_INJECTED_KEYS))}, set by radas); other trl.GRPOConfig fields go "
            f"in 'grpo_config_overrides'"
        )
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise RadasValueError(
            f"config is missing the required key(s) {missing}; required: {list(REQUIRED_KEYS)}"
        )
    out: dict[str, Any] = {}
    for key in KEYS:
        value = config.get(key.name, key.default)
        if key.name == "grpo_config_overrides" and value is None:
            value = {}
        if is_search_space(value):
            out[key.name] = value
            continue
        value = key.check(key.name, value)
        if key.name == "grpo_config_overrides":
            value = {k: v for k, v in value.items()}
            _check_overrides(value)
        out[key.name] = value
    for k in RADAS_INJECTED_KEYS:
        if k in config:
            out[k] = config[k]
    return out


def search_space_keys(config: Mapping[str, Any]) -> list[str]:
    """Keys whose value is still a Tune search-space object (not resolved to a concrete value)."""
    keys = [k for k, v in config.items() if is_search_space(v)]
    overrides = config.get("grpo_config_overrides")
    if isinstance(overrides, Mapping):
        keys += [f"grpo_config_overrides.{k}" for k, v in overrides.items() if is_search_space(v)]
    return keys


def require_concrete(config: Mapping[str, Any], where: str) -> None:
    """Raise when ``config`` still holds search-space objects (e.g. a trainable called outside Tune)."""
    keys = search_space_keys(config)
    if keys:
        raise RadasValueError(
            f"{where} needs concrete values, but {keys} are still Tune search spaces; pass one value each "
            f"(Ray Tune resolves them for each trial)"
        )


def describe_keys() -> str:
    """A plain-text table of the config keys, their defaults and meaning."""
    rows = []
    for k in KEYS:
        default = "required" if k.default is _REQUIRED else repr(k.default)
        rows.append(f"{k.name:<25} {default:<10} {k.doc}")
    return "\n".join(rows)
