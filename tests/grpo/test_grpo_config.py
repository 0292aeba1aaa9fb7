"""validate_grpo_config: defaults, unknown keys, types, search spaces, GRPOConfig overrides."""

from __future__ import annotations

import math

import pytest
from ray import tune

from radas.errors import RadasTypeError, RadasValueError
from radas.grpo import DEFAULTS, KEY_NAMES, validate_grpo_config

BASE = {"model": "tiny", "prompt_file": "p.jsonl", "reward_file": "r.py"}


def test_defaults_filled_from_the_seeds() -> None:
    cfg = validate_grpo_config(BASE)
    assert cfg["learning_rate"] == 5e-6
    assert cfg["max_seq_length"] == 1024
    assert cfg["epochs"] == 1
    assert cfg["n_samples_per_prompt"] == 8
    assert cfg["rollout_temperature"] == 1.0
    assert cfg["eps_clip"] == 0.2 and cfg["eps_clip_high"] == 0.28
    assert cfg["lora_rank"] == 0
    assert set(cfg) == set(KEY_NAMES)
    assert DEFAULTS["learning_rate"] == 5e-6


def test_ints_become_floats_and_input_is_not_mutated() -> None:
    config = {**BASE, "learning_rate": 1, "grpo_config_overrides": {"loss_type": "dr_grpo"}}
    cfg = validate_grpo_config(config)
    assert isinstance(cfg["learning_rate"], float)
    assert config["learning_rate"] == 1 and "seed" not in config


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(RadasValueError) as info:
        validate_grpo_config({**BASE, "learning_rat": 1e-5})
    msg = str(info.value)
    assert "'learning_rat'" in msg
    assert "Did you mean 'learning_rate'" in msg
    for key in ("n_samples_per_prompt", "kl_beta", "grpo_config_overrides", "checkpoint_every"):
        assert key in msg


def test_radas_injected_keys_pass_through() -> None:
    wandb = {"enable": False}
    cfg = validate_grpo_config({**BASE, "wandb": wandb, "swanlab": {"enable": False}})
    assert cfg["wandb"] is wandb and "swanlab" in cfg


def test_missing_required_key() -> None:
    with pytest.raises(RadasValueError, match="reward_file"):
        validate_grpo_config({"model": "tiny", "prompt_file": "p.jsonl"})


@pytest.mark.parametrize(
    ("key", "value", "error", "fragment"),
    [
        ("learning_rate", "5e-6", RadasTypeError, "must be a number"),
        ("learning_rate", 0.0, RadasValueError, "out of range"),
        ("adam_beta2", 1.0, RadasValueError, "out of range"),
        ("n_samples_per_prompt", 1, RadasValueError, ">= 2"),
        ("n_samples_per_prompt", 8.0, RadasTypeError, "must be an int"),
        ("lora_rank", True, RadasTypeError, "must be an int"),
        ("max_steps", 0, RadasValueError, ">= 1"),
        ("model", "", RadasTypeError, "non-empty string"),
        ("grpo_config_overrides", ["loss_type"], RadasTypeError, "dict"),
        ("lr_scheduler_type", "cosin", RadasValueError, "not a transformers scheduler; valid: linear, cosine"),
        ("reward_weights", [1.0, "a"], RadasTypeError, "list of numbers, one per reward function"),
        ("reward_file", [], RadasValueError, "empty list"),
        ("generation", "fast", RadasValueError, "valid values: 'auto', 'transformers', 'paged', 'vllm'"),
    ],
)
def test_bad_values_name_key_and_value(key: str, value: object, error: type, fragment: str) -> None:
    with pytest.raises(error) as info:
        validate_grpo_config({**BASE, key: value})
    assert repr(key) in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("key", ["learning_rate", "epochs", "kl_beta", "weight_decay", "reward_timeout_s",
                                 "correct_threshold", "rollout_temperature"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_number_that_is_not_finite_is_refused_naming_key_and_value(key: str, value: float) -> None:
    with pytest.raises(RadasValueError, match="is not a finite number") as info:
        validate_grpo_config({**BASE, key: value})
    assert f"config[{key!r}] = {value!r}" in str(info.value)


def test_search_spaces_are_accepted_unchecked() -> None:
    space = {
        **BASE,
        "learning_rate": tune.loguniform(1e-6, 1e-4),
        "n_samples_per_prompt": tune.grid_search([4, 8]),
        "seed": tune.choice([0, 1]),
        "grpo_config_overrides": {"loss_type": tune.grid_search(["grpo", "dr_grpo"])},
    }
    cfg = validate_grpo_config(space)
    assert cfg["learning_rate"] is space["learning_rate"]
    assert cfg["n_samples_per_prompt"] == {"grid_search": [4, 8]}
    assert cfg["kl_beta"] == 0.0


def test_override_that_is_not_a_grpo_config_field() -> None:
    with pytest.raises(RadasValueError) as info:
        validate_grpo_config({**BASE, "grpo_config_overrides": {"los_type": "dr_grpo"}})
    msg = str(info.value)
    assert "'los_type'" in msg and "GRPOConfig" in msg and "Did you mean 'loss_type'" in msg


def test_override_of_a_field_radas_sets_names_the_key_to_use() -> None:
    with pytest.raises(RadasValueError, match="use the top-level key 'kl_beta'"):
        validate_grpo_config({**BASE, "grpo_config_overrides": {"beta": 0.1}})
    with pytest.raises(RadasValueError, match="use the top-level key 'lr_scheduler_type'"):
        validate_grpo_config({**BASE, "grpo_config_overrides": {"lr_scheduler_type": "constant"}})


def test_new_keys_defaults_and_lists() -> None:
    cfg = validate_grpo_config({**BASE, "reward_file": ["a.py", "b.py:score"], "reward_weights": [1, 0.5]})
    assert cfg["reward_file"] == ["a.py", "b.py:score"] and cfg["reward_weights"] == [1.0, 0.5]
    assert cfg["lr_scheduler_type"] == "linear"  # TRL's (transformers') default: linear decay to 0
    assert cfg["generation"] == "auto" and cfg["early_stopping"] is False


def test_valid_overrides_kept() -> None:
    cfg = validate_grpo_config({**BASE, "grpo_config_overrides": {"loss_type": "dr_grpo", "top_p": 0.9}})
    assert cfg["grpo_config_overrides"] == {"loss_type": "dr_grpo", "top_p": 0.9}


def test_missing_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from radas.errors import MissingDependencyError
    from radas.grpo._deps import require

    monkeypatch.setitem(sys.modules, "trl", None)  # makes `import trl` fail
    with pytest.raises(MissingDependencyError, match=r'pip install "radas\[grpo\]"'):
        require("trl")


def test_the_key_table_of_the_grpo_guide_and_the_docstring_is_generated_from_the_dataclass():
    from pathlib import Path

    import radas.grpo
    from radas.grpo import GRPOTrialConfig, describe_keys

    guide = (Path(__file__).resolve().parents[2] / "docs" / "grpo.md").read_text()
    assert describe_keys(markdown=True) in guide
    assert all(line in radas.grpo.__doc__ for line in describe_keys().splitlines())
    fields = {f.name: f for f in __import__("dataclasses").fields(GRPOTrialConfig)}
    assert set(fields) == set(KEY_NAMES) and all(f.metadata["help"] for f in fields.values())


def test_the_config_is_a_frozen_dataclass_with_cross_field_checks():
    import dataclasses

    from radas.grpo import GRPOTrialConfig

    cfg = GRPOTrialConfig.from_config(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.learning_rate = 1.0  # type: ignore[misc]
    with pytest.raises(RadasValueError, match=r"per_device_train_batch_size'\] = 7 must divide .* = 256"):
        GRPOTrialConfig.from_config({**BASE, "grpo_config_overrides": {"per_device_train_batch_size": 7}})
    spaced = GRPOTrialConfig.from_config({**BASE, "rollout_batch_size": tune.grid_search([4, 8]),
                                          "grpo_config_overrides": {"per_device_train_batch_size": 16}})
    assert spaced.rollout_batch_size == {"grid_search": [4, 8]}  # checked per trial, once Tune resolves it


def _has_type(value: object, hint: object) -> bool:
    """Whether ``value`` is of the type ``hint`` (the forms GRPOTrialConfig's annotations use)."""
    import collections.abc
    import types
    import typing

    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, origin) and all(isinstance(k, str) for k in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, float)
    return isinstance(value, hint)


@pytest.mark.parametrize("config", [
    BASE,
    {**BASE, "reward_file": ("a.py", "b.py:score"), "reward_weights": (1, 0.5), "learning_rate": 1, "epochs": 2,
     "lora_rank": 8, "lora_alpha": 16, "max_steps": 3, "correct_threshold": 1, "eps_clip_high": None,
     "reward_timeout_s": None, "generation": "paged", "early_stopping": {"kl_max": 2.0},
     "grpo_config_overrides": None, "checkpoint_every": 5, "rollout_max_response_len": 64},
])
def test_every_checked_value_has_its_fields_declared_type(config: dict[str, object]) -> None:
    import dataclasses
    import typing

    from radas.grpo import GRPOTrialConfig

    hints = typing.get_type_hints(GRPOTrialConfig)
    checked = GRPOTrialConfig.from_config(config)
    for f in dataclasses.fields(checked):
        value = getattr(checked, f.name)
        assert _has_type(value, hints[f.name]), (f.name, value, hints[f.name])


def test_the_key_table_names_the_grpo_config_fields_radas_sets_from_each_key() -> None:
    from radas.grpo import describe_keys
    from radas.grpo._config import MANAGED_FIELDS, TRL_NAMES, grpo_config_field_names

    table = describe_keys(markdown=True)
    assert "| key | default | TRL's GRPOConfig field | meaning |" in table
    assert "| `kl_beta` | 0.0 | `beta` | KL penalty" in table
    assert "| `warmup_ratio` | 0.0 | `warmup_ratio`, `warmup_steps` | " in table
    assert "| `model` | required | — | " in table  # a key radas handles itself
    plain = describe_keys().splitlines()
    assert plain[0].split() == ["key", "default", "TRL", "(GRPOConfig)", "meaning"]
    assert next(line for line in plain if line.startswith("kl_beta ")).split()[:3] == ["kl_beta", "0.0", "beta"]
    # the column and the "radas sets this field itself" errors are one table
    assert set(TRL_NAMES) <= set(KEY_NAMES)
    for k, names in TRL_NAMES.items():
        assert all(MANAGED_FIELDS[name].startswith(f"use the top-level key {k!r}") for name in names)
    named = {name for names in TRL_NAMES.values() for name in names}
    assert all(name in named for name, how in MANAGED_FIELDS.items() if how.startswith("use the top-level key"))
    fields = grpo_config_field_names()
    if fields is not None:  # each key names a field of the installed TRL (the others are other versions' names)
        assert all(fields & set(names) for names in TRL_NAMES.values()), TRL_NAMES
