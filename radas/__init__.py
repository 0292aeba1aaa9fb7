"""radas: one awaitable call from hyperparameter sweep to DataFrame, figure and email.

``results = await radas.run_experiment(user_name=..., experiment_name=..., trainable=...,
param_space=...)`` runs a Ray Tune sweep locally or on a named Ray cluster and returns
``{"df", "tuner", "fig"}``, with a progress bar and a live figure while it runs, an HTML report
page next to the results and an email carrying the same report. ``radas.report(user_name,
experiment_name)`` writes the report pages on demand.

Also: ``radas.grpo`` (GRPO fine-tuning trainables), ``radas.plots`` (hyperparameter importance
and parallel coordinates as plot functions), ``radas.clusters``, ``radas.cloud_artifact``,
``radas.email``, ``radas.rwandb`` / ``radas.rswanlab``, ``radas.core`` and ``radas.utils``.
"""

from radas._explode import explode, explode_dict_of_tensors, explode_tensor
from radas.clusters import get_client
from radas.core import get_cold_data_dir, get_data_dir, get_ray_results_dir
from radas.errors import (
    ChoiceRequiredError,
    ClusterNotFoundError,
    ClusterUnavailableError,
    ConfigError,
    EmailSendError,
    EngineOutOfMemoryError,
    ExperimentFailedError,
    ExperimentNotFoundError,
    ExperimentRunningError,
    InsufficientResourcesError,
    LockUnsupportedError,
    MissingDependencyError,
    RadasError,
    RadasTimeoutError,
    RadasTypeError,
    RadasValueError,
    ResultsNotVisibleError,
    SecretsUnavailableError,
    TrialStalledError,
    UnsafePathError,
    UnsupportedInMemoryError,
    VersionMismatchError,
)
from radas.experiment import default_process_sns_fn, report, run_experiment
from radas.tuner import Tuner, default_tuner_to_df_fn

__version__ = "0.1.0"

__all__ = [
    "run_experiment",
    "report",
    "get_client",
    "Tuner",
    "default_process_sns_fn",
    "default_tuner_to_df_fn",
    "get_data_dir",
    "get_cold_data_dir",
    "get_ray_results_dir",
    "explode",
    "explode_tensor",
    "explode_dict_of_tensors",
    "RadasError",
    "RadasValueError",
    "RadasTypeError",
    "ConfigError",
    "ChoiceRequiredError",
    "ExperimentNotFoundError",
    "ClusterNotFoundError",
    "ClusterUnavailableError",
    "MissingDependencyError",
    "ExperimentFailedError",
    "ExperimentRunningError",
    "InsufficientResourcesError",
    "ResultsNotVisibleError",
    "RadasTimeoutError",
    "VersionMismatchError",
    "EmailSendError",
    "LockUnsupportedError",
    "UnsafePathError",
    "SecretsUnavailableError",
    "UnsupportedInMemoryError",
    "EngineOutOfMemoryError",
    "WorkerOutOfMemoryError",
    "TrialStalledError",
]
