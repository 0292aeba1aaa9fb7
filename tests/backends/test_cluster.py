"""Sweeps on a real two-node Ray cluster on 127.0.0.1, through the Ray Jobs HTTP API only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from ray import tune
from ray_cluster_fixture import free_port

import radas
from radas.backends._job import check_versions
from radas.backends.cluster import ClusterBackend
from radas.clusters import get_cluster

RUN_WITH = "cluster:testc"


@pytest.fixture(autouse=True)
def registered(ray_cluster, config_file, tmp_path, monkeypatch):
    """The test cluster in the radas config; a fresh working dir (uploaded with each job)."""
    config_file(ray_cluster.config())
    monkeypatch.chdir(tmp_path)
    return ray_cluster


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def stepper(config):
    """Defined in this test module: travels to the cluster by value."""
    for step in range(3):
        tune.report({"score": config["a"] * (step + 1), "step": step,
                     "data_dir": radas.get_data_dir("tester")})


TRAIN_FILE = textwrap.dedent("""
    import time, uuid
    from pathlib import Path
    from ray import tune
    import radas

    def slow(config):
        folder = Path(radas.get_data_dir("tester")) / config["tag"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{config['a']}-{uuid.uuid4().hex}").touch()
        for step in range(config["steps"]):
            time.sleep(0.2)
            tune.report({"score": config["a"] * step, "step": step})
""")


def _import_train_file(tmp_path: Path):
    (tmp_path / "cluster_train.py").write_text(TRAIN_FILE)
    sys.path.insert(0, str(tmp_path))
    try:
        sys.modules.pop("cluster_train", None)
        import cluster_train
    finally:
        sys.path.remove(str(tmp_path))
    return cluster_train


async def test_a_trainable_of_the_test_module_then_results_not_visible_here_is_an_error(tmp_path, ray_cluster,
                                                                                      config_file):
    """A trainable of this module travels by value; trials see the cluster's folders. Then the
    client's view of the shared results goes missing or points elsewhere: every call is an error
    naming the setting, nothing is submitted or archived, and the results stay. (Trainables from
    a file of the working dir are the backend scenarios', in test_conformance.)"""
    exp = _name("inline")
    results = await radas.run_experiment(user_name="tester", experiment_name=exp, trainable=stepper,
                                         run_with=RUN_WITH, param_space={"a": tune.grid_search([1, 2, 3])},
                                         tuner_to_df_fn=lambda t: t.get_iteration_dataframe())
    per_iteration = results["df"]
    assert len(per_iteration) == 9 and sorted(per_iteration["score"])[-1] == 9
    # inside trials on the cluster, radas's folders are the cluster's; the client sees them mounted
    assert set(per_iteration["data_dir"]) == {str(ray_cluster.shared / "data" / "tester")}
    assert radas.get_data_dir("tester", run_with=RUN_WITH) == str(ray_cluster.client_mount / "data" / "tester")
    assert ClusterBackend(get_cluster("testc")).user_root("tester") == ray_cluster.client_mount / "results" / "tester"
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("radas_job_*"))  # nothing written here

    backend = ClusterBackend(get_cluster("testc"))
    jobs_before = await backend.experiment_jobs("tester", exp)
    config_file(ray_cluster.config(client_results=tmp_path / "not-mounted" / "results"))
    with pytest.raises(radas.ResultsNotVisibleError) as info:
        await radas.run_experiment(user_name="tester", experiment_name=exp, trainable=stepper, run_with=RUN_WITH,
                                   param_space={"a": 1}, run_choice="restore")
    assert "client_results_dir" in str(info.value) and "not-mounted" in str(info.value)
    elsewhere = tmp_path / "local-disk" / "results"
    elsewhere.mkdir(parents=True)
    config_file(ray_cluster.config(client_results=elsewhere))
    for choice in (None, "restore", "run"):
        with pytest.raises(radas.ResultsNotVisibleError, match="is not the cluster's results folder"):
            await radas.run_experiment(user_name="tester", experiment_name=exp, trainable=stepper,
                                       run_with=RUN_WITH, param_space={"a": 1}, run_choice=choice)
    assert await backend.experiment_jobs("tester", exp) == jobs_before  # no sweep was submitted
    assert not list((ray_cluster.shared / "results" / "tester" / ".archive").glob(f"{exp}-*"))
    config_file(ray_cluster.config())
    again = await radas.run_experiment(user_name="tester", experiment_name=exp, trainable=stepper,
                                       run_with=RUN_WITH, dos=["analyze"])
    assert len(again["df"]) == 3  # the results stayed where they were


class _Bomb:
    """Unpickles only by raising: the job fails on the cluster, not a trial."""

    def __reduce__(self):
        return (_explode, ("deliberate failure while loading the sweep on the cluster",))


def _explode(message):
    raise RuntimeError(message)


async def test_failed_job_shows_remote_traceback_and_how_to_get_logs(capsys):
    with pytest.raises(radas.ExperimentFailedError) as info:
        await radas.run_experiment(user_name="tester", experiment_name=_name("fails"), trainable=stepper,
                                   run_with=RUN_WITH, param_space={"a": 1, "bomb": _Bomb()})
    text = str(info.value)
    assert "deliberate failure while loading" in text and "Traceback" in text
    assert "radas logs radas-tester-fails-" in text and "--run-with cluster:testc" in text


async def test_unreachable_cluster_is_named(config_file, tmp_path):
    config_file(f'[clusters.gone]\naddress = "http://127.0.0.1:{free_port()}"\nresults_dir = "{tmp_path}"\n')
    with pytest.raises(radas.ClusterUnavailableError) as info:
        await radas.run_experiment(user_name="tester", experiment_name="x", trainable=stepper,
                                   run_with="cluster:gone")
    assert "'gone'" in str(info.value) and "does not answer" in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_version_mismatch_is_named():
    import ray

    assert "Python version mismatch" in check_versions({"python": [2, 7], "ray": ray.__version__})
    assert "Ray version mismatch" in check_versions({"python": list(sys.version_info[:2]), "ray": "1.0.0"})
    assert check_versions({"python": list(sys.version_info[:2]), "ray": ray.__version__}) is None


def test_cluster_example_runs_on_the_cluster(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "cluster_sweep.py"
    done = subprocess.run([sys.executable, str(example), "testc"], cwd=tmp_path, env={**os.environ, "CI": "true"},
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[status: online] testc" in done.stdout and "succeeded" in done.stdout


def hungry(config):
    """Runs out of memory unless it has at least two CPUs."""
    import ray

    if ray.get_runtime_context().get_assigned_resources().get("CPU", 0) < 2:
        raise MemoryError("cannot allocate the activations with one CPU's share of memory")
    return {"cpus": ray.get_runtime_context().get_assigned_resources()["CPU"]}


async def test_a_job_stopped_by_someone_else_is_an_error_and_restore_continues(tmp_path):
    module = _import_train_file(tmp_path)
    exp = _name("stopped")
    space = {"a": tune.grid_search([1, 2]), "steps": 50, "tag": exp}  # 10 s a trial: stopped while it runs
    task = asyncio.ensure_future(radas.run_experiment(
        user_name="tester", experiment_name=exp, trainable=module.slow, run_with=RUN_WITH, param_space=space,
        tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}))
    backend = ClusterBackend(get_cluster("testc"))
    deadline = time.monotonic() + 300  # a job starting on a busy machine
    while True:
        jobs = await backend.experiment_jobs("tester", exp)
        if jobs and jobs[0].status == "RUNNING" and _progress(backend, exp).get("running"):
            break
        assert not task.done() and time.monotonic() < deadline, "the sweep's job never ran a trial"
        await asyncio.sleep(0.2)
    assert radas.get_client("tester", RUN_WITH).stop_job_by_id(jobs[0].submission_id)
    with pytest.raises(radas.ExperimentFailedError) as info:
        await task
    assert "stopped by someone else" in str(info.value) and "run_choice='restore'" in str(info.value)
    restored = await radas.run_experiment(user_name="tester", experiment_name=exp, trainable=module.slow,
                                          run_with=RUN_WITH, param_space=space, run_choice="restore")
    assert set(restored["df"]["status"]) == {"TERMINATED"} and len(restored["df"]) == 2


def _progress(backend: ClusterBackend, exp: str) -> dict:
    import json

    try:
        return json.loads((backend.user_root("tester") / exp / ".radas-progress.json").read_text())
    except (OSError, ValueError):
        return {}


async def test_transient_jobs_api_answers_are_retried_and_a_trial_out_of_memory_gets_doubled_cpus(
        ray_cluster, config_file, capsys):
    """Through a proxy that answers like a head that is starting, a sweep whose trial runs out of
    memory with one CPU: the Jobs API answers are retried, the trial is retried with two CPUs."""
    from flaky_proxy import NO_AGENT, FlakyProxy

    proxy = FlakyProxy(ray_cluster.address).start()
    try:
        config_file(ray_cluster.config(address=proxy.address))
        results = await radas.run_experiment(user_name="tester", experiment_name=_name("flaky-oom"),
                                             trainable=hungry, param_space={"x": 1}, run_with=RUN_WITH,
                                             cpu_per_trial=1)
        assert list(results["df"]["status"]) == ["TERMINATED"] and list(results["df"]["cpus"]) == [2.0]
        assert "start from cpu_per_trial=2" in capsys.readouterr().out
        assert proxy.refused == 2 and proxy.resets == 2  # it did meet both, and went on
        from radas.clusters._jobs import JobsClient

        proxy.refused, proxy.refuse_submits = 0, 10**6
        with pytest.raises(radas.ClusterUnavailableError) as info:
            await JobsClient(get_cluster("testc"), retry_s=3).submit(entrypoint="echo hi", submission_id=_name("never"))
        assert "'testc'" in str(info.value) and NO_AGENT in str(info.value) and "kept failing" in str(info.value)
    finally:
        proxy.stop()


def chatty(config):
    """Works a while."""
    import time

    for step in range(config["steps"]):
        time.sleep(0.2)
        tune.report({"score": config["a"] * step})


class Hello(tune.Callback):
    """In the job's driver: says something the client should relay, once per trial."""

    def on_trial_start(self, iteration, trials, trial, **info):
        radas.utils.print_warning(f"trial a={trial.config['a']} says hello")


async def test_a_head_that_refuses_for_a_while_and_a_dropped_log_stream_are_ridden_out_then_a_wedged_one_ends(
        ray_cluster, config_file, capsys, monkeypatch):
    """Through a proxy: the live log stream drops after its first message and the head refuses
    connections for a few seconds mid-sweep: the sweep finishes, the stream reconnects and every
    message of the job arrives once. Then a dashboard that accepts and never answers: the client
    gives up within its budget with an error naming the cluster and how to continue."""
    from flaky_proxy import FlakyProxy

    monkeypatch.delenv("RADAS_JOBS_RETRY_S", raising=False)  # the default budget rides the refusal out
    monkeypatch.setenv("RADAS_JOBS_TIMEOUT_S", "2")
    proxy = FlakyProxy(ray_cluster.address, refuse_submits=0, reset_lists=0, drop_tails=1).start()
    try:
        config_file(ray_cluster.config(address=proxy.address))
        exp = _name("riding")
        sweep = asyncio.ensure_future(radas.run_experiment(
            user_name="tester", experiment_name=exp, trainable=chatty, run_with=RUN_WITH,
            param_space={"a": tune.grid_search([1, 2]), "steps": 25},
            tuner_init_kwargs={"run_config": {"callbacks": [Hello()]}}))
        deadline = time.monotonic() + 300  # a job starting on a busy machine
        while proxy.tails < 2 and not sweep.done():
            assert time.monotonic() < deadline, "the job's log stream was never opened again"
            await asyncio.sleep(0.1)
        proxy.refuse_for(4.0)
        results = await asyncio.wait_for(sweep, timeout=240)
        assert set(results["df"]["status"]) == {"TERMINATED"}
        assert proxy.tails >= 2  # the dropped stream was opened again
        out = capsys.readouterr().out
        for a in (1, 2):
            assert out.count(f"trial a={a} says hello") == 1  # each message once, across reconnects

        proxy.wedge_status = True
        wedged = _name("wedged")
        sweep = asyncio.ensure_future(radas.run_experiment(
            user_name="tester", experiment_name=wedged, trainable=chatty, run_with=RUN_WITH,
            param_space={"a": 1, "steps": 5}))
        deadline = time.monotonic() + 300  # submitted with the default budget: a busy head may take a while
        while not await ClusterBackend(get_cluster("testc")).experiment_jobs("tester", wedged):
            assert not sweep.done() and time.monotonic() < deadline, "the wedged sweep's job was never submitted"
            await asyncio.sleep(0.2)
        monkeypatch.setenv("RADAS_JOBS_RETRY_S", "4")  # read at every retry: the client following the job too
        started = asyncio.get_running_loop().time()
        with pytest.raises(radas.ClusterUnavailableError) as info:
            await asyncio.wait_for(sweep, timeout=120)
        assert asyncio.get_running_loop().time() - started < 60
        assert "'testc'" in str(info.value) and "run_choice='attach'" in str(info.value)
        assert "Traceback" not in str(info.value) and "urllib3" not in str(info.value)

        # reading results needs no cluster: the shared folder is enough
        config_file(ray_cluster.config(address=f"http://127.0.0.1:{free_port()}"))
        again = await radas.run_experiment(user_name="tester", experiment_name=exp, trainable=chatty,
                                           run_with=RUN_WITH, dos=["analyze"])
        assert len(again["df"]) == 2 and "does not answer" in capsys.readouterr().out
    finally:
        proxy.stop()
