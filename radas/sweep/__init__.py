"""What every sweep runs inside Ray Tune, whatever its target: the experiment-folder protocol
(the one owner of its file names), secrets end to end, progress, the out-of-memory retry, trial
preparation, checkpoint keeping, the results log, the stall watchdog, a trial's sample completions, and the
sweep driver itself.

Targets (:mod:`radas.backends`: local Ray, a named cluster, in memory) sit above this package and
run sweeps with it; nothing here knows which target it runs on.
"""

from __future__ import annotations

from radas.sweep._checkpoints import contents_of, remove_contents
from radas.sweep._folder import (
    STORAGE_MARKER,
    DriverInfo,
    ExperimentFolder,
    experiment_names,
    index_file,
    make_private_dirs,
)
from radas.sweep._hooks import (
    AdaptsToOutOfMemory,
    ChecksParamSpace,
    NeedsFreshWorkers,
    PlansGpuPerTrial,
    StartsWorkers,
    UsesSweepMetric,
    WatchesForStalls,
)
from radas.sweep._live import LoggedResults, ResultsLog, ResultsSoFar
from radas.sweep._oom import is_out_of_memory
from radas.sweep._progress import FAILED, FINISHED, RUNNING, STOPPED, Progress, SilentTuneReporter
from radas.sweep._resources import (
    AUTO,
    DRIVER_BUNDLE,
    Capacity,
    TrialEnvironment,
    TrialResources,
    check_fits,
    plan_auto_gpu,
    resolve_resources,
    worker_environment,
    worker_resources,
)
from radas.sweep._samples import SampleLog, read_samples
from radas.sweep._secrets import remove_secrets, take_secrets, write_secrets
from radas.sweep._spec import ExperimentState, SweepRequest, SweepSpec
from radas.sweep._stall import note_progress, stalled_error
from radas.sweep._sweep import Sweep, ensure_ray, follow, request_stop
from radas.sweep._trainable import prepare_trainable, trial_secrets_loader
from radas.sweep._tuner import (
    BOOKKEEPING_COLUMNS,
    REPORTED_KEY,
    ResultFrames,
    TrialRecord,
    Tuner,
    annotate_trial,
    default_tuner_to_df_fn,
    keep_reported_metrics,
    read_trial_notes,
)

__all__ = [
    "TrialEnvironment",
    "is_out_of_memory",
    "AUTO", "BOOKKEEPING_COLUMNS", "DRIVER_BUNDLE", "FAILED", "FINISHED", "REPORTED_KEY", "RUNNING", "STOPPED",
    "STORAGE_MARKER", "AdaptsToOutOfMemory", "Capacity", "ChecksParamSpace", "DriverInfo", "ExperimentFolder",
    "ExperimentState", "LoggedResults", "NeedsFreshWorkers", "PlansGpuPerTrial", "Progress", "ResultFrames",
    "ResultsLog", "ResultsSoFar", "SampleLog", "SilentTuneReporter", "StartsWorkers", "Sweep", "SweepRequest",
    "SweepSpec", "TrialRecord", "TrialResources", "Tuner", "UsesSweepMetric", "WatchesForStalls", "annotate_trial",
    "check_fits", "contents_of",
    "default_tuner_to_df_fn", "ensure_ray", "experiment_names", "follow", "index_file", "keep_reported_metrics",
    "make_private_dirs", "note_progress", "plan_auto_gpu", "prepare_trainable", "read_samples", "read_trial_notes",
    "remove_secrets",
    "remove_contents", "request_stop", "resolve_resources", "stalled_error", "take_secrets", "trial_secrets_loader",
    "worker_environment", "worker_resources", "write_secrets",
]
