"""``radas.Tuner`` (public as :mod:`radas.tuner`): a ``ray.tune.Tuner`` that also gives tidy DataFrames.

* :meth:`Tuner.get_dataframe` - one row per trial: its last reported result, its config as
  ``config/<key>`` columns (nested keys joined with ``/``), ``status`` and ``error``.
* :meth:`Tuner.get_brief_dataframe` - the same without Ray's bookkeeping columns.
* :meth:`Tuner.get_iteration_dataframe` - every reported row of every trial with its config,
  for learning curves.

A metric the trainable reports under one of Ray's own result keys (``done``, ``pid``,
``timestamp``, ...) is kept: Ray replaces those values inside the trial before anything is
recorded, so the Tuner's trainable keeps a copy of them under :data:`REPORTED_KEY` and the
DataFrames show the trial's own value in that column.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray import tune

from radas import _ray
from radas.sweep._folder import NOTES_FILE, final_statuses

BOOKKEEPING_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "done",
    "trial_id",
    "date",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "time_since_restore",
    "iterations_since_restore",
    "checkpoint_dir_name",
    "logdir",
)

# Ray's result keys a trial may also report: Ray replaces most of them inside the trial (pid,
# done, timestamp, ...) and the brief frame drops them all, so the trial's own values are copied
# under REPORTED_KEY. trial_id and config name the trial and stay Ray's.
RAY_RESULT_KEYS: tuple[str, ...] = (
    *(c for c in BOOKKEEPING_COLUMNS if c != "trial_id"), "experiment_tag",
)
REPORTED_KEY = "radas_reported"
KEEPS_REPORTS = "_radas_keeps_reports"  # set on trainables whose results already keep them

def annotate_trial(trial_path: str | os.PathLike[str], **values: Any) -> None:
    """Record ``values`` (JSON-serialisable) about a trial in ``<trial_path>/radas-notes.json``;
    they become columns of :meth:`Tuner.get_dataframe` (e.g. why a stopper ended the trial).

    Called on the driver (a Tune callback, stopper or scheduler, with ``trial.path``), or in the
    trial's own process (the stall watchdog, with its folder on the sweep's storage). Later
    values of a key replace earlier ones; the file is replaced atomically.
    """
    folder = Path(trial_path)
    folder.mkdir(parents=True, exist_ok=True)
    notes = {**read_trial_notes(folder), **values}
    tmp = folder / f".{NOTES_FILE}.tmp"
    tmp.write_text(json.dumps(notes, default=str))
    tmp.replace(folder / NOTES_FILE)


def read_trial_notes(trial_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The values :func:`annotate_trial` recorded for a trial (``{}`` when none)."""
    if not trial_path:
        return {}
    try:
        notes = json.loads((Path(trial_path) / NOTES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return notes if isinstance(notes, dict) else {}


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}`` (with ``prefix`` prepended to every key)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def error_line(trial: Any) -> str:
    """The last line of a Tune trial's error (for a trial that errored); for a trial whose process
    the stall watchdog ended, the watchdog's message (:func:`radas.sweep._stall.stalled_error`)."""
    from radas.sweep._stall import stalled_error_of  # it imports this module

    stalled = stalled_error_of(trial, read_trial_notes(trial.path))
    if stalled is not None:
        return stalled
    error = trial.get_error()
    if error is None:
        return "error (no details saved)"
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _keep_reported(metrics: Any) -> Any:
    """``metrics`` plus a copy of the values it reports under Ray's own keys (:data:`REPORTED_KEY`)."""
    if not isinstance(metrics, Mapping):
        return metrics
    clashing = {key: metrics[key] for key in RAY_RESULT_KEYS if key in metrics}
    return {**metrics, REPORTED_KEY: clashing} if clashing else metrics


def keep_reported_metrics(trainable: Any) -> Any:
    """``trainable`` (a function or a ``tune.Trainable`` class, same name) whose results keep
    the values it reports under Ray's own keys; :class:`Tuner` applies it."""
    if getattr(trainable, KEEPS_REPORTS, False):  # already done (radas's prepared trainables)
        return trainable
    if inspect.isclass(trainable):
        user_class: Any = trainable

        class _Keeping(user_class):  # type: ignore[misc]
            def step(self) -> Any:
                return _keep_reported(super().step())

        _Keeping.__name__ = user_class.__name__
        _Keeping.__qualname__ = user_class.__qualname__
        return _Keeping
    if not callable(trainable):  # a registered name: Tune's, left as it is
        return trainable

    if inspect.isgeneratorfunction(trainable):  # Tune reports what it yields

        @functools.wraps(trainable)
        def keeping_each(config: dict[str, Any]) -> Any:
            with _ray.reports_transformed(_keep_reported):
                for output in trainable(config):
                    yield _keep_reported(output)

        return keeping_each

    @functools.wraps(trainable)
    def keeping(config: dict[str, Any]) -> Any:
        with _ray.reports_transformed(_keep_reported):
            return _keep_reported(trainable(config))

    return keeping


def _with_reported(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """A result's flat metrics with the trial's own values of Ray's keys, and those keys."""
    metrics = dict(metrics)
    metrics.pop("config", None)
    reported = metrics.pop(REPORTED_KEY, None)
    reported = flatten(reported) if isinstance(reported, Mapping) else {}
    return {**flatten(metrics), **reported}, set(reported)


def _with_reported_columns(history: pd.DataFrame) -> pd.DataFrame:
    """A trial's per-report frame with the trial's own values of Ray's keys in their columns."""
    prefix = f"{REPORTED_KEY}/"
    copies = [c for c in history.columns if c.startswith(prefix)]
    for column in copies:
        name = column[len(prefix):]
        own = history[column]
        history[name] = own.where(own.notna(), history[name]) if name in history.columns else own
    return history.drop(columns=copies)


@dataclass
class TrialRecord:
    """What the DataFrames show of one trial."""

    trial_id: str
    config: Mapping[str, Any]
    last_result: Mapping[str, Any]
    status: str
    error: str | None
    path: str | None
    history: pd.DataFrame | None  # every reported row (None / empty: none)


class ResultFrames:
    """The DataFrame accessors of :class:`Tuner`, over :meth:`_records` (one per trial)."""

    def _records(self) -> list[TrialRecord]:
        raise NotImplementedError

    def _rows(self) -> list[tuple[dict[str, Any], set[str]]]:
        """Per trial: its :meth:`get_dataframe` row and the Ray keys the trial reported itself."""
        rows = []
        for record in self._records():
            row, reported = _with_reported(record.last_result)
            row["trial_id"] = record.trial_id
            row.update(flatten(record.config, "config/"))
            row.update(read_trial_notes(record.path))
            row["status"] = record.status
            row["error"] = record.error
            rows.append((row, reported))
        return rows

    def get_dataframe(self) -> pd.DataFrame:
        """One row per trial: last result, ``config/...`` columns, ``status`` and ``error``."""
        return pd.DataFrame([row for row, _ in self._rows()])

    def get_brief_dataframe(self) -> pd.DataFrame:
        """:meth:`get_dataframe` without Ray's bookkeeping columns (and without ``error``
        when no trial errored). A bookkeeping column a trial reported itself keeps the
        trial's own value."""
        df = pd.DataFrame([
            {key: value for key, value in row.items() if key not in BOOKKEEPING_COLUMNS or key in reported}
            for row, reported in self._rows()
        ])
        if "error" in df.columns and df["error"].isna().all():
            df = df.drop(columns="error")
        return df

    def get_iteration_dataframe(self) -> pd.DataFrame:
        """Every reported result of every trial (one row per report) with its config and
        ``trial_id``: the frame for learning curves (e.g. ``x="training_iteration"``)."""
        histories, constants, order = [], [], {}
        for record in self._records():
            history = record.history
            if history is None or history.empty:
                continue
            if any(c.startswith(f"{REPORTED_KEY}/") for c in history.columns):  # a trial reported Ray's keys
                history = _with_reported_columns(history.copy())  # not the caller's frame (Ray's own)
            own = {"trial_id": record.trial_id, "status": record.status,
                   **read_trial_notes(record.path), **flatten(record.config, "config/")}
            # the columns in the order of a concat of per-trial frames (Tune's config columns replaced)
            order.update(dict.fromkeys([*(c for c in history.columns if not c.startswith("config/")), *own]))
            histories.append(history)
            constants.append(own)
        if not histories:
            return pd.DataFrame()
        # one concat and whole-column operations: a frame operation per trial, times hundreds of
        # trials, was most of an analyze-only call. A trial's own values (its id, status, notes and
        # config) replace only its own rows of a column that other trials report.
        history = pd.concat(histories, ignore_index=True)
        history = history.drop(columns=[c for c in history.columns if c.startswith("config/")])
        rows = np.repeat(np.arange(len(constants)), [len(h) for h in histories])
        table = pd.DataFrame(constants)
        for key in table.columns:  # a None stays None (an object column), as in a per-trial frame
            if any(key in own and own[key] is None for own in constants):
                table[key] = pd.Series([own.get(key, np.nan) for own in constants], dtype=object)
        per_row = table.iloc[rows].reset_index(drop=True)
        for key in per_row.columns.intersection(history.columns):
            has_key = np.array([key in own for own in constants])[rows]
            history[key] = per_row[key].where(has_key, history[key])
        history = pd.concat([history, per_row.drop(columns=history.columns.intersection(per_row.columns))], axis=1)
        return history[list(order)]


class Tuner(ResultFrames, tune.Tuner):
    """A ``ray.tune.Tuner`` with DataFrame accessors; everything of Ray's Tuner works.

    Its trainable is wrapped with :func:`keep_reported_metrics`, so the DataFrames show a
    metric the trainable reports under one of Ray's own keys (``done``, ``pid``, ...).
    """

    def __init__(self, trainable: Any = None, **kwargs: Any) -> None:
        """``ray.tune.Tuner(trainable, **kwargs)``."""
        super().__init__(keep_reported_metrics(trainable) if trainable is not None else None, **kwargs)

    @classmethod
    def restore(cls, path: str | os.PathLike[str], trainable: Any, **kwargs: Any) -> Tuner:  # type: ignore[override]
        """Load the experiment at ``path`` (see ``ray.tune.Tuner.restore``) as a radas Tuner."""
        base = tune.Tuner.restore(str(path), keep_reported_metrics(trainable), **kwargs)
        return cls(_tuner_internal=_ray.tuner_internal(base))

    def _records(self) -> list[TrialRecord]:
        """The experiment's trials, with the final statuses its radas driver recorded: Ray's
        saved state can still say PAUSED/PENDING for trials a scheduler ended while paused."""
        results = self.get_results()
        final = final_statuses(Path(results.experiment_path))
        records = []
        for trial in _ray.trials_of(results):
            ended = final.get(trial.trial_id) in ("TERMINATED", "ERROR")
            if trial.status in ("PAUSED", "PENDING", "RUNNING") and ended:
                _ray.set_trial_status(trial, final[trial.trial_id])
            records.append(TrialRecord(
                trial_id=trial.trial_id, config=trial.config, last_result=trial.last_result or {},
                status=trial.status,
                error=error_line(trial) if trial.status == "ERROR" else None, path=trial.path,
                history=_ray.trial_history(results, trial.trial_id)))
        return records


def default_tuner_to_df_fn(tuner: ResultFrames) -> pd.DataFrame:
    """The default ``tuner_to_df_fn``: ``tuner.get_brief_dataframe()``."""
    return tuner.get_brief_dataframe()


__all__ = [
    "Tuner", "BOOKKEEPING_COLUMNS", "REPORTED_KEY", "default_tuner_to_df_fn", "keep_reported_metrics",
    "annotate_trial", "read_trial_notes",
]
