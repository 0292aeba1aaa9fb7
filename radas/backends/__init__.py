"""Where sweeps run. One module per target behind the small :class:`Backend` interface."""

from __future__ import annotations

from radas.backends._base import Backend, ExperimentState, SweepSpec
from radas.backends.local import LocalBackend
from radas.clusters._registry import get_cluster, parse_run_with


def get_backend(run_with: str) -> Backend:
    """The backend for ``run_with`` ("local" or "cluster:<name>")."""
    cluster_name = parse_run_with(run_with)
    if cluster_name is None:
        return LocalBackend()
    from radas.backends.cluster import ClusterBackend

    return ClusterBackend(get_cluster(cluster_name))


__all__ = ["Backend", "ExperimentState", "SweepSpec", "LocalBackend", "get_backend"]
