"""The one exception hierarchy of radas.

Every error radas raises on purpose is a :class:`RadasError`. Each subclass also derives
from the matching built-in exception, so ``except ValueError`` keeps working for callers
that do not know radas. Messages say what is wrong, the offending value, and the fix.
"""

from __future__ import annotations


class RadasError(Exception):
    """Base class of every error raised by radas."""


class RadasValueError(RadasError, ValueError):
    """An argument or setting has a value radas cannot use."""


class RadasTypeError(RadasError, TypeError):
    """An argument has the wrong type (e.g. a non-callable where a function is needed)."""


class ConfigError(RadasValueError):
    """The radas config file (or an environment variable overriding it) is invalid."""


class ChoiceRequiredError(RadasValueError):
    """The experiment exists, ``run_choice`` is None and no one can be asked what to do."""


class ExperimentNotFoundError(RadasError, LookupError):
    """The experiment to analyze, restore or attach to does not exist."""


class ClusterNotFoundError(RadasError, LookupError):
    """``run_with`` names a cluster that is not in the cluster registry."""


class ClusterUnavailableError(RadasError, ConnectionError):
    """A configured cluster does not answer."""


class VersionMismatchError(RadasError, RuntimeError):
    """Client and cluster run different Ray (or Python) versions."""


class EmailSendError(RadasError, ConnectionError):
    """The SMTP server could not be reached, refused the login or refused the message."""


class MissingDependencyError(RadasError, ImportError):
    """An optional dependency is needed; the message gives the ``pip install`` line."""


class ExperimentFailedError(RadasError, RuntimeError):
    """The sweep itself failed (not a single trial: those are retried and reported), or its
    driver died or was stopped by someone else while it was followed."""


class ExperimentRunningError(RadasError, RuntimeError):
    """A sweep of the experiment is already running (another driver holds its lock)."""


class InsufficientResourcesError(RadasValueError):
    """No node of the target can give a trial the CPUs / GPUs it asks for."""


class ResultsNotVisibleError(RadasError, FileNotFoundError):
    """This machine does not see the cluster's shared results folder (mount missing or elsewhere)."""


class RadasTimeoutError(RadasError, TimeoutError):
    """Something radas waited for did not happen in the time it allows."""


class LockUnsupportedError(RadasError, OSError):
    """The filesystem of the results folder cannot lock files (or keeps locks local to each node),
    so radas cannot make sure that only one driver runs a sweep; the message names the setting."""


class UnsafePathError(RadasError, PermissionError):
    """A file or folder radas writes in a shared folder is a symbolic link (or another user's):
    radas does not follow it."""


class SecretsUnavailableError(RadasError, PermissionError):
    """A trial cannot read its sweep's secrets (the file is missing, or its process runs as
    another user than the one who started the sweep)."""


class UnsupportedInMemoryError(RadasValueError):
    """``run_with="memory"`` was asked for something only Ray Tune does (a search algorithm, a
    scheduler, stopping conditions, ...); the message names the setting and says to use
    ``run_with="local"``."""


class TrialStalledError(RadasError, RuntimeError):
    """A trial stopped making progress: it did not report (nor finish a step) for longer than its
    stall timeout (``run_experiment(stall_timeout_s=...)``, or its trainable's default such as
    ``radas.grpo``'s), so radas's watchdog ended it. The message says for how long, where its
    training thread was stuck (the innermost frames) and where the stacks of all of the trial's
    threads were saved (``stall-<time>.txt`` in the trial's folder). Like any failure, the trial
    is retried up to ``max_failures`` times. A ``RuntimeError``, not a ``TimeoutError``: code that
    retries on ``OSError`` (network clients do) must not swallow it."""


class EngineOutOfMemoryError(RadasError, MemoryError):
    """A trial's generation engine found too little GPU memory to start (vLLM: no room for its KV
    cache blocks, or for one sequence of the maximum length). A ``MemoryError``: radas's
    out-of-memory retry gives the trial more memory, as for any other out-of-memory error. The
    message keeps the engine's own and says how radas sized it."""


class WorkerOutOfMemoryError(RadasError, MemoryError):
    """A training worker of a trial that spans several (``radas.grpo``'s ``num_workers``) ran out
    of memory; the message names the worker's rank and its error. A ``MemoryError``: radas's
    out-of-memory retry applies (a GRPO trial: a smaller micro-batch, else more workers)."""


__all__ = [
    "EngineOutOfMemoryError",
    "WorkerOutOfMemoryError",
    "UnsupportedInMemoryError",
    "RadasError",
    "RadasValueError",
    "RadasTypeError",
    "ConfigError",
    "ChoiceRequiredError",
    "ExperimentNotFoundError",
    "ClusterNotFoundError",
    "ClusterUnavailableError",
    "VersionMismatchError",
    "EmailSendError",
    "MissingDependencyError",
    "ExperimentFailedError",
    "ExperimentRunningError",
    "InsufficientResourcesError",
    "ResultsNotVisibleError",
    "RadasTimeoutError",
    "LockUnsupportedError",
    "UnsafePathError",
    "SecretsUnavailableError",
    "TrialStalledError",
]
