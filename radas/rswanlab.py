"""SwanLab from a trainable: :func:`rswanlab_init`, :func:`rswanlab_log`, :func:`rswanlab_finish`.

Driven by the ``swanlab`` block of the trial's config, like :mod:`radas.rwandb`::

    param_space = {
        "swanlab": {"enable": True, "api_key": "...", "init_kwargs": {"workspace": "my-team"}},
        "lr": tune.grid_search([0.1, 0.01]),
    }

No block, or ``"enable": False``: every function is a no-op returning None. Inside a Ray Tune
trial the run defaults to ``project`` = ``group`` = the experiment name (characters SwanLab
does not allow in project names become ``_``), ``name`` = the trial name, a stable ``id``
derived from the trial with ``resume="allow"`` (a restored trial continues its run), logs in
``<trial folder>/swanlog``, and ``config`` = the trial's config without the ``wandb`` and
``swanlab`` blocks. ``init_kwargs`` override any of these; ``SWANLAB_MODE=offline`` (or
``init_kwargs={"mode": "offline"}``, or ``"local"``) works as usual. Interactive prompts are
off (trials have no terminal) unless ``init_kwargs["settings"]`` turns them on.

The api_key goes to SwanLab through its in-memory settings (``swanlab.login`` is not called,
so nothing is saved to a ``.netrc``). Without one, SwanLab uses ``SWANLAB_API_KEY`` or your login.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from radas._tracking import log_metrics, run_config, stable_id, start_run, tracker_block, trial_info
from radas.errors import MissingDependencyError

logger = logging.getLogger("radas")

_run: Any = None
_PROJECT_CHARS = re.compile(r"[^0-9a-zA-Z_\-+.]")


def _import_swanlab() -> Any:
    try:
        import swanlab
    except ImportError as exc:
        raise MissingDependencyError(
            'config["swanlab"] is enabled but swanlab is missing: pip install "radas[swanlab]"'
        ) from exc
    return swanlab


def _settings(swanlab: Any, given: Any, api_key: str | None) -> Any:
    if given is None:
        data: dict[str, Any] = {}
    elif isinstance(given, Mapping):
        data = dict(given)
    else:
        data = given.model_dump(exclude_unset=True)
    data.setdefault("interactive", False)
    if api_key:
        data["api_key"] = api_key
    return swanlab.Settings(**data)


def project_name(experiment_name: str) -> str:
    """``experiment_name`` as a SwanLab project name (1-100 of ``0-9a-zA-Z_-+.``)."""
    return _PROJECT_CHARS.sub("_", experiment_name)[:100] or "radas"


def rswanlab_init(config: Mapping[str, Any]) -> Any:
    """Start the SwanLab run of this trial from ``config["swanlab"]``; return it (None when disabled).

    A run started earlier in this process by ``rswanlab_init`` is finished first.
    """
    global _run
    block = tracker_block(config, "swanlab")
    if block is None:
        return None
    swanlab = _import_swanlab()
    kwargs: dict[str, Any] = {}
    info = trial_info()
    if info is not None:
        kwargs.update(
            project=project_name(info.experiment_name),
            group=info.experiment_name,
            name=info.trial_name,
            id=stable_id(info.experiment_name, info.trial_id),
            resume="allow",
        )
        if info.trial_dir:
            kwargs["log_dir"] = os.path.join(info.trial_dir, "swanlog")
    kwargs["config"] = run_config(config)
    kwargs.update(block.init_kwargs)
    if "logdir" in kwargs:  # the older SwanLab spelling
        kwargs["log_dir"] = kwargs.pop("logdir")
    if kwargs.get("log_dir"):
        os.makedirs(kwargs["log_dir"], exist_ok=True)
    kwargs["settings"] = _settings(swanlab, kwargs.get("settings"), block.api_key)
    if _run is not None:
        rswanlab_finish()
    _run = start_run("swanlab", swanlab.init, kwargs, block.api_key)
    logger.debug("swanlab run %s started (project %s)", getattr(_run, "id", None), kwargs.get("project"))
    return _run


def rswanlab_log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log ``metrics`` to the run started by :func:`rswanlab_init` (no-op when there is none)."""
    log_metrics(_run, metrics, step)


def rswanlab_finish() -> None:
    """Finish the run started by :func:`rswanlab_init` (no-op when there is none)."""
    global _run
    run, _run = _run, None
    if run is not None:
        run.finish()
    return None


def rswanlab_run() -> Any:
    """The run started by :func:`rswanlab_init` in this process, or None."""
    return _run


__all__ = ["rswanlab_init", "rswanlab_log", "rswanlab_finish", "rswanlab_run", "project_name"]
