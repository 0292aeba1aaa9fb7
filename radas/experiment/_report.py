"""An experiment's report page, written next to its results at the end of every call (and rewritten
while its sweep runs), the index page of a user's experiments, and :func:`report`, which writes
both on demand (``radas report USER [EXPERIMENT]``).

A report is gathered from the sweep's results log and progress file (cheap, and the same for a
sweep that runs, ended or died): status and counts, duration, the best config, interactive charts
(:mod:`._interactive`: a metric picker over every reported metric, learning curves per config with
the seeds aggregated, the optimisation history, parallel coordinates, importance and slices per
parameter, and a GRPO section for GRPO sweeps, with sample completions of its best and worst trial),
the trials (sortable, best first), the call's own
figure, and the errored trials with their last error line and folder. The email carries static
figures of the same, seed-aware views (:mod:`._figures`), drawn only when an email is sent.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radas._names import check_name
from radas._reporter import clock, say
from radas._safefile import write_atomic
from radas.backends import MEMORY, Backend, get_backend
from radas.errors import ExperimentNotFoundError, RadasValueError
from radas.experiment import _figures, _interactive, _page
from radas.experiment._page import Figure
from radas.sweep import (
    ExperimentFolder,
    Progress,
    ResultsSoFar,
    SweepSpec,
    experiment_names,
    index_file,
    read_samples,
)

# metrics besides the sweep's own that the trials table shows at most
OTHER_METRICS = 5
# trials tried from each end of the ranking for the best's and the worst's sample completions
SAMPLE_LOOKUPS = 5
# trials the email's table lists (the report lists them all)
BEST_ROWS = 5
# the page's layout: a page written by another layout is rewritten even when the results are the same
PAGE_LAYOUT = 2

logger = logging.getLogger("radas")


class Report:
    """What a report page and the email show of one experiment.

    Its trials and history are read from ``results`` when first asked for, and its static
    figures (for the email) drawn when first asked for: a call that neither writes a page nor
    sends an email reads and draws nothing."""

    def __init__(self, *, user: str, experiment: str, run_with: str, state: str, metric: str | None,
                 mode: str | None, progress: Progress | None, seconds: float | None, results_path: str,
                 trials: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                 page_path: Path | None = None, error: str | None = None, figures: list[Figure] | None = None,
                 results: ResultsSoFar | None = None, call_figure: Figure | None = None, insights: bool = True,
                 look_first: bool = False) -> None:
        self.user, self.experiment, self.run_with, self.state = user, experiment, run_with, state
        self.metric, self.mode, self.progress, self.seconds = metric, mode, progress, seconds
        self.results_path, self.page_path, self.error = results_path, page_path, error
        self.call_figure, self.insights = call_figure, insights
        self._samples: list[dict[str, Any]] | None = None
        self._results = results
        self._look_first = look_first  # read what is new in ``results`` before reading them
        self._trials, self._history, self._figures = trials, history, figures

    def _source(self) -> ResultsSoFar | None:
        if self._results is not None and self._look_first:
            self._look_first = False
            self._results.refresh()
            progress = self._results.progress
            if progress is not None:
                self.progress = progress
                self.metric, self.mode = self.metric or progress.metric, self.mode or progress.mode
        return self._results

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial: status, error, config/..., its last result, trial_path."""
        if self._trials is None:
            results = self._source()
            trials = results.get_dataframe() if results is not None else pd.DataFrame()
            if not trials.empty and results is not None:
                trials["trial_path"] = trials["trial_id"].map(results.trial_paths())
            self._trials = trials
        return self._trials

    @property
    def history(self) -> pd.DataFrame:
        """Every reported row."""
        if self._history is None:
            results = self._source()
            self._history = results.get_iteration_dataframe() if results is not None else pd.DataFrame()
        return self._history

    @property
    def figures(self) -> list[Figure]:
        """The call's figure and the static ones radas draws (for the email), drawn when first asked for."""
        if self._figures is None:
            self._figures = figures(self, self.call_figure, self.insights)
        return self._figures

    @figures.setter
    def figures(self, value: list[Figure]) -> None:
        self._figures = value

    def counts(self) -> str:
        """``10 terminated, 2 errored (12 in all)`` (or the progress of a running sweep)."""
        if self.progress is not None and self.state == "running":
            return f"{self.progress.done}/{self.progress.total_now()} done, {self.progress.status()}"
        if self.trials.empty or "status" not in self.trials:
            return "no trial has reported yet"
        by_status = self.trials["status"].value_counts()
        text = ", ".join(f"{n} {'errored' if s == 'ERROR' else str(s).lower()}" for s, n in by_status.items())
        return text if len(by_status) == 1 else f"{text} ({len(self.trials)} in all)"

    def ranked(self) -> pd.DataFrame:
        """The trials, best first (by the sweep's metric, else as they came)."""
        y = _figures.metric_column(self.trials, self.metric)
        if y is None or self.trials.empty:
            return self.trials
        values = pd.to_numeric(self.trials[y], errors="coerce")
        order = values.sort_values(ascending=self.mode == "min", na_position="last").index
        return self.trials.loc[order]

    def columns(self) -> list[str]:
        """The trials table's columns: status, the metric, the varying parameters, a few other
        metrics, the trial's id."""
        df = self.trials
        y = _figures.metric_column(df, self.metric)
        params = _figures.varying_params(df) or [c for c in df.columns if str(c).startswith("config/")][:5]
        others = [c for c in df.columns if c not in (y, "trial_id", "status", "error", "training_iteration")
                  and not str(c).startswith("config/") and pd.api.types.is_numeric_dtype(df[c])
                  and not pd.api.types.is_bool_dtype(df[c])][:OTHER_METRICS]
        iteration = ["training_iteration"] if "training_iteration" in df and _figures.is_iterative(self.history) else []
        return [c for c in ["status", y, *params, *others, *iteration, "trial_id"] if c is not None and c in df]

    def best_config(self) -> dict[str, Any]:
        """The config of the best trial (empty without a metric)."""
        if _figures.metric_column(self.trials, self.metric) is None or self.trials.empty:
            return {}
        best = self.ranked().iloc[0]
        return {str(k).removeprefix("config/"): _plain(v) for k, v in best.items() if str(k).startswith("config/")}

    def samples(self) -> list[dict[str, Any]]:
        """Sample completions (:class:`radas.sweep.SampleLog`) of the best and the worst trial (by
        the sweep's metric; without one, the first and the last) at the first, the middle and the
        last step each kept, read from their folders when first asked for: one row per completion
        (trial, which trial, step, which sample of the step, reward, prompt, completion)."""
        if self._samples is None:
            ranked = _figures.metric_column(self.trials, self.metric) is not None
            self._samples = samples_of(self.ranked(), ranked)
        return self._samples

    def errors(self) -> list[tuple[str, str, str]]:
        """(trial id, last error line, folder) of every errored trial."""
        if self.trials.empty or "status" not in self.trials:
            return []
        errored = self.trials[self.trials["status"] == "ERROR"]
        return [(str(row.get("trial_id", "")), str(row.get("error") or "error"), str(row.get("trial_path") or ""))
                for _, row in errored.iterrows()]


def samples_of(trials: pd.DataFrame, ranked: bool) -> list[dict[str, Any]]:
    """:meth:`Report.samples` of ``trials`` (best first when ``ranked``)."""
    if trials.empty or "trial_path" not in trials or "trial_id" not in trials:
        return []
    found = list(zip(trials["trial_id"].astype(str), trials["trial_path"], strict=True))
    ends = (("best", found[:SAMPLE_LOOKUPS]), ("worst", found[::-1][:SAMPLE_LOOKUPS])) if ranked else (
        ("first", found[:SAMPLE_LOOKUPS]), ("last", found[::-1][:SAMPLE_LOOKUPS]))
    rows: list[dict[str, Any]] = []
    shown: set[str] = set()
    for which, candidates in ends:
        for trial, path in candidates:
            steps = read_samples(path) if trial not in shown else {}
            if not steps:
                continue
            shown.add(trial)
            kept = list(steps)
            middle = min(kept, key=lambda k: abs(k - kept[-1] / 2))
            for step in dict.fromkeys([kept[0], middle, kept[-1]]):
                rows += [{"trial": trial, "trial rank": which, "step": step, **sample} for sample in steps[step]]
            break
    return rows


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def gather(results: ResultsSoFar, *, user: str, experiment: str, run_with: str, state: str, metric: str | None,
           mode: str | None, seconds: float | None, results_path: str, page_path: Path | None,
           call_figure: Figure | None = None, error: str | None = None, insights: bool = True,
           look: bool = True, look_later: bool = False) -> Report:
    """The report of an experiment from its results so far (``look``: read what is new first;
    ``look_later``: only when the trials are first asked for). Its trials are read, and its static
    figures drawn (the call's own, learning curves and, with ``insights``, importance and parallel
    coordinates), when first asked for."""
    if look and not look_later:
        results.refresh()
    progress = results.progress
    if progress is not None:
        metric, mode = metric or progress.metric, mode or progress.mode
        seconds = progress.elapsed_s() if seconds is None else seconds
    return Report(user=user, experiment=experiment, run_with=run_with, state=state, metric=metric, mode=mode,
                  progress=progress, seconds=seconds, results_path=results_path, page_path=page_path, error=error,
                  results=results, call_figure=call_figure, insights=insights, look_first=look and look_later)


def figures(report: Report, call_figure: Figure | None, insights: bool) -> list[Figure]:
    """The report's static figures as PNGs (the email's): the call's own, then those radas draws
    from the results, seeds aggregated. One that cannot be drawn is left out (and logged)."""
    found = [call_figure] if call_figure is not None else []
    makers: list[tuple[str, str, Any]] = [
        ("curves", "Learning curves: the metric at each step, mean and range of the seeds per config",
         lambda: _figures.curves(report.history, report.metric))]
    if insights:
        one_per_trial = report.trials.drop(columns=["trial_path"], errors="ignore")
        makers += [
            ("importance", "Parameter importance (fANOVA) of the config means: how much of the metric each "
             "parameter explains (seeds left out)", lambda: _figures.importance(one_per_trial, report.metric)),
            ("parallel", "Parallel coordinates: every config across its parameters and the metric (mean of "
             "its seeds)", lambda: _figures.parallel(one_per_trial, report.metric, report.mode))]
    for name, caption, make in makers:
        try:
            png = _figures.drawn(lambda make=make: _png_of(make()))
        except Exception as exc:  # noqa: BLE001 - a figure radas cannot draw from these results is left out
            logger.info("the %s figure was not drawn: %s: %s", name, type(exc).__name__, exc)
            continue
        if png is not None:
            found.append(Figure(name, caption, png))
    return found


def _png_of(fig: Any) -> bytes | None:
    return None if fig is None else _figures.png(fig)


def page(report: Report, source: str = "") -> str:
    """The HTML page of ``report`` (``source``: the fingerprint of what it was drawn from, kept in
    the page so that an unchanged page is not written again)."""
    rows = [("Status", report.state), ("Trials", report.counts())]
    if report.seconds is not None:
        rows.append(("Duration", clock(report.seconds)))
    y = _figures.metric_column(report.trials, report.metric)
    best = report.best_config()
    if y is not None and best:
        order = f" ({report.mode})" if report.mode else ""
        rows.append((f"Best {y}{order}", _page.number(report.ranked().iloc[0][y])))
    rows += [("User", report.user), ("Ran on", report.run_with), ("Results", report.results_path)]
    top = [_page.section("Summary", _page.facts(rows))]
    if best:
        top.append(_page.section("Best config", _page.code(json.dumps(best, indent=2, default=str))))
    body = [_page.grid(*top)]
    if report.error:
        body.append(_page.section("Error", _page.code(report.error)))
    payload = _interactive.build(report.trials.drop(columns=["trial_path"], errors="ignore"), report.history,
                                 y, report.mode)
    if payload is not None:
        body.append(_interactive.charts_section(payload))
        body.append(_interactive.grpo_section(payload, report.samples()))
    if not report.trials.empty:
        labels = {c: c.removeprefix("config/") for c in report.trials.columns if str(c).startswith("config/")}
        body.append(_page.section(f"Trials ({len(report.trials)}), best first",
                                  _page.table(report.ranked().to_dict("records"), report.columns(), "trials",
                                              labels),
                                  _page.note("Click a column's name to sort by it.")))
    if report.call_figure is not None:
        body.append(_page.section("Figure of the call", _page.figure(report.call_figure)))
    errors = report.errors()
    if errors:
        columns = ["trial", "last error line", "folder"]
        body.append(_page.section(f"Errored trials ({len(errors)})",
                                  _page.table([dict(zip(columns, e, strict=True)) for e in errors], columns, "errors")))
    footer = (f"Written by radas on {time.strftime('%Y-%m-%d %H:%M:%S')}. Refresh it with: "
              f"radas report {report.user} {report.experiment}")
    head = f'<meta name="radas-source" content="{html.escape(source)}">' if source else ""
    return _page.document(report.experiment, report.state, body, footer, reload=report.state == "running",
                          subtitle=f"radas report of {report.user}'s experiment", head=head,
                          scripts=_interactive.scripts(payload) if payload is not None else "")


def write(path: Path, text: str) -> None:
    """Replace the page at ``path`` (atomically; its folder must exist)."""
    write_atomic(path, text.encode(), mode=0o644)


def source_of(folder: ExperimentFolder, *facts: object) -> str:
    """A fingerprint of what a page of ``folder`` is drawn from: its results log (as files go: the
    same inode, size and time), its progress file, and ``facts`` (state, figure, error...)."""
    digest = hashlib.sha256(repr((PAGE_LAYOUT, facts)).encode())
    for path in (folder.results_file, folder.progress_file):
        try:
            stat = path.stat()
        except OSError:
            digest.update(b"-")
            continue
        digest.update(repr((stat.st_ino, stat.st_size, stat.st_mtime_ns)).encode())
    return digest.hexdigest()[:32]


def source_of_page(path: Path) -> str | None:
    """The fingerprint a page at ``path`` was written with (None: none, or no page)."""
    try:
        with path.open("rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    start = head.find('<meta name="radas-source" content="')
    if start < 0:
        return None
    start += len('<meta name="radas-source" content="')
    return head[start:head.find('"', start)] or None


def after_call(backend: Backend, spec: SweepSpec, results: ResultsSoFar, run_with: str, state: str,
               seconds: float, fig: Any, error: BaseException | None, write_page: bool) -> Report:
    """The report at the end of a ``run_experiment`` call: gathered from the results so far with the
    call's figure (``fig``, kept next to the results for later reports) and, with ``write_page``,
    written next to the results (targets without a results folder keep it in the email only).

    A page drawn from the same results, state, error and figure as the one there is not written
    again (an ``analyze`` of a sweep that has not changed costs no page), and nothing is read or
    drawn until the page or the email needs it."""
    call_figure = None
    if fig is not None:
        call_figure = Figure("figure", "The figure of this call (plot_fn)", _figures.drawn(_figures.png, fig))
    page_path = backend.report_path(spec) if write_page else None
    if page_path is not None and not page_path.parent.is_dir():
        page_path = None  # nothing ran: no folder to write into
    error_text = None if error is None else f"{type(error).__name__}: {error}".strip()
    source = ""
    if page_path is not None:
        folder = backend.folder(spec)
        if call_figure is not None:
            current = folder.figure_file.read_bytes() if folder.figure_file.exists() else None
            if current != call_figure.png:
                write_atomic(folder.figure_file, call_figure.png, mode=0o644)
        figure_hash = hashlib.sha256(call_figure.png).hexdigest() if call_figure is not None else None
        source = source_of(folder, state, error_text, figure_hash, run_with, spec.metric, spec.mode)
    unchanged = page_path is not None and source_of_page(page_path) == source
    found = gather(results, user=spec.user_name, experiment=spec.experiment_name, run_with=run_with, state=state,
                   metric=spec.metric, mode=spec.mode, seconds=seconds,
                   results_path=str(backend.experiment_path(spec)), page_path=page_path, call_figure=call_figure,
                   error=error_text, look_later=unchanged)
    if page_path is not None and not unchanged:
        write(page_path, page(found, source))
    return found


def state_of(folder: ExperimentFolder) -> str:
    """How an experiment stands, from its folder: running, finished, stopped, failed, died."""
    progress = folder.progress()
    if folder.holder() is not None:
        return "running"
    if progress is None:
        return "unknown"
    if folder.ended_badly(progress):
        return "failed" if progress.state == "failed" else "died"
    return progress.state


def report(user_name: str, experiment_name: str | None = None, run_with: str = "local") -> Path:
    """Write (or refresh) the HTML report of an experiment and the index page of the user's
    experiments; print and return the path of the page asked for.

    The report is written next to the experiment's results (``radas-report.html`` in its folder,
    which ``run_experiment`` also writes at the end of every call and rewrites while the sweep
    runs); the index (``radas-index.html`` in the user's results folder) lists every experiment
    with its status, progress, best result and a link to its report. Pages are self-contained
    (figures inline, no network), so they can be mailed or copied anywhere.

    Args:
        user_name: whose experiments.
        experiment_name: the experiment to report on; None: only the index (and a report for
            each experiment that has none yet).
        run_with: where the experiments ran: ``"local"`` or ``"cluster:<name>"`` (its shared
            results folder as mounted here; the cluster itself is not contacted).

    Returns:
        The experiment's report page, or the index page without ``experiment_name``.
    """
    check_name("user_name", user_name)
    if experiment_name is not None:
        check_name("experiment_name", experiment_name)
    if run_with == MEMORY:
        raise RadasValueError(f"run_with={run_with!r} keeps results in the process that ran them; a report is "
                              "written from a results folder: use 'local' or 'cluster:<name>'")
    root = get_backend(run_with).user_root(user_name)
    names = experiment_names(root)
    if experiment_name is None and not root.is_dir():  # no folder to write the index into
        raise ExperimentNotFoundError(
            f"user {user_name!r} has no experiments: there is no folder {root} (nothing ran as user_name="
            f"{user_name!r} with run_with={run_with!r}); `radas experiments --all-users` lists whose experiments "
            "are there")
    if experiment_name is not None:
        if experiment_name not in names:
            raise ExperimentNotFoundError(
                f"experiment_name={experiment_name!r}: user {user_name!r} has no such experiment in {root}; "
                f"there are: {names or 'none'}")
        target = refresh_page(root, user_name, experiment_name, run_with)
    for name in names:
        if not ExperimentFolder(root, name).report_file.exists():
            refresh_page(root, user_name, name, run_with)
    index = write_index(root, user_name, names)
    path = target if experiment_name is not None else index
    say("ok", f"report: {path}")
    return path


def refresh_page(root: Path, user: str, experiment: str, run_with: str) -> Path:
    """Write the report page of an experiment from its folder; its path."""
    from radas.sweep import LoggedResults

    folder = ExperimentFolder(root, experiment)
    call_figure = None
    if folder.figure_file.exists():
        drawn = time.strftime("%Y-%m-%d %H:%M", time.localtime(folder.figure_file.stat().st_mtime))
        call_figure = Figure("figure", f"The figure of the last run_experiment call (drawn {drawn})",
                             folder.figure_file.read_bytes())
    progress = folder.progress()
    state = state_of(folder)
    source = source_of(folder, state, "refresh", hashlib.sha256(call_figure.png).hexdigest() if call_figure else None)
    text = page(gather(LoggedResults(folder), user=user, experiment=experiment, run_with=run_with, state=state,
                       metric=None, mode=None, seconds=progress.elapsed_s() if progress else None,
                       results_path=str(folder.path), page_path=folder.report_file, call_figure=call_figure), source)
    write(folder.report_file, text)
    return folder.report_file


def write_index(root: Path, user: str, names: Sequence[str]) -> Path:
    """Write the index page of ``user``'s experiments (``names``: from :func:`experiment_names`,
    which skips what cannot be an experiment); its path."""
    rows = []
    for name in names:
        check_name("experiment_name", name)  # a name read from disk reaches no page unchecked
        folder = ExperimentFolder(root, name)
        progress = folder.progress()
        best = ""
        if progress is not None and progress.best is not None and progress.metric:
            best = f"{progress.metric}={_page.number(progress.best)}"
        updated = folder.progress_file.stat().st_mtime if progress is not None else None
        rows.append({
            "experiment": _page.link([name, folder.report_file.name], name) if folder.report_file.exists()
            else name,
            "status": state_of(folder),
            "done": progress.done if progress else None,
            "trials": progress.total_now() if progress else None,
            "errored": progress.errored if progress else None,
            "best": best,
            "updated": time.strftime("%Y-%m-%d %H:%M", time.localtime(updated)) if updated else "",
        })
    columns = ["experiment", "status", "done", "trials", "errored", "best", "updated"]
    body = [_page.section("Experiments", _page.note(f"{len(rows)} experiments in {root}. Click a column's name to "
                                                    "sort by it."),
                          _page.table(rows, columns, "experiments"))]
    path = index_file(root)
    write(path, _page.document(f"{user}'s experiments", f"{len(rows)} experiments", body,
                               f"Written by radas on {time.strftime('%Y-%m-%d %H:%M:%S')}. Refresh it with: "
                               f"radas report {user}", reload=False))
    return path
