"""The targets every backend scenario runs against: this machine's Ray, a real two-node Ray
cluster on 127.0.0.1 reached only through its Jobs API and a shared folder, and (for the
scenarios it can honour) the in-process ``run_with="memory"`` target.

Each scenario gets a :class:`Target` (the ``target`` fixture of this folder's conftest): its
``run_with``, where the user's results are as the test sees them, the folder where trials record
their starts, a way to start a driver in another process (a client for the cluster) and to kill
the sweep's driver, and the places a secret must never reach.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import radas

USER = "tester"

# Trainables of the scenarios, in a file of the working dir: cluster jobs upload it with the
# working dir, driver processes import it, trials get it by value.
TRAIN = textwrap.dedent('''
    import hashlib, os, time, uuid
    from pathlib import Path
    from ray import tune
    import radas

    def _record(config):
        folder = Path(radas.get_data_dir("tester")) / config["tag"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{config['a']}-{uuid.uuid4().hex}").touch()
        return folder

    def slow(config):
        _record(config)
        for step in range(config["steps"]):
            time.sleep(0.2)
            tune.report({"score": config["a"] * step, "step": step})

    def counting(config):
        folder = _record(config)
        if config["a"] == 3 and (folder / "fail").exists():
            raise RuntimeError("deterministic failure for a=3")
        return {"score": config["a"]}

    def product(config):
        return {"score": config["a"] * config["b"]}

    def probe(config):
        import radas_probe_module
        digest = lambda name: hashlib.sha256(os.environ.get(name, "").encode()).hexdigest()
        return {"flag": os.environ.get("RADAS_TEST_FLAG", "unset"), "module": radas_probe_module.VALUE,
                "wandb_key": digest("WANDB_API_KEY"), "token": digest("MY_SERVICE_TOKEN"),
                "data_dir": radas.get_data_dir("tester")}
''')

DRIVER = textwrap.dedent('''
    import asyncio, sys
    from ray import tune
    import radas
    from radas_train import slow

    asyncio.run(radas.run_experiment(
        user_name="tester", experiment_name=sys.argv[1], trainable=slow, run_with=sys.argv[4],
        param_space={"a": tune.grid_search([1, 2, 3]), "steps": int(sys.argv[2]), "tag": sys.argv[1]},
        tuner_init_kwargs={"tune_config": {"max_concurrent_trials": 1}}, run_choice=sys.argv[3]))
''')


@dataclass
class Target:
    """One backend under test."""

    kind: str  # "local" | "cluster" | "memory"
    run_with: str
    workdir: Path
    results: Path  # the user's results folder, as the test sees it
    data: Path  # the user's data folder as the test sees it (trials record their starts there)
    cluster: Any = None  # the RayCluster fixture for "cluster"

    @property
    def train(self) -> Any:
        """The scenarios' trainables module (imported from the working dir)."""
        sys.path.insert(0, str(self.workdir))
        try:
            sys.modules.pop("radas_train", None)
            import radas_train
        finally:
            sys.path.remove(str(self.workdir))
        return radas_train

    def exp_dir(self, name: str) -> Path:
        return self.results / name

    def _memory(self) -> Any:
        from radas.backends.memory import MemoryBackend

        return MemoryBackend()

    def has_results(self, name: str) -> bool:
        """Whether experiment ``name`` has results on this target (a folder, or in memory)."""
        if self.kind == "memory":
            backend = self._memory()
            return backend.store.get(backend.key(USER, name)) is not None or self.exp_dir(name).exists()
        return self.exp_dir(name).exists()

    def archived(self, name: str, trainable: Any) -> list[Any]:
        """The archived sweeps of experiment ``name``, each as its results (``get_dataframe()``)."""
        if self.kind == "memory":
            return [archived.results for archived in self._memory().archived(USER, name)]
        return [radas.Tuner.restore(path, trainable) for path in (self.results / ".archive").glob(f"{name}-*")]

    def progress(self, name: str, since: float = 0.0) -> dict[str, Any]:
        """The sweep's progress as its driver last recorded it ({}: none since ``since``)."""
        if self.kind == "memory":
            backend = self._memory()
            sweep = backend.store.get(backend.key(USER, name))
            if sweep is None or sweep.progress.started < since:
                return {}
            return dataclasses.asdict(sweep.progress)
        progress_file = self.exp_dir(name) / ".radas-progress.json"
        try:
            return json.loads(progress_file.read_text()) if progress_file.stat().st_mtime >= since else {}
        except (OSError, ValueError):
            return {}

    def starts(self, tag: str) -> dict[int, int]:
        """How often each trial (by ``a``) started."""
        counts: dict[int, int] = {}
        for path in (self.data / tag).iterdir():
            if path.name != "fail":
                a = int(path.name.split("-")[0])
                counts[a] = counts.get(a, 0) + 1
        return counts

    async def run(self, name: str, trainable: Any, **kwargs: Any) -> dict[str, Any]:
        """``radas.run_experiment`` on this target."""
        return await radas.run_experiment(user_name=USER, experiment_name=name, trainable=trainable,
                                          run_with=self.run_with, **kwargs)

    def start_driver(self, name: str, steps: int, choice: str) -> subprocess.Popen:
        """A driver process (a client, for a cluster) running ``slow`` over a = 1, 2, 3."""
        (self.workdir / "driver.py").write_text(DRIVER)
        return subprocess.Popen([sys.executable, "driver.py", name, str(steps), choice, self.run_with],
                                cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    async def wait_running(self, name: str, done: int = 0, since: float = 0.0, timeout: float = 300.0) -> None:
        """Until the sweep's driver reports a running trial (and ``done`` finished ones); the
        deadline allows for Ray (a driver process, a job) starting on a busy machine."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.progress(name, since)
            if data.get("state") == "running" and data.get("running") and data.get("done", 0) >= done:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the sweep {name} was not running (with {done} trial(s) done) within {timeout:g} s")

    async def wait_saved(self, name: str, a: int, timeout: float = 300.0) -> None:
        """Until the experiment folder shows trial ``a`` finished (Tune copies results and its
        state there every few seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                df = radas.Tuner.restore(self.exp_dir(name), self.train.slow).get_dataframe()
                if ((df["config/a"] == a) & (df["status"] == "TERMINATED")).any():
                    return
            except Exception:  # noqa: BLE001 - not written yet
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"trial a={a} of {name} did not show up finished in the experiment folder "
                             f"within {timeout:g} s")

    async def kill_sweep_driver(self, name: str, driver: subprocess.Popen | None) -> None:
        """Kill the process that drives the sweep (SIGKILL): the driver process locally, the
        job's driver on the cluster."""
        if self.kind == "local":
            assert driver is not None
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
            return
        job = (await self.jobs(name))[0]
        os.kill(int(job.driver_info.pid), signal.SIGKILL)

    async def jobs(self, name: str) -> list[Any]:
        """The radas jobs of experiment ``name`` on the cluster, newest first ([] elsewhere)."""
        if self.kind != "cluster":
            return []
        from radas.backends.cluster import ClusterBackend
        from radas.clusters import get_cluster

        return await ClusterBackend(get_cluster("testc")).experiment_jobs(USER, name)

    def actors(self) -> list[tuple[str, str]]:
        """Every actor's class name and runtime_env, as Ray's State API lists them. The test cluster
        answers through its dashboard (the State API's own client); radas starts local Ray without a
        dashboard, so there the table the State API serves is read from the GCS directly."""
        if self.kind == "cluster":
            from ray.util.state import StateApiClient
            from ray.util.state.common import ListApiOptions, StateResource

            token = self.cluster.token_file.read_text().strip()
            client = StateApiClient(address=self.cluster.address, headers={"Authorization": f"Bearer {token}"})
            listed = client.list(StateResource.ACTORS, options=ListApiOptions(detail=True, limit=10_000),
                                 raise_on_missing_output=False)
            rows = [a if isinstance(a, dict) else vars(a) for a in listed]
            return [(str(a.get("class_name")), str(a.get("serialized_runtime_env") or "")) for a in rows]
        from ray._private.state import state
        from ray.core.generated import gcs_pb2

        table = state._global_state_accessor.get_actor_table(None, None)
        return [(row.class_name, row.serialized_runtime_env) for row in map(gcs_pb2.ActorTableData.FromString, table)]

    async def leaks(self, exp: str, secrets: list[str], out: str) -> list[str]:
        """Where any of ``secrets`` shows: an actor's runtime_env, the job (its runtime_env, metadata,
        log), a file of the results or of Ray's session folders (the whole test cluster's), ``out``."""
        found = [f"runtime_env of actor {cls}" for cls, env in await asyncio.to_thread(self.actors)
                 if any(s in env for s in secrets)]
        for job in await self.jobs(exp):
            logs = await radas.get_client(USER, self.run_with).get_job_logs_async(job.submission_id)
            if any(s in json.dumps(job.dict(), default=str) + logs for s in secrets):
                found.append(f"job {job.submission_id} (Jobs API)")
        for folder in self.secret_places():
            for path in folder.rglob("*"):
                try:
                    data = path.read_bytes() if path.is_file() else b""
                except OSError:
                    continue
                found += [str(path)] if any(s.encode() in data for s in secrets) else []
        found += ["radas's output or log"] if any(s in out for s in secrets) else []
        return found

    def secret_places(self) -> list[Path]:
        """Folders a secret must never reach: the results, and Ray's session files."""
        if self.kind == "cluster":
            return [self.cluster.root]
        from radas import _ray

        return [self.results, Path(_ray.session_dir())]


def name(prefix: str) -> str:
    """A fresh experiment name."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
