"""A cluster that really fails: every process of its head killed mid-sweep, then a worker node
killed mid-trial, on a two-node Ray cluster of this test's own on 127.0.0.1. The client answers
within a bounded time saying how to continue; a new head on the same storage restores the sweep
without rerunning a finished trial or losing a reported result; a trial on a dead worker is run
again and the sweep finishes."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest
from backend_targets import TRAIN, USER
from ray import tune
from ray_cluster_fixture import start_cluster

import radas

pytestmark = pytest.mark.ray


def _progress(results: Path, exp: str) -> dict:
    try:
        return json.loads((results / exp / ".radas-progress.json").read_text())
    except (OSError, ValueError):
        return {}


def _starts(data: Path, tag: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in (data / tag).iterdir():
        a = int(path.name.split("-")[0])
        counts[a] = counts.get(a, 0) + 1
    return counts


def _finished(folder: Path, trainable):
    df = radas.Tuner.restore(folder, trainable).get_dataframe()
    return df[df["status"] == "TERMINATED"]


async def _until(condition, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.2)


async def test_a_killed_head_is_a_bounded_error_a_new_head_restores_and_a_dead_worker_is_retried(
        tmp_path, monkeypatch, config_file):
    work = tmp_path / "work"
    work.mkdir()
    (work / "radas_train.py").write_text(TRAIN)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("RADAS_JOBS_RETRY_S", "5")  # how long a silent cluster may take to be called down
    monkeypatch.setenv("RADAS_JOBS_TIMEOUT_S", "2")
    import radas_train

    first = start_cluster()
    second = None
    try:
        config_file(first.config())
        results, data = first.client_mount / "results" / USER, first.client_mount / "data" / USER
        exp = "chaos"
        space = {"a": tune.grid_search([1, 2, 3]), "steps": 20, "tag": exp}
        sweep = asyncio.ensure_future(radas.run_experiment(
            user_name=USER, experiment_name=exp, trainable=radas_train.slow, run_with="cluster:testc",
            param_space=space, tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}))
        await _until(lambda: _progress(results, exp).get("done", 0) >= 1 and _progress(results, exp).get("running"),
                     "a trial finished and the next one running")
        # the sweep's state in the folder (saved every 2 s) knows the finished trial: restore must not rerun it
        await _until(lambda: len(_finished(results / exp, radas_train.slow)) >= 1,
                     "the saved sweep state has a finished trial")
        finished_before = _finished(results / exp, radas_train.slow)

        first.kill_head()
        killed = time.monotonic()
        with pytest.raises(radas.ClusterUnavailableError) as info:
            await asyncio.wait_for(sweep, timeout=120)
        assert time.monotonic() - killed < 60  # bounded: the retry budget plus request timeouts
        message = str(info.value)
        assert "testc" in message and "run_choice='restore'" in message and "run_choice='attach'" in message
        assert str(results / exp) in message

        first.kill(str(first.root), first.groups)  # the rest of the old cluster; its storage stays
        second = start_cluster(shared=first.shared)
        config_file(second.config())
        before = _starts(data, exp)
        restored = await radas.run_experiment(
            user_name=USER, experiment_name=exp, trainable=radas_train.slow, run_with="cluster:testc",
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
        space2 = {"a": tune.grid_search([1, 2, 3]), "steps": 30, "tag": exp2}
        sweep2 = asyncio.ensure_future(radas.run_experiment(
            user_name=USER, experiment_name=exp2, trainable=radas_train.slow, run_with="cluster:testc",
            param_space=space2, cpu_per_trial=1))
        await _until(lambda: _progress(results, exp2).get("running", 0) >= 3, "three trials running at once")
        second.kill_worker()
        done = await asyncio.wait_for(sweep2, timeout=300)
        df2 = done["df"].set_index("config/a")
        assert set(df2["status"]) == {"TERMINATED"} and all(df2.loc[a, "score"] == a * 29 for a in (1, 2, 3))
        assert sorted(_starts(data, exp2).values()) == [1, 1, 2]  # the one on the dead node ran again
    finally:
        if second is not None:
            second.stop()
        first.stop()
        shutil.rmtree(first.root, ignore_errors=True)
