"""radas.Tuner's DataFrames."""

from __future__ import annotations

import pandas as pd
import pytest
from ray import tune

import radas
from radas.tuner import BOOKKEEPING_COLUMNS


def nested(config):
    for step in range(3):
        tune.report({"metrics": {"loss": 1.0 / (step + 1)}, "step": step})
    if config["opt"]["lr"] > 0.5:
        raise ValueError("lr too high")


@pytest.fixture(scope="module")
async def tuner(local_ray):
    results = await radas.run_experiment(
        user_name="tester", experiment_name="tuner-frames", trainable=nested,
        param_space={"opt": {"lr": tune.grid_search([0.1, 0.9]), "name": "adam"}},
        tuner_init_kwargs={"run_config": {"failure_config": tune.FailureConfig(max_failures=0)}},
        run_choice="run",
    )
    return results["tuner"]


def test_full_dataframe_has_flat_config_status_and_error(tuner):
    df = tuner.get_dataframe().set_index("config/opt/lr")
    assert {"metrics/loss", "config/opt/name", "trial_id", "time_total_s", "status"} <= set(df.reset_index().columns)
    assert df.loc[0.1, "status"] == "TERMINATED" and df.loc[0.9, "status"] == "ERROR"
    assert "lr too high" in df.loc[0.9, "error"] and pd.isna(df.loc[0.1, "error"])
    assert df.loc[0.1, "metrics/loss"] == pytest.approx(1 / 3)


def test_brief_dataframe_drops_bookkeeping(tuner):
    df = tuner.get_brief_dataframe()
    assert not set(BOOKKEEPING_COLUMNS) & set(df.columns)
    assert {"metrics/loss", "config/opt/lr", "status", "error"} <= set(df.columns)


def test_iteration_dataframe_has_every_report(tuner):
    df = tuner.get_iteration_dataframe()
    assert len(df) == 6 and set(df["step"]) == {0, 1, 2}
    assert set(df["config/opt/lr"]) == {0.1, 0.9} and "trial_id" in df.columns


def test_results_grid_best_result(tuner):
    best = tuner.get_results().get_best_result(metric="metrics/loss", mode="min")
    assert best.config["opt"]["lr"] in (0.1, 0.9)


def clashing(config):
    tune.report({"done": 3, "pid": 7, "score": 1, "logdir": "runs/a"})


class ClashingClass(tune.Trainable):
    def step(self):
        return {"pid": 7, "timestamp": 5, "score": 2, "done": True}

    def save_checkpoint(self, checkpoint_dir):  # Tune checkpoints class trainables at the end
        return None

    def load_checkpoint(self, checkpoint):
        pass


@pytest.mark.parametrize("trainable", [clashing, ClashingClass])
async def test_user_metrics_named_like_rays_bookkeeping_are_kept(local_ray, trainable):
    results = await radas.run_experiment(
        user_name="tester", experiment_name=f"clash-{trainable.__name__}", trainable=trainable,
        param_space={"a": tune.grid_search([1, 2])}, run_choice="run",
    )
    reported = clashing if trainable is clashing else ClashingClass
    expected = {"done": 3, "pid": 7, "score": 1, "logdir": "runs/a"} if reported is clashing else {
        "pid": 7, "timestamp": 5, "score": 2, "done": True}
    brief = results["df"]
    assert list(brief["status"]) == ["TERMINATED", "TERMINATED"]
    for column, value in expected.items():
        assert list(brief[column]) == [value, value], column
    assert not {"hostname", "node_ip", "date", "time_total_s"} & set(brief.columns)
    full = results["tuner"].get_dataframe()
    assert list(full["pid"]) == [7, 7] and full["hostname"].notna().all()
    iterations = results["tuner"].get_iteration_dataframe()
    assert set(iterations["pid"]) == {7}
    assert not [c for c in iterations.columns if "reported" in c]
