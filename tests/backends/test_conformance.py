"""The promises of every backend, one scenario each, on local Ray and on the real test cluster:
never lose a result, never leak a key, never hang without a word, the same call everywhere."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
from backend_targets import USER, Target, name
from ray import tune

import radas


async def test_run_returns_results_and_a_second_run_archives_the_first(target: Target, capsys):
    exp = name("archive")
    first = await target.run(exp, target.train.product, param_space={"a": tune.grid_search([1, 2]), "b": 10})
    assert sorted(first["df"]["score"]) == [10, 20] and set(first["df"]["status"]) == {"TERMINATED"}
    second = await target.run(exp, target.train.product, param_space={"a": 3, "b": 10}, run_choice="run")
    assert list(second["df"]["score"]) == [30]
    [archived] = (target.results / ".archive").glob(f"{exp}-*")
    old = radas.Tuner.restore(archived, target.train.product).get_dataframe()
    assert sorted(old["score"]) == [10, 20]  # moved aside, never deleted
    assert "succeeded" in capsys.readouterr().out


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


async def test_stop_attach_restore_and_attach_from_other_processes(target: Target):
    exp = name("others")
    driver = target.start_driver(exp, 15, "run")
    try:
        await target.wait_running(exp, done=1)
        stopped = await target.run(exp, target.train.slow, run_choice="stop_attach")
        df = stopped["df"].set_index("config/a")
        assert df.loc[1, "status"] == "TERMINATED" and (df["status"] != "TERMINATED").any()
        assert driver.wait(timeout=120) == 0
        since = time.time()
        driver = target.start_driver(exp, 15, "restore")
        await target.wait_running(exp, since=since)
        attached = await target.run(exp, target.train.slow, run_choice="attach")
        assert set(attached["df"]["status"]) == {"TERMINATED"} and len(attached["df"]) == 3
        assert target.starts(exp)[1] == 1  # the finished trial did not run again
    finally:
        if driver.poll() is None:
            driver.kill()


async def test_cancelling_the_call(target: Target, capsys):
    """Locally the sweep stops gracefully and restore finishes it; on a cluster it keeps running."""
    exp = name("cancel")
    space = {"a": tune.grid_search([1, 2, 3]), "steps": 15, "tag": exp}
    task = asyncio.ensure_future(target.run(exp, target.train.slow, param_space=space,
                                            tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}))
    await target.wait_running(exp)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out = capsys.readouterr().out
    if target.kind == "local":
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


async def test_a_killed_driver_is_an_error_on_attach_and_restore_continues(target: Target):
    exp = name("killed")
    driver = target.start_driver(exp, 25, "run")
    try:
        await target.wait_running(exp, done=1)
        await target.wait_saved(exp, a=1)
        attach = asyncio.ensure_future(target.run(exp, target.train.slow, run_choice="attach"))
        await asyncio.sleep(1.0)
        await target.kill_sweep_driver(exp, driver)
        with pytest.raises(radas.ExperimentFailedError, match="run_choice='restore'"):
            await attach
        with pytest.raises(radas.ExperimentFailedError, match="restore"):  # also when it is already dead
            await target.run(exp, target.train.slow, run_choice="attach")
        restored = await target.run(exp, target.train.slow, run_choice="restore",
                                    param_space={"a": tune.grid_search([1, 2, 3]), "steps": 25, "tag": exp})
        assert set(restored["df"]["status"]) == {"TERMINATED"} and len(restored["df"]) == 3
        assert target.starts(exp)[1] == 1
    finally:
        if driver.poll() is None:
            driver.kill()


@pytest.mark.parametrize(("argument", "value", "kind"), [("cpu_per_trial", 64, "CPU"), ("gpu_per_trial", 4, "GPU")])
async def test_impossible_resources_fail_before_anything_starts(target: Target, argument, value, kind):
    exp = name("huge")
    with pytest.raises(radas.InsufficientResourcesError) as info:
        await target.run(exp, target.train.product, param_space={"a": 1, "b": 1}, **{argument: value})
    text = str(info.value)
    assert f"{argument}={value}" in text and f"needs {value} {kind}" in text and "the largest node" in text
    assert not target.exp_dir(exp).exists() and not await target.jobs(exp)


async def test_runtime_env_reaches_trials(target: Target):
    modules = target.workdir / "mods" / "radas_probe_module"
    modules.mkdir(parents=True)
    (modules / "__init__.py").write_text("VALUE = 'from py_modules'\n")
    results = await target.run(name("env"), target.train.probe, param_space={"x": 1},
                               runtime_env={"env_vars": {"RADAS_TEST_FLAG": "on"}, "py_modules": ["mods/radas_probe_module"]})
    row = results["df"].iloc[0]
    assert row["flag"] == "on" and row["module"] == "from py_modules"


async def test_secrets_reach_trials_and_nothing_else(target: Target, capsys):
    key, token = f"wandbkey{time.time_ns()}", f"servicetoken{time.time_ns()}"
    modules = target.workdir / "radas_probe_module"
    modules.mkdir()
    (modules / "__init__.py").write_text("VALUE = 'here'\n")
    exp = name("secrets")
    results = await target.run(exp, target.train.probe,
                               param_space={"x": 1, "wandb": {"enable": False, "api_key": key}},
                               runtime_env={"env_vars": {"MY_SERVICE_TOKEN": token}, "py_modules": ["radas_probe_module"]})
    row = results["df"].iloc[0]
    assert row["wandb_key"] == hashlib.sha256(key.encode()).hexdigest()
    assert row["token"] == hashlib.sha256(token.encode()).hexdigest()
    leaks = []
    for folder in target.secret_places():
        for path in folder.rglob("*"):
            try:
                data = path.read_bytes() if path.is_file() else b""
            except OSError:
                continue
            if key.encode() in data or token.encode() in data:
                leaks.append(str(path))
    for job in await target.jobs(exp):
        answer = json.dumps(job.dict(), default=str) + await _logs(job.submission_id)
        if key in answer or token in answer:
            leaks.append(f"Jobs API answer for {job.submission_id}")
    assert not leaks
    assert not list((target.results / ".radas-secrets").glob("*.json"))  # removed when the sweep ended
    out = capsys.readouterr().out
    assert key not in out and token not in out


async def _logs(job_id: str) -> str:
    return await radas.get_client(USER, "cluster:testc").get_job_logs_async(job_id)


async def test_two_experiments_gathered_both_complete(target: Target):
    ra, rb = await asyncio.gather(
        target.run(name("gather-a"), target.train.product, param_space={"a": tune.grid_search([1, 2]), "b": 1}),
        target.run(name("gather-b"), target.train.product, param_space={"a": tune.grid_search([5, 6, 7]), "b": 2}),
    )
    assert sorted(ra["df"]["score"]) == [1, 2] and sorted(rb["df"]["score"]) == [10, 12, 14]


async def test_existing_experiment_needs_a_choice_and_analyze_needs_results(target: Target):
    exp = name("choice")
    with pytest.raises(radas.ExperimentNotFoundError, match="no results to analyze"):
        await target.run(exp, target.train.product, dos=["analyze"])
    await target.run(exp, target.train.product, param_space={"a": 1, "b": 1})
    with pytest.raises(radas.ChoiceRequiredError, match="run_choice") as info:
        await target.run(exp, target.train.product, param_space={"a": 1, "b": 1})
    assert "'run'" in str(info.value) and "'restore'" in str(info.value)
    again = await target.run(exp, target.train.product, dos=["analyze"])
    assert list(again["df"]["score"]) == [1]
