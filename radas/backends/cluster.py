"""Sweeps on a named Ray cluster, as Ray Jobs.

The client packs the sweep (the checked :class:`SweepSpec`, trainable by value) into a small
package that travels with the job (an extra ``py_modules`` entry, never a file in the user's
working dir), submits ``python -m radas.backends._job <package>`` with the user's runtime_env
plus ``working_dir`` = the current directory, and follows it: the job runs the sweep with the
local backend's code on the cluster's Ray, so the driver lock, progress and stop-request files
are the same, in the cluster's shared results folder, which the client reads (as mounted here).

Jobs carry ``radas_user`` / ``radas_experiment`` in their metadata (never secrets), so any
process can find the running sweep of an experiment to attach to or stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import ray
from ray import cloudpickle

from radas._progress import PROGRESS_FILE, STOP_FILE, Progress
from radas._reporter import LiveLine, say
from radas.backends._base import ExperimentState, SweepSpec
from radas.backends.local import LOCK_FILE, _archive
from radas.clusters._availability import probe
from radas.clusters._registry import Cluster
from radas.core import radas_env
from radas.errors import (
    ClusterUnavailableError,
    ExperimentFailedError,
    RadasValueError,
    VersionMismatchError,
)
from radas.tuner import Tuner

logger = logging.getLogger("radas")

META_TAG = "radas"
META_USER = "radas_user"
META_EXPERIMENT = "radas_experiment"
ACTIVE = ("PENDING", "RUNNING")
RESULT_MARKER = "RADAS_JOB_RESULT "
SPEC_FILE = "spec.pkl"
META_FILE = "meta.json"
LARGE_WORKING_DIR = 50 * 1024**2
# how long a stop request (the stop file) may take before the job is stopped through Ray
STOP_GRACE_S = 60.0
# how long Ray waits after SIGTERM before SIGKILL when a job is stopped (Tune saves its state)
JOB_STOP_WAIT_S = 60
_POLL_S = 0.5


class ClusterBackend:
    """Runs sweeps as Ray Jobs on ``cluster``; results are read from its shared storage."""

    def __init__(self, cluster: Cluster) -> None:
        if not cluster.results_dir:
            raise RadasValueError(
                f"run_with='cluster:{cluster.name}': the cluster has no `results_dir`; set it in "
                f"[clusters.{cluster.name}] to the shared results folder as the cluster sees it "
                "(and `client_results_dir` if this machine mounts it elsewhere)"
            )
        self.cluster = cluster
        self.target = f"cluster:{cluster.name}"
        self._client: Any = None

    @property
    def gpu_per_cpu(self) -> float:
        return self.cluster.gpu_per_cpu

    # ---- paths --------------------------------------------------------------------------
    def experiment_path(self, spec: SweepSpec) -> Path:
        """The experiment folder in the cluster's shared results dir, as mounted here."""
        return Path(self.cluster.client_path("results_dir") or "") / spec.user_name / spec.experiment_name

    # ---- Jobs API -----------------------------------------------------------------------
    async def client(self) -> Any:
        """A ``JobSubmissionClient`` for the cluster, after a quick probe: an unreachable
        cluster or a Ray version different from this machine's is a clear error."""
        if self._client is not None:
            return self._client
        status = await probe(self.cluster)
        if status.status == "unauthorized":
            raise ClusterUnavailableError(f"cluster {self.cluster.name!r} refused radas: {status.detail}")
        if not status.online:
            raise ClusterUnavailableError(
                f"cluster {self.cluster.name!r} ({self.cluster.address}) does not answer: {status.detail}. "
                "Check that it is up and reachable from here (radas.clusters.get_cluster_availability() "
                "or `radas clusters`), or pick another cluster in run_with."
            )
        if status.ray_version and status.ray_version != ray.__version__:
            raise VersionMismatchError(
                f"Ray version mismatch: this machine has ray {ray.__version__}, cluster "
                f"{self.cluster.name!r} runs ray {status.ray_version}. Install the cluster's version "
                f"here (pip install 'ray[default,tune]=={status.ray_version}') or use a cluster "
                "with the same Ray."
            )
        from ray.job_submission import JobSubmissionClient

        self._client = await asyncio.to_thread(
            JobSubmissionClient, self.cluster.address, headers=self.cluster.auth_headers()
        )
        return self._client

    async def _call(self, method: str, *args: Any) -> Any:
        client = await self.client()
        try:
            return await asyncio.to_thread(getattr(client, method), *args)
        except ConnectionError as exc:
            raise ClusterUnavailableError(
                f"cluster {self.cluster.name!r} ({self.cluster.address}) stopped answering: {exc}"
            ) from exc

    async def list_jobs(self) -> list[Any]:
        """Every radas job on the cluster (``JobDetails``), newest first."""
        jobs = [j for j in await self._call("list_jobs") if (j.metadata or {}).get(META_TAG)]
        return sorted(jobs, key=lambda j: j.start_time or 0, reverse=True)

    async def running_jobs(self, spec: SweepSpec) -> list[Any]:
        """The PENDING / RUNNING jobs of ``spec``'s experiment."""
        return [
            j for j in await self.list_jobs()
            if j.metadata.get(META_USER) == spec.user_name
            and j.metadata.get(META_EXPERIMENT) == spec.experiment_name
            and str(getattr(j.status, "value", j.status)) in ACTIVE
        ]

    # ---- Backend protocol ---------------------------------------------------------------
    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Running: an active job of this experiment; results: the shared experiment folder."""
        running = await self.running_jobs(spec)
        path = self.experiment_path(spec)
        exists = path.is_dir() and any(p.name not in (LOCK_FILE, PROGRESS_FILE, STOP_FILE) for p in path.iterdir())
        detail = ", ".join(f"job {j.submission_id} ({_status(j)})" for j in running)
        return ExperimentState(
            path=path,
            exists=exists,
            restorable=await asyncio.to_thread(Tuner.can_restore, str(path)),
            running=bool(running),
            running_detail=f"on cluster {self.cluster.name!r}: {detail}" if detail else "",
        )

    async def run(self, spec: SweepSpec, restore: bool) -> bool:
        """Submit the sweep as a job and follow it until it ends; True when it was stopped."""
        path = self.experiment_path(spec)
        if not restore:
            await asyncio.to_thread(_archive, path)
        await asyncio.to_thread(_check_working_dir, spec.runtime_env)
        client = await self.client()
        for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
            logging.getLogger(name).setLevel(logging.WARNING)  # upload chatter; radas says what matters
        job_id = _job_id(spec)
        submitted = time.time()
        with tempfile.TemporaryDirectory(prefix="radas-job-") as tmp:
            package = await asyncio.to_thread(_write_package, Path(tmp), job_id, spec, restore)
            runtime_env = self._runtime_env(spec, package)
            say("info", f"submitting {spec.experiment_name!r} to cluster {self.cluster.name!r} as job {job_id}")
            try:
                await asyncio.to_thread(
                    client.submit_job,
                    entrypoint=f"python -m radas.backends._job {package.name}",
                    runtime_env=runtime_env,
                    metadata={
                        META_TAG: "1", META_USER: spec.user_name, META_EXPERIMENT: spec.experiment_name,
                        "radas_restore": str(int(restore)), "radas_client": socket.gethostname(),
                    },
                    submission_id=job_id,
                )
            except ConnectionError as exc:
                raise ClusterUnavailableError(
                    f"cluster {self.cluster.name!r} ({self.cluster.address}): submitting failed: {exc}"
                ) from exc
        return await self._follow(spec, job_id, since=submitted)

    async def attach(self, spec: SweepSpec) -> None:
        """Follow the running job(s) of this experiment until they end."""
        for job in await self.running_jobs(spec):
            say("info", f"attached to job {job.submission_id} of {spec.experiment_name!r} on cluster {self.cluster.name!r}")
            await self._follow(spec, job.submission_id, since=0.0, check=False)

    async def stop(self, spec: SweepSpec) -> None:
        """Ask the running job(s) to stop gracefully (the stop-request file, as locally; Ray's
        stop, i.e. SIGTERM, when the job does not react in time) and wait until they ended."""
        jobs = await self.running_jobs(spec)
        if not jobs:
            return
        path = self.experiment_path(spec)
        with contextlib.suppress(OSError):
            path.mkdir(parents=True, exist_ok=True)
            (path / STOP_FILE).touch()
        say("info", f"asked the running sweep of {spec.experiment_name!r} on cluster "
            f"{self.cluster.name!r} to stop; waiting for it")
        for job in jobs:
            waiter = asyncio.ensure_future(self._follow(spec, job.submission_id, since=0.0, check=False))
            grace = 2.0 if _status(job) == "PENDING" else STOP_GRACE_S
            done, _ = await asyncio.wait({waiter}, timeout=grace)
            if not done:
                await self._call("stop_job", job.submission_id)
            await waiter

    # ---- following a job ----------------------------------------------------------------
    async def _follow(self, spec: SweepSpec, job_id: str, since: float, check: bool = True) -> bool:
        """Show the job's progress until it ends. FAILED: an error with the log's tail (when
        ``check``). Cancelled: the job keeps running; say how to attach or stop, re-raise."""
        path = self.experiment_path(spec)
        line = LiveLine()
        tail: deque[str] = deque(maxlen=40)
        relay = asyncio.ensure_future(self._relay_logs(job_id, tail))
        status = "PENDING"
        try:
            while True:
                status = str(getattr(s := await self._call("get_job_status", job_id), "value", s))
                progress = _fresh_progress(path, since)
                if progress is not None:
                    line.update(progress.line())
                elif status in ACTIVE:
                    line.update(f"{spec.experiment_name}: job {job_id} {status.lower()} on cluster {self.cluster.name}")
                if status not in ACTIVE:
                    break
                await asyncio.sleep(_POLL_S)
            progress = _fresh_progress(path, since)
            if progress is not None:
                line.update(progress.line())
        except (asyncio.CancelledError, KeyboardInterrupt):
            line.close()
            say("warning", self._still_running(spec, job_id))
            raise
        finally:
            relay.cancel()
            line.close()
        if status == "STOPPED":
            return True
        logs = await self._call("get_job_logs", job_id)
        if status == "FAILED":
            if check:
                info = await self._call("get_job_info", job_id)
                raise ExperimentFailedError(self._failure(spec, job_id, info, logs))
            return False
        return _job_result(logs).get("stopped", False)

    async def _relay_logs(self, job_id: str, tail: deque[str]) -> None:
        """Pass the job's own radas messages (warnings, archive paths...) on to the user."""
        try:
            client = await self.client()
            async for chunk in client.tail_job_logs(job_id):
                for text in chunk.splitlines():
                    tail.append(text)
                    if text.startswith("[radas") and "submitting" not in text:
                        say("info", f"(job {job_id}) {text.split(']', 1)[-1].strip()}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the log stream is a nicety; the status poll is what counts
            logger.debug("log tail of %s ended: %r", job_id, exc)

    def _still_running(self, spec: SweepSpec, job_id: str) -> str:
        call = (f"run_experiment(user_name={spec.user_name!r}, experiment_name={spec.experiment_name!r}, "
                f"run_with={self.target!r}, ..., run_choice=")
        return (f"interrupted: job {job_id} keeps running on cluster {self.cluster.name!r}. "
                f"Follow it with {call}'attach'), stop it gracefully with {call}'stop_attach'), "
                f"or `radas stop --cluster {self.cluster.name} {job_id}`")

    def _failure(self, spec: SweepSpec, job_id: str, info: Any, logs: str) -> str:
        lines = [ln for ln in logs.splitlines() if ln.strip()]
        start = max((i for i, ln in enumerate(lines) if ln.startswith("Traceback")), default=max(len(lines) - 20, 0))
        tail = "\n".join(lines[start:][-30:])
        return (
            f"the sweep {spec.experiment_name!r} failed on cluster {self.cluster.name!r} (job {job_id}): "
            f"{getattr(info, 'message', '') or 'no message'}\n--- end of the job's log ---\n{tail}\n---\n"
            f"Full log: `radas logs --cluster {self.cluster.name} {job_id}` or "
            f"radas.get_client({spec.user_name!r}, {self.target!r}).get_job_logs({job_id!r})"
        )

    def _runtime_env(self, spec: SweepSpec, package: Path) -> dict[str, Any]:
        env = dict(spec.runtime_env)
        env["working_dir"] = os.getcwd()
        import radas

        env["py_modules"] = [*env.get("py_modules", []), str(package), str(Path(radas.__file__).parent)]
        env["env_vars"] = {
            **{str(k): str(v) for k, v in (env.get("env_vars") or {}).items()},
            **radas_env(self.target),
            "RAY_JOB_STOP_WAIT_TIME_S": str(JOB_STOP_WAIT_S),
            "PYTHONUNBUFFERED": "1",
        }
        return env


def _status(job: Any) -> str:
    return str(getattr(job.status, "value", job.status))


def _job_id(spec: SweepSpec) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"radas-{spec.user_name}-{spec.experiment_name}-{stamp}-{uuid.uuid4().hex[:6]}"


def _fresh_progress(path: Path, since: float) -> Progress | None:
    """The progress file when the job wrote it after ``since`` (not an earlier run's)."""
    file = path / PROGRESS_FILE
    try:
        if file.stat().st_mtime < since - 1:
            return None
    except OSError:
        return None
    return Progress.read(file)


def _job_result(logs: str) -> dict[str, Any]:
    for text in reversed(logs.splitlines()):
        if text.startswith(RESULT_MARKER):
            with contextlib.suppress(ValueError):
                return json.loads(text[len(RESULT_MARKER):])
    return {}


def _write_package(folder: Path, job_id: str, spec: SweepSpec, restore: bool) -> Path:
    """``<folder>/radas_job_<hex>/`` with the pickled spec and the client's versions."""
    package = folder / f"radas_job_{uuid.uuid4().hex[:12]}"
    package.mkdir()
    (package / "__init__.py").write_text('"""A radas sweep travelling with its Ray Job."""\n')
    (package / META_FILE).write_text(json.dumps({
        "job_id": job_id,
        "python": list(sys.version_info[:2]),
        "ray": ray.__version__,
        "restore": restore,
    }))
    try:
        data = cloudpickle.dumps(spec)
    except Exception as exc:
        raise RadasValueError(
            f"the sweep of {spec.experiment_name!r} cannot be sent to the cluster: pickling it failed "
            f"({type(exc).__name__}: {exc}). The trainable and param_space must be picklable; "
            "create clients, open files and models inside the trainable instead of capturing them."
        ) from exc
    if len(data) > 100 * 1024**2:
        raise RadasValueError(
            f"the sweep of {spec.experiment_name!r} is {len(data) / 1024**2:.0f} MB when pickled: the "
            "trainable or param_space captures large objects (data, models). Load them inside the "
            "trainable from radas.get_data_dir(user_name) instead."
        )
    if len(data) > 10 * 1024**2:
        say("warning", f"the sweep is {len(data) / 1024**2:.0f} MB when pickled (the trainable or "
            "param_space captures large objects); consider loading them inside the trainable")
    (package / SPEC_FILE).write_bytes(data)
    return package


def _check_working_dir(runtime_env: dict[str, Any]) -> None:
    """Warn before uploading a large working dir, naming its biggest folders."""
    root = Path.cwd()
    excluded = {str(e).strip("/") for e in runtime_env.get("excludes", []) if isinstance(e, str)}
    sizes: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if d != ".git" and str(rel / d) not in excluded and d not in excluded]
        top = rel.parts[0] if rel.parts else "."
        for name in filenames:
            with contextlib.suppress(OSError):
                sizes[top] = sizes.get(top, 0) + (Path(dirpath) / name).stat().st_size
    total = sum(sizes.values())
    if total <= LARGE_WORKING_DIR:
        return
    big = sorted(((s, n) for n, s in sizes.items()), reverse=True)[:5]
    listed = ", ".join(f"{n}/ {s / 1024**2:.0f} MB" if n != "." else f"(files) {s / 1024**2:.0f} MB" for s, n in big)
    say("warning", f"the working dir {root} is {total / 1024**2:.0f} MB and is uploaded with every job "
        f"(biggest: {listed}). Leave data out with runtime_env={{'excludes': ['/{big[0][1]}/']}} "
        "(or a .gitignore / .rayignore) and read it from radas.get_data_dir(user_name) on the cluster.")
