"""Which configured clusters answer right now: every cluster probed at once, with short timeouts.

A probe is ``GET <address>/api/version`` on the cluster's dashboard (with its auth token), so
one dead cluster costs seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from radas._aio import run_sync
from radas.clusters._registry import Cluster, clusters

DEFAULT_TIMEOUT_S = 3.0
HEADER = "All available clusters are listed below, with status and suggestions of when to use which cluster:"


@dataclass(frozen=True)
class ClusterStatus:
    """The answer of one cluster to a probe."""

    name: str
    status: str  # "online" | "offline" | "unauthorized"
    description: str
    address: str
    ray_version: str | None = None
    detail: str = ""
    latency_s: float | None = None

    @property
    def online(self) -> bool:
        return self.status == "online"

    def line(self) -> str:
        """``- [status: online] NAME: DESCRIPTION``."""
        return f"- [status: {self.status}] {self.name}: {self.description}"


async def probe(cluster: Cluster, timeout: float = DEFAULT_TIMEOUT_S) -> ClusterStatus:
    """Ask ``cluster``'s dashboard for its version; never raises for a dead cluster."""
    import aiohttp

    started = time.monotonic()
    url = cluster.address.rstrip("/") + "/api/version"
    base: dict[str, Any] = {"name": cluster.name, "description": cluster.description, "address": cluster.address}
    try:
        headers = cluster.auth_headers()
    except Exception as exc:  # noqa: BLE001 - an unreadable token file: say so, as a status
        return ClusterStatus(**base, status="unauthorized", detail=str(exc))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, headers=headers) as response:
                text = await response.text()
                elapsed = time.monotonic() - started
                if response.status in (401, 403):
                    return ClusterStatus(
                        **base, status="unauthorized", latency_s=elapsed,
                        detail=f"HTTP {response.status} from {url}: the cluster needs a valid auth token "
                               "(set auth_token_file in its [clusters.<name>] table)",
                    )
                if response.status != 200:
                    return ClusterStatus(**base, status="offline", latency_s=elapsed,
                                         detail=f"HTTP {response.status} from {url}: {text[:200]}")
                try:
                    info = await response.json(content_type=None)
                except ValueError:
                    info = {}
                return ClusterStatus(**base, status="online", latency_s=elapsed,
                                     ray_version=info.get("ray_version"))
    except (asyncio.TimeoutError, TimeoutError):
        return ClusterStatus(**base, status="offline", detail=f"no answer from {url} within {timeout:g} s")
    except aiohttp.ClientError as exc:
        return ClusterStatus(**base, status="offline", detail=f"cannot reach {url}: {exc}")
    except OSError as exc:
        return ClusterStatus(**base, status="offline", detail=f"cannot reach {url}: {exc}")


async def get_cluster_statuses_async(timeout: float = DEFAULT_TIMEOUT_S) -> list[ClusterStatus]:
    """Every configured cluster's status, probed concurrently (in config order)."""
    return list(await asyncio.gather(*(probe(c, timeout) for c in clusters().values())))


def get_cluster_statuses(timeout: float = DEFAULT_TIMEOUT_S) -> list[ClusterStatus]:
    """:func:`get_cluster_statuses_async`, from synchronous code (also inside a notebook)."""
    return run_sync(get_cluster_statuses_async(timeout))


def format_availability(statuses: list[ClusterStatus]) -> str:
    """The reference's text: a header line, then ``- [status: ...] NAME: DESCRIPTION``."""
    if not statuses:
        return (HEADER + "\n(no clusters are configured: add [clusters.<name>] tables to the radas "
                "config file, see radas.clusters)")
    return "\n".join([HEADER, *(s.line() for s in statuses)])


async def get_cluster_availability_async(timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """:func:`get_cluster_availability` for ``await``."""
    return format_availability(await get_cluster_statuses_async(timeout))


def get_cluster_availability(timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Every configured cluster with its status and the advice of its ``description``::

        All available clusters are listed below, with status and suggestions of when to use which cluster:
        - [status: online] gpu-5090: 32G GRAM per GPU, choose as the default choice
        - [status: offline] pro6000: 96G GRAM, only use when you need GRAM > 32G per GPU
    """
    return format_availability(get_cluster_statuses(timeout))
