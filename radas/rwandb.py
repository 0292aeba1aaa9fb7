"""Weights & Biases from a trainable: :func:`rwandb_init`, :func:`rwandb_log`, :func:`rwandb_finish`.

Driven by the ``wandb`` block of the trial's config::

    param_space = {
        "wandb": {"enable": True, "api_key": "...", "init_kwargs": {"entity": "my-team"}},
        "lr": tune.grid_search([0.1, 0.01]),
    }

No block, or ``"enable": False``: every function is a no-op returning None. Inside a Ray Tune
trial the run defaults to ``project`` = ``group`` = the experiment name, ``name`` = the trial
name, ``id`` = the trial id with ``resume="allow"`` (a restored trial continues its run), files
under the trial's folder, and ``config`` = the trial's config without the ``wandb`` and
``swanlab`` blocks. ``init_kwargs`` override any of these. ``WANDB_MODE=offline`` (or
``init_kwargs={"mode": "offline"}``) works as usual.

The api_key goes to wandb through its in-memory settings: no ``wandb login``, nothing written
to ``~/.netrc`` or to the run's files. Without one, wandb uses ``WANDB_API_KEY`` or your login.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from typing import Any

from radas._tracking import log_metrics, run_config, start_run, tracker_block, trial_info
from radas.errors import MissingDependencyError

logger = logging.getLogger("radas")

_run: Any = None


def _import_wandb() -> Any:
    try:
        import wandb
    except ImportError as exc:
        raise MissingDependencyError(
            'config["wandb"] is enabled but wandb is missing: pip install "radas[wandb]"'
        ) from exc
    return wandb


def _with_api_key(wandb: Any, settings: Any, api_key: str) -> Any:
    if settings is None:
        return wandb.Settings(api_key=api_key)
    if isinstance(settings, Mapping):
        return wandb.Settings(**{**settings, "api_key": api_key})
    settings = copy.copy(settings)
    settings.api_key = api_key
    return settings


def rwandb_init(config: Mapping[str, Any]) -> Any:
    """Start the W&B run of this trial from ``config["wandb"]``; return it (None when disabled).

    A run started earlier in this process by ``rwandb_init`` is finished first.
    """
    global _run
    block = tracker_block(config, "wandb")
    if block is None:
        return None
    wandb = _import_wandb()
    kwargs: dict[str, Any] = {}
    info = trial_info()
    if info is not None:
        kwargs.update(
            project=info.experiment_name,
            group=info.experiment_name,
            name=info.trial_name,
            id=info.trial_id,
            resume="allow",
        )
        if info.trial_dir:
            kwargs["dir"] = info.trial_dir
    kwargs["config"] = run_config(config)
    kwargs.update(block.init_kwargs)
    if kwargs.get("dir"):
        os.makedirs(kwargs["dir"], exist_ok=True)
    if block.api_key:
        kwargs["settings"] = _with_api_key(wandb, kwargs.get("settings"), block.api_key)
    if _run is not None:
        rwandb_finish()
    _run = start_run("wandb", wandb.init, kwargs, block.api_key)
    logger.debug("wandb run %s started (project %s)", getattr(_run, "id", None), kwargs.get("project"))
    return _run


def rwandb_log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log ``metrics`` to the run started by :func:`rwandb_init` (no-op when there is none)."""
    log_metrics(_run, metrics, step)


def rwandb_finish() -> None:
    """Finish the run started by :func:`rwandb_init` (no-op when there is none)."""
    global _run
    run, _run = _run, None
    if run is not None:
        run.finish()
    return None


def rwandb_run() -> Any:
    """The run started by :func:`rwandb_init` in this process, or None."""
    return _run


__all__ = ["rwandb_init", "rwandb_log", "rwandb_finish", "rwandb_run"]
