"""Resource specifications of the configured clusters, keyed by cluster name.

``gpu_per_cpu``, ``cpu_per_node`` and ``gpu_per_node`` are read from the cluster registry
(the ``[clusters.<name>]`` tables of the radas config file) each time they are looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from radas.clusters._registry import Cluster, clusters


class _ClusterField(Mapping[str, float]):
    """A read-only, always-current ``{cluster name: value}`` view of one registry field."""

    def __init__(self, getter: Callable[[Cluster], float]) -> None:
        self._getter = getter

    def __getitem__(self, name: str) -> float:
        known = clusters()
        if name not in known:
            raise KeyError(f"{name!r}: no such cluster; configured clusters: {sorted(known)}")
        return self._getter(known[name])

    def __iter__(self) -> Iterator[str]:
        return iter(clusters())

    def __len__(self) -> int:
        return len(clusters())

    def __repr__(self) -> str:
        return repr(dict(self))


gpu_per_cpu: Mapping[str, float] = _ClusterField(lambda c: c.gpu_per_cpu)
cpu_per_node: Mapping[str, float] = _ClusterField(lambda c: c.cpu_per_node)
gpu_per_node: Mapping[str, float] = _ClusterField(lambda c: c.gpu_per_node)

__all__ = ["gpu_per_cpu", "cpu_per_node", "gpu_per_node"]
