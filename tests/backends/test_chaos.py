"""A cluster that really fails: every process of its head killed mid-sweep, then a worker node
killed mid-trial, on a two-node Ray cluster of this test's own on 127.0.0.1. The client answers
within a bounded time saying how to continue; a new head on the same storage restores the sweep
without rerunning a finished trial or losing a reported result; a trial on a dead worker is run
again and the sweep finishes.

Nothing here races the sweep: the trials hold (after their first report) while the test's
``hold`` file exists, so the faults hit them mid-trial whatever the machine's load; and the
short Jobs API budget that calls the dead head down is set only once the sweep runs, so a
freshly started head gets the default one to take its first job."""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
import time
from pathlib import Path

import pytest
from backend_targets import TRAIN, USER
from ray import tune
from ray_cluster_fixture import start_cluster

import radas

pytestmark = pytest.mark.ray

HOLD = "hold"
HELD = TRAIN + textwrap.dedent('''
    def held(config):
        """``slow``, but a trial with a >= config["hold_from"] waits after its first report while
        the test's hold file is in its tag's data folder."""
        folder = _record(config)
        for step in range(config["steps"]):
            time.sleep(0.2)
            tune.report({"score": config["a"] * step, "step": step})
            while config["a"] >= config["hold_from"] and (folder / "hold").exists():
                time.sleep(0.2)
''')


def _progress(results: Path, exp: str) -> dict:
    try:
        return json.loads((results / exp / ".radas-progress.json").read_text())
    except (OSError, ValueError):
        return {}


def _starts(data: Path, tag: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in (data / tag).iterdir():
        if path.name != HOLD:
            a = int(path.name.split("-")[0])
            counts[a] = counts.get(a, 0) + 1
    return counts


def _finished(folder: Path, trainable):
    df = radas.Tuner.restore(folder, trainable).get_dataframe()
    return df[df["status"] == "TERMINATED"]


def _saved_finished(folder: Path, trainable) -> int:
    """How many finished trials the saved sweep state in ``folder`` has (0 while it is not written)."""
    try:
        return len(_finished(folder, trainable))
    except Exception:  # noqa: BLE001 - not written yet, or written as we read
        return 0


async def _until(condition, what: str, sweep: asyncio.Future, timeout: float = 300.0) -> None:
    """Until ``condition()``; an error at once when ``sweep`` ended first (with its outcome)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if sweep.done():
            raise AssertionError(f"the sweep ended before {what}: {sweep.exception() or sweep.result()!r}")
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within {timeout:g} s: {what}")
        await asyncio.sleep(0.2)


async def test_a_killed_head_is_a_bounded_error_a_new_head_restores_and_a_dead_worker_is_retried(
        tmp_path, monkeypatch, config_file):
    work = tmp_path / "work"
    work.mkdir()
    (work / "radas_train.py").write_text(HELD)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("RADAS_JOBS_RETRY_S", raising=False)  # the default budget while a head starts
    import radas_train

    first = start_cluster()
    second = None
    try:
        config_file(first.config())
        results, data = first.client_mount / "results" / USER, first.client_mount / "data" / USER
        exp = "chaos"
        (data / exp).mkdir(parents=True)
        (data / exp / HOLD).touch()  # trials a=2, 3 hold: the head dies mid-sweep
        space = {"a": tune.grid_search([1, 2, 3]), "steps": 20, "tag": exp, "hold_from": 2}
        sweep = asyncio.ensure_future(radas.run_experiment(
            user_name=USER, experiment_name=exp, trainable=radas_train.held, run_with="cluster:testc",
            param_space=space, tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}))
        await _until(lambda: _progress(results, exp).get("done", 0) >= 1 and _progress(results, exp).get("running"),
                     "a trial finished and the next one running", sweep)
        # the sweep's state in the folder (saved every 2 s) knows the finished trial: restore must not rerun it
        await _until(lambda: _saved_finished(results / exp, radas_train.held) >= 1,
                     "the saved sweep state has a finished trial", sweep)
        finished_before = _finished(results / exp, radas_train.held)
        assert list(finished_before["config/a"]) == [1]

        # from now on a cluster that does not answer is called down after 5 s: the budget is read
        # at every call, so the sweep's client, following its job, goes by it
        monkeypatch.setenv("RADAS_JOBS_RETRY_S", "5")
        first.kill_head()
        killed = time.monotonic()
        with pytest.raises(radas.ClusterUnavailableError) as info:
            await asyncio.wait_for(sweep, timeout=120)
        assert time.monotonic() - killed < 60  # bounded: the retry budget plus request timeouts
        message = str(info.value)
        assert "testc" in message and "run_choice='restore'" in message and "run_choice='attach'" in message
        assert str(results / exp) in message

        first.kill(str(first.root), first.groups)  # the rest of the old cluster; its storage stays
        monkeypatch.delenv("RADAS_JOBS_RETRY_S")  # the new head gets the default budget
        second = start_cluster(shared=first.shared)
        config_file(second.config())
        (data / exp / HOLD).unlink()
        before = _starts(data, exp)
        restored = await radas.run_experiment(
            user_name=USER, experiment_name=exp, trainable=radas_train.held, run_with="cluster:testc",
            param_space=space, run_choice="restore")
        df = restored["df"].set_index("config/a")
        assert set(df["status"]) == {"TERMINATED"} and len(df) == 3
        after = _starts(data, exp)
        for a in finished_before["config/a"]:  # finished before the crash: not run again, result kept
            assert after[a] == before[a] == 1
            assert df.loc[a, "score"] == a * 19
        assert all(df.loc[a, "score"] == a * 19 for a in (1, 2, 3))

        # a worker node dies while a trial runs on it: the trial runs again elsewhere, the sweep ends
        exp2 = "chaos-worker"
        (data / exp2).mkdir(parents=True)
        (data / exp2 / HOLD).touch()  # every trial holds: one surely runs on the worker when it dies
        space2 = {"a": tune.grid_search([1, 2, 3]), "steps": 30, "tag": exp2, "hold_from": 1}
        sweep2 = asyncio.ensure_future(radas.run_experiment(
            user_name=USER, experiment_name=exp2, trainable=radas_train.held, run_with="cluster:testc",
            param_space=space2, cpu_per_trial=1))
        await _until(lambda: _progress(results, exp2).get("running", 0) >= 3 and len(_starts(data, exp2)) == 3,
                     "three trials running at once", sweep2)
        second.kill_worker()
        (data / exp2 / HOLD).unlink()
        done = await asyncio.wait_for(sweep2, timeout=300)
        df2 = done["df"].set_index("config/a")
        assert set(df2["status"]) == {"TERMINATED"} and all(df2.loc[a, "score"] == a * 29 for a in (1, 2, 3))
        assert sorted(_starts(data, exp2).values()) == [1, 1, 2]  # the one on the dead node ran again
    finally:
        if second is not None:
            second.stop()
        first.stop()
        shutil.rmtree(first.root, ignore_errors=True)
