"""Shared by :mod:`radas.rwandb` and :mod:`radas.rswanlab`: the config block and the trial."""

from __future__ import annotations

import hashlib
import os
import string
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from radas.errors import RadasTypeError, RadasValueError

TRACKER_KEYS = ("wandb", "swanlab")
_BLOCK_KEYS = {"enable", "api_key", "init_kwargs"}


@dataclass(frozen=True)
class TrackerBlock:
    """A validated ``config["wandb"]`` / ``config["swanlab"]`` block (api_key hidden from repr)."""

    init_kwargs: dict[str, Any]
    api_key: str | None

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else "None"
        return f"TrackerBlock(init_kwargs={self.init_kwargs!r}, api_key={key})"


@dataclass(frozen=True)
class TrialInfo:
    """The Ray Tune trial this process runs (all fields set), from ``ray.tune.get_context()``."""

    experiment_name: str
    trial_name: str
    trial_id: str
    trial_dir: str | None


def tracker_block(config: Any, key: str) -> TrackerBlock | None:
    """The enabled ``config[key]`` block, or None when it is absent or ``enable`` is False.

    ``enable`` defaults to True: writing the block turns tracking on.
    """
    if not isinstance(config, Mapping):
        raise RadasTypeError(f"config must be the trial's config dict, got {type(config).__name__} {config!r}")
    block = config.get(key)
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise RadasTypeError(
            f'config["{key}"] must be a dict like {{"enable": True, "api_key": ..., "init_kwargs": {{}}}}, '
            f"got {type(block).__name__}"
        )
    unknown = sorted(set(block) - _BLOCK_KEYS)
    if unknown:
        raise RadasValueError(
            f'config["{key}"] has unknown key(s) {unknown}: the keys are "enable", "api_key" and '
            f'"init_kwargs" (arguments of {key}.init go in "init_kwargs")'
        )
    enable = block.get("enable", True)
    if not isinstance(enable, bool):
        raise RadasTypeError(f'config["{key}"]["enable"] must be True or False, got {enable!r}')
    if not enable:
        return None
    api_key = block.get("api_key")
    if api_key is not None and not isinstance(api_key, str):
        raise RadasTypeError(f'config["{key}"]["api_key"] must be a str or None, got {type(api_key).__name__}')
    init_kwargs = block.get("init_kwargs") or {}
    if not isinstance(init_kwargs, Mapping):
        raise RadasTypeError(
            f'config["{key}"]["init_kwargs"] must be a dict of {key}.init arguments, got {type(init_kwargs).__name__}'
        )
    return TrackerBlock(init_kwargs=dict(init_kwargs), api_key=(api_key.strip() or None) if api_key else None)


def run_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The trial's config to record, without the ``wandb`` and ``swanlab`` blocks (secrets)."""
    return {k: v for k, v in config.items() if k not in TRACKER_KEYS}


def trial_info() -> TrialInfo | None:
    """The current Ray Tune trial, or None outside a trial (e.g. a plain script or a test)."""
    if "ray" not in sys.modules:  # a Ray worker has imported ray; elsewhere, skip the slow import
        return None
    try:
        from ray import tune
    except ImportError:  # pragma: no cover - ray is a core dependency
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # outside a trial ray warns and returns None
        try:
            context = tune.get_context()
            experiment = context.get_experiment_name()
            name = context.get_trial_name()
            trial_id = context.get_trial_id()
            trial_dir = context.get_trial_dir()
        except Exception:  # noqa: BLE001 - no session, or a Ray version without these calls
            return None
    if not (experiment and name and trial_id):
        return None
    if trial_dir and not os.path.isdir(trial_dir):
        trial_dir = None
    return TrialInfo(str(experiment), str(name), str(trial_id), str(trial_dir) if trial_dir else None)


def stable_id(*parts: str, length: int = 21) -> str:
    """A deterministic id of ``length`` lowercase letters and digits derived from ``parts``."""
    digits = string.digits + string.ascii_lowercase
    number = int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest(), "big")
    out = []
    for _ in range(length):
        number, rest = divmod(number, 36)
        out.append(digits[rest])
    return "".join(out)


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` replaced by ``***``."""
    return text.replace(secret, "***") if secret else text


_KEY_ENV = {"wandb": "WANDB_API_KEY", "swanlab": "SWANLAB_API_KEY"}


def take_api_keys(param_space: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Move tracker API keys out of ``param_space`` (Ray writes the config of every trial to
    its results files) into environment variables for the trials, where wandb and SwanLab
    read them. Returns the cleaned space and those variables."""
    space = dict(param_space)
    env: dict[str, str] = {}
    for key, env_var in _KEY_ENV.items():
        block = space.get(key)
        if isinstance(block, Mapping) and isinstance(block.get("api_key"), str):
            env[env_var] = block["api_key"]
            space[key] = {k: v for k, v in block.items() if k != "api_key"}
    return space, env


def start_run(library: str, init: Any, kwargs: dict[str, Any], api_key: str | None) -> Any:
    """``init(**kwargs)`` of a tracker; an error that quotes ``api_key`` is re-raised scrubbed."""
    from radas.errors import RadasError

    try:
        return init(**kwargs)
    except Exception as exc:
        if api_key and api_key in str(exc):
            raise RadasError(f"{library}.init failed: {scrub(str(exc), api_key)}") from None
        raise


def log_metrics(run: Any, metrics: Any, step: int | None) -> None:
    """``run.log(metrics)`` after checking ``metrics`` is a dict (no-op without a run)."""
    if run is None:
        return
    if not isinstance(metrics, Mapping):
        raise RadasTypeError(f"metrics must be a dict of name -> value, got {type(metrics).__name__} {metrics!r}")
    if step is None:
        run.log(dict(metrics))
    else:
        run.log(dict(metrics), step=step)
