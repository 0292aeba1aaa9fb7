"""Where sweeps run: one module per target behind the :class:`Backend` contract."""

from __future__ import annotations

from radas.backends._base import Backend, ExperimentState, SweepRequest, SweepSpec
from radas.backends._resources import Capacity
from radas.backends.local import LocalBackend
from radas.clusters._registry import get_cluster, parse_run_with


def get_backend(run_with: str) -> Backend:
    """The backend for ``run_with`` ("local" or "cluster:<name>")."""
    cluster_name = parse_run_with(run_with)
    if cluster_name is None:
        return LocalBackend()
    from radas.backends.cluster import ClusterBackend

    return ClusterBackend(get_cluster(cluster_name))


__all__ = ["Backend", "Capacity", "ExperimentState", "SweepRequest", "SweepSpec", "LocalBackend", "get_backend"]
