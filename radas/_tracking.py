"""Shared by :mod:`radas.rwandb` and :mod:`radas.rswanlab`: the config block, the trial, the run."""

from __future__ import annotations

import hashlib
import logging
import os
import string
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from radas._deps import require
from radas.errors import RadasError, RadasTypeError, RadasValueError

logger = logging.getLogger("radas")

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


class Tracker:
    """The run of one tracker (``wandb`` or ``swanlab``) in this process, driven by the trial
    config's block of that name: what :mod:`radas.rwandb` and :mod:`radas.rswanlab` share.

    Inside a Ray Tune trial radas fills in default ``init`` arguments (``defaults(trial)``); a
    default is left out when the tracker's own environment sets it (``env``: init argument ->
    the tracker's variables for it), and ``init_kwargs`` override everything. ``prepare``
    turns the final arguments into the library's (its settings object, the api_key).
    """

    def __init__(
        self,
        library: str,
        defaults: Callable[[TrialInfo], dict[str, Any]],
        env: Mapping[str, tuple[str, ...]],
        prepare: Callable[[Any, dict[str, Any], str | None], dict[str, Any]],
        dir_argument: str,
    ) -> None:
        self.library = library
        self.defaults = defaults
        self.env = env
        self.prepare = prepare
        self.dir_argument = dir_argument
        self.run: Any = None

    def _module(self) -> Any:
        return require(self.library, f'config["{self.library}"] (enabled)')

    def init_kwargs(self, block: TrackerBlock, config: Mapping[str, Any]) -> dict[str, Any]:
        """The ``init`` arguments before ``prepare``: radas's defaults the environment does not
        set, the config to record, then the block's ``init_kwargs``."""
        info = trial_info()
        defaults = self.defaults(info) if info is not None else {}
        kwargs = {
            name: value
            for name, value in defaults.items()
            if value is not None and not any(os.environ.get(var) for var in self.env.get(name, ()))
        }
        kwargs["config"] = run_config(config)
        kwargs.update(block.init_kwargs)
        return kwargs

    def start(self, config: Mapping[str, Any]) -> Any:
        """Start the run asked for by ``config`` (finishing this process's previous one); return
        it, or None when the block is absent or disabled."""
        block = tracker_block(config, self.library)
        if block is None:
            return None
        module = self._module()
        kwargs = self.prepare(module, self.init_kwargs(block, config), block.api_key)
        if kwargs.get(self.dir_argument):
            os.makedirs(kwargs[self.dir_argument], exist_ok=True)
        self.finish()
        try:
            self.run = module.init(**kwargs)
        except Exception as exc:
            if block.api_key and block.api_key in str(exc):
                raise RadasError(f"{self.library}.init failed: {scrub(str(exc), block.api_key)}") from None
            raise
        logger.debug("%s run %s started (project %s)", self.library, getattr(self.run, "id", None),
                     kwargs.get("project"))
        return self.run

    def log(self, metrics: Any, step: int | None) -> None:
        """``run.log(metrics)`` after checking ``metrics`` is a dict (no-op without a run)."""
        if self.run is None:
            return
        if not isinstance(metrics, Mapping):
            raise RadasTypeError(f"metrics must be a dict of name -> value, got {type(metrics).__name__} {metrics!r}")
        if step is None:
            self.run.log(dict(metrics))
        else:
            self.run.log(dict(metrics), step=step)

    def finish(self) -> None:
        """Finish the run (no-op without one)."""
        run, self.run = self.run, None
        if run is not None:
            run.finish()
