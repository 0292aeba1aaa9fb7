"""Preparing the user's trainable for Tune: secrets, the trials' runtime_env, resources.

Trials are Ray actors that Tune creates from the trainable's class. radas gives that class the
sweep's runtime_env for trials (``env_vars``, ``py_modules``, ``pip``, ``uv``, ``conda``... as
Ray supports them per actor), so variables are set before the trial's process imports anything,
and packages are installed by Ray's own runtime_env machinery (see :mod:`radas._ray`).
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import sysconfig
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ray import cloudpickle, tune

from radas import _ray
from radas.sweep._folder import ExperimentFolder
from radas.sweep._secrets import load_secrets
from radas.sweep._stall import watch_for_stalls
from radas.sweep._tuner import KEEPS_REPORTS, keep_reported_metrics

_INSTALLED = tuple(
    os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib", "stdlib")
)


def _send_by_value(trainable: Callable[..., Any]) -> None:
    """Pickle the trainable's own module by value when it is the user's code (a script, a
    notebook, a file next to it) rather than an installed package, so trials and cluster
    jobs can run it without importing that file."""
    module = sys.modules.get(getattr(trainable, "__module__", "") or "")
    path = getattr(module, "__file__", None)
    if module is None or module.__name__ == "__main__" or path is None:
        return
    if os.path.realpath(path).startswith(_INSTALLED):
        return
    cloudpickle.register_pickle_by_value(module)


# the loader of the sweep's secrets this process's trial called, for the processes the trial starts
_loaded: list[Callable[[], None]] = []


def _loader(user_name: str, experiment_name: str, sweep_id: str, has_secrets: bool) -> Callable[[], None]:
    """What a trial calls first: the sweep's secrets into its environment (see
    radas.sweep._secrets); nothing when the sweep has none. The loader holds the file's place,
    never a value."""
    def load() -> None:
        _loaded[:] = [load]
        if not has_secrets:
            return
        from radas.core import get_ray_results_dir

        load_secrets(ExperimentFolder(Path(get_ray_results_dir(user_name)), experiment_name).secrets_file(sweep_id))

    return load


def trial_secrets_loader() -> Callable[[], None]:
    """In a trial: the loader of its sweep's secrets (a function that holds the secrets file's
    place, no value), for the processes the trial starts to call first - Ray Train workers do not
    share the trial's environment, and secrets never travel in a runtime_env. Outside a trial: a
    loader that does nothing."""
    return _loaded[0] if _loaded else _no_secrets


def _no_secrets() -> None:
    """No sweep's secrets to load."""


def prepare_trainable(
    trainable: Callable[..., Any],
    user_name: str,
    experiment_name: str,
    sweep_id: str,
    trial_runtime_env: Mapping[str, Any],
    resources: Any,
    has_secrets: bool = False,
    stall_timeout_s: float | bool | None = None,
) -> type:
    """The Trainable class Tune runs for ``trainable``.

    Its results keep the metrics it reports under Ray's own keys
    (:func:`radas.tuner.keep_reported_metrics`). Each trial loads the secrets of sweep
    ``sweep_id`` when it starts (and makes the Ray Train runs it drives report without Ray's 2 s
    wait, :func:`radas._ray.quick_train_reports`); its actor gets ``trial_runtime_env`` (merged into Tune's own);
    ``resources`` (a ``PlacementGroupFactory``, or None to keep the
    trainable's own, e.g. from ``tune.with_resources``) are its resources per trial. Its trials
    are watched for stalls as ``stall_timeout_s`` says (:mod:`radas.sweep._stall`). Function
    trainables become Tune's function-trainable class, named as the function (so Tune can
    restore them and trial folders keep the function's name).
    """
    _send_by_value(trainable)
    load_secrets = _loader(user_name, experiment_name, sweep_id, has_secrets)

    def start_trial() -> None:
        _ray.quick_train_reports()
        load_secrets()

    own = _ray.own_resources(trainable)
    trainable = watch_for_stalls(keep_reported_metrics(trainable), stall_timeout_s)
    if inspect.isclass(trainable):
        user_class: Any = trainable

        class _Prepared(user_class):  # type: ignore[misc]
            def setup(self, config: dict[str, Any]) -> None:
                start_trial()
                super().setup(config)

        name = user_class.__name__
        prepared: Any = _Prepared
    else:
        user_function = trainable

        def returning(config: dict[str, Any]) -> Any:
            start_trial()
            return user_function(config)

        def yielding(config: dict[str, Any]) -> Any:  # Tune reports what a generator yields
            start_trial()
            yield from user_function(config)

        run = functools.wraps(user_function)(yielding if inspect.isgeneratorfunction(user_function) else returning)
        if own is not None:
            _ray.give_resources(run, own)
        name = getattr(trainable, "__name__", "trainable")
        prepared = _ray.wrap_function(run)
    if resources is not None:
        prepared = tune.with_resources(prepared, resources)
    prepared.__name__ = prepared.__qualname__ = name
    setattr(prepared, _ray.RUNTIME_ENV_ATTR, dict(trial_runtime_env))
    setattr(prepared, KEEPS_REPORTS, True)
    return prepared
