"""The Ray Jobs API of one cluster, as radas uses it (the cluster backend, ``radas.get_client``,
the ``radas`` command).

Calls run off the event loop, and every one is bounded: each HTTP request may take
:data:`CONNECT_S` seconds to connect and :data:`READ_S` to answer (``RADAS_JOBS_TIMEOUT_S``),
and a call is retried with backoff for up to :data:`RETRY_S` seconds (``RADAS_JOBS_RETRY_S``)
while the cluster answers as one that starts, restarts or is briefly busy does — HTTP 5xx such
as "No available agent to submit job, please try again later", a reset or refused connection,
no answer in time. Then, or at once for a cluster that is offline at the first contact, it is a
:class:`~radas.errors.ClusterUnavailableError` naming the cluster and what to do; never a raw
``requests`` error. ``RADAS_JOBS_RETRY_S`` is read each time a retry is weighed: a budget set
while a client works (a short one once a sweep runs, say) governs its calls from then on, one
that is retrying included. The live log stream reconnects when it drops while the job runs. The auth
token goes in an HTTP header only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import ray

from radas import _ray
from radas.clusters._availability import probe
from radas.clusters._registry import Cluster
from radas.errors import ClusterUnavailableError, ExperimentNotFoundError, VersionMismatchError

logger = logging.getLogger("radas")
T = TypeVar("T")

RETRY_S = 60.0  # default; RADAS_JOBS_RETRY_S overrides it
CONNECT_S = 5.0
READ_S = 30.0  # default; RADAS_JOBS_TIMEOUT_S overrides it
ACTIVE = ("PENDING", "RUNNING")
# metadata of radas's jobs (never secrets): any process finds an experiment's jobs by these
META_TAG = "radas"
META_USER = "radas_user"
META_EXPERIMENT = "radas_experiment"
_TRANSIENT = re.compile(r"status code 5\d\d|try again later|Connection reset|RemoteDisconnected|"
                        r"Connection aborted|ChunkedEncodingError", re.IGNORECASE)


def job_status(job: Any) -> str:
    """A job's status as a plain string (``"RUNNING"``, ``"FAILED"``...)."""
    status = getattr(job, "status", job)
    return str(getattr(status, "value", status))


def _transient(exc: BaseException) -> bool:
    """An answer of a cluster that starts, restarts or is busy: worth asking again."""
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        requests.exceptions.ChunkedEncodingError, ConnectionError, TimeoutError)):
        return not isinstance(exc, ClusterUnavailableError)
    return isinstance(exc, (RuntimeError, requests.exceptions.RequestException)) and bool(
        _TRANSIENT.search(str(exc)))


def _short(exc: BaseException) -> str:
    """An exception in one line, without the urllib3 pool details requests puts around it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = re.search(r"(Connection refused|Read timed out|timed out|Connection reset[^'\"]*|"
                       r"Name or service not known|No route to host|RemoteDisconnected[^'\"]*)", text)
    return f"{type(exc).__name__}: {reason.group(1) if reason else text[:300]}"


class JobsClient:
    """The Jobs API of ``cluster``: connect once (reachability and Ray version checked), then
    submit, list, follow, stop jobs and read their logs."""

    def __init__(self, cluster: Cluster, retry_s: float | None = None) -> None:
        self.cluster = cluster
        self._retry_s = retry_s
        self.read_s = float(os.environ.get("RADAS_JOBS_TIMEOUT_S", READ_S))
        self._sdk: Any = None

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def retry_s(self) -> float:
        """How long a failing call is retried: the ``retry_s`` given, else ``RADAS_JOBS_RETRY_S`` as
        it is now, else :data:`RETRY_S`."""
        if self._retry_s is not None:
            return self._retry_s
        return float(os.environ.get("RADAS_JOBS_RETRY_S", RETRY_S))

    async def connect(self) -> Any:
        """Ray's ``JobSubmissionClient`` for the cluster, after a quick probe: an unreachable
        cluster, a refused token or a Ray version other than this machine's is a clear error."""
        if self._sdk is not None:
            return self._sdk
        started = time.monotonic()
        while True:
            status = await probe(self.cluster)
            retry = status.status == "offline" and (status.detail.startswith("HTTP 5") or "reset" in status.detail)
            if not retry or time.monotonic() > started + self.retry_s:
                break
            await asyncio.sleep(1.0)
        if status.status == "unauthorized":
            raise ClusterUnavailableError(f"cluster {self.name!r} refused radas: {status.detail}")
        if not status.online:
            raise ClusterUnavailableError(
                f"cluster {self.name!r} ({self.cluster.address}) does not answer: {status.detail}. "
                "Check that it is up and reachable from here (radas.clusters.get_cluster_availability() "
                "or `radas clusters`), or pick another cluster in run_with."
            )
        if status.ray_version and status.ray_version != ray.__version__:
            raise VersionMismatchError(
                f"Ray version mismatch: this machine has ray {ray.__version__}, cluster "
                f"{self.name!r} runs ray {status.ray_version}. Install the cluster's version "
                f"here (pip install 'ray[default,tune]=={status.ray_version}') or use a cluster "
                "with the same Ray."
            )
        self._sdk = await self._retrying("connect", lambda: _ray.jobs_sdk(
            self.cluster.address, self.cluster.auth_headers(), min(CONNECT_S, self.read_s), self.read_s))
        return self._sdk

    async def _retrying(self, what: str, call: Callable[[], T]) -> T:
        started = time.monotonic()
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(call)
            except Exception as exc:
                if not _transient(exc):
                    raise
                if time.monotonic() + delay > started + self.retry_s:  # the budget as it is now
                    raise ClusterUnavailableError(
                        f"cluster {self.name!r} ({self.cluster.address}) kept failing to {what} for "
                        f"{time.monotonic() - started:.0f} s ({_short(exc)}). It may be restarting, overloaded or "
                        "down; check it with `radas clusters` and try again when it answers."
                    ) from None
                logger.debug("cluster %s: %s failed (%s); retrying in %.1f s", self.name, what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        import requests

        sdk = await self.connect()
        try:
            return await self._retrying(what, lambda: getattr(sdk, method)(*args, **kwargs))
        except ClusterUnavailableError:
            raise
        except (ConnectionError, requests.exceptions.RequestException) as exc:
            raise ClusterUnavailableError(
                f"cluster {self.name!r} ({self.cluster.address}) failed to {what}: {_short(exc)}") from None

    async def _job_call(self, what: str, method: str, job_id: str) -> Any:
        try:
            return await self._call(what, method, job_id)
        except RuntimeError as exc:
            if "404" in str(exc) or "does not exist" in str(exc):
                raise ExperimentNotFoundError(
                    f"no job {job_id!r} on cluster {self.name!r}; list them with "
                    f"`radas experiments --run-with cluster:{self.name}` or radas.get_client(...).display_experiments()"
                ) from None
            raise

    # ---- the calls ------------------------------------------------------------------------
    async def submit(self, *, entrypoint: str, submission_id: str, runtime_env: dict[str, Any] | None = None,
                     metadata: dict[str, str] | None = None) -> str:
        """Submit a job; a retry after a lost answer finds the job already there and is fine."""
        try:
            return str(await self._call("submit a job", "submit_job", entrypoint=entrypoint,
                                        submission_id=submission_id, runtime_env=runtime_env, metadata=metadata))
        except RuntimeError as exc:
            if "already exists" in str(exc) and await self.info(submission_id) is not None:
                return submission_id
            raise

    async def list_jobs(self) -> list[Any]:
        """Every job of the cluster (``JobDetails``)."""
        return list(await self._call("list jobs", "list_jobs"))

    async def info(self, job_id: str) -> Any:
        """A job's details (``JobDetails``)."""
        return await self._job_call("read a job", "get_job_info", job_id)

    async def status(self, job_id: str) -> str:
        """A job's status as a string."""
        return job_status(await self._job_call("read a job's status", "get_job_status", job_id))

    async def logs(self, job_id: str) -> str:
        """A job's whole log."""
        return str(await self._job_call("read a job's log", "get_job_logs", job_id))

    async def stop(self, job_id: str) -> bool:
        """Ask Ray to stop a job (SIGTERM, then SIGKILL after the job's grace period)."""
        return bool(await self._job_call("stop a job", "stop_job", job_id))

    async def tail(self, job_id: str) -> AsyncIterator[str]:
        """The job's log as it grows (ends with the job). A stream that drops while the job runs
        is opened again (each stream starts from the log's beginning: the caller skips what it
        has seen)."""
        delay, sent = 1.0, 0  # sent: characters of the log passed on so far
        while True:
            sdk = await self.connect()
            seen = 0  # characters of this stream so far
            try:
                async for chunk in sdk.tail_job_logs(job_id):
                    delay = 1.0
                    new = chunk[max(sent - seen, 0):]
                    seen += len(chunk)
                    if new:
                        sent += len(new)
                        yield new
                return  # the stream ended with the job
            except Exception as exc:  # noqa: BLE001 - a dropped stream: open it again while the job runs
                logger.debug("log stream of %s dropped (%r); reconnecting", job_id, exc)
            if await self.status(job_id) not in ACTIVE:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def nodes(self) -> list[dict[str, Any]]:
        """The cluster's alive nodes with ``resources_total`` (Ray's state API); ``[]`` when it
        does not answer."""
        import aiohttp

        url = self.cluster.address.rstrip("/") + "/api/v0/nodes?limit=10000"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                async with session.get(url, headers=self.cluster.auth_headers()) as response:
                    if response.status != 200:
                        return []
                    body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
            return []
        rows = (body.get("data") or {}).get("result") or {}
        rows = rows.get("result", []) if isinstance(rows, dict) else rows
        return [n for n in rows if isinstance(n, dict) and n.get("state") == "ALIVE"]
