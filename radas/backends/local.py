"""Sweeps on this machine's Ray, with Tune's ``fit`` off the event loop.

A sweep leaves two small files in its experiment folder while it runs: the driver lock
(which process runs it) and the progress state. Another process can follow it (``attach``)
or ask it to stop (``stop``: a stop-request file the running driver checks every second).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import ray

from radas._oom import OutOfMemoryRetry
from radas._progress import PROGRESS_FILE, STOP_FILE, Progress, ProgressCallback
from radas._reporter import LiveLine, say
from radas.backends._base import ExperimentState, SweepSpec
from radas.backends._interrupt import interruptible
from radas.core import get_ray_results_dir, radas_env
from radas.tuner import Tuner

LOCK_FILE = ".radas-driver.json"
ARCHIVE_DIR = ".archive"
_ray_lock = threading.Lock()
# Tune's trainable registry is not thread-safe: concurrent sweeps start one at a time (until
# Tune calls the callbacks' ``setup``), then run side by side.
_startup_lock = threading.Lock()


def ensure_ray() -> None:
    """Start local Ray quietly unless this process is already connected to one."""
    with _ray_lock:
        if ray.is_initialized():
            return
        ray.init(
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            runtime_env={"env_vars": radas_env()},
        )
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # radas reports progress and trial errors itself (see radas._progress, radas.experiment)
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        lock = json.loads((path / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return None
    if lock.get("host") != socket.gethostname() or not _pid_alive(int(lock.get("pid", -1))):
        return None
    if lock["pid"] == os.getpid() and str(path) not in _live:
        return None
    return lock


class _Live:
    """The state shared between a running fit thread and its awaiting coroutine."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.stop_event = threading.Event()
        self._starting = False

    def fit(self, tuner: Tuner) -> None:
        """``tuner.fit()`` in this (worker) thread, stoppable through ``stop_event``."""
        _startup_lock.acquire()
        self._starting = True
        try:
            with interruptible(self.stop_event):
                tuner.fit()
        finally:
            self.started()

    def started(self) -> None:
        """Tune has set the sweep up: let the next sweep start."""
        if self._starting:
            self._starting = False
            _startup_lock.release()


_live: dict[str, _Live] = {}


class _LiveProgressCallback(ProgressCallback):
    """A :class:`ProgressCallback` that finds its live state by experiment folder, so Tune
    can pickle it with the experiment (and find it again on restore)."""

    def __init__(self, experiment_dir: Path) -> None:
        self._dir = str(experiment_dir)
        self._bind()

    def _bind(self) -> None:
        self._live = _live.get(self._dir) or _Live(Progress(experiment=Path(self._dir).name))
        super().__init__(self._live.progress, Path(self._dir), self._live.stop_event)

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:  # type: ignore[override]
        if total_num_samples and total_num_samples > 0:
            self.progress.total = total_num_samples
        self._live.started()

    def __getstate__(self) -> dict[str, Any]:
        return {"_dir": self._dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._dir = state["_dir"]
        self._bind()


class LocalBackend:
    """Runs sweeps on the Ray of this machine (started on demand)."""

    target = "local"

    def experiment_path(self, spec: SweepSpec) -> Path:
        """``<results dir>/<user>/<experiment>``."""
        return Path(get_ray_results_dir(spec.user_name)) / spec.experiment_name

    async def locate(self, spec: SweepSpec) -> ExperimentState:
        """Results exist when the folder has Tune's state; running when its driver lives."""
        path = self.experiment_path(spec)
        lock = _read_lock(path)
        detail = f"process {lock['pid']} since {lock['started']}" if lock else ""
        return ExperimentState(
            path=path,
            exists=path.is_dir() and any(p.name not in (LOCK_FILE, PROGRESS_FILE, STOP_FILE) for p in path.iterdir()),
            restorable=Tuner.can_restore(str(path)),
            running=lock is not None,
            running_detail=detail,
        )

    async def run(self, spec: SweepSpec, restore: bool) -> bool:
        """Run the sweep in a worker thread, showing progress, until it ends or is stopped
        (then return True)."""
        path = self.experiment_path(spec)
        if not restore:
            _archive(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / STOP_FILE).unlink(missing_ok=True)
        live = _Live(Progress(experiment=spec.experiment_name, total=spec.total_trials,
                              metric=spec.metric, mode=spec.mode))
        _live[str(path)] = live
        (path / LOCK_FILE).write_text(json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": datetime.now().isoformat(timespec="seconds")}
        ))
        try:
            ensure_ray()  # once per process; Ray's signal handlers need the main thread
            tuner = self._tuner(spec, path, restore)
            fit = asyncio.ensure_future(asyncio.to_thread(live.fit, tuner))
            await _follow(fit, lambda: live.progress, live.stop_event, spec)
            return live.stop_event.is_set()
        finally:
            _live.pop(str(path), None)
            (path / LOCK_FILE).unlink(missing_ok=True)
            (path / STOP_FILE).unlink(missing_ok=True)

    def _tuner(self, spec: SweepSpec, path: Path, restore: bool) -> Tuner:
        callback = _LiveProgressCallback(path)
        if restore:
            tuner = Tuner.restore(path, spec.trainable, resume_unfinished=True, resume_errored=True)
            run_config = tuner._local_tuner.get_run_config()
            run_config.callbacks = [
                c for c in (run_config.callbacks or []) if not isinstance(c, (ProgressCallback, OutOfMemoryRetry))
            ] + [callback, OutOfMemoryRetry()]
            return tuner
        run_config = replace(
            spec.run_config,
            name=spec.experiment_name,
            storage_path=str(path.parent),
            callbacks=[*(spec.run_config.callbacks or []), callback, OutOfMemoryRetry()],
        )
        return Tuner(spec.trainable, param_space=spec.param_space,
                     tune_config=spec.tune_config, run_config=run_config)

    async def attach(self, spec: SweepSpec) -> None:
        """Follow a sweep run by another process (or this one) until its driver is done."""
        path = self.experiment_path(spec)
        line = LiveLine()
        try:
            while _read_lock(path) is not None:
                progress = Progress.read(path / PROGRESS_FILE)
                if progress is not None:
                    line.update(progress.line())
                await asyncio.sleep(0.5)
        finally:
            line.close()

    async def stop(self, spec: SweepSpec) -> None:
        """Ask the running sweep to stop (state saved) and wait until its driver is done."""
        path = self.experiment_path(spec)
        live = _live.get(str(path))
        if live is not None:
            live.stop_event.set()
        else:
            (path / STOP_FILE).touch()
        say("info", f"asked the running sweep of {spec.experiment_name!r} to stop; waiting for it")
        await self.attach(spec)


async def _follow(fit: asyncio.Future[None], progress: Any, stop_event: threading.Event, spec: SweepSpec) -> None:
    """Show progress until ``fit`` is done. If the caller is cancelled (Ctrl-C), stop the sweep
    gracefully, wait for Tune to save its state, and re-raise."""
    line = LiveLine()
    try:
        while not fit.done():
            line.update(progress().line())
            await asyncio.wait({fit}, timeout=0.5)
        line.update(progress().line())
        fit.result()
    except (asyncio.CancelledError, KeyboardInterrupt):
        stop_event.set()
        line.close()
        say("warning", f"interrupted: stopping the sweep {spec.experiment_name!r} gracefully; "
            "continue it later with run_choice='restore'")
        await asyncio.shield(fit)
        raise
    finally:
        line.close()


def _archive(path: Path) -> None:
    """Move an existing experiment folder aside (never delete it) and say where."""
    if not path.exists():
        return
    if not any(path.iterdir()):
        path.rmdir()
        return
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.parent / ARCHIVE_DIR / f"{path.name}-{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = path.parent / ARCHIVE_DIR / f"{path.name}-{stamp}-{n}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    say("info", f"earlier results of {path.name!r} archived to {target}")
