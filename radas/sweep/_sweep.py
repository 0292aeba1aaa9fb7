"""One sweep driven by this process: Tune's ``fit`` on the connected Ray, off the event loop, under
the experiment's lock. The local backend runs sweeps with it, and so does a cluster job's driver.

The driver takes the experiment's lock, archives earlier results (fresh runs only), writes the
secrets file for the trials, runs Tune with a progress callback (the actors Ray starts get the
secrets Ray would put into their runtime_env through that file too: see
:func:`radas._ray.secrets_through`), and — in the thread that runs Tune, whatever happens to the
awaiting coroutine — records how the sweep ended, removes the secrets and releases the lock, in
that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import ray

from radas import _ray
from radas._reporter import ProgressBar, say
from radas.sweep._checkpoints import CheckpointKeeper, protect_from_rotation
from radas.sweep._folder import DriverInfo, ExperimentFolder, make_private_dirs
from radas.sweep._hooks import UsesSweepMetric
from radas.sweep._live import ResultsLog
from radas.sweep._oom import OutOfMemoryRetry
from radas.sweep._progress import FAILED, FINISHED, STOPPED, Progress, ProgressCallback
from radas.sweep._secrets import SecretsFile, read_secrets, remove_secrets, write_secrets
from radas.sweep._spec import SweepSpec
from radas.sweep._tuner import Tuner

_ray_lock = threading.Lock()
# Tune's trainable registry is not thread-safe: concurrent sweeps start one at a time (until
# Tune calls the callbacks' ``setup``), then run side by side.
_startup_lock = threading.Lock()
# sweeps this process drives, by experiment folder: a stop request reaches them directly
_running: dict[str, Sweep] = {}
_quiet = {"count": 0, "level": logging.NOTSET}
# Tune writes results and its state next to the driver first and copies them to the experiment
# folder every 10 s or more ("auto"); a driver killed in between would lose finished trials'
# results from the folder (and restore would run them again). radas's sweeps copy every 2 s
# unless the user set Tune's own TUNE_GLOBAL_CHECKPOINT_S (or RADAS_STATE_SAVE_S).
SAVE_PERIOD_ENV = "TUNE_GLOBAL_CHECKPOINT_S"
DEFAULT_SAVE_PERIOD_S = "2"
_quiet_guard = threading.Lock()


def ensure_ray(address: str | None = None) -> None:
    """Connect this process to Ray unless it already is: to ``address`` (a cluster job's own
    cluster), else start this machine's Ray quietly. Ray's version is checked and radas's
    patches installed first (:func:`radas._ray.install`).

    Call it from the main thread, once per process: it blocks for the seconds Ray takes to start.
    Ray's driver started from another thread sets no SIGTERM handler and, measured with Ray 2.60,
    keeps the process alive for a minute at exit ("Failed to connect to GCS within 60 seconds");
    every later call returns at once, so sweeps under ``asyncio.gather`` share that one start."""
    with _ray_lock:
        _ray.install()
        if ray.is_initialized():
            return
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            # with the dashboard: Ray's State API answers (Ray Train's trials release their workers'
            # placement groups through it when they are stopped)
            ray.init(include_dashboard=True, log_to_driver=False, logging_level=logging.WARNING)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


@contextlib.contextmanager
def _tune_quiet() -> Iterator[None]:
    """Tune's own log output off while radas sweeps run (radas reports progress, waits and
    errors itself); the user's level is back when the last one ends."""
    tune_logger = logging.getLogger("ray.tune")
    with _quiet_guard:
        if _quiet["count"] == 0:
            _quiet["level"] = tune_logger.level
            tune_logger.setLevel(logging.CRITICAL)
        _quiet["count"] += 1
    try:
        yield
    finally:
        with _quiet_guard:
            _quiet["count"] -= 1
            if _quiet["count"] == 0:
                tune_logger.setLevel(_quiet["level"])


def _tell_sweep_metric(callbacks: list[Any] | None, metric: str | None, mode: str | None) -> None:
    """Give the sweep's metric and mode to the callbacks that want them (:class:`UsesSweepMetric`)."""
    for callback in callbacks or []:
        if isinstance(callback, UsesSweepMetric):
            callback.use_sweep_metric(metric, mode)


def request_stop(folder: ExperimentFolder) -> None:
    """Ask the sweep of ``folder`` to stop gracefully: directly when this process drives it,
    else through the folder's stop request (any process, any host sharing the folder)."""
    sweep = _running.get(str(folder.path))
    if sweep is not None:
        sweep.stop_event.set()
    else:
        folder.request_stop()


class Sweep:
    """A sweep this process drives."""

    def __init__(self, spec: SweepSpec, folder: ExperimentFolder, restore: bool, job_id: str = "") -> None:
        self.spec = spec
        self.folder = folder
        self.restore = restore
        self.job_id = job_id
        self.stop_event = threading.Event()
        self.progress = Progress(experiment=spec.experiment_name, total=spec.total_trials,
                                 metric=spec.metric, mode=spec.mode)
        self._secrets = folder.secrets_file(spec.sweep_id)
        self._channel = SecretsFile(self._secrets)  # the actors Ray starts for the sweep load it first
        self._driver_env: list[str] = []  # secrets this driver put into its environment
        self._starting = False
        self._saved_period: str | None = None

    async def run(self, secrets: Mapping[str, str] | None = None) -> bool:
        """Run the sweep until it ends or is stopped (then True). ``secrets``: written for the
        trials now (a cluster job finds them already written by its client); the driver has them
        in its environment while the sweep runs (for driver-side callbacks such as Ray's
        ``WandbLoggerCallback``, whose logging actors load them from the file, as trials do)."""
        self.folder.take_lock(DriverInfo.of_this_process(self.job_id))
        try:
            if not self.restore:
                archived = await asyncio.to_thread(self.folder.archive)
                if archived is not None:
                    say("info", f"earlier results of {self.spec.experiment_name!r} archived to {archived}")
            make_private_dirs(self.folder.path)
            self.folder.clear_stop()
            for stale in self.folder.stale_secrets(keep=self._secrets):
                remove_secrets(stale)
            if secrets:
                write_secrets(self._secrets, secrets)
            if self.spec.has_secrets:
                self._set_driver_env(dict(secrets) if secrets else read_secrets(self._secrets))
            self.progress.write(self.folder.progress_file)
            _running[str(self.folder.path)] = self
            tuner = await asyncio.to_thread(self._tuner)
        except BaseException:
            self._end(FAILED)
            raise
        fit = asyncio.ensure_future(asyncio.to_thread(self._fit, tuner))
        await self._follow(fit)
        return self.stop_event.is_set()

    def _worker_share(self) -> dict[str, float] | None:
        """The CPUs and GPUs of each trial's own process, or, for a trial that starts training
        workers, of each worker (the sweep's resources are those; None when unknown)."""
        given = self.spec.resources
        return {"CPU": float(given.get("cpu", 0.0)), "GPU": float(given.get("gpu", 0.0))} if given else None

    def _tuner(self) -> Tuner:
        callback = ProgressCallback(self.progress, self.folder.progress_file, self.folder.stop_file,
                                    self.stop_event, on_setup=self._started)
        ours: list[Any] = [callback, OutOfMemoryRetry(self.spec.out_of_memory, self._worker_share()),
                           ResultsLog(self.folder.results_file)]
        if self.restore:
            tuner = Tuner.restore(self.folder.path, self.spec.trainable, resume_unfinished=True, resume_errored=True)
            _, keeper = protect_from_rotation(self.spec.run_config, _ray.tune_config_of(tuner).scheduler)
            run_config = _ray.run_config_of(tuner)
            run_config.callbacks = [
                c for c in (run_config.callbacks or [])
                if not isinstance(c, (ProgressCallback, OutOfMemoryRetry, CheckpointKeeper, ResultsLog))
            ] + ours + ([keeper] if keeper else [])
            run_config.callbacks = _ray.with_tensorboard_logger(run_config.callbacks)
            restored = _ray.tune_config_of(tuner)
            _tell_sweep_metric(run_config.callbacks, self.spec.metric or restored.metric,
                               self.spec.mode or restored.mode)
            return tuner
        run_config, keeper = protect_from_rotation(self.spec.run_config, self.spec.tune_config.scheduler)
        run_config = replace(run_config, name=self.spec.experiment_name, storage_path=str(self.folder.user_root),
                             callbacks=_ray.with_tensorboard_logger(
                                 [*(run_config.callbacks or []), *ours, *([keeper] if keeper else [])]))
        _tell_sweep_metric(run_config.callbacks, self.spec.metric, self.spec.mode)
        return Tuner(self.spec.trainable, param_space=self.spec.param_space,
                     tune_config=self.spec.tune_config, run_config=run_config)

    def _fit(self, tuner: Tuner) -> None:
        """``tuner.fit()`` in this worker thread; then record the outcome and let go."""
        state = FAILED
        _startup_lock.acquire()
        self._starting = True
        self._saved_period = os.environ.get(SAVE_PERIOD_ENV)
        if self._saved_period is None:  # Tune reads it once, while it sets the sweep up
            os.environ[SAVE_PERIOD_ENV] = os.environ.get("RADAS_STATE_SAVE_S", DEFAULT_SAVE_PERIOD_S)
        try:
            with _tune_quiet(), _ray.interruptible(self.stop_event), _ray.secrets_through(self._channel):
                tuner.fit()
            state = STOPPED if self.stop_event.is_set() else FINISHED
        finally:
            self._started()
            self._end(state)

    def _started(self) -> None:
        """Tune has set the sweep up: the user's Tune settings back, let the next sweep start."""
        if self._starting:
            self._starting = False
            if self._saved_period is None:
                os.environ.pop(SAVE_PERIOD_ENV, None)
            _startup_lock.release()

    def _set_driver_env(self, secrets: Mapping[str, str]) -> None:
        for name, value in secrets.items():
            if name not in os.environ:
                os.environ[name] = value
                self._driver_env.append(name)

    def _end(self, state: str) -> None:
        """Record how the sweep ended, remove its secrets, let go of the lock - the lock whatever
        happens to the rest."""
        try:
            self.progress.end(state)
            self.progress.write(self.folder.progress_file)
            for name in self._driver_env:
                os.environ.pop(name, None)
            remove_secrets(self._secrets)
        finally:
            _running.pop(str(self.folder.path), None)
            self.folder.lock.release()

    async def _follow(self, fit: asyncio.Future[None]) -> None:
        """Show progress until ``fit`` is done (:func:`follow`); it keeps its lock until then."""
        await follow(fit, self.progress, self.stop_event, self.spec.experiment_name,
                     "is still saving its state in the background and holds its lock until it is done")


async def follow(driver: asyncio.Future[Any], progress: Progress, stop_event: threading.Event, name: str,
                 meanwhile: str) -> Any:
    """Show the progress of the sweep ``driver`` drives until it is done; its result. Cancelled
    (Ctrl-C): ask the sweep to stop gracefully (``stop_event``), wait for it, re-raise. Cancelled
    again: leave it ending in the background, saying what it does ``meanwhile``."""
    line = ProgressBar(name)
    try:
        while not driver.done():
            progress.show(line)
            await asyncio.wait({driver}, timeout=0.5)
        progress.show(line)
        return driver.result()
    except (asyncio.CancelledError, KeyboardInterrupt):
        stop_event.set()
        line.close()
        say("warning", f"interrupted: stopping the sweep {name!r} gracefully; "
            "continue it later with run_choice='restore'")
        try:
            await asyncio.shield(driver)
        except (asyncio.CancelledError, KeyboardInterrupt):
            say("warning", f"interrupted again: the sweep {name!r} {meanwhile}")
        raise
    finally:
        line.close()
