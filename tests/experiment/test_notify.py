"""run_experiment's end-of-experiment email, received by a real SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
import seaborn as sns
from ray import tune
from smtp_server import free_port

import radas


def score(config):
    return {"score": config["a"] * 2}


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


async def test_success_email_with_summary_and_figure(smtp, tmp_path, monkeypatch, local_ray):
    monkeypatch.chdir(tmp_path)
    await radas.run_experiment(
        user_name="tester", experiment_name="mailed", trainable=score,
        param_space={"a": tune.grid_search([1, 2, 3])},
        tuner_init_kwargs={"tune_config": {"metric": "score", "mode": "max"}},
        plot_fn=sns.barplot, plot_kwargs={"x": "config/a", "y": "score"}, plot_format="png",
        email_notification_to_address="alice@lab.org", run_choice="run",
    )
    [message] = smtp.messages()
    assert message["Subject"] == "[radas] mailed: succeeded" and message["To"] == "alice@lab.org"
    body = _body(message)
    assert "Trials: 3 terminated" in body and "Best trial (max score): score=6" in body
    assert "'config/a': 3" in body and "Ran on: local" in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "mailed.png" and attachment.get_content()[:4] == b"\x89PNG"


async def test_failure_email_and_the_error_still_raised(smtp, local_ray):
    def broken(df):
        raise KeyError("no such column")

    with pytest.raises(KeyError):
        await radas.run_experiment(user_name="tester", experiment_name="mailed-fail", trainable=score,
                                   param_space={"a": 1}, process_df_fn=broken,
                                   email_notification_to_address=["alice@lab.org", "bob@lab.org"], run_choice="run")
    [message] = smtp.messages()
    assert message["Subject"] == "[radas] mailed-fail: failed"
    assert "KeyError" in _body(message) and "no such column" in _body(message)


async def test_mail_server_down_only_warns(monkeypatch, capsys, local_ray):
    monkeypatch.setenv("RADAS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RADAS_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("RADAS_SMTP_SECURITY", "none")
    monkeypatch.setenv("RADAS_EMAIL_FROM", "radas@example.org")
    results = await radas.run_experiment(user_name="tester", experiment_name="mailed-down", trainable=score,
                                         param_space={"a": 1}, email_notification_to_address="a@lab.org",
                                         run_choice="run")
    assert list(results["df"]["score"]) == [2]
    assert "[radas warning]" in capsys.readouterr().out


def tracked(config):
    from radas.rwandb import rwandb_finish, rwandb_init, rwandb_log

    rwandb_init(config)
    rwandb_log({"score": config["a"]})
    rwandb_finish()
    return {"score": config["a"]}


async def test_tracker_api_key_never_reaches_results_files(local_ray):
    secret = "wandb-key-that-must-not-leak-0123456789abcdef"
    results = await radas.run_experiment(
        user_name="tester", experiment_name="tracked", trainable=tracked,
        param_space={"a": tune.grid_search([1, 2]),
                     "wandb": {"enable": True, "api_key": secret, "init_kwargs": {"mode": "offline"}}},
        run_choice="run",
    )
    assert set(results["df"]["status"]) == {"TERMINATED"}
    folder = Path(radas.get_ray_results_dir("tester")) / "tracked"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)
    assert not [p for p in files if secret.encode() in p.read_bytes()]


async def test_a_df_the_summary_cannot_rank_still_returns_the_results_and_sends_the_email(smtp):
    """process_df_fn that moves the config into a non-unique index (num_seeds): once, ranking the
    best trial raised on a successful run, losing the results and the email."""
    out = await radas.run_experiment(
        user_name="tester", experiment_name="mailed-indexed", trainable=score, run_with="memory",
        param_space={"a": tune.grid_search([1, 2])}, num_seeds=2, run_choice="run",
        process_df_fn=lambda df: df.set_index("config/a"),
        tuner_init_kwargs={"tune_config": {"metric": "score", "mode": "max"}},
        email_notification_to_address="alice@lab.org")
    assert len(out["df"]) == 4
    [message] = smtp.messages()
    body = _body(message)
    assert message["Subject"] == "[radas] mailed-indexed: succeeded"
    assert "Best trial (max score): score=4" in body and "'config/a': 2" in body


def test_the_summary_never_raises():
    from radas.experiment._notify import summary

    weird = __import__("pandas").DataFrame({"score": ["n/a", object()], "status": [None, 3]})
    subject, body = summary("e", "local", "failed", 1.0, weird, "score", "max", RuntimeError("boom"))
    assert "boom" in body and subject.endswith("failed")
