"""Managing a user's sweeps on a cluster: ``radas.get_client(user_name, run_with)``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from radas._aio import run_sync
from radas._names import check_name
from radas.clusters._jobs import ACTIVE, META_EXPERIMENT, META_USER, JobsClient, job_status
from radas.clusters._registry import get_cluster, parse_run_with
from radas.errors import RadasValueError


@dataclass(frozen=True)
class ExperimentJob:
    """One radas job on a cluster."""

    experiment: str
    user: str
    job_id: str
    status: str
    start: str
    duration_s: float | None
    stop_call: str


def _when(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Client:
    """The radas jobs of ``user_name`` (``None``: every user's) on one cluster."""

    def __init__(self, user_name: str | None, run_with: str) -> None:
        cluster_name = parse_run_with(run_with)
        if cluster_name is None:
            raise RadasValueError(
                f"get_client(run_with={run_with!r}): a client manages jobs on a cluster; use "
                "run_with='cluster:<name>' (local sweeps are managed by run_experiment's run_choice)"
            )
        self.user_name = check_name("user_name", user_name) if user_name is not None else None
        self.cluster = get_cluster(cluster_name)
        self._jobs = JobsClient(self.cluster)

    # ---- async forms --------------------------------------------------------------------
    async def list_experiments_async(self) -> list[ExperimentJob]:
        """The user's radas jobs on the cluster, newest first."""
        rows = []
        jobs = [j for j in await self._jobs.list_jobs() if (j.metadata or {}).get(META_USER)]
        for job in sorted(jobs, key=lambda j: j.start_time or 0, reverse=True):
            user = job.metadata.get(META_USER, "")
            if self.user_name is not None and user != self.user_name:
                continue
            status = job_status(job)
            end = job.end_time / 1000 if job.end_time else time.time()
            rows.append(ExperimentJob(
                experiment=job.metadata.get(META_EXPERIMENT, ""), user=user, job_id=job.submission_id,
                status=status, start=_when(job.start_time),
                duration_s=end - job.start_time / 1000 if job.start_time else None,
                stop_call=(f"radas.get_client({user!r}, 'cluster:{self.cluster.name}')"
                           f".stop_job_by_id({job.submission_id!r})") if status in ACTIVE else "",
            ))
        return rows

    async def stop_job_by_id_async(self, job_id: str) -> bool:
        """Stop a job (SIGTERM: a radas sweep stops gracefully, its state saved); True when
        it was running."""
        return await self._jobs.stop(job_id)

    async def get_job_logs_async(self, job_id: str) -> str:
        """The whole log of a job."""
        return await self._jobs.logs(job_id)

    # ---- sync forms ---------------------------------------------------------------------
    def list_experiments(self) -> list[ExperimentJob]:
        return run_sync(self.list_experiments_async())

    def experiments_table(self) -> str:
        """The jobs as a text table: experiment, job id, status, start, duration, how to stop."""
        rows = self.list_experiments()
        if not rows:
            who = f"user {self.user_name!r}" if self.user_name else "any user"
            return f"no radas jobs of {who} on cluster {self.cluster.name!r}"
        header = ("experiment", "job id", "status", "start", "duration", "stop with")
        table = [header] + [(r.experiment, r.job_id, r.status, r.start, _duration(r.duration_s), r.stop_call)
                            for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                         for row in table)

    def display_experiments(self) -> Any:
        """Show the table (a DataFrame in a notebook) and return it as a DataFrame."""
        import pandas as pd

        from radas._reporter import in_notebook

        rows = self.list_experiments()
        df = pd.DataFrame([{"experiment": r.experiment, "job id": r.job_id, "status": r.status,
                            "start": r.start, "duration": _duration(r.duration_s), "stop with": r.stop_call}
                           for r in rows], columns=["experiment", "job id", "status", "start", "duration", "stop with"])
        if in_notebook():
            from IPython.display import display

            display(df)
        else:
            print(self.experiments_table())
        return df

    def stop_job_by_id(self, job_id: str) -> bool:
        return run_sync(self.stop_job_by_id_async(job_id))

    def get_job_logs(self, job_id: str) -> str:
        return run_sync(self.get_job_logs_async(job_id))


def get_client(user_name: str | None, run_with: str) -> Client:
    """A client for ``user_name``'s sweeps on the cluster ``run_with="cluster:<name>"``:
    ``display_experiments()``, ``stop_job_by_id(job_id)``, ``get_job_logs(job_id)``."""
    return Client(user_name, run_with)
