"""Named Ray clusters: the registry of the radas config file and their resources."""

from radas.clusters._registry import Cluster, clusters, get_cluster

__all__ = ["Cluster", "clusters", "get_cluster"]
