"""The paths of ``run_experiment`` — choose, run, fail, notify, analyze — on the in-process backend
(``run_with="memory"``): the same story as on Ray, in milliseconds, no Ray started (the fast lane).
What it cannot honour it refuses by name; its results are Ray Tune's API; its state is its store's.
(The scenarios every target shares run on it in tests/backends/test_conformance.py.)"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import uuid

import pytest
import seaborn as sns
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

import radas
from radas.backends import memory
from radas.backends.memory import MemoryBackend, MemoryStore
from radas.errors import UnsupportedInMemoryError
from radas.sweep import FINISHED


@pytest.fixture(autouse=True)
def _forget_sweeps():
    """Each test starts with no sweep in memory and leaves none behind."""
    memory.clear()
    yield
    memory.clear()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def reporting(config):
    for step in range(3):
        tune.report({"score": config["a"] * step, "step": step})


def failing_for_two(config):
    if config["a"] == 2:
        raise ValueError("a=2 cannot work")
    return {"score": config["a"]}


def from_env(config):
    return {"flag": os.environ.get("RADAS_MEMORY_FLAG", "unset"), "key": os.environ.get("WANDB_API_KEY", "")}


async def run(exp: str, trainable, **kwargs):
    return await radas.run_experiment(user_name="tester", experiment_name=exp, trainable=trainable,
                                      run_with="memory", **kwargs)


async def test_run_reports_every_step_and_analyzes_into_a_df_and_figure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = _name("mem-run")
    out = await run(exp, reporting, param_space={"a": tune.grid_search([1, 2, 3])},
                    plot_fn=sns.barplot, plot_kwargs={"x": "config/a", "y": "score"}, plot_format="png")
    df = out["df"].sort_values("config/a")
    assert list(df["score"]) == [2, 4, 6] and set(df["status"]) == {"TERMINATED"}
    assert len(out["tuner"].get_iteration_dataframe()) == 9
    assert (tmp_path / "radas_figures" / "tester" / f"{exp}.png").stat().st_size > 0
    assert out["fig"].axes


async def test_an_existing_experiment_needs_a_choice_and_run_archives_it(monkeypatch):
    monkeypatch.setenv("CI", "true")
    exp = _name("mem-choice")
    await run(exp, reporting, param_space={"a": 1})
    with pytest.raises(radas.ChoiceRequiredError, match="run_choice") as info:
        await run(exp, reporting, param_space={"a": 2})
    assert "'restore'" in str(info.value)
    again = await run(exp, reporting, param_space={"a": 5}, run_choice="run")
    assert list(again["df"]["score"]) == [10]
    [archived] = MemoryBackend().archived("tester", exp)
    assert archived.name.startswith(f"memory:tester/.archive/{exp}-")
    assert list(archived.results.get_dataframe()["score"]) == [2]  # moved aside, never lost


async def test_analyze_only_and_restore_need_existing_results():
    exp = _name("mem-none")
    with pytest.raises(radas.ExperimentNotFoundError, match="no results to analyze"):
        await run(exp, reporting, dos=["analyze"])
    with pytest.raises(radas.ExperimentNotFoundError, match="nothing to restore|no saved sweep"):
        await run(exp, reporting, run_choice="restore")


async def test_a_failing_trial_is_retried_then_reported_and_restore_runs_only_it(capsys):
    exp = _name("mem-fail")
    out = await run(exp, failing_for_two, param_space={"a": tune.grid_search([1, 2, 3])})
    df = out["df"].set_index("config/a")
    assert df.loc[2, "status"] == "ERROR" and "a=2 cannot work" in df.loc[2, "error"]
    assert df.loc[1, "score"] == 1 and df.loc[3, "score"] == 3  # the others' results are kept
    assert "1 trial(s) errored" in capsys.readouterr().out
    backend = MemoryBackend()
    trials = {t.config["a"]: t for t in backend.store.get(backend.key("tester", exp)).trials}
    assert trials[2].starts == 3 and trials[1].starts == 1  # first try + 2 retries
    await run(exp, failing_for_two, run_choice="restore")
    assert trials[2].starts == 6 and trials[1].starts == 1 and trials[3].starts == 1


async def test_success_and_failure_are_emailed(smtp):
    exp = _name("mem-mail")
    await run(exp, reporting, param_space={"a": tune.grid_search([1, 2])},
              tuner_init_kwargs={"tune_config": {"metric": "score", "mode": "max"}},
              email_notification_to_address="alice@lab.org")
    with pytest.raises(KeyError):
        await run(_name("mem-mail-fail"), reporting, param_space={"a": 1},
                  process_df_fn=lambda df: df["no such column"], email_notification_to_address="alice@lab.org")
    ok, failed = smtp.messages()
    text = [m.get_body(preferencelist=("plain",)).get_content() for m in (ok, failed)]
    assert ok["Subject"] == f"[radas] {exp}: succeeded" and "Best trial (max score): score=4" in text[0]
    assert failed["Subject"].endswith(": failed") and "no such column" in text[1]


async def test_env_vars_and_secrets_reach_trials_but_not_the_results():
    out = await run(_name("mem-env"), from_env, param_space={"wandb": {"api_key": "k-123", "enable": False}},
                    runtime_env={"env_vars": {"RADAS_MEMORY_FLAG": "on"}})
    row = out["df"].iloc[0]
    assert row["flag"] == "on" and row["key"] == "k-123"
    assert "k-123" not in out["df"].drop(columns="key").to_string()
    assert os.environ.get("RADAS_MEMORY_FLAG") is None


async def test_two_experiments_under_gather_both_complete():
    a, b = await asyncio.gather(run(_name("mem-ga"), reporting, param_space={"a": 1}),
                                run(_name("mem-gb"), reporting, param_space={"a": 2}))
    assert list(a["df"]["score"]) == [2] and list(b["df"]["score"]) == [4]


async def test_a_class_trainable_needs_ray():
    class Train(tune.Trainable):
        def step(self):
            return {"score": 1}

    with pytest.raises(UnsupportedInMemoryError, match=r"trainable=Train.*run_with='local'"):
        await run(_name("mem-class"), Train, param_space={"a": 1})


def _stopper(trial_id, result):
    return result["score"] > 1


class Shout(tune.Callback):
    pass


RAY_ONLY = [  # (tuner_init_kwargs or runtime_env, the setting as the error names it, its value as shown)
    ({"tune_config": {"search_alg": OptunaSearch(), "metric": "score", "mode": "max"}}, "search_alg",
     "OptunaSearch(...)"),
    ({"tune_config": {"scheduler": ASHAScheduler(), "metric": "score", "mode": "max"}}, "scheduler",
     "AsyncHyperBandScheduler(...)"),
    ({"tune_config": {"time_budget_s": 30}}, "time_budget_s", "30"),
    ({"tune_config": {"num_samples": -1}}, "num_samples", "-1"),
    ({"run_config": {"stop": {"training_iteration": 2}}}, "stop", "{'training_iteration': 2}"),
    ({"run_config": {"stop": _stopper}}, "stop", "_stopper"),
    ({"run_config": {"callbacks": [Shout()]}}, "callbacks", "[Shout(...)]"),
    ({"run_config": {"checkpoint_config": tune.CheckpointConfig(num_to_keep=2)}}, "checkpoint_config",
     "num_to_keep=2"),
    ({"run_config": {"failure_config": {"fail_fast": True}}}, "fail_fast", "True"),
    ({"runtime_env": {"py_modules": ["mods/secret-named-module"]}}, "runtime_env['py_modules']", "(given)"),
    ({"runtime_env": {"pip": ["secret-named-package"]}}, "runtime_env['pip']", "(given)"),
    ({"runtime_env": {"conda": "/somewhere/secret-named-env"}}, "runtime_env['conda']", "(given)"),
]


@pytest.mark.parametrize(("given", "setting", "shown"), RAY_ONLY, ids=[f"{c[1]}-{i}" for i, c in enumerate(RAY_ONLY)])
async def test_what_needs_ray_is_refused_by_name_before_anything_runs(given, setting, shown):
    """An Optuna sweep must not quietly become random sampling: every setting only Ray Tune
    honours is an error naming it, its value and run_with='local', before any trial runs."""
    calls = []

    def trainable(config):
        calls.append(config)
        return {"score": config["a"]}

    exp = _name("mem-refused")
    kwargs = {"runtime_env": given["runtime_env"]} if "runtime_env" in given else {"tuner_init_kwargs": given}
    with pytest.raises(UnsupportedInMemoryError) as info:
        await run(exp, trainable, param_space={"a": tune.uniform(0, 1)}, **kwargs)
    text = str(info.value)
    assert setting in text and shown in text and "run_with='local'" in text
    assert "secret-named" not in text and "/somewhere" not in text  # a runtime_env's values are never shown
    assert isinstance(info.value, radas.RadasValueError) and isinstance(info.value, ValueError)
    assert not calls
    backend = MemoryBackend()
    assert backend.store.get(backend.key("tester", exp)) is None


async def test_settings_that_only_shape_rays_work_are_accepted():
    out = await run(_name("mem-shape"), reporting, param_space={"a": tune.grid_search([1, 2])},
                    runtime_env={"env_vars": {"X": "1"}, "excludes": ["/data/"]},
                    tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1, "reuse_actors": True},
                                       "run_config": {"verbose": 1, "failure_config": {"max_failures": 1}}})
    assert sorted(out["df"]["score"]) == [2, 4]


def nested(config):
    for step in range(4):
        loss = [5.0, 1.0, 3.0, 4.0][step] * config["a"]
        tune.report({"eval": {"loss": loss}, "score": float("nan") if config["a"] == 3 else config["a"] * step})


async def test_the_results_grid_picks_the_best_as_ray_tune_does():
    out = await run(_name("mem-grid"), nested, param_space={"a": tune.grid_search([1, 2, 3])},
                    tuner_init_kwargs={"tune_config": {"metric": "eval/loss", "mode": "min"}})
    grid = out["tuner"].get_results()
    assert grid.get_best_result().config["a"] == 1  # the tune config's metric and mode; nested as "eval/loss"
    assert grid.get_best_result(scope="all").metrics["eval"]["loss"] == 4.0  # its last report's metrics
    best_by_score = grid.get_best_result(metric="score", mode="max")
    assert best_by_score.config["a"] == 2  # a=3 reported only NaN: never the best
    assert grid.get_best_result(metric="score", mode="max", scope="avg").config["a"] == 2
    with pytest.raises(RuntimeError, match="No best trial found for the given metric: nothing"):
        grid.get_best_result(metric="nothing", mode="max")
    assert list(best_by_score.metrics_dataframe["training_iteration"]) == [1, 2, 3, 4]
    assert best_by_score.metrics["training_iteration"] == 4 and best_by_score.checkpoint is None
    df = grid.get_dataframe(filter_metric="eval/loss", filter_mode="min")
    assert list(df.sort_values("config/a")["eval/loss"]) == [1.0, 2.0, 3.0]  # each trial's best report
    assert list(grid.get_dataframe().sort_values("config/a")["eval/loss"]) == [4.0, 8.0, 12.0]
    assert grid.experiment_path.startswith("memory:tester/") and "MemoryResult(" in repr(grid)
    assert math.isnan(grid[2].metrics["score"])


async def test_an_errored_trials_error_is_the_exception_it_raised():
    out = await run(_name("mem-err"), failing_for_two, param_space={"a": tune.grid_search([1, 2])})
    [error] = out["tuner"].get_results().errors
    assert isinstance(error, ValueError) and str(error) == "a=2 cannot work" and error.__traceback__ is not None


async def test_results_are_a_snapshot_and_the_state_is_the_stores():
    exp = _name("mem-state")
    first = await run(exp, reporting, param_space={"a": 1})
    await run(exp, reporting, param_space={"a": 2}, run_choice="run")
    assert list(first["tuner"].get_dataframe()["score"]) == [2]  # a later run leaves earlier results alone
    assert not [name for name, value in vars(MemoryBackend).items()
                if isinstance(value, (dict, list, set)) and not name.startswith("__")]  # no class-level registry
    own = MemoryBackend(MemoryStore())
    assert own.store.get(own.key("tester", exp)) is None  # another store: other sweeps
    shared = MemoryBackend()
    assert shared.store.get(shared.key("tester", exp)) is not None
    memory.clear()
    assert shared.store.get(shared.key("tester", exp)) is None and not shared.archived("tester", exp)
    with pytest.raises(radas.ExperimentNotFoundError):
        await run(exp, reporting, dos=["analyze"])


async def test_the_key_is_the_users_results_folder_and_the_experiment(tmp_path, monkeypatch):
    exp = _name("mem-key")
    await run(exp, reporting, param_space={"a": 1})
    monkeypatch.setenv("RADAS_RESULTS_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(radas.ExperimentNotFoundError):  # another results folder: another experiment
        await run(exp, reporting, dos=["analyze"])


async def test_gathered_sweeps_with_different_secrets_each_see_only_their_own(monkeypatch):
    """``os.environ`` is the process's: a trial with env vars has it to itself across sweeps, so
    each of two sweeps under ``asyncio.gather`` sees only its own value of a variable both set
    (however their trials overlap), and nothing of either is left in ``os.environ`` after."""
    monkeypatch.delenv("MY_SERVICE_TOKEN", raising=False)
    started = {"a": threading.Event(), "b": threading.Event()}
    looked = {"a": threading.Event(), "b": threading.Event()}

    def trainable_of(me: str, other: str):
        def trainable(config):
            first = os.environ.get("MY_SERVICE_TOKEN")
            started[me].set()
            overlapping = started[other].wait(1.0)  # the other sweep's trial, if it runs meanwhile
            later = os.environ.get("MY_SERVICE_TOKEN")
            looked[me].set()
            if overlapping:
                looked[other].wait(1.0)  # it runs on while this one looks
            return {"score": 1, "seen": f"{first},{later}"}
        return trainable

    a, b = await asyncio.gather(*(run(_name(f"mem-env-{me}"), trainable_of(me, other), param_space={"a": 1},
                                      runtime_env={"env_vars": {"MY_SERVICE_TOKEN": f"secret-{me}"}})
                                  for me, other in (("a", "b"), ("b", "a"))))
    assert list(a["df"]["seen"]) == ["secret-a,secret-a"] and list(b["df"]["seen"]) == ["secret-b,secret-b"]
    assert "MY_SERVICE_TOKEN" not in os.environ


def waits(config):
    for step in range(200):
        tune.report({"score": config["a"] * step})
        time.sleep(0.02)


async def test_stop_attach_from_another_call_stops_the_sweep_and_restore_finishes_it():
    exp = _name("mem-stop")
    space = {"a": tune.grid_search([1, 2, 3])}
    sweep = asyncio.ensure_future(run(exp, waits, param_space=space))
    backend = MemoryBackend()
    while not (backend.store.get(backend.key("tester", exp)) and backend.store.get(
            backend.key("tester", exp)).progress.running):
        assert not sweep.done()
        await asyncio.sleep(0.02)
    stopped = await run(exp, waits, run_choice="stop_attach")
    assert (stopped["df"]["status"] != "TERMINATED").any()
    assert (await sweep)["df"].equals(stopped["df"])  # the sweep's own call ends, stopped, with the same results
    done = await run(exp, waits, run_choice="restore")
    assert set(done["df"]["status"]) == {"TERMINATED"} and len(done["df"]) == 3
    assert backend.store.get(backend.key("tester", exp)).progress.state == FINISHED


async def test_max_failures_minus_one_retries_until_the_trial_succeeds():
    tries = []

    def flaky(config):
        tries.append(1)
        if len(tries) < 4:
            raise RuntimeError("not yet")
        return {"score": len(tries)}

    out = await run(_name("mem-forever"), flaky, param_space={"a": 1},
                    tuner_init_kwargs={"run_config": {"failure_config": {"max_failures": -1}}})
    assert list(out["df"]["score"]) == [4] and list(out["df"]["status"]) == ["TERMINATED"]
