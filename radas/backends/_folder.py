"""The experiment-folder protocol, shared by local sweeps, cluster jobs and their clients.

Everything about one experiment lives under its user's results folder::

    <results>/
        .radas-storage.json                 a cluster's storage marker (is this the cluster's folder?)
        <user>/
            <experiment>/                   Tune's results, plus
                .radas-progress.json        progress and how the sweep ended (written by its driver)
                .radas-stop                 a stop request from another process
                <trial>/radas-notes.json    values radas recorded about a trial (DataFrame columns)
            .radas-locks/<experiment>.lock  the driver lock, held while a sweep of it runs
            .radas-secrets/<experiment>-<sweep id>.json
                                            secrets for the running sweep's trials (0600)
            .archive/<experiment>-<time>/   earlier results, moved aside by a fresh run

This module is the one owner of these names.

The driver lock is an OS lock (``flock``) on a file outside the experiment folder, so it cannot
go stale: the OS drops it when its process ends, however it ends, and a reused PID means
nothing. It records which driver holds it (host, PID, process start) for messages. Earlier
results are archived only by the lock's holder. Every wait has a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from radas.backends._progress import FAILED, FINISHED, RUNNING, STOPPED, Progress
from radas.errors import ExperimentRunningError, RadasTimeoutError

PROGRESS_FILE = ".radas-progress.json"
STOP_FILE = ".radas-stop"
LOCKS_DIR = ".radas-locks"
SECRETS_DIR = ".radas-secrets"
ARCHIVE_DIR = ".archive"
NOTES_FILE = "radas-notes.json"
STORAGE_MARKER = ".radas-storage.json"
RADAS_FILES = frozenset({PROGRESS_FILE, STOP_FILE, PROGRESS_FILE + ".tmp"})
POLL_S = 0.5

# locks held by this process, by lock-file path: POSIX record locks (which NFS uses for flock)
# do not exclude a second open of the same file by the same process, so this process checks here
_held: dict[str, DriverLock] = {}
_held_guard = threading.Lock()


def _process_start() -> str:
    """When this process started (ISO time), to tell it apart from a later one with its PID."""
    try:
        import psutil

        return datetime.fromtimestamp(psutil.Process().create_time()).isoformat(timespec="seconds")
    except Exception:  # noqa: BLE001 - psutil comes with Ray; without it the lock still works
        return ""


@dataclass(frozen=True)
class DriverInfo:
    """The driver that holds an experiment's lock."""

    host: str
    pid: int
    process_start: str
    since: str
    job_id: str = ""

    def describe(self) -> str:
        """``process 123 on host-a (started 2026-11-27T10:00:00), running it since ...``."""
        where = f"job {self.job_id}, " if self.job_id else ""
        return f"{where}process {self.pid} on {self.host}, running it since {self.since}"

    @classmethod
    def of_this_process(cls, job_id: str = "") -> DriverInfo:
        """This process as a driver, from now."""
        return cls(host=socket.gethostname(), pid=os.getpid(), process_start=_process_start(),
                   since=datetime.now().isoformat(timespec="seconds"), job_id=job_id)


class DriverLock:
    """The exclusive lock of one experiment, held by the process that runs its sweep."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, info: DriverInfo) -> bool:
        """Take the lock without waiting; False when another driver holds it."""
        with _held_guard:
            if str(self.path) in _held:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(asdict(info)).encode())
            os.fsync(fd)
            self._fd = fd
            _held[str(self.path)] = self
            return True

    def release(self) -> None:
        """Let go of the lock (a no-op when not held)."""
        with _held_guard:
            if self._fd is None:
                return
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            _held.pop(str(self.path), None)

    def holder(self) -> DriverInfo | None:
        """Who holds the lock now (None: nobody)."""
        if str(self.path) in _held:
            return _read_info(self.path) or DriverInfo.of_this_process()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return _read_info(self.path) or DriverInfo(host="?", pid=-1, process_start="", since="?")
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def _read_info(path: Path) -> DriverInfo | None:
    try:
        return DriverInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


class ExperimentFolder:
    """One experiment's folder and the files of the protocol around it."""

    def __init__(self, user_root: Path, experiment: str) -> None:
        self.user_root = user_root
        self.name = experiment
        self.path = user_root / experiment
        self.progress_file = self.path / PROGRESS_FILE
        self.stop_file = self.path / STOP_FILE
        self.lock = DriverLock(user_root / LOCKS_DIR / f"{experiment}.lock")

    # ---- what is there ------------------------------------------------------------------
    def secrets_file(self, sweep_id: str) -> Path:
        """Where the secrets of sweep ``sweep_id`` of this experiment are kept."""
        return self.user_root / SECRETS_DIR / f"{self.name}-{sweep_id}.json"

    def stale_secrets(self, keep: Path) -> list[Path]:
        """The secrets files of this experiment's earlier sweeps (all but ``keep``)."""
        prefix = f"{self.name}-"
        return [path for path in (self.user_root / SECRETS_DIR).glob(f"{self.name}-*.json")
                if path != keep and path.name[len(prefix):-len(".json")].isalnum()]

    def has_results(self) -> bool:
        """True when the folder holds anything besides radas's own files."""
        try:
            return any(p.name not in RADAS_FILES for p in self.path.iterdir())
        except OSError:
            return False

    def holder(self) -> DriverInfo | None:
        """The driver running a sweep of this experiment now, if any."""
        return self.lock.holder()

    def progress(self) -> Progress | None:
        """The last progress the driver wrote (None: none yet)."""
        return Progress.read(self.progress_file)

    def died(self) -> bool:
        """True when the last sweep's driver ended without recording how (killed): nobody
        holds the lock, and the progress file still says running."""
        progress = self.progress()
        return progress is not None and progress.state == RUNNING and self.holder() is None

    # ---- the driver's side --------------------------------------------------------------
    def take_lock(self, info: DriverInfo) -> DriverLock:
        """Take the experiment's lock for a new sweep, or say who runs it."""
        if not self.lock.acquire(info):
            holder = self.holder()
            raise ExperimentRunningError(
                f"experiment {self.name!r} is already being run by "
                f"{holder.describe() if holder else 'another driver'}; follow it with "
                "run_choice='attach', stop it with run_choice='stop_attach', or pick another experiment_name"
            )
        return self.lock

    def archive(self) -> Path | None:
        """Move the existing results aside (never delete them); only the lock's holder may.
        Returns the archive folder (None when there was nothing to move)."""
        if not self.lock.held:
            raise RuntimeError("archive() needs the experiment's lock")  # a radas bug, not user input
        if not self.path.exists():
            return None
        if not self.has_results():
            shutil.rmtree(self.path)
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.user_root / ARCHIVE_DIR / f"{self.name}-{stamp}"
        n = 1
        while target.exists():
            n += 1
            target = self.user_root / ARCHIVE_DIR / f"{self.name}-{stamp}-{n}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.path), str(target))
        return target

    # ---- stop requests ------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the running driver (in any process, on any host sharing the folder) to stop."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.stop_file.touch()

    def clear_stop(self) -> None:
        """Forget an earlier stop request (a new sweep starts)."""
        self.stop_file.unlink(missing_ok=True)

    # ---- following ----------------------------------------------------------------------
    async def follow(self, show: Callable[[Progress], None], timeout: float | None = None) -> Progress | None:
        """Show the driver's progress until nobody holds the lock; return the last progress.

        With ``timeout`` (seconds), a sweep still running then is a :class:`RadasTimeoutError`.
        A dead driver releases the lock, so this never waits on one.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while await asyncio.to_thread(self.holder) is not None:
            progress = self.progress()
            if progress is not None:
                show(progress)
            if deadline is not None and time.monotonic() > deadline:
                holder = self.holder()
                raise RadasTimeoutError(
                    f"the sweep of {self.name!r} ({holder.describe() if holder else 'its driver'}) did not "
                    f"stop within {timeout:g} s of the stop request; it may be saving a large state. "
                    "Wait and try again, or end that process (its results so far stay; "
                    "run_choice='restore' continues them)"
                )
            await asyncio.sleep(POLL_S)
        progress = self.progress()
        if progress is not None:
            show(progress)
        return progress

    def ended_badly(self, progress: Progress | None) -> str:
        """Why the last sweep did not end normally ('' when it did, or none ran)."""
        if progress is None or progress.state in (FINISHED, STOPPED):
            return ""
        if progress.state == FAILED:
            return f"the last sweep of {self.name!r} failed in its driver"
        return (f"the driver of the last sweep of {self.name!r} died before the sweep ended "
                "(killed, or its machine went down)")


def final_statuses(experiment_path: Path) -> dict[str, str]:
    """Trial id -> status when the experiment's radas driver finished it (``{}`` otherwise: a
    stopped sweep's saved state is what ``restore`` continues from)."""
    progress = Progress.read(experiment_path / PROGRESS_FILE)
    if progress is None or progress.state != FINISHED:
        return {}
    return dict(progress.statuses)
