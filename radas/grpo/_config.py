"""The GRPO trial config: :class:`GRPOTrialConfig`, a frozen dataclass whose fields are the keys of a
trial's config (default, help and check in each field's metadata, cross-field checks in one
``__post_init__``), and what is derived from it: the key table, defaults, validation. A field's
type is that of its value once checked: :func:`key` ties the annotation to what the check returns."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import logging
import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar, overload

from radas.errors import RadasTypeError, RadasValueError
from radas.grpo._stopping import StopRules

if TYPE_CHECKING:
    from dataclasses import _MISSING_TYPE  # typeshed's enum of MISSING, for Literal[MISSING]

logger = logging.getLogger("radas")

REQUIRED: Final = dataclasses.MISSING  # a field's default when the key must be given

# A value of the `generation` key: the rollout engine of a trial.
Engine = Literal["auto", "transformers", "paged", "vllm"]
# Values of the `generation` key.
ENGINES: tuple[Engine, ...] = ("auto", "transformers", "paged", "vllm")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
S = TypeVar("S", bound=str)


class Check(Protocol[T_co]):
    """A key's check: ``check(name, value)`` returns the value normalized, or raises an error naming the key."""

    def __call__(self, name: str, value: Any, /) -> T_co: ...

# Keys radas itself puts into trial configs; the GRPO trainable passes them on, never rejects them.
RADAS_INJECTED_KEYS: frozenset[str] = frozenset({"wandb", "swanlab"})


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


@overload
def _real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
          high_open: bool = False, optional: Literal[False] = False) -> Callable[[str, Any], float]: ...
@overload
def _real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
          high_open: bool = False, optional: Literal[True]) -> Callable[[str, Any], float | None]: ...
def _real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
          high_open: bool = False, optional: bool = False) -> Callable[[str, Any], float | None]:
    def check(name: str, value: Any) -> float | None:
        if value is None and optional:
            return None
        if not _is_real(value):
            raise RadasTypeError(f"config[{name!r}] must be a number; got {_fmt(value)}")
        value = float(value)
        if not math.isfinite(value):  # NaN, inf, -inf: no key takes them
            raise RadasValueError(f"config[{name!r}] = {value!r} is not a finite number")
        bad = low is not None and (value <= low if low_open else value < low)
        bad |= high is not None and (value >= high if high_open else value > high)
        if bad:
            lo = "" if low is None else f"{'(' if low_open else '['}{low}"
            hi = "" if high is None else f"{high}{')' if high_open else ']'}"
            raise RadasValueError(
                f"config[{name!r}] = {value!r} is out of range; valid: {lo or '(-inf'}, {hi or 'inf)'}")
        return value

    return check


@overload
def _int(low: int, *, optional: Literal[False] = False) -> Callable[[str, Any], int]: ...
@overload
def _int(low: int, *, optional: Literal[True]) -> Callable[[str, Any], int | None]: ...
def _int(low: int, *, optional: bool = False) -> Callable[[str, Any], int | None]:
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


def _paths(what: str) -> Callable[[str, Any], str | list[str] | None]:
    """The check of a key naming one ``what`` or a non-empty list of them, or None."""

    def check(name: str, value: Any) -> str | list[str] | None:
        if value is None:  # a reward_file or a reward_model is required: checked with the other keys
            return None
        if isinstance(value, (list, tuple)):
            if not value:
                raise RadasValueError(f"config[{name!r}] is an empty list; give one {what}, a list of them, or None")
            return [_str(name, v) for v in value]
        return _str(name, value)

    return check


def _weights(name: str, value: Any) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not value or not all(_is_real(v) and math.isfinite(v) for v in value):
        raise RadasTypeError(
            f"config[{name!r}] must be a list of numbers, one per reward function (TRL's reward_weights), or None; "
            f"got {_fmt(value)}"
        )
    return [float(v) for v in value]


def _choice(valid: tuple[S, ...]) -> Callable[[str, Any], S]:
    def check(name: str, value: Any) -> S:
        for choice in valid:
            if value == choice:
                return choice
        raise RadasValueError(
            f"config[{name!r}] = {value!r} is not valid; valid values: {', '.join(map(repr, valid))}")

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
        raise RadasValueError(
            f"config[{name!r}] = {value!r} is not a transformers scheduler; valid: {', '.join(valid)}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RadasTypeError(f"config[{name!r}] must be True or False; got {_fmt(value)}")
    return value


def _early_stopping(name: str, value: Any) -> bool | Mapping[str, Any] | StopRules | None:
    StopRules.from_config(value, name)  # accepts only these
    return value


def _overrides(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise RadasTypeError(f"config[{name!r}] must be a dict of GRPOConfig fields; got {_fmt(value)}")
    for key in value:
        if not isinstance(key, str):
            raise RadasTypeError(f"config[{name!r}] keys must be strings (GRPOConfig field names); got {_fmt(key)}")
    return dict(value)


def key(default: T | Literal[_MISSING_TYPE.MISSING], check: Check[T], help: str) -> T:
    """A field of :class:`GRPOTrialConfig`: its default (:data:`REQUIRED`: none), the ``check``
    that validates and normalizes a concrete value (search spaces are left as they are), and
    its ``help`` text (the key table). Typed as its value: mypy holds the field's annotation to
    both the default's type and the type the check returns."""
    metadata = {"check": check, "help": help}
    if default is REQUIRED:
        return field(metadata=metadata)
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.copy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class GRPOTrialConfig:
    """The keys of a GRPO trial's config, checked. Build it with :meth:`from_config`. Each field
    holds a value of its type, as its check normalized it; only a config of a ``param_space`` may
    still hold a Ray Tune search space in a field (:func:`is_search_space`; checked per trial
    once Tune resolves it)."""

    model: str = key(REQUIRED, _str,
        'Hugging Face model id, local folder, or "tiny" (a small random model built locally).')
    prompt_file: str = key(REQUIRED, _str,
        'JSONL prompt file: one object per line with `prompt` and any extra fields.')
    reward_file: str | list[str] | None = key(None, _paths("reward file"),
        "Python file defining `reward_fn(completion, **extra_fields) -> float` (or `reward_fns`), "
        "'file.py:function', or a list of them; None: reward_model scores alone (one of the two is required).")
    reward_model: str | list[str] | None = key(None, _paths("reward model folder"),
        "Local sequence-classification model folder (or a list) scoring each completion as a model in TRL's "
        "reward_funcs does (the head's logit), beside the reward file's functions; loaded once per trial on its "
        "device.")
    reward_weights: list[float] | None = key(None, _weights,
        "Weight of each reward (the reward file's functions, then the reward models) in the summed reward; "
        "None = all 1.")
    learning_rate: float = key(5e-06, _real(0.0, low_open=True),
        "AdamW learning rate (the hosted API's default).")
    weight_decay: float = key(0.1, _real(0.0),
        "AdamW weight decay (slime's default).")
    adam_beta1: float = key(0.9, _real(0.0, 1.0, high_open=True),
        'AdamW beta1.')
    adam_beta2: float = key(0.98, _real(0.0, 1.0, high_open=True),
        "AdamW beta2 (slime's default).")
    warmup_ratio: float = key(0.0, _real(0.0, 1.0, high_open=True),
        'Fraction of the steps with a linear LR warmup.')
    lr_scheduler_type: str = key('linear', _scheduler_type,
        "Learning-rate schedule after the warmup (transformers' names); 'linear' decays to 0 (TRL's default).")
    kl_beta: float = key(0.0, _real(0.0),
        'KL penalty coefficient; 0 loads no reference model (less memory).')
    lora_rank: int = key(0, _int(0),
        "LoRA rank; 0 = full fine-tuning (the hosted API's default).")
    lora_alpha: float | None = key(None, _real(0.0, low_open=True, optional=True),
        'LoRA alpha; None = 2 * lora_rank.')
    max_seq_length: int = key(1024, _int(2),
        "Maximum prompt + completion tokens (the hosted API's default).")
    epochs: float = key(1, _real(0.0, low_open=True),
        "Passes over the prompt file (ignored when max_steps is set) (the hosted API's default).")
    max_steps: int | None = key(None, _int(1, optional=True),
        'Number of optimizer steps (one rollout batch each); overrides epochs.')
    n_samples_per_prompt: int = key(8, _int(2),
        "Completions sampled per prompt (the GRPO group size) (slime's default).")
    rollout_batch_size: int = key(32, _int(1),
        "Prompts per rollout; one optimizer step per rollout (slime's default).")
    rollout_temperature: float = key(1.0, _real(0.0, low_open=True),
        "Sampling temperature of the rollouts (slime's default).")
    rollout_max_response_len: int | None = key(None, _int(1, optional=True),
        'Maximum completion tokens; None = max_seq_length minus the longest prompt.')
    eps_clip: float = key(0.2, _real(0.0, low_open=True),
        "Lower PPO clip range (ratio >= 1 - eps_clip) (slime's default).")
    eps_clip_high: float | None = key(0.28, _real(0.0, low_open=True, optional=True),
        "Upper PPO clip range (ratio <= 1 + eps_clip_high); None = eps_clip (slime's default).")
    seed: int = key(0, _int(0),
        "Seed of Python, NumPy, torch, the tiny model's weights and the data order.")
    checkpoint_every: int | None = key(None, _int(1, optional=True),
        'Report a Tune checkpoint every N steps (and at the end); None = no checkpoints.')
    keep_final_model: bool = key(True, _bool,
        "Keep the trained model (LoRA: the adapter; else the weights; and the tokenizer, no optimizer state) as "
        "the trial's last Tune checkpoint, also when a stop rule ends it; radas.grpo.load_model / export_model read "
        "it. False = only checkpoint_every's checkpoints.")
    logging_steps: int = key(1, _int(1),
        'Report metrics to Tune every N steps.')
    correct_threshold: float | None = key(None, _real(optional=True),
        'percent_correct counts rewards >= this; None = rewards at the best reward seen so far.')
    apply_chat_template: bool = key(False, _bool,
        "Plain-string prompts as one user chat message through the tokenizer's chat template; False keeps "
        "them plain text, as TRL does (prompts written as message lists always use the template).")
    reward_workers: int = key(2, _int(0),
        "Reward worker processes per trial (calls in a worker's main thread: math_verify's timeouts work); "
        "0 = in the trial's process, without timeouts.")
    reward_timeout_s: float | None = key(120.0, _real(0.0, low_open=True, optional=True),
        "Seconds one reward call may take before the trial ends with an error naming it; None = no limit.")
    reward_concurrency: int = key(16, _int(1),
        "Async reward calls running at once per worker (one event loop per worker for the whole run).")
    num_workers: int = key(1, _int(1),
        "Data-parallel training workers per trial (Ray Train inside the trial, one per GPU, across nodes); "
        "each gets cpu_per_trial / gpu_per_trial. 1 = the trial trains in its own process.")
    generation: Engine = key('auto', _choice(ENGINES),
        "Rollout engine: 'auto', 'transformers' (model.generate), 'paged' (continuous batching), 'vllm' (colocated).")
    early_stopping: bool | Mapping[str, Any] | StopRules | None = key(False, _early_stopping,
        'Stop a dead run (no learning signal, NaN loss, KL blow-up, reward collapse): True, or a dict of StopRules.')
    grpo_config_overrides: dict[str, Any] = key({}, _overrides,
        "Any other trl.GRPOConfig field, e.g. {'loss_type': 'dr_grpo'}.")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "grpo_config_overrides" and value is None:
                value = {}
            if not is_search_space(value):
                object.__setattr__(self, f.name, f.metadata["check"](f.name, value))
        self._check_together()

    def _check_together(self) -> None:
        """Checks of keys against each other (those whose values are concrete)."""
        overrides = self.grpo_config_overrides
        if not is_search_space(overrides):
            _check_overrides(overrides)
        concrete = {name: getattr(self, name) for name in ("rollout_batch_size", "n_samples_per_prompt")
                    if not is_search_space(getattr(self, name))}
        micro = overrides.get("per_device_train_batch_size") if isinstance(overrides, Mapping) else None
        if len(concrete) == 2 and isinstance(micro, int) and _is_int(micro):
            batch = concrete["rollout_batch_size"] * concrete["n_samples_per_prompt"]
            if micro <= 0 or batch % micro:
                raise RadasValueError(
                    f"config['grpo_config_overrides']['per_device_train_batch_size'] = {micro} must divide "
                    f"rollout_batch_size * n_samples_per_prompt = {batch}")
        workers = self.num_workers
        if len(concrete) == 2 and not is_search_space(workers) and workers > 1:
            # each rank trains on its share of the rollout, in micro-batches
            batch = concrete["rollout_batch_size"] * concrete["n_samples_per_prompt"]
            per_rank = micro if isinstance(micro, int) and _is_int(micro) else concrete["n_samples_per_prompt"]
            if batch % (per_rank * workers):
                n = concrete["n_samples_per_prompt"]
                fits = next(r for r in range(concrete["rollout_batch_size"], 10**6)
                            if (r * n) % (per_rank * workers) == 0)
                raise RadasValueError(
                    f"config['num_workers'] = {workers}: each worker trains on its share of the rollout, so "
                    f"rollout_batch_size * n_samples_per_prompt = {batch} must be a multiple of num_workers x the "
                    f"micro-batch ({per_rank}); e.g. rollout_batch_size = {fits}")
        if self.reward_file is None and self.reward_model is None:
            raise RadasValueError(
                "config has no reward: give reward_file (a Python file of reward functions, the hosted API's "
                "reward_fn), reward_model (a local sequence-classification model folder), or both")
        if not is_search_space(self.early_stopping) and not is_search_space(self.correct_threshold):
            from radas.grpo._stopping import check_correct_threshold

            check_correct_threshold(self.early_stopping, self.correct_threshold)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GRPOTrialConfig:
        """The checked config of ``config`` (a trial's config, or a ``param_space``): an unknown
        key (with a "did you mean"), a missing required key or a bad value is an error naming it.
        Keys radas puts into trial configs (``wandb``, ``swanlab``) are left to the caller."""
        if not isinstance(config, Mapping):
            raise RadasTypeError(f"config must be a dict; got {_fmt(config)}")
        unknown = [k for k in config if k not in KEY_NAMES and k not in RADAS_INJECTED_KEYS]
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
        return cls(**{k: v for k, v in config.items() if k in KEY_NAMES})

    def to_dict(self) -> dict[str, Any]:
        """Every key with its (checked) value."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


FIELDS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(GRPOTrialConfig)
KEY_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


DEFAULTS: dict[str, Any] = {f.name: _default(f) for f in FIELDS if _default(f) is not REQUIRED}
REQUIRED_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if _default(f) is REQUIRED)

# GRPOConfig fields radas sets from one of its keys: TRL's name -> (the key, what the error adds after the key).
_FROM_KEYS: dict[str, tuple[str, str]] = {
    "reward_weights": ("reward_weights", ""),
    "learning_rate": ("learning_rate", ""),
    "weight_decay": ("weight_decay", ""),
    "adam_beta1": ("adam_beta1", ""),
    "adam_beta2": ("adam_beta2", ""),
    "warmup_ratio": ("warmup_ratio", ""),
    "warmup_steps": ("warmup_ratio", ""),
    "lr_scheduler_type": ("lr_scheduler_type", ""),
    "beta": ("kl_beta", ""),
    "num_train_epochs": ("epochs", ""),
    "max_steps": ("max_steps", ""),
    "num_generations": ("n_samples_per_prompt", ""),
    "generation_batch_size": ("rollout_batch_size", ""),
    "steps_per_generation": ("rollout_batch_size", " (one optimizer step per rollout)"),
    "temperature": ("rollout_temperature", ""),
    "max_completion_length": ("rollout_max_response_len", ""),
    "epsilon": ("eps_clip", ""),
    "epsilon_high": ("eps_clip_high", ""),
    "seed": ("seed", ""),
    "save_steps": ("checkpoint_every", ""),
    "save_strategy": ("checkpoint_every", ""),
    "logging_steps": ("logging_steps", ""),
    "use_vllm": ("generation", " ('vllm')"),
    "vllm_mode": ("generation", " ('vllm' runs vLLM colocated in the trial)"),
    "use_transformers_paged": ("generation", " ('paged')"),
    "use_transformers_continuous_batching": ("generation", " ('paged')"),
}

# GRPOConfig fields radas sets from its own keys (or itself); overriding them is an error that names the key to use.
MANAGED_FIELDS: dict[str, str] = {
    **{name: f"use the top-level key {k!r}{more}" for name, (k, more) in _FROM_KEYS.items()},
    "gradient_accumulation_steps": "set 'per_device_train_batch_size' instead; radas derives the accumulation",
    "output_dir": "radas puts the trainer's output in a folder of the trial",
    "report_to": "radas reports metrics to Ray Tune; use the 'wandb' / 'swanlab' keys for loggers",
    "resume_from_checkpoint": "radas resumes from the trial's Tune checkpoint",
}

# Each key radas sets GRPOConfig fields from -> TRL's names of those fields (the key table's TRL column).
TRL_NAMES: dict[str, tuple[str, ...]] = {
    k: tuple(name for name, (of, _) in _FROM_KEYS.items() if of == k) for k in KEY_NAMES
    if any(of == k for of, _ in _FROM_KEYS.values())
}


def rollout_and_micro_batch(config: Mapping[str, Any]) -> tuple[int, int]:
    """A concrete config's completions per rollout (``rollout_batch_size * n_samples_per_prompt``)
    and its micro-batch (``grpo_config_overrides["per_device_train_batch_size"]``, default
    ``n_samples_per_prompt``); the rollout must split evenly into ``num_workers`` x micro-batches."""
    n = int(config.get("n_samples_per_prompt", DEFAULTS["n_samples_per_prompt"]))
    overrides = dict(config.get("grpo_config_overrides") or {})
    return (int(config.get("rollout_batch_size", DEFAULTS["rollout_batch_size"])) * n,
            int(overrides.get("per_device_train_batch_size") or n))


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

        from trl import GRPOConfig  # type: ignore[attr-defined]
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
    required key, a value out of range, keys that contradict each other or a
    ``grpo_config_overrides`` name that is not a field of ``trl.GRPOConfig``;
    :class:`~radas.errors.RadasTypeError` for a value of the wrong type. See :class:`GRPOTrialConfig`.
    """
    out = GRPOTrialConfig.from_config(config).to_dict()
    out.update({k: config[k] for k in RADAS_INJECTED_KEYS if k in config})
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


def _trl_lines(names: tuple[str, ...], width: int) -> list[str]:
    """``names`` joined by commas into lines of at most ``width`` characters (a longer name alone on its line)."""
    lines = [""]
    for name in names:
        if lines[-1] and len(lines[-1]) + len(name) + 2 > width:
            lines[-1] += ","
            lines.append("")
        lines[-1] += f", {name}" if lines[-1] else name
    return lines


def describe_keys(markdown: bool = False) -> str:
    """The key table: each key, its default, TRL's name of the ``GRPOConfig`` field(s) radas sets
    from it ("—" for a key radas handles itself) and its meaning (plain text, or a Markdown table)."""
    rows = []
    for f in FIELDS:
        default = "required" if _default(f) is REQUIRED else repr(_default(f))
        names = TRL_NAMES.get(f.name, ())
        if markdown:
            trl = ", ".join(f"`{name}`" for name in names) or "—"
            rows.append(f"| `{f.name}` | {default} | {trl} | {f.metadata['help']} |")
        else:
            first, *more = _trl_lines(names, 22) if names else ["—"]
            rows.append(f"{f.name:<25} {default:<10} {first:<22} {f.metadata['help']}")
            rows += [f"{'':<37}{line}" for line in more]
    if markdown:
        return "\n".join(["| key | default | TRL's GRPOConfig field | meaning |", "|---|---|---|---|", *rows])
    return "\n".join([f"{'key':<25} {'default':<10} {'TRL (GRPOConfig)':<22} meaning", *rows])
