"""``run_experiment``: one awaitable call from a search space to a DataFrame, a figure and
an email.

The story of one call: **check** every argument, **locate** the experiment on its target,
**choose** what to do, **run** it (off the event loop, with progress), **analyze** the
results into a DataFrame and a figure, **notify** by email - then return
``{"df", "tuner", "fig"}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from radas._names import check_name
from radas._reporter import say, show
from radas.backends import Backend, get_backend
from radas.core import storage_paths
from radas.errors import ExperimentFailedError, ExperimentNotFoundError, RadasValueError
from radas.experiment import _analysis, _live, _notify, _report, _validate
from radas.experiment._choice import RUN_CHOICES, choose
from radas.sweep import (
    AUTO,
    ChecksParamSpace,
    ExperimentState,
    ResultsSoFar,
    SweepRequest,
    SweepSpec,
    Tuner,
    default_tuner_to_df_fn,
    take_secrets,
)


def _identity(x: Any) -> Any:
    return x


async def run_experiment(
    user_name: str,
    trainable: Callable[..., Any],
    experiment_name: str,
    run_with: str = "local",
    runtime_env: dict[str, Any] | None = None,
    param_space: dict[str, Any] | None = None,
    tuner_init_kwargs: dict[str, Any] | None = None,
    tuner_to_df_fn: Callable[[Tuner], pd.DataFrame] = default_tuner_to_df_fn,
    process_df_fn: Callable[..., pd.DataFrame] = _identity,
    process_df_fn_kwargs: dict[str, Any] | None = None,
    process_sns_fn: Callable[[Any], Any] = _analysis.default_process_sns_fn,
    plot_fn: Callable[..., Any] | None = None,
    plot_kwargs: dict[str, Any] | None = None,
    rename_mapping: dict[str, str] | None = None,
    matplotlib_rcParams_update: dict[str, Any] | None = None,  # noqa: N803
    process_g_fn: Callable[[Any], Any] = _identity,
    plot_format: str | Sequence[str] | None = None,
    dos: Sequence[str] = ("run", "analyze"),
    yes: bool = False,
    run_choice: str | None = None,
    email_notification_to_address: str | Sequence[str] | None = None,
    *,
    num_seeds: int | None = None,
    cpu_per_trial: float | None = None,
    gpu_per_trial: float | str | None = None,
    live_plot: bool | Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Run (or restore, attach to, analyze) a Ray Tune sweep and return its results.

    Args:
        user_name: whose experiment; a folder name under the results dir.
        trainable: a Ray Tune trainable (a function of ``config``, or a ``tune.Trainable``).
        experiment_name: the experiment's name; a folder name under the user's results dir.
        run_with: ``"local"`` (this machine's Ray) or ``"cluster:<name>"``.
        runtime_env: Ray runtime_env fields for the trials (``env_vars``, ``py_modules``,
            ``pip``, ``uv``, ``conda``...; not ``working_dir``), locally and on clusters.
            Secret-looking ``env_vars`` (KEY, TOKEN, SECRET, PASSWORD in the name) reach the
            trials through a private file instead of Ray.
        param_space: the search space (``tune.grid_search``, ``tune.loguniform``, ...).
        tuner_init_kwargs: ``tune_config`` / ``run_config`` (objects or dicts of their
            fields) and ``reuse_actors``. An object is used as written, Ray's defaults included;
            radas's defaults fill what a dict leaves out: ``reuse_actors`` for function
            trainables, 2 retries of a failed trial, ``verbose=0``, trial output to files.
            ``run_config`` ``name`` / ``storage_path`` are refused (the folder is
            ``experiment_name`` under the results folder).
        tuner_to_df_fn: results -> DataFrame (default: ``tuner.get_brief_dataframe()``).
        process_df_fn: ``process_df_fn(df, **process_df_fn_kwargs)`` -> the returned df.
        process_df_fn_kwargs: keyword arguments of ``process_df_fn``.
        process_sns_fn: called with the seaborn module before plotting (theme, context).
        plot_fn: a seaborn function (``sns.relplot``, ``sns.heatmap``, ...) or None.
        plot_kwargs: its arguments, passed to ``plot_fn`` unchanged (colormaps, norms,
            estimators included); only ``data`` may be a function of the df
            (``data=lambda df: df.pivot(...)``), called with it.
        rename_mapping: readable names for the columns the axis arguments name.
        matplotlib_rcParams_update: rcParams for this plot only.
        process_g_fn: called with what ``plot_fn`` returned (set titles, limits, ...).
        plot_format: ``"png"``, ``"pdf"``, ``"svg"`` or a list: saves the figure under
            ``./radas_figures/<user_name>/<experiment_name>.<format>``.
        dos: phases to do, from ``"run"`` and ``"analyze"``.
        yes: answer yes to confirmations.
        run_choice: what to do when the experiment exists: ``"run"`` (archive and start
            fresh), ``"restore"`` (continue), ``"attach"`` (follow the running sweep),
            ``"stop_attach"`` (stop it gracefully, analyze). Needed when no one can be asked.
        email_notification_to_address: email the outcome here when done (also on failure).
        num_seeds: run every configuration with seeds ``0..num_seeds-1`` (``config["seed"]``).
        cpu_per_trial: CPUs reserved for each trial (default 1, or the trainable's own
            ``tune.with_resources``; giving both is an error unless they agree).
        gpu_per_trial: GPUs reserved for each trial (fractions pack trials on one GPU);
            default 0 locally, ``cpu_per_trial * gpu_per_cpu`` of the cluster on a cluster;
            ``"auto"`` lets a trainable that can estimate its memory (``radas.grpo``) pack as
            many trials per GPU as fit. A request no node of the target can satisfy is an
            error before anything starts.
        live_plot: the figure redrawn from the results so far while the sweep runs (every few
            seconds, when anything changed), in place in a notebook, else into
            ``./radas_figures/<user_name>/<experiment_name>.live.png``: ``True`` for learning
            curves (the metric at each step, one line per trial; for trainables that report
            once, each trial's metric and the best so far), a plot function called with
            ``data=`` the results so far (one row per report), ``False`` for none. Default: the
            curves in a notebook when the trainable reports per iteration.

    The experiment's report page (``radas-report.html`` next to its results: counts, the trials,
    the best config, the figures, errors) is rewritten while the sweep runs and at the end of
    the call; the email carries the same report, figures inline.

    A trainable with a ``check_param_space(param_space)`` attribute (like
    ``radas.grpo.grpo_trainable``) has it called while the arguments are checked, so a bad key or
    file fails before any trial starts.

    Returns:
        ``{"df": DataFrame, "tuner": radas.Tuner}`` plus ``"fig"`` (a matplotlib Figure) when
        ``plot_fn`` was given. With ``dos=["run"]`` only ``"tuner"``.
    """
    # 1. Check
    check_name("user_name", user_name)
    check_name("experiment_name", experiment_name)
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
    if num_seeds is not None:
        _validate.check_positive("num_seeds", num_seeds, integer=True)
        if "seed" in space:
            raise RadasValueError("num_seeds is given but param_space already has 'seed'; use one of them")
        space["seed"] = tune.grid_search(list(range(num_seeds)))
    if isinstance(trainable, ChecksParamSpace):  # trainables may check their own keys and files, e.g. radas.grpo
        trainable.check_param_space(space)
    tune_config, run_config = _validate.build_configs(tuner_init_kwargs, trainable, space, experiment_name,
                                                      storage_paths(user_name, run_with))
    metric, mode = _validate.metric_mode(tune_config)
    backend = get_backend(run_with)
    spec = await backend.prepare(SweepRequest(
        user_name=user_name, experiment_name=experiment_name, trainable=trainable, param_space=space,
        tune_config=tune_config, run_config=run_config, runtime_env=env, cpu_per_trial=cpu_per_trial,
        gpu_per_trial=gpu_per_trial, total_trials=_validate.count_trials(space, tune_config),
        metric=metric, mode=mode, has_secrets=bool(secrets),
    ), check_resources="run" in phases)

    started = time.monotonic()
    so_far = backend.results_so_far(spec)
    df: pd.DataFrame | None = None
    result: dict[str, Any] = {}
    stopped = touched = False
    try:
        # 2. Locate  3. Choose  4. Run
        state = await backend.locate(spec)
        if "run" in phases:
            action = await choose(run_choice, state, experiment_name, yes)
            touched = True
            async with _live.watching(backend, spec, so_far, live_plot, run_with, process_sns_fn, rc):
                stopped = await _do(backend, spec, action, state, secrets)
        elif not state.restorable:
            raise ExperimentNotFoundError(
                f"dos={list(phases)}: experiment {experiment_name!r} of user {user_name!r} has "
                f"no results to analyze at {state.path}; run it first (dos=['run', 'analyze'])"
            )
        # 5. Analyze
        touched = True
        tuner = await backend.open_results(spec)
        await asyncio.to_thread(_report_errors, tuner)
        result["tuner"] = tuner
        if "analyze" in phases:
            df = await asyncio.to_thread(_analysis.process_df, tuner, tuner_to_df_fn, process_df_fn, df_kwargs)
            result["df"] = df
            if plot_fn is not None:
                result["fig"] = await asyncio.to_thread(
                    _analysis.plot, df, plot_fn, kwargs, renames, rc, process_sns_fn, process_g_fn,
                    _analysis.figure_paths(user_name, experiment_name, formats),
                )
                show(result["fig"])
    except BaseException as exc:
        # 6. Report and notify (failure)
        failed = "interrupted" if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)) else "failed"
        await _finish(backend, spec, so_far, run_with, failed, time.monotonic() - started, result.get("fig"), exc,
                      touched, emails, [])
        raise
    # 6. Report and notify (outcome)
    outcome = _notify.outcome_of(df, stopped)
    page = await _finish(backend, spec, so_far, run_with, outcome, time.monotonic() - started, result.get("fig"),
                         None, True, emails,
                         [p for p in _analysis.figure_paths(user_name, experiment_name, formats) if p.exists()])
    say("ok", f"experiment {experiment_name!r} {outcome} in {time.monotonic() - started:.1f} s; "
        f"results in {backend.experiment_path(spec)}" + (f"; report: {page}" if page else ""))
    return result


async def _finish(backend: Backend, spec: SweepSpec, so_far: ResultsSoFar, run_with: str, state: str, seconds: float,
                  fig: Any, error: BaseException | None, write_page: bool, emails: list[str],
                  saved: list[Path]) -> Path | None:
    """Write the report page (when the call ran or analyzed the sweep) and email it; never raises
    over it. Returns the page written (None: none)."""
    if not emails and (not write_page or backend.report_path(spec) is None):
        return None  # no one to tell, nowhere to write
    try:
        report = await asyncio.to_thread(_report.after_call, backend, spec, so_far, run_with, state, seconds, fig,
                                         error, write_page)
        email = _notify.compose(report, saved)
    except Exception as problem:  # noqa: BLE001 - the results (or the error) come back whatever the report does
        say("warning", f"the report of {spec.experiment_name!r} could not be made: {type(problem).__name__}: "
            f"{problem}")
        if emails:
            await asyncio.to_thread(_notify.send, emails, _notify.fallback(spec.experiment_name, state, seconds,
                                                                           error, problem))
        return None
    if emails:
        await asyncio.to_thread(_notify.send, emails, email)
    return report.page_path


async def _do(backend: Backend, spec: SweepSpec, action: str, state: ExperimentState,
              secrets: dict[str, str]) -> bool:
    """Carry out ``action``; True when the sweep was stopped before it finished."""
    if action in ("attach", "stop_attach") and not state.running and state.ended_badly:
        raise ExperimentFailedError(
            f"run_choice={action!r}: {state.ended_badly}. Its results so far are at {state.path}: see them "
            "with dos=['analyze'], continue the sweep with run_choice='restore'"
        )
    if action in ("run", "restore"):
        if state.running:
            try:
                await backend.stop(spec)
            except ExperimentFailedError as exc:  # it ended badly while stopping: start anyway
                say("warning", f"the running sweep ended badly while it was being stopped: {exc}")
        return await backend.run(spec, restore=action == "restore", secrets=secrets)
    if action == "attach":
        await backend.attach(spec)
        return False
    await backend.stop(spec)
    return state.running


def _report_errors(tuner: Any) -> None:
    """Say how many trials errored, the first error, and where its full traceback is."""
    errored = [r for r in tuner.get_results() if r.error is not None]
    if errored:
        first = errored[0]
        text = str(first.error).strip()
        last_line = text.splitlines()[-1] if text else type(first.error).__name__
        where = f" Full traceback: {first.path}/error.txt" if first.path else ""
        say("warning", f"{len(errored)} trial(s) errored (after retries); first: {last_line}.{where}")
