"""Where sweeps run: one module per target behind the :class:`Backend` contract.

``local`` (this machine's Ray), ``cluster`` (a named Ray cluster over Ray Jobs) and ``memory``
(in this process, without Ray: for testing code that calls ``run_experiment``), plus the cluster
job's entry point. What every sweep runs inside Tune, whatever its target, is :mod:`radas.sweep`.
"""

from __future__ import annotations

from radas.backends._base import Backend
from radas.backends.local import LocalBackend
from radas.clusters import get_cluster, parse_run_with

MEMORY = "memory"


def get_backend(run_with: str) -> Backend:
    """The backend for ``run_with`` ("local", "cluster:<name>" or "memory")."""
    if run_with == MEMORY:
        from radas.backends.memory import MemoryBackend

        return MemoryBackend()
    cluster_name = parse_run_with(run_with)
    if cluster_name is None:
        return LocalBackend()
    from radas.backends.cluster import ClusterBackend

    return ClusterBackend(get_cluster(cluster_name))


__all__ = ["MEMORY", "Backend", "LocalBackend", "get_backend"]
