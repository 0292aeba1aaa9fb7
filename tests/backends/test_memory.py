"""The paths of ``run_experiment`` — choose, run, fail, notify, analyze — on the in-process backend
(``run_with="memory"``): the same story as on Ray, in milliseconds, no Ray started (the fast lane)."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
import seaborn as sns
from ray import tune

import radas
from radas.backends.memory import MemoryBackend


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
    assert any(key.startswith(f"tester/{exp}-") for key in MemoryBackend.archive)


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
    trials = {t.config["a"]: t for t in MemoryBackend.sweeps[("tester", exp)].trials}
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

    with pytest.raises(radas.RadasValueError, match="run_with='local'"):
        await run(_name("mem-class"), Train, param_space={"a": 1})
