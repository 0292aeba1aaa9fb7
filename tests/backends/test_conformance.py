"""The promises of every backend, one scenario each, on local Ray, on the real test cluster and,
for the scenarios it can honour, on the in-process ``run_with="memory"`` target: never lose a
result, never leak a key, never hang without a word, the same call and the same results everywhere.

Each scenario names its targets: :data:`EVERY_TARGET`, or :func:`ray_only` with the reason the
in-process target cannot run it."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from backend_targets import Target, name
from ray import tune

import radas

EVERY_TARGET = pytest.mark.parametrize("target", ["local", "cluster", "memory"], indirect=True)


def ray_only(why: str) -> pytest.MarkDecorator:
    """Only on Ray's targets (this machine's, the cluster): ``why`` the in-process one cannot run
    the scenario."""
    assert why
    return pytest.mark.parametrize("target", ["local", "cluster"], indirect=True)


@EVERY_TARGET
async def test_results_are_kept_a_second_run_needs_a_choice_and_archives_the_first(target: Target, capsys):
    exp = name("archive")
    with pytest.raises(radas.ExperimentNotFoundError, match="no results to analyze"):
        await target.run(exp, target.train.product, dos=["analyze"])
    first = await target.run(exp, target.train.product, param_space={"a": tune.grid_search([1, 2]), "b": 10})
    assert sorted(first["df"]["score"]) == [10, 20] and set(first["df"]["status"]) == {"TERMINATED"}
    with pytest.raises(radas.ChoiceRequiredError, match="run_choice") as info:  # nobody to ask (CI)
        await target.run(exp, target.train.product, param_space={"a": 3, "b": 10})
    assert "'run'" in str(info.value) and "'restore'" in str(info.value)
    again = await target.run(exp, target.train.product, dos=["analyze"])
    assert sorted(again["df"]["score"]) == [10, 20]
    second = await target.run(exp, target.train.product, param_space={"a": 3, "b": 10}, run_choice="run")
    assert list(second["df"]["score"]) == [30]
    [archived] = target.archived(exp, target.train.product)
    assert sorted(archived.get_dataframe()["score"]) == [10, 20]  # moved aside, never deleted
    assert "succeeded" in capsys.readouterr().out


@EVERY_TARGET
async def test_restore_runs_only_unfinished_trials(target: Target):
    exp = name("restore")
    (target.data / exp).mkdir(parents=True)
    (target.data / exp / "fail").touch()
    space = {"a": tune.grid_search([1, 2, 3]), "tag": exp}
    first = await target.run(exp, target.train.counting, param_space=space)
    df = first["df"].set_index("config/a")
    assert df.loc[3, "status"] == "ERROR" and "deterministic failure" in df.loc[3, "error"]
    assert target.starts(exp) == {1: 1, 2: 1, 3: 3}  # first try + 2 bounded retries
    (target.data / exp / "fail").unlink()
    second = await target.run(exp, target.train.counting, param_space=space, run_choice="restore")
    assert set(second["df"]["status"]) == {"TERMINATED"}
    assert target.starts(exp) == {1: 1, 2: 1, 3: 4}


@ray_only("other processes drive the sweep, and run_with='memory' keeps a sweep in the process that runs it")
async def test_other_processes_stop_restore_attach_and_a_killed_driver_is_an_error(target: Target):
    """A sweep driven by another process (a client, for a cluster): stop_attach from here stops it
    with partial results; a second driver restores it and attach from here follows it; when that
    driver is killed, attach is an error naming restore; restore from here finishes the sweep
    without running a finished trial again."""
    exp = name("others")
    space = {"a": tune.grid_search([1, 2, 3]), "steps": 25, "tag": exp}
    driver = target.start_driver(exp, 25, "run")
    try:
        await target.wait_running(exp, done=1)
        stopped = await target.run(exp, target.train.slow, run_choice="stop_attach")
        df = stopped["df"].set_index("config/a")
        assert df.loc[1, "status"] == "TERMINATED" and (df["status"] != "TERMINATED").any()
        assert driver.wait(timeout=300) == 0
        since = time.time()
        driver = target.start_driver(exp, 25, "restore")
        await target.wait_running(exp, since=since)
        attach = asyncio.ensure_future(target.run(exp, target.train.slow, run_choice="attach"))
        await target.wait_saved(exp, a=2)
        await target.kill_sweep_driver(exp, driver)
        with pytest.raises(radas.ExperimentFailedError, match="run_choice='restore'"):
            await attach
        with pytest.raises(radas.ExperimentFailedError, match="restore"):  # also when it is already dead
            await target.run(exp, target.train.slow, run_choice="attach")
        before = target.starts(exp)
        restored = await target.run(exp, target.train.slow, run_choice="restore", param_space=space)
        assert set(restored["df"]["status"]) == {"TERMINATED"} and len(restored["df"]) == 3
        after = target.starts(exp)
        assert after[1] == 1 and after[2] == before[2] and after[3] == before.get(3, 0) + 1
    finally:
        if driver.poll() is None:
            driver.kill()


@EVERY_TARGET
async def test_cancelling_the_call(target: Target, capsys):
    """Locally (and in memory) the sweep stops gracefully and restore finishes it; on a cluster it
    keeps running."""
    exp = name("cancel")
    space = {"a": tune.grid_search([1, 2, 3]), "steps": 10, "tag": exp}
    task = asyncio.ensure_future(target.run(exp, target.train.slow, param_space=space,
                                            tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}))
    await target.wait_running(exp)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out = capsys.readouterr().out
    if target.kind in ("local", "memory"):
        assert "stopping the sweep" in out and "run_choice='restore'" in out
        partial = await target.run(exp, target.train.slow, dos=["analyze"])
        assert (partial["df"]["status"] != "TERMINATED").any()
        done = await target.run(exp, target.train.slow, param_space=space, run_choice="restore")
        assert set(done["df"]["status"]) == {"TERMINATED"} and len(done["df"]) == 3
    else:
        assert "keeps running" in out and "run_choice='attach'" in out and "run_choice='stop_attach'" in out
        assert (await target.jobs(exp))[0].status == "RUNNING"
        stopped = await target.run(exp, target.train.slow, run_choice="stop_attach")
        assert (stopped["df"]["status"] != "TERMINATED").any()


@EVERY_TARGET
@pytest.mark.parametrize(("argument", "value", "kind"), [("cpu_per_trial", 64, "CPU"), ("gpu_per_trial", 4, "GPU")])
async def test_impossible_resources_fail_before_anything_starts(target: Target, argument, value, kind):
    exp = name("huge")
    with pytest.raises(radas.InsufficientResourcesError) as info:
        await target.run(exp, target.train.product, param_space={"a": 1, "b": 1}, **{argument: value})
    text = str(info.value)
    assert f"{argument}={value}" in text and f"needs {value} {kind}" in text and "the largest node" in text
    assert not target.has_results(exp) and not await target.jobs(exp)


@ray_only("py_modules are Ray's to install; run_with='memory' refuses them (tests/backends/test_memory.py: "
          "env_vars and secrets in memory, py_modules refused)")
async def test_runtime_env_and_secrets_reach_trials_and_secrets_nothing_else(target: Target, capsys):
    key, token = f"wandbkey{time.time_ns()}", f"servicetoken{time.time_ns()}"
    modules = target.workdir / "mods" / "radas_probe_module"
    modules.mkdir(parents=True)
    (modules / "__init__.py").write_text("VALUE = 'from py_modules'\n")
    exp = name("secrets")
    results = await target.run(exp, target.train.probe,
                               param_space={"x": 1, "wandb": {"enable": False, "api_key": key}},
                               runtime_env={"env_vars": {"RADAS_TEST_FLAG": "on", "MY_SERVICE_TOKEN": token},
                                            "py_modules": ["mods/radas_probe_module"]})
    row = results["df"].iloc[0]
    assert row["flag"] == "on" and row["module"] == "from py_modules"
    assert row["wandb_key"] == hashlib.sha256(key.encode()).hexdigest()
    assert row["token"] == hashlib.sha256(token.encode()).hexdigest()
    out = capsys.readouterr().out
    assert not await target.leaks(exp, [key, token], out)
    assert not list((target.results / ".radas-secrets").glob("*.json"))  # removed when the sweep ended




@EVERY_TARGET
async def test_two_experiments_gathered_both_complete(target: Target):
    ra, rb = await asyncio.gather(
        target.run(name("gather-a"), target.train.product, param_space={"a": tune.grid_search([1, 2]), "b": 1}),
        target.run(name("gather-b"), target.train.product, param_space={"a": tune.grid_search([5, 6, 7]), "b": 2}),
    )
    assert sorted(ra["df"]["score"]) == [1, 2] and sorted(rb["df"]["score"]) == [10, 12, 14]


@ray_only("run_with='memory' has no results folder to plant a link in")
async def test_a_link_planted_in_the_shared_folder_is_refused_and_its_target_untouched(target: Target, tmp_path):
    """Someone with write access to the shared results folder plants a symlink where the
    experiment's lock goes: radas refuses before anything starts, and the file it points to is
    neither written nor truncated."""
    exp = name("planted")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock = target.results / ".radas-locks" / f"{exp}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.symlink_to(victim)
    with pytest.raises(radas.UnsafePathError, match="symbolic link"):
        await target.run(exp, target.train.product, param_space={"a": 1, "b": 2})
    assert victim.read_text() == "precious" and not target.exp_dir(exp).exists()


@EVERY_TARGET
async def test_the_results_are_ray_tunes_results_grid(target: Target):
    """``results["tuner"].get_results()`` as the README and examples use it: the best result by a
    metric, its config and metrics, an errored trial's error, every report, the DataFrame."""
    exp = name("grid")
    (target.data / exp).mkdir(parents=True)
    (target.data / exp / "fail").touch()
    out = await target.run(exp, target.train.counting, param_space={"a": tune.grid_search([1, 2, 3]), "tag": exp})
    grid = out["tuner"].get_results()
    assert len(grid) == 3 and grid.num_errors == 1 and grid.num_terminated == 2
    best = grid.get_best_result(metric="score", mode="max")
    assert best.config["a"] == 2 and best.metrics["score"] == 2 and best.error is None
    assert grid.get_best_result(metric="score", mode="min").config["a"] == 1
    assert list(best.metrics_dataframe["score"]) == [2]
    [failed] = [r for r in grid if r.error is not None]
    assert "deterministic failure for a=3" in str(failed.error)
    assert failed.config is None  # it never reported: as in Ray, no metrics and so no config
    assert len(grid.errors) == 1
    df = grid.get_dataframe()
    assert {"score", "config/a"} <= set(df.columns) and sorted(df["score"].dropna()) == [1, 2]
    with pytest.raises(ValueError, match="No metric is provided"):
        grid.get_best_result()
    assert all((result.path is None) == (target.kind == "memory") for result in grid)  # memory: no trial folder
