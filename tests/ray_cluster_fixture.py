"""A real two-node Ray cluster on 127.0.0.1 for the cluster tests, shared by the session.

A head (2 CPUs, dashboard / Jobs API on a free port, token authentication as Ray sets it up:
``RAY_AUTH_MODE=token`` and the token in a file named by ``RAY_AUTH_TOKEN_PATH``) and a worker
node (1 CPU, and 1 GPU as Ray counts resources: a logical one, for placing GPU trials; they run
on its CPU) joining it. Every port is a free one, so other Ray instances on the machine (the
test process's own local Ray included) are not disturbed. Teardown ends only the processes
these ``ray start`` calls created (their process groups, plus anything whose command line names
this cluster's temp dir) - never ``ray stop``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ports(flags: list[str]) -> list[str]:
    return [arg for flag in flags for arg in (flag, str(free_port()))]


@dataclass
class RayCluster:
    root: Path
    token_file: Path
    address: str
    gcs: str
    shared: Path  # shared storage as the cluster sees it
    client_mount: Path  # the same storage as the client sees it (a symlink here)
    env: dict[str, str]
    groups: list[int] = field(default_factory=list)
    stopped: bool = False

    def config(self, name: str = "testc", extra: str = "", address: str | None = None,
               client_results: Path | None = None) -> str:
        """A ``[clusters.<name>]`` table for this cluster (reached at ``address``, its results
        seen here at ``client_results``: by default its own address and the shared folder)."""
        return (
            f'[clusters.{name}]\naddress = "{address or self.address}"\n'
            'description = "local two-node test cluster, choose as the default choice"\n'
            "cpu_per_node = 2\ngpu_per_node = 0\n"
            f'auth_token_file = "{self.token_file}"\n'
            f'results_dir = "{self.shared / "results"}"\n'
            f'data_dir = "{self.shared / "data"}"\n'
            f'cold_data_dir = "{self.shared / "cold"}"\n'
            f'artifact_root = "{self.shared / "artifacts"}"\n'
            f'client_results_dir = "{client_results or self.client_mount / "results"}"\n'
            f'client_data_dir = "{self.client_mount / "data"}"\n'
            f"{extra}"
        )

    def stop(self) -> None:
        """End every process of this cluster and remove its folders."""
        if self.stopped:
            return
        self.stopped = True
        self.kill(str(self.root), self.groups)
        shutil.rmtree(self.root, ignore_errors=True)

    def kill_head(self) -> None:
        """End every process of the head node (SIGKILL, as a crash would): GCS, raylet,
        dashboard, job drivers and the trials on it. The worker node is left alone."""
        self.kill(str(self.root / "h"), self.groups[:1], signals=(signal.SIGKILL,))

    def kill_worker(self) -> None:
        """End every process of the worker node (SIGKILL), the trials on it included."""
        self.kill(str(self.root / "w"), self.groups[1:2], signals=(signal.SIGKILL,))

    @staticmethod
    def kill(marker: str, groups: list[int], signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGKILL)) -> None:
        """End the processes of ``groups``, those whose command line names ``marker``, and every
        process they started (a job's driver runs in a session of its own)."""
        pids, parents = set(), {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                pgid = os.getpgid(int(proc.name))
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ProcessLookupError, ValueError, IndexError):
                continue
            if int(proc.name) != os.getpid() and (pgid in groups or marker in cmd):
                pids.add(int(proc.name))
        grown = True
        while grown:  # and their descendants
            more = {pid for pid, parent in parents.items() if parent in pids and pid != os.getpid()}
            grown = not more <= pids
            pids |= more
        for sig in signals:
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            if sig == signal.SIGTERM:
                time.sleep(2)


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> int:
    with open(log, "ab") as out:
        proc = subprocess.Popen(["ray", "start", *args, "--disable-usage-stats"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if proc.wait(timeout=180) != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed; see {log}:\n{log.read_text()[-3000:]}")
    return proc.pid  # its process group holds every process it started


# Ray waits a fixed 30 s for a node's raylet to register with the GCS ("timed out during
# startup"): a machine busy enough (the suite's processes all starting their Rays at once, beside
# other work) can miss it; such a start is ended and made again, on new ports
STARTS = 3


def start_cluster(shared: Path | None = None) -> RayCluster:
    """A head and a worker node on 127.0.0.1; ``shared``: the storage of an earlier cluster (a new
    head on the same storage), else a new folder."""
    for attempt in range(1, STARTS + 1):
        try:
            return _start_cluster(shared)
        except RuntimeError as exc:
            if attempt == STARTS or "timed out during startup" not in str(exc):
                raise
    raise AssertionError("unreachable")


def _start_cluster(shared: Path | None) -> RayCluster:
    root = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))  # short: Ray's socket paths
    token_file = root / "token"
    token_file.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RADAS_"))}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file), RAY_USAGE_STATS_ENABLED="0")
    if shared is None:
        shared = root / "shared"
        shared.mkdir()
    client_mount = root / "mnt"
    client_mount.symlink_to(shared)
    port, dash = free_port(), free_port()
    common = ["--node-ip-address", "127.0.0.1"]
    node_ports = ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
                  "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port"]
    cluster = RayCluster(root=root, token_file=token_file, address=f"http://127.0.0.1:{dash}",
                         gcs=f"127.0.0.1:{port}", shared=shared, client_mount=client_mount, env=env)
    try:
        cluster.groups.append(_ray_start(
            ["--head", "--port", str(port), "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash),
             "--num-cpus", "2", "--include-dashboard", "true", "--temp-dir", str(root / "h"), *common,
             *_ports(["--ray-client-server-port", *node_ports])],
            env, root / "head.log"))
        cluster.groups.append(_ray_start(
            # its own temp dir: two nodes on one machine must not unpack runtime envs (the job's
            # working_dir) into the same folder, or one replaces the other's under a running job
            ["--address", cluster.gcs, "--num-cpus", "1", "--num-gpus", "1", "--temp-dir", str(root / "w"), *common,
             *_ports(node_ports)],
            env, root / "worker.log"))
        _wait_for_jobs_api(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for_jobs_api(cluster: RayCluster, timeout: float = 180) -> None:
    """Until the head takes a job. Its Jobs API lists jobs as soon as the dashboard is up, but
    answers a submission with HTTP 500 ("No available agent to submit job") until the head's
    dashboard agent has registered, which takes a while longer on a busy machine: a no-op job is
    submitted until it is taken, awaited, and deleted (no test sees it)."""
    import requests

    headers = {"Authorization": f"Bearer {cluster.token_file.read_text()}"}
    jobs = f"{cluster.address}/api/jobs/"
    job = f"radas-test-ready-{secrets.token_hex(4)}"
    submitted, last = False, "no answer"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not submitted:
                answer = requests.post(jobs, json={"entrypoint": "python -c pass", "submission_id": job},
                                       headers=headers, timeout=10)
                submitted = answer.status_code == 200 or "already exists" in answer.text
            else:
                answer = requests.get(jobs + job, headers=headers, timeout=10)
                status = answer.json().get("status") if answer.status_code == 200 else None
                if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                    if status != "SUCCEEDED":
                        raise RuntimeError(f"the test cluster's no-op job {job} ended {status}: {answer.text[:500]}")
                    requests.delete(jobs + job, headers=headers, timeout=10)
                    return
            last = f"HTTP {answer.status_code}: {answer.text[:300]}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise RuntimeError(f"the test cluster at {cluster.address} took no job within {timeout:g} s; last answer: {last}")


_cluster: RayCluster | None = None


@pytest.fixture(scope="session")
def ray_cluster():
    """The session's two-node test cluster (started on first use)."""
    global _cluster
    if _cluster is None or _cluster.stopped:
        _cluster = start_cluster()
    yield _cluster
    _cluster.stop()
