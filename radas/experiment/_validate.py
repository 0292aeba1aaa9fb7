"""Argument checks of ``run_experiment``: every problem is reported before anything starts."""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ray import tune

from radas._ray import setting as ray_setting
from radas.errors import RadasTypeError, RadasValueError
from radas.sweep import NeedsFreshWorkers, SilentTuneReporter

DOS: tuple[str, ...] = ("run", "analyze")
TUNER_INIT_KEYS: tuple[str, ...] = ("tune_config", "run_config", "reuse_actors")
DEFAULT_MAX_FAILURES = 2


def check_callable(param: str, value: object, allow_none: bool = False) -> None:
    """``value`` must be callable (or None when allowed)."""
    if value is None and allow_none:
        return
    if not callable(value):
        raise RadasTypeError(f"{param} must be callable, got {type(value).__name__} {value!r}")


def check_dict(param: str, value: object, may_hold_secrets: bool = False) -> dict[str, Any]:
    """``value`` as a dict (None means empty); anything else is an error naming ``param`` (and,
    unless it ``may_hold_secrets``, showing the value)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RadasTypeError(f"{param} must be a dict, got {_shown(value, may_hold_secrets)}")
    return dict(value)


def _shown(value: object, may_hold_secrets: bool) -> str:
    """``value`` for an error message: its type and, when it may hold a secret, its size only."""
    if not may_hold_secrets:
        return f"{type(value).__name__} {value!r}"
    size = f" of {len(value)} item(s)" if isinstance(value, (list, tuple, set, dict)) else ""
    return f"a {type(value).__name__}{size} (values not shown: they may be secrets)"


def check_dos(dos: object) -> tuple[str, ...]:
    """``dos`` must be a non-empty list of phases from :data:`DOS`."""
    if isinstance(dos, str) or not isinstance(dos, (list, tuple, set, frozenset)):
        raise RadasTypeError(f"dos must be a list of phases from {list(DOS)}, got {dos!r}")
    bad = [d for d in dos if d not in DOS]
    if bad or not dos:
        raise RadasValueError(f"dos={list(dos)!r}: invalid phase(s) {bad}; valid phases: {list(DOS)}")
    return tuple(d for d in DOS if d in dos)


def check_run_choice(run_choice: object, dos: tuple[str, ...], valid: tuple[str, ...]) -> None:
    """``run_choice`` must be None or one of ``valid``, and only makes sense with "run"."""
    if run_choice is not None and run_choice not in valid:
        raise RadasValueError(f"run_choice={run_choice!r} is not valid; use None or one of {list(valid)}")
    if run_choice is not None and "run" not in dos:
        raise RadasValueError(
            f"run_choice={run_choice!r} needs 'run' in dos (dos={list(dos)}); "
            "to only analyze existing results leave run_choice=None"
        )


def check_runtime_env(runtime_env: object) -> dict[str, Any]:
    """A dict of Ray runtime_env fields, without ``working_dir`` (radas sets that); ``env_vars`` a
    dict of names to values, ``py_modules`` / ``excludes`` lists."""
    env = check_dict("runtime_env", runtime_env, may_hold_secrets=True)
    if "working_dir" in env:
        raise RadasValueError(
            "runtime_env['working_dir'] must not be set: radas sets it to the current working "
            "directory; `cd` there before running, or use py_modules for other code"
        )
    env_vars = env.get("env_vars")
    if env_vars is not None:
        if not isinstance(env_vars, Mapping):
            raise RadasTypeError(
                f"runtime_env['env_vars'] must be a dict of variable names to values, got "
                f"{_shown(env_vars, may_hold_secrets=True)}")
        bad = [k for k, v in env_vars.items() if not isinstance(k, str) or not isinstance(v, (str, int, float))
               or isinstance(v, bool)]
        if bad:
            raise RadasTypeError(f"runtime_env['env_vars']: {bad} must map names (str) to values (str or number)")
    for key in ("py_modules", "excludes"):
        value = env.get(key)
        if value is not None and (isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple))):
            raise RadasTypeError(
                f"runtime_env[{key!r}] must be a list (e.g. [{value!r}]), got {type(value).__name__} {value!r}")
    return env


def check_rcparams(update: object) -> dict[str, Any]:
    """``matplotlib_rcParams_update``: a dict of valid rcParams keys and values (checked by
    matplotlib's own validators, before anything starts; matplotlib is not imported for none)."""
    update = check_dict("matplotlib_rcParams_update", update)
    if not update:
        return update
    import matplotlib

    bad = [k for k in update if k not in matplotlib.rcParams]
    if bad:
        raise RadasValueError(
            f"matplotlib_rcParams_update: unknown rcParams key(s) {bad}; see matplotlib.rcParams.keys()"
        )
    scratch = matplotlib.RcParams()
    for key, value in update.items():
        try:
            scratch[key] = value  # type: ignore[index]  # the key was checked above
        except (ValueError, TypeError) as exc:
            raise RadasValueError(f"matplotlib_rcParams_update[{key!r}] = {value!r}: {exc}") from None
    return update


# local part @ domain with a dot, no spaces, commas or angle brackets: one address per list item
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+")


def check_email(address: object) -> list[str]:
    """``email_notification_to_address``: None, an address or a list of addresses."""
    if address is None:
        return []
    addresses = [address] if isinstance(address, str) else address
    if not isinstance(addresses, (list, tuple)) or not addresses or not all(isinstance(a, str) for a in addresses):
        raise RadasTypeError(
            f"email_notification_to_address={address!r}: give an address or a list of addresses")
    bad = [a for a in addresses if not _EMAIL.fullmatch(a.strip())]
    if bad:
        raise RadasValueError(
            f"email_notification_to_address={address!r}: {bad} is not an email address like alice@lab.org "
            "(several addresses go in a list, not one string)")
    return [a.strip() for a in addresses]


def check_positive(param: str, value: object, integer: bool = False, allow_zero: bool = False) -> None:
    """``value`` must be a finite positive (or non-negative) number, an int when ``integer``."""
    kind = int if integer else (int, float)
    if not isinstance(value, kind) or isinstance(value, bool) or not math.isfinite(value) or (
        value < 0 if allow_zero else value <= 0
    ):
        sign = "non-negative" if allow_zero else "positive"
        raise RadasValueError(f"{param}={value!r}: must be a {sign} {'int' if integer else 'number'}")


def _as_dataclass(param: str, value: object, cls: type) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        names = [f.name for f in dataclasses.fields(cls)]
        bad = [k for k in value if k not in names]
        if bad:
            raise RadasValueError(f"{param}: unknown field(s) {bad}; valid fields: {names}")
        return cls(**value)
    raise RadasTypeError(
        f"{param} must be a ray.tune.{cls.__name__} or a dict of its fields, got {type(value).__name__}"
    )


def build_configs(
    tuner_init_kwargs: object, trainable: Callable[..., Any], param_space: Mapping[str, Any] | None = None,
    experiment_name: str | None = None, storage_paths: Sequence[str] = (),
) -> tuple[tune.TuneConfig, tune.RunConfig]:
    """Tune and run configs from ``tuner_init_kwargs`` with radas's defaults filled in where the
    user said nothing.

    A ``TuneConfig`` or ``RunConfig`` *object* is taken as written: every field of it is kept,
    Ray's defaults included (``reuse_actors=False``, ``FailureConfig()`` without retries), since
    an object cannot tell a value set on purpose from Ray's default. radas's defaults fill the
    fields a *dict* of fields leaves out, or a config not given at all:

    * ``reuse_actors``: True for function trainables (their worker serves trial after trial) unless
      the trainable says its trials need fresh workers (:class:`~radas.sweep.NeedsFreshWorkers`);
      ``tuner_init_kwargs["reuse_actors"]`` overrides the tune config's;
    * ``failure_config``: :data:`DEFAULT_MAX_FAILURES` retries;
    * ``verbose``: 0 (radas shows its own progress bar, and Tune's reporter is silenced - in a
      notebook it would clear the cell's output); a ``verbose`` set on a RunConfig object or in
      a dict is kept, so ``verbose=1`` shows Tune's status table as well;
    * ``log_to_file``: True (trial output goes to files in the trial folder: radas does not
      stream the workers' output to the console); Ray's ``False`` on an object counts as unset.

    radas owns the experiment folder (``experiment_name`` under the user's results folder):
    ``name`` is accepted when it is ``experiment_name`` and ``storage_path`` when it is one of
    ``storage_paths`` (the user's results folder), as Ray Tune's examples set them; any other value,
    and ``storage_filesystem``, is an error that says what to use instead.
    """
    kwargs = check_dict("tuner_init_kwargs", tuner_init_kwargs)
    bad = [k for k in kwargs if k not in TUNER_INIT_KEYS]
    if bad:
        raise RadasValueError(
            f"tuner_init_kwargs: unknown key(s) {bad}; valid keys: {list(TUNER_INIT_KEYS)} "
            "(trainable and param_space are run_experiment's own arguments)"
        )
    return (_tune_config(kwargs, trainable, param_space or {}),
            _run_config(kwargs.get("run_config"), experiment_name, storage_paths))


def _tune_config(kwargs: Mapping[str, Any], trainable: Callable[..., Any],
                 param_space: Mapping[str, Any]) -> tune.TuneConfig:
    raw = kwargs.get("tune_config")
    tune_config = _as_dataclass("tuner_init_kwargs['tune_config']", raw, tune.TuneConfig)
    reuse = kwargs.get("reuse_actors")
    if reuse is None and (isinstance(raw, tune.TuneConfig) or (isinstance(raw, Mapping) and "reuse_actors" in raw)):
        reuse = tune_config.reuse_actors
    if reuse is None:
        fresh = isinstance(trainable, NeedsFreshWorkers) and trainable.needs_fresh_workers(param_space)
        reuse = inspect.isfunction(inspect.unwrap(trainable)) and not fresh
    if not isinstance(reuse, bool):
        raise RadasTypeError(f"tuner_init_kwargs['reuse_actors'] must be a bool, got {reuse!r}")
    tune_config = dataclasses.replace(tune_config, reuse_actors=reuse)
    _check_metric_mode(tune_config)
    samples = tune_config.num_samples
    if not isinstance(samples, int) or isinstance(samples, bool) or samples == 0 or samples < -1:
        raise RadasValueError(
            f"tune_config num_samples={samples!r}: use a positive int (how often the search space is sampled), "
            "or -1 to sample until a stopping condition")
    return tune_config


# RunConfig fields that would move the experiment folder away from where radas looks for it
_FOLDER_FIELDS: dict[str, str] = {
    "name": "radas names the experiment folder after experiment_name; pass experiment_name instead (or the "
    "same name in both)",
    "storage_path": "radas keeps results in the user's results folder; set RADAS_RESULTS_DIR (or "
    "results_dir in the config file, or the cluster's results_dir) instead",
    "storage_filesystem": "radas keeps results in the user's results folder, a local or shared path; "
    "set RADAS_RESULTS_DIR (or results_dir in the config file, or the cluster's results_dir) instead",
}


def _run_config(raw: object, experiment_name: str | None = None, storage_paths: Sequence[str] = ()) -> tune.RunConfig:
    param = "tuner_init_kwargs['run_config']"
    if isinstance(raw, Mapping) and isinstance(raw.get("failure_config"), Mapping):
        failure = _as_dataclass(f"{param}['failure_config']", raw["failure_config"], tune.FailureConfig)
        raw = {**raw, "failure_config": failure}
    run_config = _as_dataclass(param, raw, tune.RunConfig)
    given = _given_run_fields(raw, run_config)
    changes: dict[str, Any] = {}
    if "name" in given and run_config.name == experiment_name:
        given.discard("name")  # the same folder radas uses: fine
        changes["name"] = None
    if "storage_path" in given and isinstance(run_config.storage_path, str) and os.path.normpath(
            os.path.expanduser(run_config.storage_path)) in storage_paths:
        given.discard("storage_path")
        changes["storage_path"] = tune.RunConfig().storage_path
    for field, why in _FOLDER_FIELDS.items():
        if field in given:
            raise RadasValueError(f"{param}: {field}={getattr(run_config, field)!r} cannot be set: {why}")
    if "verbose" not in given:
        changes["verbose"] = 0
    if "progress_reporter" not in given and changes.get("verbose", run_config.verbose) == 0:
        changes["progress_reporter"] = SilentTuneReporter()
    if "failure_config" not in given:
        changes["failure_config"] = tune.FailureConfig(max_failures=DEFAULT_MAX_FAILURES)
    if "log_to_file" not in given:
        changes["log_to_file"] = True
    return dataclasses.replace(run_config, **changes)


def _given_run_fields(raw: object, run_config: tune.RunConfig) -> set[str]:
    """The RunConfig fields the user set: a dict's keys (not None), or what an object holds
    beyond Ray's defaults (an object's ``failure_config`` always counts as set)."""
    if raw is None:
        return set()
    if isinstance(raw, Mapping):
        return {key for key, value in raw.items() if value is not None}
    default = tune.RunConfig()
    given = {"failure_config"}
    if run_config.name is not None:
        given.add("name")
    if run_config.storage_path != default.storage_path:
        given.add("storage_path")
    if run_config.storage_filesystem is not None:
        given.add("storage_filesystem")
    if ray_setting(run_config, "verbose") is not None:  # Ray keeps the verbose it was given
        given.add("verbose")
    if run_config.log_to_file:
        given.add("log_to_file")
    if run_config.progress_reporter is not None:
        given.add("progress_reporter")
    return given


def _check_metric_mode(tune_config: tune.TuneConfig) -> None:
    if tune_config.mode not in (None, "min", "max"):
        raise RadasValueError(f"tune_config mode={tune_config.mode!r}: use 'min' or 'max'")
    if (tune_config.metric is None) != (tune_config.mode is None):
        raise RadasValueError(
            f"tune_config: metric={tune_config.metric!r} and mode={tune_config.mode!r} must be set together"
        )


def count_trials(param_space: Mapping[str, Any], tune_config: tune.TuneConfig) -> int | None:
    """How many trials the sweep will run (None when a search algorithm decides)."""
    if tune_config.num_samples is None or tune_config.num_samples < 0:
        return None
    if tune_config.search_alg is not None:
        return tune_config.num_samples
    return tune_config.num_samples * math.prod(_grid_sizes(param_space))


def _grid_sizes(space: Any) -> list[int]:
    if isinstance(space, Mapping):
        if set(space) == {"grid_search"}:
            return [len(space["grid_search"])]
        return [n for value in space.values() for n in _grid_sizes(value)]
    return []


def metric_mode(tune_config: Any) -> tuple[str | None, str | None]:
    """The metric and mode of a sweep: its TuneConfig's, else its searcher's or scheduler's."""
    for source in (tune_config, tune_config.search_alg, tune_config.scheduler):
        if source is None:
            continue
        metric = getattr(source, "metric", None) or ray_setting(source, "metric")
        mode = getattr(source, "mode", None) or ray_setting(source, "mode")
        if isinstance(metric, str) and mode in ("min", "max"):
            return metric, mode
    return None, None
