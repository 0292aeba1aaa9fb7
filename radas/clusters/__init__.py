"""Named Ray clusters: the registry of the radas config file, their resources and availability,
and :func:`get_client` for a user's jobs on one."""

from radas.clusters._availability import (
    ClusterStatus,
    get_cluster_availability,
    get_cluster_availability_async,
    get_cluster_statuses,
    get_cluster_statuses_async,
)
from radas.clusters._client import Client, ExperimentJob, get_client
from radas.clusters._jobs import ACTIVE, META_EXPERIMENT, META_TAG, META_USER, JobsClient, job_status
from radas.clusters._registry import Cluster, clusters, get_cluster, parse_run_with

__all__ = [
    "Client",
    "Cluster",
    "ExperimentJob",
    "ClusterStatus",
    "clusters",
    "get_cluster",
    "get_cluster_availability",
    "get_cluster_availability_async",
    "get_cluster_statuses",
    "get_cluster_statuses_async",
    "get_client",
    "parse_run_with",
    # for radas's cluster backend
    "JobsClient",
    "job_status",
    "ACTIVE",
    "META_EXPERIMENT",
    "META_TAG",
    "META_USER",
]
