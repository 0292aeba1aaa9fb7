"""Weights & Biases from a trainable: :func:`rwandb_init`, :func:`rwandb_log`, :func:`rwandb_finish`.

Driven by the ``wandb`` block of the trial's config::

    param_space = {
        "wandb": {"enable": True, "api_key": "...", "init_kwargs": {"entity": "my-team"}},
        "lr": tune.grid_search([0.1, 0.01]),
    }

No block, or ``"enable": False``: every function is a no-op returning None. Inside a Ray Tune
trial radas's defaults are ``project`` = ``group`` = the experiment name, ``name`` = the trial
name, ``id`` = the trial id with ``resume="allow"`` (a restored trial continues its run), files
under the trial's folder (``dir``), and ``config`` = the trial's config without the ``wandb`` and
``swanlab`` blocks. W&B's own environment wins over these defaults: ``WANDB_DIR``,
``WANDB_PROJECT``, ``WANDB_RUN_GROUP``, ``WANDB_NAME``, ``WANDB_RUN_ID`` and ``WANDB_RESUME``,
and ``WANDB_MODE`` (radas never sets the mode), as usual; ``init_kwargs`` win over both.

The api_key goes to wandb through its in-memory settings: no ``wandb login``, nothing written
to ``~/.netrc`` or to the run's files. Without one, wandb uses ``WANDB_API_KEY`` or your login.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from radas._tracking import Tracker, TrialInfo

# init argument -> the W&B environment variable that sets it (and so replaces radas's default)
ENV = {
    "dir": ("WANDB_DIR",),
    "project": ("WANDB_PROJECT",),
    "group": ("WANDB_RUN_GROUP",),
    "name": ("WANDB_NAME",),
    "id": ("WANDB_RUN_ID",),
    "resume": ("WANDB_RESUME",),
}


def _defaults(trial: TrialInfo) -> dict[str, Any]:
    return {
        "project": trial.experiment_name,
        "group": trial.experiment_name,
        "name": trial.trial_name,
        "id": trial.trial_id,
        "resume": "allow",
        "dir": trial.trial_dir,
    }


def _prepare(wandb: Any, kwargs: dict[str, Any], api_key: str | None) -> dict[str, Any]:
    """Put the api_key into wandb's in-memory settings (a dict or a ``wandb.Settings`` given)."""
    if not api_key:
        return kwargs
    settings = kwargs.get("settings")
    if settings is None:
        settings = wandb.Settings(api_key=api_key)
    elif isinstance(settings, Mapping):
        settings = wandb.Settings(**{**settings, "api_key": api_key})
    else:
        settings = copy.copy(settings)
        settings.api_key = api_key
    return {**kwargs, "settings": settings}


_tracker = Tracker("wandb", _defaults, ENV, _prepare, dir_argument="dir")


def rwandb_init(config: Mapping[str, Any]) -> Any:
    """Start the W&B run of this trial from ``config["wandb"]``; return it (None when disabled).

    A run started earlier in this process by ``rwandb_init`` is finished first.
    """
    return _tracker.start(config)


def rwandb_log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log ``metrics`` to the run started by :func:`rwandb_init` (no-op when there is none)."""
    _tracker.log(metrics, step)


def rwandb_finish() -> None:
    """Finish the run started by :func:`rwandb_init` (no-op when there is none)."""
    _tracker.finish()


def rwandb_run() -> Any:
    """The run started by :func:`rwandb_init` in this process, or None."""
    return _tracker.run


__all__ = ["rwandb_init", "rwandb_log", "rwandb_finish", "rwandb_run"]
