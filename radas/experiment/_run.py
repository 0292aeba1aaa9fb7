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

from radas._reporter import say, show
from radas.backends import Backend, get_backend
from radas.errors import ExperimentFailedError, ExperimentNotFoundError
from radas.experiment import _analysis, _live, _notify, _report
from radas.experiment._call import CheckedCall, check_call, saved_figures
from radas.experiment._choice import choose
from radas.sweep import (
    ExperimentState,
    ResultsSoFar,
    SweepSpec,
    Tuner,
    default_tuner_to_df_fn,
    read_trial_notes,
    stalled_error,
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
    stall_timeout_s: float | bool | None = None,
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
        stall_timeout_s: seconds a trial may go without progress (a report; time spent inside
            ``tune.report`` does not count) before it is ended as stalled: the stacks of all
            its process's threads are saved in its folder (``stall-<time>.txt``), and it fails
            with a :class:`~radas.errors.TrialStalledError` that says for how long, where its
            training thread was stuck and where the stacks are (when the thread is blocked in C,
            e.g. on a socket or an NCCL call, its process is ended). It is retried like any
            failed trial (``max_failures``); the other trials go on. Default None: the
            trainable's own default (``radas.grpo.grpo_trainable``: ``max(600 s, 5 x`` its
            slowest step so far), 30 minutes to its first step), no watch for other trainables;
            ``False``: never watched. Not with ``run_with="memory"``.

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
    call = check_call(
        user_name=user_name, experiment_name=experiment_name, trainable=trainable, run_with=run_with,
        runtime_env=runtime_env, param_space=param_space, tuner_init_kwargs=tuner_init_kwargs,
        tuner_to_df_fn=tuner_to_df_fn, process_df_fn=process_df_fn, process_df_fn_kwargs=process_df_fn_kwargs,
        process_sns_fn=process_sns_fn, plot_fn=plot_fn, plot_kwargs=plot_kwargs, rename_mapping=rename_mapping,
        matplotlib_rcParams_update=matplotlib_rcParams_update, process_g_fn=process_g_fn, plot_format=plot_format,
        dos=dos, yes=yes, run_choice=run_choice, email_notification_to_address=email_notification_to_address,
        num_seeds=num_seeds, cpu_per_trial=cpu_per_trial, gpu_per_trial=gpu_per_trial, live_plot=live_plot,
        stall_timeout_s=stall_timeout_s,
    )
    backend = get_backend(call.run_with)
    spec = await backend.prepare(call.request(), check_resources=call.runs)

    started = time.monotonic()
    so_far = backend.results_so_far(spec)
    df: pd.DataFrame | None = None
    result: dict[str, Any] = {}
    stopped = touched = False
    try:
        # 2. Locate  3. Choose  4. Run
        state = await backend.locate(spec)
        if call.runs:
            action = await choose(call.run_choice, state, call.experiment_name, call.yes)
            touched = True
            async with _live.watching(backend, spec, so_far, call.live_plot, call.run_with, call.process_sns_fn,
                                      call.rcparams):
                stopped = await _do(backend, spec, action, state, call.secrets)
        elif not state.restorable:
            raise ExperimentNotFoundError(
                f"dos={list(call.phases)}: experiment {call.experiment_name!r} of user {call.user_name!r} has "
                f"no results to analyze at {state.path}; run it first (dos=['run', 'analyze'])"
            )
        # 5. Analyze
        touched = True
        tuner = await backend.open_results(spec)
        await asyncio.to_thread(_report_errors, tuner)
        result["tuner"] = tuner
        if call.analyzes:
            df = result["df"] = await asyncio.to_thread(_analysis.process_df, tuner, call.tuner_to_df_fn,
                                                        call.process_df_fn, call.process_df_fn_kwargs)
            if call.plot_fn is not None:
                result["fig"] = await asyncio.to_thread(
                    _analysis.plot, df, call.plot_fn, call.plot_kwargs, call.rename_mapping, call.rcparams,
                    call.process_sns_fn, call.process_g_fn, list(call.figure_paths),
                )
                show(result["fig"])
    except BaseException as exc:
        # 6. Report and notify (failure)
        failed = "interrupted" if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)) else "failed"
        await _finish(call, backend, spec, so_far, failed, time.monotonic() - started, result.get("fig"), exc,
                      touched, [])
        raise
    # 6. Report and notify (outcome)
    outcome = _notify.outcome_of(df, stopped)
    page = await _finish(call, backend, spec, so_far, outcome, time.monotonic() - started, result.get("fig"),
                         None, True, saved_figures(call))
    say("ok", f"experiment {call.experiment_name!r} {outcome} in {time.monotonic() - started:.1f} s; "
        f"results in {backend.experiment_path(spec)}" + (f"; report: {page}" if page else ""))
    return result


async def _finish(call: CheckedCall, backend: Backend, spec: SweepSpec, so_far: ResultsSoFar, state: str,
                  seconds: float, fig: Any, error: BaseException | None, write_page: bool,
                  saved: list[Path]) -> Path | None:
    """Write the report page (when the call ran or analyzed the sweep) and email it; never raises
    over it. Returns the page written (None: none)."""
    emails = list(call.emails)
    if not emails and (not write_page or backend.report_path(spec) is None):
        return None  # no one to tell, nowhere to write
    try:
        report = await asyncio.to_thread(_report.after_call, backend, spec, so_far, call.run_with, state, seconds,
                                         fig, error, write_page)
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
        last_line = (stalled_error(read_trial_notes(first.path), text)  # the watchdog ended its process
                     or (text.splitlines()[-1] if text else type(first.error).__name__))
        where = f" Full traceback: {first.path}/error.txt" if first.path else ""
        say("warning", f"{len(errored)} trial(s) errored (after retries); first: {last_line}.{where}")
