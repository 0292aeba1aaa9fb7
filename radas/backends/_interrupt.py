"""Graceful stop of a Tune run driven from a worker thread.

Tune ends a run gracefully (it saves the experiment state, unfinished trials stay
unfinished so ``restore`` continues them) when its "interrupted" event is set - normally by
SIGINT, which only reaches the main thread. radas runs ``Tuner.fit`` in a worker thread, so
it hands Tune its own event for that thread instead.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ray.tune import tune as _tune_module

_local = threading.local()
_original_setup = _tune_module._setup_signal_catching


def _setup_signal_catching() -> threading.Event:
    event = getattr(_local, "event", None)
    return event if event is not None else _original_setup()


_tune_module._setup_signal_catching = _setup_signal_catching


@contextlib.contextmanager
def interruptible(event: threading.Event) -> Iterator[None]:
    """Within this block, a Tune run started by this thread stops gracefully when ``event``
    is set."""
    _local.event = event
    try:
        yield
    finally:
        _local.event = None
