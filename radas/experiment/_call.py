"""The checked call: ``run_experiment``'s arguments after the check stage, as one frozen, typed
object that the later stages (locate, choose, run, analyze, notify) take.

:func:`check_call` reports every problem before anything starts; what it returns is what the
call *means*: the phases to do, the search space with seeds added and secrets taken out, the
Tune and run configs with radas's defaults, the sweep's metric, where figures go, who is told.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
from ray import tune

from radas._names import check_name
from radas.core import storage_paths
from radas.errors import RadasValueError
from radas.experiment import _analysis, _live, _validate
from radas.experiment._choice import RUN_CHOICES
from radas.sweep import AUTO, ChecksParamSpace, SweepRequest, take_secrets


@dataclass(frozen=True)
class CheckedCall:
    """One ``run_experiment`` call, checked: nothing in it can fail a later stage for a reason
    the check could have seen."""

    user_name: str
    experiment_name: str
    run_with: str
    trainable: Callable[..., Any]
    phases: tuple[str, ...]
    run_choice: str | None
    yes: bool
    param_space: dict[str, Any]
    runtime_env: dict[str, Any]
    tune_config: tune.TuneConfig
    run_config: tune.RunConfig
    metric: str | None
    mode: str | None
    total_trials: int | None
    cpu_per_trial: float | None
    gpu_per_trial: float | str | None
    tuner_to_df_fn: Callable[[Any], pd.DataFrame]
    process_df_fn: Callable[..., pd.DataFrame]
    process_df_fn_kwargs: dict[str, Any]
    process_sns_fn: Callable[[Any], Any]
    plot_fn: Callable[..., Any] | None
    plot_kwargs: dict[str, Any]
    rename_mapping: dict[str, str]
    rcparams: dict[str, Any]
    process_g_fn: Callable[[Any], Any]
    figure_paths: tuple[Path, ...]
    emails: tuple[str, ...]
    live_plot: bool | Callable[..., Any] | None
    # seconds a trial may go without progress (None: the trainable's default; False: not watched)
    stall_timeout_s: float | bool | None
    # the values of secret-looking env_vars and tracker keys: they travel apart from the sweep
    secrets: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def runs(self) -> bool:
        """The call runs trials (``"run"`` in ``dos``)."""
        return "run" in self.phases

    @property
    def analyzes(self) -> bool:
        """The call makes the DataFrame (and the figure) (``"analyze"`` in ``dos``)."""
        return "analyze" in self.phases

    def request(self) -> SweepRequest:
        """The sweep this call asks a target to prepare (no secret values in it)."""
        return SweepRequest(
            user_name=self.user_name, experiment_name=self.experiment_name, trainable=self.trainable,
            param_space=self.param_space, tune_config=self.tune_config, run_config=self.run_config,
            runtime_env=self.runtime_env, cpu_per_trial=self.cpu_per_trial, gpu_per_trial=self.gpu_per_trial,
            total_trials=self.total_trials, metric=self.metric, mode=self.mode, has_secrets=bool(self.secrets),
            stall_timeout_s=self.stall_timeout_s,
        )


def check_call(
    *, user_name: object, experiment_name: object, trainable: Any, run_with: str, runtime_env: object,
    param_space: object, tuner_init_kwargs: object, tuner_to_df_fn: Any, process_df_fn: Any,
    process_df_fn_kwargs: object, process_sns_fn: Any, plot_fn: Any, plot_kwargs: object, rename_mapping: object,
    matplotlib_rcParams_update: object, process_g_fn: Any, plot_format: object, dos: object,  # noqa: N803
    yes: object, run_choice: object, email_notification_to_address: object, num_seeds: object,
    cpu_per_trial: object, gpu_per_trial: object, live_plot: object, stall_timeout_s: object,
) -> CheckedCall:
    """Every argument of ``run_experiment`` checked, in the order a user reads them; the first
    problem is an error naming the parameter, the value and the valid ones."""
    user_name = check_name("user_name", user_name)
    experiment_name = check_name("experiment_name", experiment_name)
    _validate.check_callable("trainable", trainable)
    for name, fn in (("tuner_to_df_fn", tuner_to_df_fn), ("process_df_fn", process_df_fn),
                     ("process_sns_fn", process_sns_fn), ("process_g_fn", process_g_fn)):
        _validate.check_callable(name, fn)
    _validate.check_callable("plot_fn", plot_fn, allow_none=True)
    phases = _validate.check_dos(dos)
    _validate.check_run_choice(run_choice, phases, RUN_CHOICES)
    if not isinstance(yes, bool):
        raise RadasValueError(f"yes={yes!r}: must be True or False")
    env, space, secrets = take_secrets(_validate.check_runtime_env(runtime_env),
                                       _validate.check_dict("param_space", param_space, may_hold_secrets=True))
    df_kwargs = _validate.check_dict("process_df_fn_kwargs", process_df_fn_kwargs)
    kwargs = _validate.check_dict("plot_kwargs", plot_kwargs)
    renames = _validate.check_dict("rename_mapping", rename_mapping)
    rc = _validate.check_rcparams(matplotlib_rcParams_update)
    formats = _analysis.check_plot_format(plot_format)
    emails = _validate.check_email(email_notification_to_address)
    _live.check_live_plot(live_plot)
    if cpu_per_trial is not None:
        _validate.check_positive("cpu_per_trial", cpu_per_trial)
    if gpu_per_trial is not None and gpu_per_trial != AUTO:
        if isinstance(gpu_per_trial, str):
            raise RadasValueError(f"gpu_per_trial={gpu_per_trial!r}: use a number of GPUs per trial "
                                  f"(fractions pack trials on a GPU), {AUTO!r} or None")
        _validate.check_positive("gpu_per_trial", gpu_per_trial, allow_zero=True)
    if stall_timeout_s is not None and stall_timeout_s is not False:
        _check_stall_timeout(stall_timeout_s)
    if num_seeds is not None:
        _validate.check_positive("num_seeds", num_seeds, integer=True)
        if "seed" in space:
            raise RadasValueError("num_seeds is given but param_space already has 'seed'; use one of them")
        space["seed"] = tune.grid_search(list(range(cast(int, num_seeds))))
    if isinstance(trainable, ChecksParamSpace):  # trainables may check their own keys and files, e.g. radas.grpo
        trainable.check_param_space(space)
    tune_config, run_config = _validate.build_configs(tuner_init_kwargs, trainable, space, experiment_name,
                                                      storage_paths(user_name, run_with))
    metric, mode = _validate.metric_mode(tune_config)
    return CheckedCall(
        user_name=user_name, experiment_name=experiment_name, run_with=run_with, trainable=trainable,
        phases=phases, run_choice=run_choice if isinstance(run_choice, str) else None, yes=yes,
        param_space=space, runtime_env=env, tune_config=tune_config, run_config=run_config, metric=metric,
        mode=mode, total_trials=_validate.count_trials(space, tune_config),
        cpu_per_trial=cast("float | None", cpu_per_trial), gpu_per_trial=cast("float | str | None", gpu_per_trial),
        tuner_to_df_fn=tuner_to_df_fn, process_df_fn=process_df_fn,
        process_df_fn_kwargs=df_kwargs, process_sns_fn=process_sns_fn, plot_fn=plot_fn, plot_kwargs=kwargs,
        rename_mapping=renames, rcparams=rc, process_g_fn=process_g_fn,
        figure_paths=tuple(_analysis.figure_paths(user_name, experiment_name, formats)), emails=tuple(emails),
        live_plot=cast("bool | Callable[..., Any] | None", live_plot),
        stall_timeout_s=cast("float | bool | None", stall_timeout_s),
        secrets=secrets,
    )


def _check_stall_timeout(value: object) -> None:
    """``stall_timeout_s`` must be a positive, finite number of seconds (None and False are
    handled before)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise RadasValueError(
            f"stall_timeout_s={value!r}: must be a positive number of seconds a trial may go without reporting "
            "before it is ended as stalled, False (never) or None (the trainable's default: radas.grpo's "
            "grows with its steps, other trainables are not watched)")


def saved_figures(call: CheckedCall) -> list[Path]:
    """The figure files this call saved (``plot_format``)."""
    return [path for path in call.figure_paths if path.exists()]
