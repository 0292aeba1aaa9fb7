"""The cluster registry: ``[clusters.<name>]`` tables of the radas config file."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from radas._config import config_path, config_table
from radas.errors import (
    ClusterNotFoundError,
    ConfigError,
    RadasTypeError,
    RadasValueError,
)


@dataclass(frozen=True)
class Cluster:
    """One named Ray cluster, as declared in ``[clusters.<name>]`` of the radas config.

    ``address`` is the cluster's Ray dashboard / Jobs URL. Paths (``results_dir``, ...) are
    shared storage as the cluster's nodes see it; ``client_results_dir`` (...) is the same
    storage as this machine sees it, when it is mounted elsewhere here (default: the same path).
    ``auth_token_file`` holds the cluster's Ray token (default: Ray's own lookup:
    ``$RAY_AUTH_TOKEN``, ``$RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``).
    """

    name: str
    address: str
    description: str = ""
    gpu_per_node: int = 0
    cpu_per_node: int = 0
    gram_per_gpu_gb: float | None = None
    results_dir: str | None = None
    data_dir: str | None = None
    cold_data_dir: str | None = None
    artifact_root: str | None = None
    auth_token_file: str | None = None
    client_results_dir: str | None = None
    client_data_dir: str | None = None
    client_cold_data_dir: str | None = None
    client_artifact_root: str | None = None

    @property
    def gpu_per_cpu(self) -> float:
        """GPUs that come with one CPU on a node (``gpu_per_node / cpu_per_node``)."""
        return self.gpu_per_node / self.cpu_per_node if self.cpu_per_node else 0.0

    def client_path(self, kind: str) -> str | None:
        """Where the cluster's ``kind`` folder (``results_dir``, ``data_dir``, ``cold_data_dir``,
        ``artifact_root``) is seen from this machine (None when the cluster has none)."""
        if getattr(self, kind) is None:
            return None
        return getattr(self, f"client_{kind}") or getattr(self, kind)

    def token_path(self) -> Path | None:
        """The file :meth:`auth_token` reads the cluster's token from: ``auth_token_file``, else
        (without ``$RAY_AUTH_TOKEN``) the first of ``$RAY_AUTH_TOKEN_PATH`` and
        ``~/.ray/auth_token`` that is a file; None when the token comes from the environment or
        there is none. A file that must never travel with a job's working dir."""
        if self.auth_token_file:
            return Path(self.auth_token_file).expanduser()
        if os.environ.get("RAY_AUTH_TOKEN"):
            return None
        for candidate in (os.environ.get("RAY_AUTH_TOKEN_PATH"), "~/.ray/auth_token"):
            if candidate and Path(candidate).expanduser().is_file():
                return Path(candidate).expanduser()
        return None

    def auth_token(self) -> str | None:
        """The cluster's Ray auth token (never printed), or None when there is none."""
        path = self.token_path()
        if path is None:
            return os.environ.get("RAY_AUTH_TOKEN", "").strip() or None
        try:
            return path.read_text().strip() or None
        except OSError as exc:
            if not self.auth_token_file:  # Ray's own file
                raise
            raise ConfigError(
                f"radas config file {config_path()}, table [clusters.{self.name}]: key "
                f"`auth_token_file` = {self.auth_token_file!r} cannot be read ({exc.strerror}); "
                "put the cluster's Ray token there (`ray get-auth-token` on the head node prints it)"
            ) from None

    def auth_headers(self) -> dict[str, str]:
        """HTTP headers that authenticate to the cluster's dashboard (empty without a token)."""
        token = self.auth_token()
        return {"Authorization": f"Bearer {token}"} if token else {}


_TYPES: dict[str, tuple[type, ...]] = {
    "address": (str,),
    "description": (str,),
    "gpu_per_node": (int,),
    "cpu_per_node": (int,),
    "gram_per_gpu_gb": (int, float),
    "results_dir": (str,),
    "data_dir": (str,),
    "cold_data_dir": (str,),
    "artifact_root": (str,),
    "auth_token_file": (str,),
    "client_results_dir": (str,),
    "client_data_dir": (str,),
    "client_cold_data_dir": (str,),
    "client_artifact_root": (str,),
}


def _parse(name: str, table: Any) -> Cluster:
    where = f"radas config file {config_path()}, table [clusters.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table, got {table!r}")
    known = [f.name for f in fields(Cluster) if f.name != "name"]
    for key, value in table.items():
        if key not in _TYPES:
            raise ConfigError(f"{where}: unknown key `{key}`; known keys: {known}")
        if not isinstance(value, _TYPES[key]) or isinstance(value, bool):
            raise ConfigError(
                f"{where}: key `{key}` must be {' or '.join(t.__name__ for t in _TYPES[key])}, "
                f"got {value!r}"
            )
    if "address" not in table:
        raise ConfigError(f"{where}: key `address` (the cluster's Ray dashboard URL) is required")
    if not table["address"].startswith(("http://", "https://")):
        raise ConfigError(
            f"{where}: key `address` must be the dashboard / Jobs URL like 'http://head-node:8265', "
            f"got {table['address']!r}"
        )
    return Cluster(name=name, **table)


def clusters() -> dict[str, Cluster]:
    """Every configured cluster by name, validated."""
    return {name: _parse(name, table) for name, table in config_table("clusters").items()}


def get_cluster(name: str) -> Cluster:
    """The cluster called ``name``; an error listing the configured ones if there is none."""
    known = clusters()
    if name not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise ClusterNotFoundError(
            f"run_with='cluster:{name}': no cluster named {name!r}. Configured clusters: {listed}. "
            f"Clusters are declared as [clusters.<name>] tables in {config_path()} "
            "(set RADAS_CONFIG to use another file)."
        )
    return known[name]


def parse_run_with(run_with: object) -> str | None:
    """``None`` for ``"local"`` (and ``"memory"``, which keeps its folders locally), the
    cluster name for ``"cluster:<name>"``; else an error."""
    if not isinstance(run_with, str):
        raise RadasTypeError(f"run_with must be a str, got {type(run_with).__name__} {run_with!r}")
    if run_with in ("local", "memory"):
        return None
    if run_with.startswith("cluster:") and run_with[len("cluster:") :]:
        return run_with[len("cluster:") :]
    raise RadasValueError(
        f"run_with={run_with!r} is not valid: use 'local', 'cluster:<name>' or 'memory' (in this process, no Ray) "
        f"(configured clusters: {sorted(clusters()) or 'none'})"
    )
