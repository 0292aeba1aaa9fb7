"""The results of a running sweep, cheaply: the driver appends every reported result to a log in
the experiment folder (once a second, a line per result), and anyone who sees the folder - this
process, another one attached to the sweep, a cluster job's client - reads only what was added
since its last look.

Tune copies its own per-trial files to the experiment folder only now and then; this log is what
live figures and the report written while a sweep runs are drawn from.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray.tune import Callback

from radas.sweep._folder import ExperimentFolder
from radas.sweep._progress import Progress
from radas.sweep._tuner import REPORTED_KEY, ResultFrames, TrialRecord, error_line, flatten

FLUSH_S = 1.0
# result keys of Tune's that say nothing about the trial's progress (and the config, logged once)
_SKIP = frozenset({"config", "date", "hostname", "node_ip", "pid", "timestamp", "trial_id", "experiment_tag",
                   "done", "checkpoint_dir_name", "logdir", "time_this_iter_s", "time_since_restore",
                   "iterations_since_restore", "should_checkpoint"})


_DROP = object()


def _plain(value: Any) -> Any:
    """``value`` as JSON holds it (numpy scalars as Python numbers), or ``_DROP`` for anything
    else (objects, arrays, long texts)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= 200 else _DROP
    if isinstance(value, (list, tuple)) and len(value) <= 50:
        items = [_plain(v) for v in value]
        return _DROP if any(i is _DROP or isinstance(i, list) for i in items) else items
    return _DROP


def _plain_items(mapping: Mapping[str, Any]) -> dict[str, Any]:
    plain = {key: _plain(value) for key, value in flatten(mapping).items()}
    return {key: value for key, value in plain.items() if value is not _DROP}


def compact(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result's numbers and short texts, nested keys joined with ``/`` (the trial's own values
    of Ray's keys in their place, as in the DataFrames)."""
    own = result.get(REPORTED_KEY)
    row = _plain_items({k: v for k, v in result.items() if k not in _SKIP and k != REPORTED_KEY})
    if isinstance(own, Mapping):
        row.update(_plain_items(own))
    return row


class ResultsLog(Callback):
    """A Tune callback appending each reported result to ``path``, at most once a second, as JSON
    lines: a trial's config and folder name once (``{"t": id, "c": {...}, "d": name}``), then
    ``{"t": id, "r": {...}}`` per result, and ``{"t": id, "e": last error line}`` when it errored
    (after its retries). Never breaks the sweep: a log it cannot write is left behind."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lines: list[str] = []
        self._known: set[str] = set()
        self._last = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_lines": [], "_known": set()}

    def _introduce(self, trial: Any) -> None:
        if trial.trial_id not in self._known:
            self._known.add(trial.trial_id)
            self._lines.append(json.dumps({"t": trial.trial_id, "c": _plain_items(trial.config or {}),
                                           "d": Path(trial.path).name if trial.path else ""}))

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        self._introduce(trial)
        self._lines.append(json.dumps({"t": trial.trial_id, "r": compact(result)}))

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._introduce(trial)
        self._lines.append(json.dumps({"t": trial.trial_id, "e": error_line(trial)}))

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        now = time.monotonic()
        if self._lines and now - self._last >= FLUSH_S:
            self._last = now
            self._flush()

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._flush()

    def _flush(self) -> None:
        lines, self._lines = self._lines, []
        with contextlib.suppress(OSError):
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "a") as f:
                f.write("".join(line + "\n" for line in lines))


class _Trial:
    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id
        self.config: dict[str, Any] = {}
        self.folder = ""  # the trial's folder, by name in the experiment folder
        self.error: str | None = None
        self.rows: list[dict[str, Any]] = []
        self.frame: pd.DataFrame | None = None

    def add(self, row: dict[str, Any]) -> None:
        """Append ``row``; a restarted trial that reports its steps again replaces them (the
        rows from that step on). Where it resumed is its own ``step`` when the rows report one: a
        trial with no Tune checkpoint (a Ray Train run inside it, a distributed GRPO trial) starts
        Tune's ``training_iteration`` at 1 again but resumes its steps from its own checkpoint, and
        keeps the rows before it. Constant time while steps only grow: a run's thousands of
        reports are read in time linear in their number."""
        iteration = row.get("training_iteration")
        if _numeric(iteration) and self.rows:
            last = self.rows[-1]
            if not _numeric(last.get("training_iteration")) or iteration <= last["training_iteration"]:
                # a restart (or unnumbered rows): cut back from where it resumed
                key = "step" if _numeric(row.get("step")) and _numeric(last.get("step")) else "training_iteration"
                start = row[key]
                self.rows = [r for r in self.rows if not (_numeric(value := r.get(key)) and value >= start)]
        self.rows.append(row)
        self.frame = None


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ResultsSoFar(ResultFrames):
    """The results of a sweep while it runs, with the DataFrame accessors of :class:`radas.Tuner`
    (statuses as its driver last recorded them) and its :class:`Progress`."""

    progress: Progress | None = None

    def refresh(self) -> bool:
        """Look again; True when anything changed since the last look."""
        raise NotImplementedError

    def trial_paths(self) -> dict[str, str | None]:
        """Each trial's folder, by trial id (None where there is none)."""
        return {record.trial_id: record.path for record in self._records()}


class LoggedResults(ResultsSoFar):
    """The results so far of an experiment folder's sweep, from its :class:`ResultsLog` and
    progress file: :meth:`refresh` reads only what was appended since the last call."""

    def __init__(self, folder: ExperimentFolder) -> None:
        self._folder = folder
        self._trials: dict[str, _Trial] = {}
        self._offset = 0
        self._inode = 0
        self._partial = b""

    def refresh(self) -> bool:
        """Read what the sweep logged since the last call; True when anything changed."""
        self.progress = self._folder.progress()
        path = self._folder.results_file
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        with os.fdopen(fd, "rb") as f:
            stat = os.fstat(f.fileno())
            if stat.st_ino != self._inode or stat.st_size < self._offset:  # a new sweep's log
                self._trials, self._offset, self._inode, self._partial = {}, 0, stat.st_ino, b""
            if stat.st_size == self._offset:
                return False
            f.seek(self._offset)
            data = self._partial + f.read(stat.st_size - self._offset)
        self._offset = stat.st_size
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            self._add(line)
        return bool(lines)

    def _add(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
            trial = self._trials.setdefault(str(entry["t"]), _Trial(str(entry["t"])))
        except (ValueError, KeyError, TypeError):
            return
        if isinstance(entry.get("c"), dict):
            trial.config, trial.folder = entry["c"], str(entry.get("d") or "")
        if entry.get("e"):
            trial.error = str(entry["e"])
        if isinstance(entry.get("r"), dict):
            trial.add(entry["r"])

    def _records(self) -> list[TrialRecord]:
        statuses = self.progress.statuses if self.progress is not None else {}
        records = []
        for trial in self._trials.values():
            if trial.frame is None:
                trial.frame = pd.DataFrame(trial.rows)
            records.append(TrialRecord(
                trial_id=trial.trial_id, config=trial.config, last_result=trial.rows[-1] if trial.rows else {},
                status=statuses.get(trial.trial_id, "ERROR" if trial.error else "RUNNING"), error=trial.error,
                path=str(self._folder.path / trial.folder) if trial.folder else None, history=trial.frame))
        return records
