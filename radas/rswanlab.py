"""SwanLab from a trainable: :func:`rswanlab_init`, :func:`rswanlab_log`, :func:`rswanlab_finish`.

Driven by the ``swanlab`` block of the trial's config, like :mod:`radas.rwandb`::

    param_space = {
        "swanlab": {"enable": True, "api_key": "...", "init_kwargs": {"workspace": "my-team"}},
        "lr": tune.grid_search([0.1, 0.01]),
    }

No block, or ``"enable": False``: every function is a no-op returning None. Inside a Ray Tune
trial radas's defaults are ``project`` = ``group`` = the experiment name (characters SwanLab
does not allow in project names become ``_``), ``name`` = the trial name, a stable ``id``
derived from the trial with ``resume="allow"`` (a restored trial continues its run), logs in
``<trial folder>/swanlog`` (``log_dir``), and ``config`` = the trial's config without the
``wandb`` and ``swanlab`` blocks. SwanLab's own environment wins over these defaults:
``SWANLAB_LOG_DIR``, ``SWANLAB_PROJECT_NAME``, ``SWANLAB_EXPERIMENT_GROUP``,
``SWANLAB_EXPERIMENT_NAME``, ``SWANLAB_RUN_ID``, ``SWANLAB_RUN_RESUME`` (and their older
spellings ``SWANLAB_LOGDIR``, ``SWANLAB_PROJ_NAME``, ``SWANLAB_GROUP``, ``SWANLAB_EXP_NAME``,
``SWANLAB_RESUME``), and ``SWANLAB_MODE`` (radas never sets the mode); ``init_kwargs`` win over
both. Interactive prompts are off (trials have no terminal) unless ``init_kwargs["settings"]``
turns them on.

The api_key goes to SwanLab through its in-memory settings (``swanlab.login`` is not called,
so nothing is saved to a ``.netrc``). Without one, SwanLab uses ``SWANLAB_API_KEY`` or your login.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from radas._tracking import Tracker, TrialInfo, stable_id

# init argument -> the SwanLab environment variables that set it (and so replace radas's default)
ENV = {
    "log_dir": ("SWANLAB_LOG_DIR", "SWANLAB_LOGDIR"),
    "project": ("SWANLAB_PROJECT_NAME", "SWANLAB_PROJ_NAME"),
    "group": ("SWANLAB_EXPERIMENT_GROUP", "SWANLAB_GROUP"),
    "name": ("SWANLAB_EXPERIMENT_NAME", "SWANLAB_EXP_NAME"),
    "id": ("SWANLAB_RUN_ID",),
    "resume": ("SWANLAB_RUN_RESUME", "SWANLAB_RESUME"),
}
_PROJECT_CHARS = re.compile(r"[^0-9a-zA-Z_\-+.]")


def project_name(experiment_name: str) -> str:
    """``experiment_name`` as a SwanLab project name (1-100 of ``0-9a-zA-Z_-+.``)."""
    return _PROJECT_CHARS.sub("_", experiment_name)[:100] or "radas"


def _defaults(trial: TrialInfo) -> dict[str, Any]:
    return {
        "project": project_name(trial.experiment_name),
        "group": trial.experiment_name,
        "name": trial.trial_name,
        "id": stable_id(trial.experiment_name, trial.trial_id),
        "resume": "allow",
        "log_dir": os.path.join(trial.trial_dir, "swanlog") if trial.trial_dir else None,
    }


def _prepare(swanlab: Any, kwargs: dict[str, Any], api_key: str | None) -> dict[str, Any]:
    """The older ``logdir`` spelling as ``log_dir``; settings with prompts off and the api_key."""
    kwargs = dict(kwargs)
    if "logdir" in kwargs:
        kwargs["log_dir"] = kwargs.pop("logdir")
    given = kwargs.get("settings")
    if given is None:
        data: dict[str, Any] = {}
    elif isinstance(given, Mapping):
        data = dict(given)
    else:
        data = given.model_dump(exclude_unset=True)
    data.setdefault("interactive", False)
    if api_key:
        data["api_key"] = api_key
    kwargs["settings"] = swanlab.Settings(**data)
    return kwargs


_tracker = Tracker("swanlab", _defaults, ENV, _prepare, dir_argument="log_dir")


def rswanlab_init(config: Mapping[str, Any]) -> Any:
    """Start the SwanLab run of this trial from ``config["swanlab"]``; return it (None when disabled).

    A run started earlier in this process by ``rswanlab_init`` is finished first.
    """
    return _tracker.start(config)


def rswanlab_log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log ``metrics`` to the run started by :func:`rswanlab_init` (no-op when there is none)."""
    _tracker.log(metrics, step)


def rswanlab_finish() -> None:
    """Finish the run started by :func:`rswanlab_init` (no-op when there is none)."""
    _tracker.finish()


def rswanlab_run() -> Any:
    """The run started by :func:`rswanlab_init` in this process, or None."""
    return _tracker.run


__all__ = ["rswanlab_init", "rswanlab_log", "rswanlab_finish", "rswanlab_run", "project_name"]
