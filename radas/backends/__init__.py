"""Where sweeps run: one module per target behind the :class:`Backend` contract.

``local`` (this machine's Ray), ``cluster`` (a named Ray cluster over Ray Jobs) and ``memory``
(in this process, without Ray: for testing code that calls ``run_experiment``). The package
also holds what every target shares: the experiment-folder protocol, secrets, progress, the
out-of-memory retry, trial preparation, the trainable hooks and, in one module, every use of
Ray's internals.
"""

from __future__ import annotations

from radas.backends._base import Backend, ExperimentState, SweepRequest, SweepSpec
from radas.backends._folder import ExperimentFolder, experiment_names, index_file
from radas.backends._hooks import AdaptsToOutOfMemory, ChecksParamSpace, NeedsFreshWorkers, PlansGpuPerTrial
from radas.backends._live import LoggedResults, ResultsSoFar
from radas.backends._progress import RUNNING, Progress, SilentTuneReporter
from radas.backends._resources import AUTO, Capacity
from radas.backends._secrets import take_secrets
from radas.backends._tuner import (
    BOOKKEEPING_COLUMNS,
    REPORTED_KEY,
    ResultFrames,
    Tuner,
    annotate_trial,
    default_tuner_to_df_fn,
    keep_reported_metrics,
    read_trial_notes,
)
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


__all__ = [
    "AUTO", "BOOKKEEPING_COLUMNS", "MEMORY", "REPORTED_KEY", "RUNNING", "AdaptsToOutOfMemory", "Backend", "Capacity",
    "ChecksParamSpace", "ExperimentFolder", "ExperimentState", "LocalBackend", "LoggedResults", "NeedsFreshWorkers",
    "PlansGpuPerTrial", "Progress", "ResultFrames", "ResultsSoFar", "SilentTuneReporter", "SweepRequest", "SweepSpec",
    "Tuner", "annotate_trial", "default_tuner_to_df_fn", "experiment_names", "get_backend", "index_file",
    "keep_reported_metrics", "read_trial_notes", "take_secrets",
]
