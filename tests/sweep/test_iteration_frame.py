"""``get_iteration_dataframe`` built in one piece for all trials: each trial's own values (id,
status, notes, config) on its own rows only, Ray's keys a trial reported itself, dtypes and column
order as a concat of per-trial frames gives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from radas.sweep._folder import NOTES_FILE
from radas.sweep._tuner import REPORTED_KEY, ResultFrames, TrialRecord


def _frame(records: list[TrialRecord]) -> pd.DataFrame:
    class Frames(ResultFrames):
        def _records(self) -> list[TrialRecord]:
            return records

    return Frames().get_iteration_dataframe()


def _trial(tmp_path: Path, trial_id: str, config: dict[str, Any], history: dict[str, list[Any]] | None,
           notes: dict[str, Any] | None = None) -> TrialRecord:
    path = tmp_path / trial_id
    path.mkdir()
    if notes is not None:
        (path / NOTES_FILE).write_text(json.dumps(notes))
    return TrialRecord(trial_id=trial_id, config=config, last_result={}, status="TERMINATED", error=None,
                       path=str(path), history=None if history is None else pd.DataFrame(history))


def test_a_trials_note_replaces_only_its_own_rows_of_a_column_another_trial_reports(tmp_path: Path) -> None:
    df = _frame([_trial(tmp_path, "a", {"x": 1}, {"stop_reason": [None, None]}, notes={"stop_reason": "sched"}),
                 _trial(tmp_path, "b", {"x": 2}, {"stop_reason": [None, "rule fired"]})])
    assert df["stop_reason"].tolist()[:2] == ["sched", "sched"] and df["stop_reason"].iloc[3] == "rule fired"


def test_columns_dtypes_and_reported_keys_are_those_of_per_trial_frames(tmp_path: Path) -> None:
    a = _trial(tmp_path, "a", {"x": None, "n": {"p": 1}},
               {"score": [1, 2], "pid": [100, 100], f"{REPORTED_KEY}/pid": [7, 8], "config/x": [0, 0]})
    df = _frame([
        a,
        _trial(tmp_path, "b", {"x": 2, "n": {"p": 2}}, {"score": [3], "pid": [101], "extra": [9]}),
        _trial(tmp_path, "c", {"x": 3, "n": {"p": 3}}, None),  # no report: no row
    ])
    assert list(df.columns) == ["score", "pid", "trial_id", "status", "config/x", "config/n/p", "extra"]
    assert df["pid"].tolist() == [7, 8, 101] and df["pid"].dtype == "int64"  # the trial's own pid, still ints
    assert df["config/x"].tolist() == [None, None, 2] and df["config/x"].dtype == object
    assert df["config/n/p"].tolist() == [1, 1, 2] and df["trial_id"].tolist() == ["a", "a", "b"]
    assert df["extra"].isna().tolist() == [True, True, False]
    assert a.history is not None and a.history["pid"].tolist() == [100, 100]  # Ray's frame is left as it was
