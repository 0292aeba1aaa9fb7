"""Sweeps on a named Ray cluster, as Ray Jobs.

The client packs the sweep (the checked :class:`SweepSpec`, trainable by value, no secrets) into
a small package that travels with the job (an extra ``py_modules`` entry, never a file in the
user's working dir), submits ``python -m radas.backends._job <package>`` with the user's
runtime_env plus ``working_dir`` = the current directory (less radas's own files in it: the
config file, the cluster's token file, the results folders, any ``.radas-secrets`` folder), and
follows it. The job's driver runs
the sweep like a local one (:class:`radas.sweep._sweep.Sweep`) on the cluster's Ray: the
experiment's lock, archive, progress and stop-request files live in the cluster's shared results
folder, which the client reads as mounted here. Secrets reach the trials through a 0600 file
on that storage (:mod:`radas.sweep._secrets`).

Jobs carry ``radas_user`` / ``radas_experiment`` in their metadata (never secrets), so any
process can find the running sweep of an experiment to attach to or stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray
from ray import cloudpickle

from radas._config import config_path
from radas._reporter import ProgressBar, say
from radas.backends._base import Backend
from radas.backends._job import META_FILE, RESULT_MARKER, SPEC_FILE
from radas.clusters import ACTIVE, META_EXPERIMENT, META_TAG, META_USER, Cluster, JobsClient, job_status
from radas.core import get_ray_results_dir, radas_env
from radas.errors import (
    ClusterUnavailableError,
    ExperimentFailedError,
    ExperimentNotFoundError,
    RadasTimeoutError,
    RadasValueError,
    ResultsNotVisibleError,
)
from radas.sweep import (
    STORAGE_MARKER,
    Capacity,
    ExperimentFolder,
    ExperimentState,
    SweepSpec,
    Tuner,
    remove_secrets,
    write_secrets,
)

logger = logging.getLogger("radas")

LARGE_WORKING_DIR = 50 * 1024**2
# how long a stop request (the stop file) may take before the job is stopped through Ray
STOP_GRACE_S = 60.0
# how long Ray waits after SIGTERM before SIGKILL when a job is stopped (Tune saves its state)
JOB_STOP_WAIT_S = 60
# how long the storage probe job may take (it waits for a free CPU on a busy cluster)
PROBE_TIMEOUT_S = 120.0
_POLL_S = 0.5

# the storage probe: runs on the cluster with its Python only (no upload), argv = folder, id, name
_PROBE = (
    "import json, os, sys, time\n"
    f"marker = os.path.join(sys.argv[1], {STORAGE_MARKER!r})\n"
    "try:\n    data = json.load(open(marker))\nexcept (OSError, ValueError):\n    data = None\n"
    "if not data or data.get('id') != sys.argv[2]:\n    print('RADAS_STORAGE', 'missing')\n    sys.exit(0)\n"
    "data.setdefault('seen_by', {})[sys.argv[3]] = time.strftime('%Y-%m-%dT%H:%M:%S')\n"
    "tmp = marker + '.' + str(os.getpid())\njson.dump(data, open(tmp, 'w'))\nos.replace(tmp, marker)\n"
    "print('RADAS_STORAGE', 'ok')\n"
)


class ClusterBackend(Backend):
    """Runs sweeps as Ray Jobs on ``cluster``; results are read from its shared storage."""

    trials_run_here = False

    def __init__(self, cluster: Cluster) -> None:
        if not cluster.results_dir:
            raise RadasValueError(
                f"run_with='cluster:{cluster.name}': the cluster has no `results_dir`; set it in "
                f"[clusters.{cluster.name}] to the shared results folder as the cluster sees it "
                "(and `client_results_dir` if this machine mounts it elsewhere)"
            )
        self.cluster = cluster
        self.target = f"cluster:{cluster.name}"
        self.jobs = JobsClient(cluster)

    def user_root(self, user_name: str) -> Path:
        """The user's folder in the cluster's shared results dir, as mounted here."""
        return Path(self.cluster.client_path("results_dir") or "") / user_name

    # ---- preparing ------------------------------------------------------------------------
    async def capacity(self) -> Capacity | None:
        """The largest node: the cluster's alive nodes now, or its config table (whichever is
        larger: an autoscaling cluster may not have started its largest node yet)."""
        await self.jobs.connect()
        nodes = [n.get("resources_total") or {} for n in await self.jobs.nodes()]
        live_cpu = max((float(n.get("CPU", 0.0)) for n in nodes), default=0.0)
        live_gpu = max((float(n.get("GPU", 0.0)) for n in nodes), default=0.0)
        cpu, gpu = max(live_cpu, float(self.cluster.cpu_per_node)), max(live_gpu, float(self.cluster.gpu_per_node))
        if not nodes and not self.cluster.cpu_per_node:
            return None
        source = f"cluster {self.cluster.name!r} ({'its nodes now' if nodes else 'its config table'})"
        return Capacity(cpu=cpu, gpu=gpu, source=source)

    async def gpu_memory_gib(self) -> float | None:
        """``gram_per_gpu_gb`` of the cluster's config table."""
        return float(self.cluster.gram_per_gpu_gb) if self.cluster.gram_per_gpu_gb else None

    def default_gpu_per_trial(self, cpu_per_trial: float) -> float:
        """The cluster's GPUs per CPU times ``cpu_per_trial``."""
        return cpu_per_trial * self.cluster.gpu_per_cpu

    def trial_runtime_env(self, runtime_env: Mapping[str, Any]) -> dict[str, Any]:
        """Nothing per trial: the job's runtime_env (the user's, radas's folders) reaches every
        trial of the job."""
        return {}

    async def check_storage(self, will_run: bool) -> None:
        """The client must see the cluster's results folder where the config says. Before a
        sweep runs, checked once per cluster and storage: the client leaves a marker with a random
        id there and a tiny job on the cluster (no upload) confirms it sees the same marker. Only
        reading results needs no cluster at all."""
        root = Path(self.cluster.client_path("results_dir") or "")
        where = (f"client_results_dir = {str(root)!r}" if self.cluster.client_results_dir
                 else f"results_dir = {str(root)!r} (set client_results_dir if it is mounted elsewhere here)")
        fix = (f"Mount the cluster's shared storage (results_dir = {self.cluster.results_dir!r} on the cluster) on "
               f"this machine and point [clusters.{self.cluster.name}] {where.split(' =')[0]} at it; "
               "nothing was submitted.")
        if not root.is_dir() and root.parent.is_dir():  # a first sweep: the probe below tells a wrong place
            with contextlib.suppress(OSError):
                root.mkdir()
        if not root.is_dir():
            raise ResultsNotVisibleError(
                f"cluster {self.cluster.name!r}: its results folder is not visible here: {where} does not "
                f"exist. {fix}")
        if not will_run:
            return
        marker = root / STORAGE_MARKER
        data = _read_json(marker)
        if data.get("id") and self.cluster.name in (data.get("seen_by") or {}):
            return
        if not data.get("id"):
            with contextlib.suppress(FileExistsError):
                fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                with os.fdopen(fd, "w") as f:
                    json.dump({"id": uuid.uuid4().hex, "seen_by": {}}, f)
            data = _read_json(marker)
        job_id = f"radas-storage-check-{uuid.uuid4().hex[:8]}"
        args = " ".join(shlex.quote(a) for a in
                        (self.cluster.results_dir or "", str(data.get("id")), self.cluster.name))
        await self.jobs.submit(entrypoint=f"python -c {shlex.quote(_PROBE)} {args}", submission_id=job_id,
                               metadata={META_TAG: "storage-check"})
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while (status := await self.jobs.status(job_id)) in ACTIVE:
            if time.monotonic() > deadline:
                await self.jobs.stop(job_id)
                raise RadasTimeoutError(
                    f"cluster {self.cluster.name!r}: checking that this machine sees its results folder took "
                    f"over {PROBE_TIMEOUT_S:g} s (job {job_id} did not get to run; is the cluster full?)")
            await asyncio.sleep(_POLL_S)
        logs = await self.jobs.logs(job_id)
        if "RADAS_STORAGE ok" not in logs.splitlines():  # the probe's own line, not its echoed code
            detail = "it did not run: " + logs.strip()[-500:] if status != "SUCCEEDED" else "it sees another folder"
            raise ResultsNotVisibleError(
                f"cluster {self.cluster.name!r}: {where} on this machine is not the cluster's results folder "
                f"(a marker written here is not in {self.cluster.results_dir!r} on the cluster; {detail}). {fix}")

    # ---- jobs of an experiment --------------------------------------------------------------
    async def experiment_jobs(self, user_name: str, experiment_name: str) -> list[Any]:
        """The radas jobs of an experiment, newest first."""
        jobs = [j for j in await self.jobs.list_jobs()
                if (j.metadata or {}).get(META_USER) == user_name
                and (j.metadata or {}).get(META_EXPERIMENT) == experiment_name]
        return sorted(jobs, key=lambda j: j.start_time or 0, reverse=True)

    async def running_jobs(self, spec: SweepSpec) -> list[Any]:
        """The PENDING / RUNNING jobs of ``spec``'s experiment."""
        return [j for j in await self.experiment_jobs(spec.user_name, spec.experiment_name)
                if job_status(j) in ACTIVE]

    # ---- running --------------------------------------------------------------------------
    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Running: an active job of this experiment; results: the shared experiment folder. A
        cluster that does not answer leaves the folder to tell (results can be read without it)."""
        try:
            jobs = await self.experiment_jobs(spec.user_name, spec.experiment_name)
        except ClusterUnavailableError as exc:
            say("warning", f"{exc} Judging {spec.experiment_name!r} from its results folder only.")
            jobs = []
        running = [j for j in jobs if job_status(j) in ACTIVE]
        folder = self.folder(spec)
        await asyncio.to_thread(folder.holder)  # the shared folder's lock file is sound (not a planted link)
        detail = ", ".join(f"job {j.submission_id} ({job_status(j)})" for j in running)
        ended_badly = ""
        if not running:
            ended_badly = folder.ended_badly(folder.progress())
            if jobs and job_status(jobs[0]) == "FAILED":
                ended_badly = f"the last job of {spec.experiment_name!r}, {jobs[0].submission_id}, failed: " \
                              f"{jobs[0].message or 'no message'}"
        return ExperimentState(
            path=folder.path,
            exists=await asyncio.to_thread(folder.has_results),
            restorable=await asyncio.to_thread(Tuner.can_restore, str(folder.path)),
            running=bool(running),
            running_detail=f"on cluster {self.cluster.name!r}: {detail}" if detail else "",
            ended_badly=ended_badly,
        )

    async def run(self, spec: SweepSpec, restore: bool, secrets: Mapping[str, str]) -> bool:
        """Submit the sweep as a job and follow it until it ends; True when it was stopped.
        Cancelling leaves the job running and says how to come back."""
        excludes = await asyncio.to_thread(_check_working_dir, spec.runtime_env, self._own_files(spec))
        await self.jobs.connect()
        for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
            logging.getLogger(name).setLevel(logging.WARNING)  # upload chatter; radas says what matters
        job_id = _job_id(spec)
        client_secrets = self.folder(spec).secrets_file(spec.sweep_id)
        if secrets:
            await asyncio.to_thread(write_secrets, client_secrets, secrets)
        submitted = time.time()
        try:
            with tempfile.TemporaryDirectory(prefix="radas-job-") as tmp:
                package = await asyncio.to_thread(_write_package, Path(tmp), job_id, spec, restore)
                say("info", f"submitting {spec.experiment_name!r} to cluster {self.cluster.name!r} as job {job_id}")
                await self.jobs.submit(
                    entrypoint=f"python -m radas.backends._job {package.name}",
                    runtime_env=self._runtime_env(spec, package, excludes),
                    metadata={META_TAG: "1", META_USER: spec.user_name, META_EXPERIMENT: spec.experiment_name,
                              "radas_restore": str(int(restore)), "radas_client": socket.gethostname()},
                    submission_id=job_id,
                )
        except (asyncio.CancelledError, KeyboardInterrupt):
            if await self._submitted(job_id):
                say("warning", self._still_running(spec, job_id))
            else:
                remove_secrets(client_secrets)
                say("warning", f"interrupted before job {job_id} reached cluster {self.cluster.name!r}: nothing of "
                    f"{spec.experiment_name!r} runs there")
            raise
        except BaseException:
            remove_secrets(client_secrets)
            raise
        ended = False  # cancelled: the job runs on, and removes its secrets when it ends
        try:
            stopped = await self._follow(spec, job_id, since=submitted, stopping=False)
            ended = True
            return stopped
        except ExperimentFailedError:
            ended = True
            raise
        finally:
            if ended:  # also when the job failed before its driver could remove them
                remove_secrets(client_secrets)

    async def _submitted(self, job_id: str) -> bool:
        """Whether the cluster has job ``job_id`` (asked once, for at most a few seconds: this runs
        while the user interrupts). Unknown counts as submitted: its trials keep their secrets."""
        try:
            await asyncio.wait_for(self.jobs.info(job_id), timeout=5.0)
        except ExperimentNotFoundError:
            return False
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - cannot tell: assume it runs
            return True
        return True

    async def attach(self, spec: SweepSpec) -> None:
        """Follow the running job(s) of this experiment until they end."""
        for job in await self.running_jobs(spec):
            say("info", f"attached to job {job.submission_id} of {spec.experiment_name!r} "
                f"on cluster {self.cluster.name!r}")
            await self._follow(spec, job.submission_id, since=0.0, stopping=False)

    async def stop(self, spec: SweepSpec) -> None:
        """Ask the running job(s) to stop gracefully (the stop-request file, as locally; Ray's
        stop, i.e. SIGTERM, when the job does not react in time) and wait until they ended."""
        jobs = await self.running_jobs(spec)
        if not jobs:
            return
        folder = self.folder(spec)
        with contextlib.suppress(OSError):
            folder.request_stop()
        say("info", f"asked the running sweep of {spec.experiment_name!r} on cluster "
            f"{self.cluster.name!r} to stop; waiting for it")
        for job in jobs:
            waiter = asyncio.ensure_future(self._follow(spec, job.submission_id, since=0.0, stopping=True))
            grace = 2.0 if job_status(job) == "PENDING" else STOP_GRACE_S
            done, _ = await asyncio.wait({waiter}, timeout=grace)
            if not done:
                await self.jobs.stop(job.submission_id)
            await waiter

    # ---- following a job ----------------------------------------------------------------
    async def _follow(self, spec: SweepSpec, job_id: str, since: float, stopping: bool) -> bool:
        """Show the job's progress until it ends; True when it stopped. Cancelled: the job keeps
        running; say how to attach or stop, re-raise. A job that failed, or that someone else
        stopped, is an :class:`ExperimentFailedError` with the end of its log."""
        folder = self.folder(spec)
        line = ProgressBar(spec.experiment_name)
        relayed: list[str] = []
        relay = asyncio.ensure_future(self._relay_logs(job_id, relayed))
        status = "PENDING"
        try:
            while True:
                status = await self._status_while_following(spec, job_id)
                progress = _fresh_progress(folder, since)
                if progress is not None:
                    progress.show(line)
                elif status in ACTIVE:
                    line.update(0, spec.total_trials, f"job {job_id} {status.lower()} on cluster {self.cluster.name}")
                if status not in ACTIVE:
                    break
                await asyncio.sleep(_POLL_S)
            progress = _fresh_progress(folder, since)
            if progress is not None:
                progress.show(line)
        except (asyncio.CancelledError, KeyboardInterrupt):
            line.close()
            say("warning", self._still_running(spec, job_id))
            raise
        finally:
            relay.cancel()
            line.close()
        if status == "STOPPED" and stopping:
            return True
        logs = await self.jobs.logs(job_id)
        for text in _radas_lines(logs.splitlines(), skip=relayed):  # what the live stream missed
            _say_job_line(job_id, text)
        if status == "SUCCEEDED":
            return bool(_job_result(logs).get("stopped", False))
        info = await self.jobs.info(job_id)
        raise ExperimentFailedError(self._failure(spec, job_id, status, info, logs))

    async def _status_while_following(self, spec: SweepSpec, job_id: str) -> str:
        """The job's status; a cluster that stopped answering (for the whole retry budget) is an
        error that says where the results are and how to continue."""
        try:
            return await self.jobs.status(job_id)
        except ClusterUnavailableError as exc:
            call = (f"run_experiment(user_name={spec.user_name!r}, experiment_name={spec.experiment_name!r}, "
                    f"run_with={self.target!r}, ..., run_choice=")
            raise ClusterUnavailableError(
                f"{exc} While following job {job_id} of {spec.experiment_name!r}. Its results so far are in "
                f"{self.experiment_path(spec)}. When the cluster answers again: {call}'attach') follows the sweep "
                f"if its job still runs; if the cluster was restarted, {call}'restore') continues it from its "
                "saved state (finished trials are kept)") from None

    async def _relay_logs(self, job_id: str, relayed: list[str]) -> None:
        """Pass the job's own radas messages (warnings, archive paths...) on to the user as they
        come (``relayed``: those passed on; the rest is passed on from the full log at the end)."""
        try:
            async for chunk in self.jobs.tail(job_id):
                for text in _radas_lines(chunk.splitlines()):
                    relayed.append(text)
                    _say_job_line(job_id, text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the log stream is a nicety; the status poll is what counts
            logger.debug("log tail of %s ended: %r", job_id, exc)

    def _still_running(self, spec: SweepSpec, job_id: str) -> str:
        call = (f"run_experiment(user_name={spec.user_name!r}, experiment_name={spec.experiment_name!r}, "
                f"run_with={self.target!r}, ..., run_choice=")
        return (f"interrupted: job {job_id} keeps running on cluster {self.cluster.name!r}. "
                f"Follow it with {call}'attach'), stop it gracefully with {call}'stop_attach'), "
                f"or `radas stop {job_id} --run-with cluster:{self.cluster.name}`")

    def _failure(self, spec: SweepSpec, job_id: str, status: str, info: Any, logs: str) -> str:
        lines = [ln for ln in logs.splitlines() if ln.strip()]
        start = max((i for i, ln in enumerate(lines) if ln.startswith("Traceback")), default=max(len(lines) - 20, 0))
        tail = "\n".join(lines[start:][-30:])
        what = ("was stopped by someone else (`radas stop`, stop_job_by_id or Ray's stop_job)"
                if status == "STOPPED" else "failed")
        return (
            f"the sweep {spec.experiment_name!r} {what} on cluster {self.cluster.name!r} (job {job_id}): "
            f"{getattr(info, 'message', '') or 'no message'}\n--- end of the job's log ---\n{tail}\n---\n"
            f"Its results so far stay in {self.experiment_path(spec)}: see them with dos=['analyze'], continue "
            f"with run_choice='restore'. Full log: `radas logs {job_id} --run-with cluster:{self.cluster.name}` or "
            f"radas.get_client({spec.user_name!r}, {self.target!r}).get_job_logs({job_id!r})"
        )

    def _own_files(self, spec: SweepSpec) -> list[Path]:
        """radas's files that must never travel with a job's working dir: the config file (the
        SMTP password), the cluster's token file, the cluster's results folder as seen here and
        this machine's (secrets files, other users' results)."""
        own = [config_path(), Path(self.cluster.client_path("results_dir") or ""),
               Path(get_ray_results_dir(spec.user_name)).parent]
        token = self.cluster.token_path()  # auth_token_file, or Ray's own token file radas reads
        if token is not None:
            own.append(token)
        return [path for path in own if str(path) not in ("", ".")]

    def _runtime_env(self, spec: SweepSpec, package: Path, excludes: list[str]) -> dict[str, Any]:
        env = dict(spec.runtime_env)
        env["working_dir"] = os.getcwd()
        env["excludes"] = [*env.get("excludes", []), *excludes]
        radas_package = Path(__file__).resolve().parents[1]  # radas itself travels with the job
        env["py_modules"] = [*env.get("py_modules", []), str(package), str(radas_package)]
        env["env_vars"] = {
            **{str(k): str(v) for k, v in (env.get("env_vars") or {}).items()},
            **radas_env(self.target),
            "RAY_JOB_STOP_WAIT_TIME_S": str(JOB_STOP_WAIT_S),
            "PYTHONUNBUFFERED": "1",
        }
        return env


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _radas_lines(lines: list[str], skip: list[str] | None = None) -> list[str]:
    """The job's own radas messages among ``lines``, less those in ``skip`` (each once)."""
    left = Counter(skip or [])
    found = []
    for text in lines:
        if not text.startswith("[radas") or "submitting" in text:
            continue
        if left[text]:
            left[text] -= 1
        else:
            found.append(text)
    return found


def _say_job_line(job_id: str, text: str) -> None:
    """One of the job's radas messages, told as the job's."""
    say("info", f"(job {job_id}) {text.split(']', 1)[-1].strip()}")


def _job_id(spec: SweepSpec) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"radas-{spec.user_name}-{spec.experiment_name}-{stamp}-{uuid.uuid4().hex[:6]}"


def _fresh_progress(folder: ExperimentFolder, since: float) -> Any:
    """The progress file when the job wrote it after ``since`` (not an earlier run's)."""
    try:
        if folder.progress_file.stat().st_mtime < since - 1:
            return None
    except OSError:
        return None
    return folder.progress()


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


def _check_working_dir(runtime_env: Mapping[str, Any], own: list[Path]) -> list[str]:
    """The ``excludes`` that keep radas's ``own`` files out of the job's upload of the working
    dir (:func:`_own_excludes`); warns before uploading a large working dir, naming its biggest
    folders."""
    root = Path.cwd()
    inside = _inside(root, own)
    excluded = {str(e).strip("/") for e in runtime_env.get("excludes", []) if isinstance(e, str)}
    excluded |= {rel.as_posix() for rel in inside}
    sizes: dict[str, int] = {}
    links: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):  # links are not followed (Ray does follow them)
        rel = Path(dirpath).relative_to(root)
        links += [rel / name for name in (*dirnames, *filenames) if os.path.islink(os.path.join(dirpath, name))]
        dirnames[:] = [d for d in dirnames if d not in (".git", _SECRETS_DIR) and str(rel / d) not in excluded
                       and d not in excluded]
        top = rel.parts[0] if rel.parts else "."
        for name in filenames:
            if (rel / name).as_posix() not in excluded:
                with contextlib.suppress(OSError):
                    sizes[top] = sizes.get(top, 0) + (Path(dirpath) / name).stat().st_size
    patterns = _own_excludes(root, own, inside, links)
    total = sum(sizes.values())
    if total > LARGE_WORKING_DIR:
        big = sorted(((s, n) for n, s in sizes.items()), reverse=True)[:5]
        listed = ", ".join(f"{n}/ {s / 1024**2:.0f} MB" if n != "." else f"(files) {s / 1024**2:.0f} MB"
                           for s, n in big)
        say("warning", f"the working dir {root} is {total / 1024**2:.0f} MB and is uploaded with every job "
            f"(biggest: {listed}). Leave data out with runtime_env={{'excludes': ['/{big[0][1]}/']}} "
            "(or a .gitignore / .rayignore) and read it from radas.get_data_dir(user_name) on the cluster.")
    return patterns


# the experiment-folder protocol names radas's secrets folder
_SECRETS_DIR = ExperimentFolder(Path("user"), "experiment").secrets_file("sweep").parent.name


def _inside(root: Path, own: list[Path]) -> list[Path]:
    """Those of ``own`` that are inside ``root`` (by their paths as given or resolved), relative to it."""
    tops = {Path(os.path.abspath(root)), root.resolve()}
    found = []
    for path in own:
        for target in {Path(os.path.abspath(path)), path.resolve()}:
            found += [target.relative_to(top) for top in tops if top in target.parents]
    return sorted(set(found))


def _own_excludes(root: Path, own: list[Path], inside: list[Path], links: list[Path]) -> list[str]:
    """Ray runtime_env ``excludes`` (gitignore-style patterns, relative to the working dir
    ``root``) that leave radas's ``own`` files out of the job's upload: any ``.radas-secrets``
    folder, each of ``own`` ``inside`` the working dir, and each one the upload reaches through
    one of its ``links`` (Ray follows links when it packs the folder)."""
    patterns = {_SECRETS_DIR} | {_literal(rel) for rel in inside}
    targets = {path.resolve() for path in own}
    for link in links:
        real = (root / link).resolve()
        for target in targets:
            if target == real or real in target.parents:
                patterns.add(_literal(link / target.relative_to(real)))
    return sorted(patterns)


def _literal(rel: Path) -> str:
    """A pattern that matches exactly ``rel`` (from the working dir's top) and what is inside it."""
    text = re.sub(r"([\\*?\[\]!#])", r"\\\1", rel.as_posix())
    stripped = text.rstrip(" ")  # Ray's patterns lose trailing spaces: any one character stands for each
    return "/" + stripped + "?" * (len(text) - len(stripped))
