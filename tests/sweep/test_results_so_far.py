"""The results log of a running sweep: appended by the driver, read a little at a time by anyone
who sees the experiment folder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from radas.sweep._folder import ExperimentFolder
from radas.sweep._live import LoggedResults, ResultsLog
from radas.sweep._progress import Progress


@dataclass
class FakeTrial:
    """What the results log reads of Tune's trials."""

    trial_id: str
    config: dict = field(default_factory=dict)
    path: str | None = None
    error: str = ""

    def get_error(self) -> Exception:
        return RuntimeError(f"Traceback...\n  File x\n{self.error}")


def folder(tmp_path: Path) -> ExperimentFolder:
    f = ExperimentFolder(tmp_path, "exp")
    f.path.mkdir(parents=True)
    return f


def test_results_are_read_incrementally_with_configs_and_statuses(tmp_path: Path) -> None:
    f = folder(tmp_path)
    log, seen = ResultsLog(f.results_file), LoggedResults(f)
    a = FakeTrial("a", {"lr": 0.1, "opt": {"name": "adam"}, "model": object()}, path=str(f.path / "train_a_0"))
    b = FakeTrial("b", {"lr": 0.2}, error="ValueError: boom")
    assert not seen.refresh() and seen.get_iteration_dataframe().empty  # nothing logged yet
    for step in (1, 2):
        for trial in (a, b):
            score = np.float32(step * trial.config["lr"])
            log.on_trial_result(0, [], trial, {"score": score, "training_iteration": step, "config": trial.config,
                                               "pid": 7, "text": "x" * 500})
    log.on_trial_error(0, [], b)
    log.on_experiment_end([])
    Progress(experiment="exp", statuses={"a": "TERMINATED", "b": "ERROR"}).write(f.progress_file)
    assert seen.refresh()
    df = seen.get_iteration_dataframe()
    assert len(df) == 4 and df["config/opt/name"].tolist().count("adam") == 2 and "config/model" not in df
    assert "pid" not in df and "text" not in df and df["score"].dtype == float
    brief = seen.get_dataframe().set_index("trial_id")
    assert brief.loc["a", "status"] == "TERMINATED" and brief.loc["b", "status"] == "ERROR"
    assert brief.loc["b", "error"] == "ValueError: boom" and pd.isna(brief.loc["a", "error"])
    assert seen.trial_paths() == {"a": str(f.path / "train_a_0"), "b": None}
    assert not seen.refresh()  # nothing new

    # a retried trial reports its first steps again: the earlier attempt's rows are dropped
    log.on_trial_result(0, [], a, {"score": 5.0, "training_iteration": 1})
    log.on_experiment_end([])
    assert seen.refresh()
    assert seen.get_iteration_dataframe().query("trial_id == 'a'")["score"].tolist() == [5.0]


def test_a_half_written_line_waits_for_the_rest_and_a_new_log_starts_over(tmp_path: Path) -> None:
    f = folder(tmp_path)
    seen = LoggedResults(f)
    f.results_file.write_text('{"t": "a", "r": {"score": 1}}\n{"t": "a", "r": {"sco')
    assert seen.refresh() and len(seen.get_iteration_dataframe()) == 1
    with f.results_file.open("a") as out:
        out.write('re": 2}}\n')
    assert seen.refresh() and seen.get_iteration_dataframe()["score"].tolist() == [1, 2]
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_text('{"t": "z", "r": {"s": 3}}\n')
    os.replace(fresh, f.results_file)  # a fresh run: a new log in its place
    assert seen.refresh() and seen.get_iteration_dataframe()["trial_id"].tolist() == ["z"]


def test_the_log_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    f = folder(tmp_path)
    target = tmp_path / "elsewhere"
    f.results_file.symlink_to(target)
    log = ResultsLog(f.results_file)
    log.on_trial_result(0, [], FakeTrial("a"), {"score": 1})
    log.on_experiment_end([])  # refused quietly: a view never breaks the sweep
    assert not target.exists()


def test_a_long_runs_reports_are_appended_not_rebuilt_and_a_restart_replaces_its_steps(tmp_path: Path) -> None:
    """Thousands of reports per trial (a GRPO run logs one per step): each is appended to the
    trial's rows as they are (reading the log costs time linear in its length); a trial that
    restarted and reports steps again replaces them from there."""
    import json

    folder = ExperimentFolder(tmp_path, "long")
    folder.path.mkdir()
    lines = [json.dumps({"t": "a", "c": {"lr": 0.1}, "d": "trial_a"})]
    lines += [json.dumps({"t": "a", "r": {"training_iteration": step, "reward": step}}) for step in range(1, 5001)]
    folder.results_file.write_text("\n".join(lines) + "\n")
    results = LoggedResults(folder)
    assert results.refresh()
    trial = results._trials["a"]
    assert [r["training_iteration"] for r in trial.rows] == list(range(1, 5001))
    rows = trial.rows
    trial.add({"training_iteration": 5001, "reward": 5001})
    assert trial.rows is rows, "a growing trial's rows were rebuilt for one more report"
    trial.add({"training_iteration": 4000, "reward": -1})  # restarted from step 3999's checkpoint
    assert [r["training_iteration"] for r in trial.rows][-3:] == [3998, 3999, 4000]
    assert trial.rows[-1]["reward"] == -1 and len(trial.rows) == 4000


def test_a_trial_that_resumes_its_own_steps_from_iteration_one_keeps_the_rows_before_them() -> None:
    """A trial with no Tune checkpoint (Ray Train inside it: a distributed GRPO trial) restarts
    Tune's training_iteration at 1 but resumes its steps from its own checkpoint: the rows before
    the resumed step stay, the ones it reports again are replaced; a trial that starts its steps
    over replaces them all."""
    from radas.sweep._live import _Trial

    trial = _Trial("a")
    for i in range(1, 6):
        trial.add({"training_iteration": i, "step": 10 * i, "reward": i})
    trial.add({"training_iteration": 1, "step": 40, "reward": -4})  # resumed from step 30's checkpoint
    trial.add({"training_iteration": 2, "step": 50, "reward": -5})
    assert [(r["step"], r["reward"]) for r in trial.rows] == [(10, 1), (20, 2), (30, 3), (40, -4), (50, -5)]
    trial.add({"training_iteration": 1, "step": 50, "reward": 9})  # resumed from its final model: reported again
    assert [r["step"] for r in trial.rows] == [10, 20, 30, 40, 50] and trial.rows[-1]["reward"] == 9
    trial.add({"training_iteration": 1, "step": 1, "reward": 0})  # started over
    assert [r["step"] for r in trial.rows] == [1]
