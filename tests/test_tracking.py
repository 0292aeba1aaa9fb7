"""What radas.rwandb and radas.rswanlab share (radas._tracking), proven on both real trackers:
absent or disabled blocks do nothing, a second init finishes the first run, a key reaches the
server and no file, and a real Ray Tune grid gets one run per trial where the tracker's own
environment and ``init_kwargs`` win over radas's defaults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trackers import TRACKERS, Tracker, files_containing, refusing_server


@pytest.fixture(params=sorted(TRACKERS))
def tracker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Tracker]:
    """Each scenario with W&B and with SwanLab, isolated from the machine's settings."""
    chosen = TRACKERS[request.param]
    with chosen.isolated(monkeypatch, tmp_path):
        yield chosen


def test_absent_or_disabled_are_noops(tracker: Tracker, tmp_path: Path) -> None:
    for config in ({"lr": 0.1}, {tracker.name: None}, {tracker.name: {"enable": False, "api_key": tracker.api_key}}):
        assert tracker.init(config) is None
        assert tracker.log({"score": 1.0}) is None
        assert tracker.log({"score": 1.0}, step=3) is None
        assert tracker.finish() is None
    assert not [p for p in tmp_path.rglob("*") if p.name in ("wandb", "swanlog")]


def test_offline_run_records_metrics_and_hides_keys(tracker: Tracker, tmp_path: Path) -> None:
    other = "swanlab" if tracker.name == "wandb" else "wandb"
    config = {tracker.name: tracker.block(mode="offline", project="proj", name="first",
                                          **{tracker.dir_key: str(tmp_path / "runs")}),
              other: {"api_key": "other-secret"}, "lr": 0.1}
    run = tracker.init(config)
    assert run is not None and getattr(tracker.module, f"r{tracker.name}_run")() is run
    for step in range(3):
        tracker.log({"score": step * 1.5}, step=step)
    tracker.finish()
    assert getattr(tracker.module, f"r{tracker.name}_run")() is None
    tracker.log({"score": 99.0})  # after finish: a no-op

    (run_dir,) = tracker.runs(tmp_path / "runs")
    seen = tracker.read(run_dir)
    assert seen.finished and seen.project == "proj" and seen.name == "first"
    assert seen.scores == [(0, 0.0), (1, 1.5), (2, 3.0)]
    assert "lr" in seen.config_keys and not {"wandb", "swanlab"} & seen.config_keys
    assert files_containing(tmp_path, *tracker.secrets, "other-secret") == []


def test_reinit_finishes_previous_run(tracker: Tracker, tmp_path: Path) -> None:
    config = {tracker.name: tracker.block(mode="offline", **{tracker.dir_key: str(tmp_path / "runs")})}
    first = tracker.init(config)
    second = tracker.init(config)
    assert first is not None and second is not None and first is not second
    tracker.finish()
    assert len(tracker.runs(tmp_path / "runs")) == 2


def test_online_key_sent_to_server_never_written(tracker: Tracker, tmp_path: Path) -> None:
    """The api_key authenticates against the server (here a loopback stand-in) and lands in no file."""
    with refusing_server(tracker.refusal) as (url, seen):
        config = {tracker.name: tracker.block(mode="online", **{tracker.dir_key: str(tmp_path / "runs")},
                                              **tracker.online_settings(url))}
        with pytest.raises(Exception) as info:
            tracker.init(config)
        assert tracker.api_key not in str(info.value)
    assert any(tracker.credential in header for header in seen)
    assert files_containing(tmp_path, *tracker.secrets) == []
    assert not (tmp_path / "home" / ".netrc").exists()


def test_ray_tune_grid_one_run_per_trial_env_and_init_kwargs_win(tracker: Tracker, local_ray: None,
                                                                 tmp_path: Path) -> None:
    """Trial 1 gets radas's defaults; trial 2 sets the tracker's own run-folder and project
    variables, which win over them; trial 3 sets those and init_kwargs, which win over both."""
    from ray import tune

    home = tmp_path / "worker-home"
    env_dir, kwargs_dir = tmp_path / "env-dir", tmp_path / "kwargs-dir"
    # plain values only: the trainable travels to the trial processes
    name, prefix, env = tracker.name, tracker.prefix, tracker.trial_env(home)
    env_settings = {tracker.dir_env: str(env_dir), tracker.project_env: "env-project"}
    kwargs_block = {"init_kwargs": {"mode": "offline", tracker.dir_key: str(kwargs_dir), "project": "kwargs-project"}}

    def trainable(config: dict[str, Any]) -> dict[str, Any]:
        import importlib

        # each trial runs in an actor process: isolate it from the real home and the tracker's variables
        for var in [v for v in os.environ if v.startswith(prefix)]:
            del os.environ[var]
        os.environ.update(env)
        if config["a"] >= 2:
            os.environ.update(env_settings)
        if config["a"] == 3:
            config = {**config, name: kwargs_block}
        module = importlib.import_module(f"radas.r{name}")
        getattr(module, f"r{name}_init")(config)
        score = config["a"] * 10
        getattr(module, f"r{name}_log")({"score": score}, step=1)
        getattr(module, f"r{name}_finish")()
        return {"score": score}

    sweep = f"{name}.sweep"
    tuner = tune.Tuner(
        trainable,
        param_space={name: tracker.block(mode="offline"), "a": tune.grid_search([1, 2, 3])},
        run_config=tune.RunConfig(name=sweep, storage_path=str(tmp_path / "results"), verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    assert len(results) == 3

    (default_dir,) = (tmp_path / "results" / sweep).glob(tracker.sweep_runs)
    (env_run_dir,) = tracker.runs(env_dir)
    (kwargs_run_dir,) = tracker.runs(kwargs_dir)
    scores, ids = set(), set()
    for run_dir, project in ((default_dir, sweep), (env_run_dir, "env-project"), (kwargs_run_dir, "kwargs-project")):
        run = tracker.read(run_dir)
        assert run.project == project and run.group == sweep and run.finished
        assert name not in run.config_keys
        if name == "wandb":  # W&B names the run and its folder after the trial ("trainable_<trial id>")
            assert run.name.endswith(run.run_id) and run_dir.name.endswith(run.run_id)
        ids.add(run.run_id)
        scores.add(run.scores[-1][1])
        assert files_containing(run_dir, *tracker.secrets) == []
    # the default run is named after its trial, and lives in the trial's folder
    assert default_dir.parents[1].name.startswith(tracker.read(default_dir).name)
    assert scores == {10.0, 20.0, 30.0} and len(ids) == 3
    assert files_containing(home, *tracker.secrets) == []
