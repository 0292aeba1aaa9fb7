"""Preparing the user's trainable for Tune: radas's settings inside every trial, resources."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import sysconfig
from collections.abc import Callable
from typing import Any

from ray import cloudpickle, tune

_INSTALLED = tuple(
    os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib", "stdlib")
)


def _send_by_value(trainable: Callable[..., Any]) -> None:
    """Pickle the trainable's own module by value when it is the user's code (a script, a
    notebook, a file next to it) rather than an installed package, so trials and cluster
    jobs can run it without importing that file."""
    module = sys.modules.get(getattr(trainable, "__module__", "") or "")
    path = getattr(module, "__file__", None)
    if module is None or module.__name__ == "__main__" or path is None:
        return
    if os.path.realpath(path).startswith(_INSTALLED):
        return
    cloudpickle.register_pickle_by_value(module)


def prepare_trainable(
    trainable: Callable[..., Any], env: dict[str, str], resources: dict[str, float]
) -> Any:
    """``trainable`` with ``env`` set in the trial process and ``resources`` per trial.

    Function trainables are wrapped (keeping their name, so Tune can restore them); class
    trainables (``tune.Trainable`` subclasses) get a subclass whose ``setup`` sets ``env``.
    """
    _send_by_value(trainable)
    if inspect.isclass(trainable):
        user_class: Any = trainable

        class _WithEnv(user_class):  # type: ignore[misc, valid-type]
            def setup(self, config: dict[str, Any]) -> None:
                os.environ.update(env)
                super().setup(config)

        _WithEnv.__name__ = user_class.__name__
        _WithEnv.__qualname__ = user_class.__qualname__
        prepared: Any = _WithEnv
    else:

        @functools.wraps(trainable)
        def prepared(config: dict[str, Any]) -> Any:
            os.environ.update(env)
            return trainable(config)

    return tune.with_resources(prepared, resources)
