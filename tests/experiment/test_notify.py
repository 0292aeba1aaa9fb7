"""run_experiment's end-of-experiment email, received by a real SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import seaborn as sns
from ray import tune
from smtp_server import free_port

import radas


def score(config):
    return {"score": config["a"] * 2}


def _body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def _html(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def inline_images(message) -> list:
    """The images shown inside the HTML version (multipart/related parts with a Content-ID)."""
    return [part for part in message.walk() if part.get_content_type() == "image/png" and part["Content-ID"]]


def curve(config):
    for step in range(4):
        tune.report({"score": config["a"] * step + config["b"], "step": step})


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
    [image] = inline_images(message)
    assert image.get_content()[:4] == b"\x89PNG" and f"cid:{image['Content-ID'].strip('<>')}" in _html(message)
    report = Path(radas.get_ray_results_dir("tester")) / "mailed" / "radas-report.html"
    assert f"Report: {report}" in body and report.is_file()


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


def test_the_email_never_raises_over_results_it_cannot_read():
    from radas.experiment._notify import compose
    from radas.experiment._report import Report

    weird = pd.DataFrame({"score": ["n/a", object()], "status": [None, 3]})
    report = Report(user="u", experiment="e", run_with="local", state="failed", trials=weird,
                    history=pd.DataFrame(), metric="score", mode="max", progress=None, seconds=1.0, results_path="/r",
                    error="RuntimeError: boom")
    email = compose(report)
    assert "boom" in email.text and email.subject.endswith("failed") and "boom" in email.html


@pytest.mark.parametrize("plot_format", [None, ["png", "pdf"]])
async def test_the_email_is_a_report_with_every_figure_inline(smtp, tmp_path, monkeypatch, plot_format):
    """Tried as a new user would: plot_fn and an address, with or without plot_format."""
    monkeypatch.chdir(tmp_path)
    b = tune.grid_search([0.0, 0.5]) if plot_format is None else 0.5  # two parameters vary, or one
    await radas.run_experiment(
        user_name="tester", experiment_name="mailed-report", trainable=curve, run_with="memory", run_choice="run",
        param_space={"a": tune.grid_search([1, 2, 3]), "b": b},
        tuner_init_kwargs={"tune_config": {"metric": "score", "mode": "max"}},
        plot_fn=sns.barplot, plot_kwargs={"x": "config/a", "y": "score"}, plot_format=plot_format,
        email_notification_to_address="alice@lab.org")
    [message] = smtp.messages()
    assert message.get_content_type() == "multipart/mixed" if plot_format else "multipart/alternative"
    html, body = _html(message), _body(message)
    images = inline_images(message)
    # the call's figure and the learning curves; importance and parallel coordinates when two parameters vary
    assert len(images) == (4 if plot_format is None else 2)
    assert all(image.get_content()[:4] == b"\x89PNG" for image in images)
    assert all(f"cid:{image['Content-ID'].strip('<>')}" in html for image in images)
    trials = 6 if plot_format is None else 3
    assert 'id="best-trials"' in html and html.count("<tr>") >= 6 + min(trials, 5)
    assert f"Trials: {trials} terminated" in body and "Best trial (max score): score=9.5" in body
    assert f"Best trials (of {trials}):" in body and "Duration:" in body
    assert "Results: memory:tester/mailed-report" in body
    attached = [part.get_filename() for part in message.iter_attachments()]
    assert attached == (["mailed-report.pdf"] if plot_format else [])


async def test_a_failed_call_mails_what_is_known_so_far(smtp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def broken(df):
        raise KeyError("no such column")

    with pytest.raises(KeyError):
        await radas.run_experiment(
            user_name="tester", experiment_name="mailed-broken", trainable=curve, run_with="memory", run_choice="run",
            param_space={"a": tune.grid_search([1, 2]), "b": 0.0}, process_df_fn=broken,
            tuner_init_kwargs={"tune_config": {"metric": "score", "mode": "max"}},
            email_notification_to_address="alice@lab.org")
    [message] = smtp.messages()
    body = _body(message)
    assert message["Subject"] == "[radas] mailed-broken: failed"
    assert "Error: KeyError: 'no such column'" in body and "Trials: 2 terminated" in body
    assert "Best trial (max score): score=6" in body
    assert len(inline_images(message)) == 1  # the learning curves of the trials that ran


async def test_figures_over_the_size_budget_are_left_out_and_said(smtp, tmp_path, monkeypatch):
    from radas.experiment import _notify

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_notify, "MAX_IMAGES_BYTES", 1000)
    await radas.run_experiment(
        user_name="tester", experiment_name="mailed-big", trainable=score, run_with="memory", run_choice="run",
        param_space={"a": tune.grid_search([1, 2])}, plot_fn=sns.barplot,
        plot_kwargs={"x": "config/a", "y": "score"}, email_notification_to_address="alice@lab.org")
    [message] = smtp.messages()
    assert not inline_images(message)
    assert "Left out: the figure 'The figure of this call (plot_fn)'" in _body(message)
    assert "would take the email&#x27;s figures over 1 KB" in _html(message)


async def test_an_analyze_of_an_unchanged_sweep_writes_no_page_and_still_mails_its_trials(smtp, tmp_path, monkeypatch,
                                                                                          local_ray):
    """The page is drawn from the same results, state and figure as the one there: it is not
    written again; the email, read only when it is sent, still has every trial and figure."""
    monkeypatch.chdir(tmp_path)
    call = dict(user_name="tester", experiment_name="mailed-again", trainable=curve,
                param_space={"a": tune.grid_search([1, 2, 3]), "b": tune.grid_search([0.0, 0.5])},
                tuner_init_kwargs={"tune_config": {"metric": "score", "mode": "max"}},
                plot_fn=sns.barplot, plot_kwargs={"x": "config/a", "y": "score"})
    await radas.run_experiment(**call, run_choice="run")
    page = Path(radas.get_ray_results_dir("tester")) / "mailed-again" / "radas-report.html"
    written = page.stat().st_mtime_ns
    await radas.run_experiment(**call, dos=["analyze"], email_notification_to_address="alice@lab.org")
    assert page.stat().st_mtime_ns == written
    [message] = smtp.messages()
    assert "Trials: 6 terminated" in _body(message) and "Best trial (max score): score=9.5" in _body(message)
    assert len(inline_images(message)) == 4  # the call's figure, curves, importance, parallel coordinates
