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
    """The sweep itself failed (not a single trial: those are retried and reported)."""


__all__ = [
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
]
