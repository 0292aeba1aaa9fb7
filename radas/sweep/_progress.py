"""Sweep progress: a Tune callback keeps a small state; the reporter shows it as a progress bar
(done of total, running, errored, pending and why, the best result so far, elapsed time and an
ETA from the finished trials' durations).

The state is also the driver's record of how the sweep ended (``state``), written to the
experiment folder so that another process following the sweep can tell a sweep that ended from
one whose driver died.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ray.tune import Callback, ProgressReporter

from radas._reporter import ProgressBar
from radas._safefile import write_atomic

RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"
# trials pending this long while none runs: say why in the progress line
WAITING_AFTER_S = 10.0
# Tune's own setting for when it warns about insufficient resources (its spelling): when the user
# set it, radas says "waiting for resources" after that many seconds instead
WAITING_AFTER_ENV = "TUNE_WARN_INSUFFICENT_RESOURCE_THRESHOLD_S"


@dataclass
class Progress:
    """Counts of a sweep's trials, the best result so far, and how the sweep stands."""

    experiment: str
    total: int | None = None
    done: int = 0
    running: int = 0
    pending: int = 0
    errored: int = 0
    metric: str | None = None
    mode: str | None = None
    best: float | None = None
    state: str = RUNNING
    waiting: str = ""
    statuses: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)  # when this driver started the sweep (epoch s)
    ended: float = 0.0  # when it ended (0: not yet)
    updated: float = 0.0  # when the timing fields below were last brought up to date
    trial_s: float = 0.0  # the finished trials' durations, summed
    timed: int = 0  # how many finished trials trial_s holds
    running_s: float = 0.0  # how long the running trials had run at ``updated``, summed

    def total_now(self) -> int:
        """The number of trials: the planned total, or those seen so far when it is larger."""
        seen = self.done + self.running + self.pending + self.errored
        return max(self.total if self.total is not None else seen, seen)

    def status(self) -> str:
        """What is not in the count, e.g. ``2 running, 1 errored, best score=0.93``."""
        parts = [f"{self.running} running"]
        if self.errored:
            parts.append(f"{self.errored} errored")
        if self.pending and self.state == RUNNING:
            parts.append(f"{self.pending} pending")
        if self.best is not None and self.metric:
            parts.append(f"best {self.metric}={self.best:.4g}")
        if self.waiting:
            parts.append(self.waiting)
        return ", ".join(parts)

    def line(self) -> str:
        """One human line, e.g. ``lr-sweep: 5/12 done, 2 running, 1 errored, best score=0.93``."""
        return f"{self.experiment}: {self.done}/{self.total_now()} done, {self.status()}"

    def elapsed_s(self, now: float | None = None) -> float:
        """Seconds since the sweep started (until it ended)."""
        end = self.ended or (time.time() if now is None else now)
        return max(end - self.started, 0.0)

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds until the sweep ends, from the finished trials' mean duration: the pending
        trials' and the running trials' remaining time, spread over the trials running side by
        side. None until a trial has finished (or when it has ended)."""
        if not self.timed or self.state != RUNNING:
            return None
        mean = self.trial_s / self.timed
        now = time.time() if now is None else now
        ran = self.running_s + self.running * max(now - self.updated, 0.0) if self.updated else self.running_s
        left = self.pending * mean + max(self.running * mean - ran, 0.0)
        return left / max(self.running, 1)

    def end(self, state: str) -> None:
        """Record how the sweep ended (``FINISHED``, ``STOPPED``, ``FAILED``) and when."""
        self.state = state
        self.ended = time.time()

    def trial_ended(self, seconds: float) -> None:
        """Count one finished trial's duration (for the ETA)."""
        self.trial_s += max(seconds, 0.0)
        self.timed += 1

    def show(self, bar: ProgressBar) -> None:
        """Show this state on ``bar``."""
        bar.update(self.done, self.total_now(), self.status(), self.elapsed_s(), self.eta_s())

    def to_json(self) -> str:
        """The state as JSON (written next to the results for other processes to follow)."""
        return json.dumps(asdict(self), default=str)

    def write(self, path: Path) -> None:
        """Replace the file at ``path`` with this state (atomically; errors are ignored: the
        progress file is a view, never a reason for a sweep to fail)."""
        try:
            write_atomic(path, self.to_json().encode(), mode=0o644)
        except OSError:
            pass

    @classmethod
    def read(cls, path: Path) -> Progress | None:
        """The state saved at ``path``, or None when there is none (yet)."""
        try:
            data = json.loads(path.read_text())
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (OSError, ValueError, TypeError):
            return None


def _better(value: float, best: float | None, mode: str) -> bool:
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def _resources_text(resources: dict[str, float]) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in sorted(resources.items()) if v and not k.startswith("node:")) or "nothing"


class ProgressCallback(Callback):
    """Keeps :class:`Progress` current from Tune's events; writes it to ``progress_file`` (at most
    once a second), sets ``stop_event`` when ``stop_file`` appears (a stop request from another
    process), and says so when trials wait for resources while none runs. ``on_setup`` is
    called once Tune has set the sweep up.

    Tune saves callbacks with the experiment; the saved copy keeps only the counts (a restored
    sweep gets a fresh callback).
    """

    def __init__(
        self, progress: Progress, progress_file: Path, stop_file: Path, stop_event: threading.Event,
        on_setup: Callable[[], None] | None = None,
    ) -> None:
        self.progress = progress
        self._file = progress_file
        self._stop_file = stop_file
        self._stop_event = stop_event
        self._on_setup = on_setup
        self._last_write = 0.0
        self._idle_since: float | None = None
        self._last_free_check = 0.0
        self._starts: dict[str, float] = {}  # trial id -> when it started running (time.time())

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_stop_event": None, "_on_setup": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stop_event = threading.Event()

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:  # type: ignore[override]
        if total_num_samples and total_num_samples > 0:
            self.progress.total = total_num_samples
        if self._on_setup is not None:
            self._on_setup()

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        p = self.progress
        if not (p.metric and p.mode) or p.metric not in result:
            return
        value = result[p.metric]
        if isinstance(value, (int, float)) and not math.isnan(value) and _better(value, p.best, p.mode):
            p.best = float(value)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._starts[trial.trial_id] = time.time()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        started = self._starts.pop(trial.trial_id, None)
        if started is not None:
            self.progress.trial_ended(time.time() - started)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._starts.pop(trial.trial_id, None)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self._count(trials)
        now = time.monotonic()
        self._watch_waiting(trials, now)
        if now - self._last_write >= 1.0:
            self._last_write = now
            self._time_running(trials)
            self.progress.statuses = {t.trial_id: t.status for t in trials}
            self.progress.write(self._file)
            if self._stop_file.exists():
                self._stop_event.set()

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._count(trials)
        self._time_running(trials)
        self.progress.waiting = ""
        self.progress.statuses = {t.trial_id: t.status for t in trials}
        self.progress.write(self._file)

    def _count(self, trials: list[Any]) -> None:
        statuses = [t.status for t in trials]
        p = self.progress
        p.done = statuses.count("TERMINATED")
        p.running = statuses.count("RUNNING")
        p.pending = statuses.count("PENDING") + statuses.count("PAUSED")
        p.errored = statuses.count("ERROR")

    def _time_running(self, trials: list[Any]) -> None:
        """How long the running trials have run, for the ETA."""
        now = time.time()
        running = [t.trial_id for t in trials if t.status == "RUNNING"]
        self.progress.running_s = sum(now - self._starts[i] for i in running if i in self._starts)
        self.progress.updated = now

    def _watch_waiting(self, trials: list[Any], now: float) -> None:
        """Pending trials and none running for a while: say what they need and what is free."""
        p = self.progress
        pending = [t for t in trials if t.status == "PENDING"]
        if p.running or not pending:
            self._idle_since = None
            p.waiting = ""
            return
        if self._idle_since is None:
            self._idle_since = now
        after = _waiting_after_s()
        if now - self._idle_since < after or now - self._last_free_check < min(after, 5.0):
            return
        self._last_free_check = now
        import ray

        try:
            free = {k: v for k, v in ray.available_resources().items() if k in ("CPU", "GPU")}
            need = dict(pending[0].placement_group_factory.required_resources)
        except Exception:  # noqa: BLE001 - a view only: never break the sweep over it
            return
        since = time.strftime("%H:%M:%S", time.localtime(time.time() - (now - self._idle_since)))
        p.waiting = (f"waiting for resources since {since}: {len(pending)} trial(s) pending, each needs "
                     f"{_resources_text(need)}; free now: {_resources_text(free)} (other work holds the rest)")


def _waiting_after_s() -> float:
    """After how many seconds pending trials with none running are said to wait for resources."""
    try:
        return max(float(os.environ[WAITING_AFTER_ENV]), 0.0)
    except (KeyError, ValueError):
        return WAITING_AFTER_S


class SilentTuneReporter(ProgressReporter):
    """Tune's own progress report, off (``verbose=0``): radas shows the progress itself. Without
    it, Tune's notebook reporter would clear the cell's output, radas's progress bar included."""

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        """Never."""
        return False

    def report(self, trials: list[Any], done: bool, *sys_info: Any) -> None:
        """Nothing to say."""
