"""Sweep progress: a Tune callback keeps a small state; the reporter shows it as one line."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ray.tune import Callback

PROGRESS_FILE = ".radas-progress.json"
STOP_FILE = ".radas-stop"  # created by another process to ask the running sweep to stop


@dataclass
class Progress:
    """Counts of a sweep's trials and the best result so far."""

    experiment: str
    total: int | None = None
    done: int = 0
    running: int = 0
    pending: int = 0
    errored: int = 0
    metric: str | None = None
    mode: str | None = None
    best: float | None = None

    def line(self) -> str:
        """One human line, e.g. ``lr-sweep: 5/12 done, 2 running, 1 errored, best score=0.93``."""
        seen = self.done + self.running + self.pending + self.errored
        total = self.total if self.total is not None else seen
        parts = [f"{self.experiment}: {self.done}/{max(total, seen)} done"]
        parts.append(f"{self.running} running")
        if self.errored:
            parts.append(f"{self.errored} errored")
        if self.best is not None and self.metric:
            parts.append(f"best {self.metric}={self.best:.4g}")
        return ", ".join(parts)

    def to_json(self) -> str:
        """The state as JSON (written next to the results for other processes to follow)."""
        return json.dumps(asdict(self), default=str)

    @classmethod
    def read(cls, path: Path) -> Progress | None:
        """The state saved at ``path``, or None when there is none (yet)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def _better(value: float, best: float | None, mode: str) -> bool:
    if best is None:
        return True
    return value > best if mode == "max" else value < best


class ProgressCallback(Callback):
    """Keeps :class:`Progress` current from Tune's events; writes it to the experiment folder
    (at most once a second) and checks for a stop request from another process."""

    def __init__(
        self, progress: Progress, experiment_dir: Path, stop_event: threading.Event
    ) -> None:
        self.progress = progress
        self._file = experiment_dir / PROGRESS_FILE
        self._stop_file = experiment_dir / STOP_FILE
        self._stop_event = stop_event
        self._last_write = 0.0

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any) -> None:  # type: ignore[override]
        p = self.progress
        if not (p.metric and p.mode) or p.metric not in result:
            return
        value = result[p.metric]
        if isinstance(value, (int, float)) and not math.isnan(value) and _better(value, p.best, p.mode):
            p.best = float(value)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:  # type: ignore[override]
        self._count(trials)
        now = time.monotonic()
        if now - self._last_write >= 1.0:
            self._last_write = now
            self._write()
            if self._stop_file.exists():
                self._stop_event.set()

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:  # type: ignore[override]
        self._count(trials)
        self._write()

    def _count(self, trials: list[Any]) -> None:
        statuses = [t.status for t in trials]
        p = self.progress
        p.done = statuses.count("TERMINATED")
        p.running = statuses.count("RUNNING")
        p.pending = statuses.count("PENDING") + statuses.count("PAUSED")
        p.errored = statuses.count("ERROR")

    def _write(self) -> None:
        try:
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(self.progress.to_json())
            tmp.replace(self._file)
        except OSError:
            pass

