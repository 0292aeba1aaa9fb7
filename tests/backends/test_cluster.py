"""Sweeps on a real two-node Ray cluster on 127.0.0.1, through the Ray Jobs HTTP API only."""

from __future__ import annotations

import asyncio
import os
import signal
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
from radas._progress import PROGRESS_FILE, Progress
from radas.backends._job import _check_versions
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


async def test_grid_from_a_file_and_from_the_test_module(tmp_path, ray_cluster):
    module = _import_train_file(tmp_path)
    a, b = _name("file"), _name("inline")
    ra, rb = await asyncio.gather(
        radas.run_experiment(user_name="tester", experiment_name=a, trainable=module.slow, run_with=RUN_WITH,
                             param_space={"a": tune.grid_search([1, 2]), "steps": 2, "tag": a}),
        radas.run_experiment(user_name="tester", experiment_name=b, trainable=stepper, run_with=RUN_WITH,
                             param_space={"a": tune.grid_search([1, 2, 3])},
                             tuner_to_df_fn=lambda t: t.get_iteration_dataframe()),
    )
    assert sorted(ra["df"]["score"]) == [1, 2] and set(ra["df"]["status"]) == {"TERMINATED"}
    per_iteration = rb["df"]
    assert len(per_iteration) == 9 and sorted(per_iteration["score"])[-1] == 9
    # inside trials on the cluster, radas's folders are the cluster's; the client sees them mounted
    assert set(per_iteration["data_dir"]) == {str(ray_cluster.shared / "data" / "tester")}
    assert radas.get_data_dir("tester", run_with=RUN_WITH) == str(ray_cluster.client_mount / "data" / "tester")
    assert str(ray_cluster.client_mount) in str(ClusterBackend(get_cluster("testc")).experiment_path(
        type("S", (), {"user_name": "tester", "experiment_name": b})()))
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("radas_job_*"))  # nothing written here


DRIVER = textwrap.dedent("""
    import asyncio, sys
    from ray import tune
    import radas
    from cluster_train import slow

    asyncio.run(radas.run_experiment(
        user_name="tester", experiment_name=sys.argv[1], trainable=slow, run_with="cluster:testc",
        param_space={"a": tune.grid_search([1, 2, 3]), "steps": int(sys.argv[2]), "tag": sys.argv[1]},
        tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}, run_choice=sys.argv[3]))
""")


def _start_driver(tmp_path: Path, name: str, steps: int, choice: str) -> subprocess.Popen:
    (tmp_path / "cluster_train.py").write_text(TRAIN_FILE)
    (tmp_path / "driver.py").write_text(DRIVER)
    return subprocess.Popen([sys.executable, "driver.py", name, str(steps), choice], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


async def _wait_for_progress(exp_dir: Path, since: float, done: int = 0) -> None:
    for _ in range(900):
        try:
            fresh = (exp_dir / PROGRESS_FILE).stat().st_mtime >= since
        except OSError:
            fresh = False
        progress = Progress.read(exp_dir / PROGRESS_FILE)
        if fresh and progress and progress.running and progress.done >= done:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the driver's job never started its sweep")


def _starts(ray_cluster, tag: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for path in (ray_cluster.shared / "data" / "tester" / tag).iterdir():
        a = int(path.name.split("-")[0])
        counts[a] = counts.get(a, 0) + 1
    return counts


async def test_killed_client_then_stop_attach_restore_and_attach(tmp_path, ray_cluster):
    name = _name("outlive")
    exp_dir = ray_cluster.client_mount / "results" / "tester" / name
    module = _import_train_file(tmp_path)
    started = time.time()
    driver = _start_driver(tmp_path, name, 15, "run")
    try:
        await _wait_for_progress(exp_dir, started, done=1)
        os.killpg(driver.pid, signal.SIGKILL)  # the client dies; its job keeps running
        driver.wait()
        state = await ClusterBackend(get_cluster("testc")).locate(
            type("S", (), {"user_name": "tester", "experiment_name": name})())
        assert state.running and "job radas-tester-" in state.running_detail
        stopped = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=module.slow,
                                             run_with=RUN_WITH, run_choice="stop_attach")
        df = stopped["df"].set_index("config/a")
        assert df.loc[1, "status"] == "TERMINATED" and (df["status"] != "TERMINATED").any()
        assert not (await ClusterBackend(get_cluster("testc")).running_jobs(
            type("S", (), {"user_name": "tester", "experiment_name": name})()))
        before = _starts(ray_cluster, name)
        # restore from another client process, killed too; this process attaches to the job
        started = time.time()
        driver = _start_driver(tmp_path, name, 15, "restore")
        await _wait_for_progress(exp_dir, started)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        attached = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=module.slow,
                                              run_with=RUN_WITH, run_choice="attach")
        assert set(attached["df"]["status"]) == {"TERMINATED"} and len(attached["df"]) == 3
        after = _starts(ray_cluster, name)
        assert after[1] == before[1] == 1  # the finished trial did not run again
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)


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
    assert "radas logs --cluster testc radas-tester-fails-" in text


async def test_cancel_leaves_the_job_running_and_says_how_to_attach(capsys):
    name = _name("cancel")
    task = asyncio.ensure_future(radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=stepper, run_with=RUN_WITH,
        param_space={"a": tune.grid_search([1, 2])}))
    backend = ClusterBackend(get_cluster("testc"))
    spec = type("S", (), {"user_name": "tester", "experiment_name": name})()
    for _ in range(200):
        if await backend.running_jobs(spec):
            break
        await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out = capsys.readouterr().out
    assert "keeps running" in out and "run_choice='attach'" in out and "run_choice='stop_attach'" in out
    jobs = await backend.running_jobs(spec)
    assert jobs  # not stopped by the cancellation
    radas.get_client("tester", RUN_WITH).stop_job_by_id(jobs[0].submission_id)


async def test_unreachable_cluster_is_named_within_seconds(config_file):
    config_file(f'[clusters.gone]\naddress = "http://127.0.0.1:{free_port()}"\nresults_dir = "/tmp/x"\n')
    started = time.monotonic()
    with pytest.raises(radas.ClusterUnavailableError) as info:
        await radas.run_experiment(user_name="tester", experiment_name="x", trainable=stepper,
                                   run_with="cluster:gone")
    assert "'gone'" in str(info.value) and time.monotonic() - started < 10
    assert isinstance(info.value, ConnectionError)


def test_version_mismatch_is_named():
    import ray

    assert "Python version mismatch" in _check_versions({"python": [2, 7], "ray": ray.__version__})
    assert "Ray version mismatch" in _check_versions({"python": list(sys.version_info[:2]), "ray": "1.0.0"})
    assert _check_versions({"python": list(sys.version_info[:2]), "ray": ray.__version__}) is None


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


async def test_out_of_memory_trial_retried_with_doubled_cpus_on_the_cluster(capsys):
    results = await radas.run_experiment(user_name="tester", experiment_name=_name("oom"), trainable=hungry,
                                         param_space={"x": 1}, run_with=RUN_WITH, cpu_per_trial=1,
                                         run_choice="run")
    assert list(results["df"]["status"]) == ["TERMINATED"] and list(results["df"]["cpus"]) == [2.0]
    assert "start from cpu_per_trial=2" in capsys.readouterr().out
