"""run_experiment end to end on real local Ray."""

from __future__ import annotations

import asyncio
import os
import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import seaborn as sns
from ray import tune

import radas
from radas._progress import PROGRESS_FILE, Progress
from radas.backends.local import LOCK_FILE

pytestmark = pytest.mark.usefixtures("local_ray")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def product(config):
    return {"score": config["a"] * config["b"]}


def counting(config):
    """Records every start in the data dir; fails while a 'fail' flag file exists for a=3."""
    folder = Path(radas.get_data_dir("tester")) / config["tag"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{config['a']}-{uuid.uuid4().hex}").touch()
    if config["a"] == 3 and (folder / "fail").exists():
        raise RuntimeError("deterministic failure for a=3")
    return {"score": config["a"]}


def slow(config):
    for step in range(config["steps"]):
        time.sleep(0.2)
        tune.report({"score": config["a"] * step, "step": step})


def _starts(tag: str) -> dict[int, int]:
    folder = Path(radas.get_data_dir("tester")) / tag
    counts: dict[int, int] = {}
    for path in folder.iterdir():
        if path.name != "fail":
            a = int(path.name.split("-")[0])
            counts[a] = counts.get(a, 0) + 1
    return counts


async def test_grid_returns_df_tuner_and_fig():
    name = _name("grid")
    results = await radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=product,
        param_space={"a": tune.grid_search([1, 2, 3]), "b": tune.grid_search([10, 20])},
        plot_fn=sns.relplot, plot_kwargs={"x": "config/a", "y": "score", "hue": "config/b", "kind": "line"},
    )
    df = results["df"]
    assert isinstance(results["tuner"], radas.Tuner)
    assert len(df) == 6 and set(df["status"]) == {"TERMINATED"}
    assert sorted(df["score"]) == [10, 20, 20, 30, 40, 60]
    assert {"config/a", "config/b", "score"} <= set(df.columns)
    assert "time_total_s" not in df.columns and "trial_id" not in df.columns
    assert results["fig"].axes
    exp_dir = Path(radas.get_ray_results_dir("tester")) / name
    assert exp_dir.is_dir() and not (exp_dir / LOCK_FILE).exists()


async def test_two_experiments_gathered_both_complete():
    a, b = _name("gather-a"), _name("gather-b")
    ra, rb = await asyncio.gather(
        radas.run_experiment(user_name="tester", experiment_name=a, trainable=product,
                             param_space={"a": tune.grid_search([1, 2]), "b": 1}),
        radas.run_experiment(user_name="tester", experiment_name=b, trainable=product,
                             param_space={"a": tune.grid_search([5, 6, 7]), "b": 2}),
    )
    assert sorted(ra["df"]["score"]) == [1, 2]
    assert sorted(rb["df"]["score"]) == [10, 12, 14]


async def test_run_archives_then_analyze_reads_without_running():
    name = _name("archive")
    first = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=product,
                                       param_space={"a": tune.grid_search([1, 2]), "b": 1})
    second = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=product,
                                        param_space={"a": tune.grid_search([3]), "b": 1}, run_choice="run")
    archived = list((Path(radas.get_ray_results_dir("tester")) / ".archive").glob(f"{name}-*"))
    assert len(archived) == 1 and len(first["df"]) == 2 and len(second["df"]) == 1
    again = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=product,
                                       dos=["analyze"])
    assert list(again["df"]["score"]) == [3]


async def test_restore_reruns_only_errored_trials():
    tag = _name("restore")
    folder = Path(radas.get_data_dir("tester")) / tag
    folder.mkdir(parents=True)
    (folder / "fail").touch()
    space = {"a": tune.grid_search([1, 2, 3]), "tag": tag}
    first = await radas.run_experiment(user_name="tester", experiment_name=tag, trainable=counting,
                                       param_space=space)
    df = first["df"].set_index("config/a")
    assert df.loc[3, "status"] == "ERROR" and "deterministic failure" in df.loc[3, "error"]
    assert list(df.loc[[1, 2], "status"]) == ["TERMINATED", "TERMINATED"]
    assert _starts(tag) == {1: 1, 2: 1, 3: 3}  # first try + 2 bounded retries
    (folder / "fail").unlink()
    second = await radas.run_experiment(user_name="tester", experiment_name=tag, trainable=counting,
                                        param_space=space, run_choice="restore")
    assert set(second["df"]["status"]) == {"TERMINATED"}
    assert _starts(tag) == {1: 1, 2: 1, 3: 4}


async def test_cancel_stops_gracefully_and_restore_finishes():
    name = _name("cancel")
    space = {"a": tune.grid_search([1, 2, 3, 4]), "steps": 15}
    task = asyncio.ensure_future(radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=slow, param_space=space,
        tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}))
    exp_dir = Path(radas.get_ray_results_dir("tester")) / name
    for _ in range(200):
        if any(exp_dir.glob("slow_*/result.json")):
            break
        await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (exp_dir / LOCK_FILE).exists()
    partial = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=slow,
                                         dos=["analyze"])
    assert (partial["df"]["status"] != "TERMINATED").any()
    done = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=slow,
                                      param_space=space, run_choice="restore")
    assert set(done["df"]["status"]) == {"TERMINATED"} and len(done["df"]) == 4


_DRIVER = textwrap.dedent("""
    import asyncio, time, sys
    from ray import tune
    import radas

    def slow(config):
        for step in range(config["steps"]):
            time.sleep(0.2)
            tune.report({"score": config["a"] * step, "step": step})

    asyncio.run(radas.run_experiment(
        user_name="tester", experiment_name=sys.argv[1], trainable=slow,
        param_space={"a": tune.grid_search([1, 2, 3]), "steps": int(sys.argv[2])},
        tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}, run_choice="run"))
""")


def _start_driver(tmp_path: Path, name: str, steps: int) -> subprocess.Popen:
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    return subprocess.Popen([sys.executable, str(script), name, str(steps)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)


async def _wait_for_trial(exp_dir: Path) -> None:
    for _ in range(600):
        progress = Progress.read(exp_dir / PROGRESS_FILE)
        if (exp_dir / LOCK_FILE).exists() and progress and progress.running + progress.done:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the other process never started its sweep")


async def test_attach_and_stop_attach_to_a_sweep_of_another_process(tmp_path):
    name = _name("other")
    exp_dir = Path(radas.get_ray_results_dir("tester")) / name
    driver = _start_driver(tmp_path, name, 20)
    try:
        await _wait_for_trial(exp_dir)
        lock = json.loads((exp_dir / LOCK_FILE).read_text())
        assert lock["pid"] == driver.pid
        stopped = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=slow,
                                             run_choice="stop_attach")
        assert driver.wait(timeout=60) == 0
        assert (stopped["df"]["status"] != "TERMINATED").any()
        restored = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=slow,
                                              param_space={"a": tune.grid_search([1, 2, 3]), "steps": 20},
                                              run_choice="restore")
        assert set(restored["df"]["status"]) == {"TERMINATED"}
    finally:
        driver.kill()

    name = _name("follow")
    exp_dir = Path(radas.get_ray_results_dir("tester")) / name
    driver = _start_driver(tmp_path, name, 15)
    try:
        await _wait_for_trial(exp_dir)
        followed = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=slow,
                                              run_choice="attach")
        assert driver.wait(timeout=60) == 0
        assert len(followed["df"]) == 3 and set(followed["df"]["status"]) == {"TERMINATED"}
    finally:
        driver.kill()


async def test_existing_experiment_without_run_choice_fails_when_no_one_can_answer(monkeypatch):
    name = _name("ask")
    await radas.run_experiment(user_name="tester", experiment_name=name, trainable=product,
                               param_space={"a": 1, "b": 1})
    monkeypatch.setenv("CI", "true")
    with pytest.raises(radas.ChoiceRequiredError, match="run_choice") as info:
        await radas.run_experiment(user_name="tester", experiment_name=name, trainable=product,
                                   param_space={"a": 1, "b": 1})
    assert "'run'" in str(info.value) and "'restore'" in str(info.value)


async def test_analyze_without_results_is_a_clear_error():
    with pytest.raises(radas.ExperimentNotFoundError, match="no results to analyze"):
        await radas.run_experiment(user_name="tester", experiment_name=_name("none"),
                                   trainable=product, dos=["analyze"])


async def test_iteration_dataframe_and_num_seeds():
    name = _name("curves")
    results = await radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=slow, num_seeds=2,
        param_space={"a": tune.grid_search([1, 2]), "steps": 3},
        tuner_to_df_fn=lambda tuner: tuner.get_iteration_dataframe(),
    )
    df = results["df"]
    assert len(df) == 2 * 2 * 3
    assert set(df["config/seed"]) == {0, 1}
    assert sorted(df.groupby("trial_id")["step"].apply(list).iloc[0]) == [0, 1, 2]


async def test_process_df_fn_and_kwargs():
    results = await radas.run_experiment(
        user_name="tester", experiment_name=_name("proc"), trainable=product,
        param_space={"a": tune.grid_search([1, 2, 3]), "b": 2},
        process_df_fn=lambda df, factor: df.assign(scaled=df["score"] * factor),
        process_df_fn_kwargs={"factor": 10},
    )
    assert sorted(results["df"]["scaled"]) == [20, 40, 60]


async def test_data_dir_is_shared_with_trials():
    def reads(config):
        return {"text": (Path(radas.get_data_dir("tester")) / "shared.txt").read_text()}

    (Path(radas.get_data_dir("tester")) / "shared.txt").write_text("hello from the driver")
    results = await radas.run_experiment(user_name="tester", experiment_name=_name("data"),
                                         trainable=reads, param_space={"x": 1})
    assert list(results["df"]["text"]) == ["hello from the driver"]


async def test_runtime_env_vars_reach_local_trials(capsys):
    def reads_env(config):
        return {"value": os.environ.get("RADAS_TEST_FLAG", "unset")}

    results = await radas.run_experiment(user_name="tester", experiment_name=_name("envvars"), trainable=reads_env,
                                         param_space={"x": 1},
                                         runtime_env={"env_vars": {"RADAS_TEST_FLAG": "on"}, "pip": ["tqdm"]})
    assert list(results["df"]["value"]) == ["on"]
    assert "runtime_env fields ['pip'] apply to cluster jobs" in capsys.readouterr().out
