"""Where radas keeps things: results, data and cold-data folders, per user.

Each folder is ``<root>/<user_name>/``. The root comes from an environment variable, else
the ``[local]`` table of the radas config file, else a folder under the home directory:

============  ======================  =========================  ==========================
folder        environment variable    config key (``[local]``)   default
============  ======================  =========================  ==========================
results       ``RADAS_RESULTS_DIR``   ``results_dir``            ``~/radas/ray-results``
data          ``RADAS_DATA_DIR``      ``data_dir``               ``~/radas/data``
cold data     ``RADAS_COLD_DATA_DIR`` ``cold_data_dir``          ``~/radas/cold-data``
============  ======================  =========================  ==========================

With ``run_with="cluster:<name>"`` the root is the cluster's own (``[clusters.<name>]``), as
this machine sees it (``client_results_dir`` ... when the shared storage is mounted elsewhere
here). Inside a cluster job and its trials the environment variables hold the cluster's paths.
A relative setting is made absolute on the driver (an environment variable against the working
directory, a config key against the config file's folder), and trials receive the absolute
paths: they see the same folders as the driver, whatever their own working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from radas._config import config_path, config_table
from radas._names import check_name
from radas.clusters import get_cluster, parse_run_with
from radas.utils import get_current_user_name

_ROOTS = {
    "results_dir": ("RADAS_RESULTS_DIR", "ray-results"),
    "data_dir": ("RADAS_DATA_DIR", "data"),
    "cold_data_dir": ("RADAS_COLD_DATA_DIR", "cold-data"),
}


def _root(kind: str, run_with: str) -> Path:
    cluster_name = parse_run_with(run_with)
    env_var, default = _ROOTS[kind]
    if cluster_name is not None:
        value = get_cluster(cluster_name).client_path(kind)  # the cluster's storage, seen from here
        if value:
            return Path(value)
    if os.environ.get(env_var):  # relative: to the working directory
        return Path(os.environ[env_var]).expanduser().absolute()
    configured = config_table("local").get(kind)
    if configured:  # relative: to the config file's folder
        return (config_path().parent / Path(str(configured)).expanduser()).absolute()
    return Path.home() / "radas" / default


def radas_env(run_with: str = "local") -> dict[str, str]:
    """The folder settings of this process as environment variables, for trials to inherit.

    With ``run_with="cluster:<name>"``: the cluster's folders as its nodes see them (only those
    the cluster configures), for its jobs and trials.
    """
    from radas.cloud_artifact import ENV_VAR, default_root

    cluster_name = parse_run_with(run_with)
    if cluster_name is not None:
        cluster = get_cluster(cluster_name)
        names = {**{kind: env_var for kind, (env_var, _) in _ROOTS.items()}, "artifact_root": ENV_VAR}
        return {env_var: str(getattr(cluster, kind)) for kind, env_var in names.items() if getattr(cluster, kind)}
    env = {env_var: str(_root(kind, "local")) for kind, (env_var, _) in _ROOTS.items()}
    env[ENV_VAR] = default_root()
    return env


LAUNCH_DIR_ENV = "RADAS_LAUNCH_DIR"


def get_launch_dir() -> Path:
    """The folder a sweep was launched from, also inside its trials (where the working
    directory is Tune's trial folder): resolve relative paths of a config against it.

    Locally it is the driver's working directory when ``run_experiment`` was called; on a
    cluster, the job's copy of that directory.
    """
    for var in (LAUNCH_DIR_ENV, "TUNE_ORIG_WORKING_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path.cwd()


def get_ray_results_dir(user_name: str | None = None, run_with: str = "local") -> str:
    """The folder holding ``user_name``'s experiments (one sub-folder per experiment).

    ``user_name`` defaults to the current login name. Returns e.g.
    ``"/home/alice/radas/ray-results/alice/"``.
    """
    user = check_name("user_name", user_name or get_current_user_name())
    return str(_root("results_dir", run_with) / user) + os.sep


def storage_paths(user_name: str, run_with: str = "local") -> list[str]:
    """The folders Ray Tune's ``RunConfig(storage_path=...)`` would have to name for an
    experiment of ``user_name`` to land where radas keeps it: the user's results folder as this
    machine sees it and, for a cluster, as its nodes see it."""
    paths = [get_ray_results_dir(user_name, run_with)]
    cluster_name = parse_run_with(run_with)
    if cluster_name is not None and get_cluster(cluster_name).results_dir:
        paths.append(str(Path(str(get_cluster(cluster_name).results_dir)) / user_name))
    return [os.path.normpath(os.path.expanduser(p)) for p in paths]


def _user_dir(kind: str, user_name: str, run_with: str) -> str:
    path = _root(kind, run_with) / check_name("user_name", user_name)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        if parse_run_with(run_with) is None:
            raise
    return str(path)


def get_data_dir(user_name: str, run_with: str = "local") -> str:
    """An existing per-user data folder, shared by the driver and its trials."""
    return _user_dir("data_dir", user_name, run_with)


def get_cold_data_dir(user_name: str, run_with: str = "local") -> str:
    """An existing per-user cold-storage folder (large, rarely read data)."""
    return _user_dir("cold_data_dir", user_name, run_with)


__all__ = ["get_ray_results_dir", "get_data_dir", "get_cold_data_dir", "get_launch_dir", "storage_paths"]
