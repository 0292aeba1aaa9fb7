"""Named Ray clusters: the registry of the radas config file, their resources and availability."""

from radas.clusters._availability import (
    ClusterStatus,
    get_cluster_availability,
    get_cluster_availability_async,
    get_cluster_statuses,
    get_cluster_statuses_async,
)
from radas.clusters._registry import Cluster, clusters, get_cluster

__all__ = [
    "Cluster",
    "ClusterStatus",
    "clusters",
    "get_cluster",
    "get_cluster_availability",
    "get_cluster_availability_async",
    "get_cluster_statuses",
    "get_cluster_statuses_async",
]
