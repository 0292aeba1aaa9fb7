"""The experiment-folder protocol, shared by local sweeps, cluster jobs and their clients.

Everything about one experiment lives under its user's results folder::

    <results>/
        .radas-storage.json                 a cluster's storage marker (is this the cluster's folder?)
        <user>/
            <experiment>/                   Tune's results, plus
                .radas-progress.json        progress and how the sweep ended (written by its driver)
                .radas-results.jsonl        every reported result, appended by its driver as it runs
                radas-report.html           the experiment's report page
                radas-figure.png            the figure of the last run_experiment call, for the report
                .radas-stop                 a stop request from another process
                <trial>/radas-notes.json    values radas recorded about a trial (DataFrame columns)
            .radas-locks/<experiment>.lock  the driver lock, held while a sweep of it runs
            .radas-secrets/<experiment>-<sweep id>.json
                                            secrets for the running sweep's trials (0600)
            .archive/<experiment>-<time>/   earlier results, moved aside by a fresh run
            radas-index.html                the index page of the user's experiments and their reports

This module is the one owner of these names.

Every folder below ``<results>`` that radas makes, opens or finds on its way to an experiment (the
user's folder, the experiment, lock, secrets and archive folders) must be the current user's own
and writable by no one else (:func:`check_own_folder`), else an
:class:`~radas.errors.UnsafePathError`: in a shared results folder another user could make
``<results>/<user>`` first, and what radas reads there (Tune's pickled state) could run their code.

The driver lock is an OS lock (``flock``) on a file outside the experiment folder, so it cannot
go stale: the OS drops it when its process ends, however it ends, and a reused PID means
nothing. It records which driver holds it (host, PID, process start) for messages. Earlier
results are archived only by the lock's holder. Every wait has a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import pwd
import shutil
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from radas._names import check_name
from radas._reporter import say
from radas.errors import (
    ExperimentRunningError,
    LockUnsupportedError,
    RadasError,
    RadasTimeoutError,
    RadasValueError,
    UnsafePathError,
)
from radas.sweep._progress import FAILED, FINISHED, STOPPED, Progress

PROGRESS_FILE = ".radas-progress.json"
RESULTS_FILE = ".radas-results.jsonl"
REPORT_FILE = "radas-report.html"
FIGURE_FILE = "radas-figure.png"
INDEX_FILE = "radas-index.html"
STOP_FILE = ".radas-stop"
LOCKS_DIR = ".radas-locks"
SECRETS_DIR = ".radas-secrets"
ARCHIVE_DIR = ".archive"
NOTES_FILE = "radas-notes.json"
# in a trial's folder: sample completions (radas.sweep._samples), a few steps, and the last logged step's
SAMPLES_FILE = "radas-samples.jsonl"
LAST_SAMPLES_FILE = "radas-samples-last.json"
STORAGE_MARKER = ".radas-storage.json"
POLL_S = 0.5
# how often a driver refreshes the heartbeat in its lock file, and how long a starting driver waits
# out a process that only looks at the lock
HEARTBEAT_S = 10.0
ACQUIRE_WAIT_S = 2.0

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
    heartbeat: float = 0.0  # when its holder last said it is alive (time.time())

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
    """The exclusive lock of one experiment, held by the process that runs its sweep.

    An OS lock (``flock``) on a file of the shared folder, plus a heartbeat its holder writes
    into that file every :data:`HEARTBEAT_S` seconds: on a filesystem whose locks are local to
    each node (NFS mounted with ``local_lock=flock``, BeeGFS without global file locks) the OS
    lock does not exclude a driver on another host, but its fresh heartbeat does. A filesystem
    that cannot lock at all is a :class:`~radas.errors.LockUnsupportedError` saying so.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._info: DriverInfo | None = None
        self._beating = threading.Event()

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, info: DriverInfo) -> bool:
        """Take the lock (waiting at most :data:`ACQUIRE_WAIT_S` for a process that only looks
        at it); False when another driver holds it."""
        deadline = time.monotonic() + ACQUIRE_WAIT_S
        while True:
            with _held_guard:
                if str(self.path) in _held:
                    return False
                fd = _open_lock_file(self.path)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno not in _HELD_ERRNOS:
                        raise _cannot_lock(self.path, exc) from None
                else:
                    other = _fresh_other(_read_fd(fd))
                    if other is None:
                        self._take(fd, info)
                        return True
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    raise LockUnsupportedError(
                        f"{other.describe()} drives this experiment (its heartbeat in {self.path} is "
                        f"{time.time() - other.heartbeat:.0f} s old) although this process got the OS lock: the "
                        f"filesystem of {self.path.parent} keeps locks local to each node (NFS mounted with "
                        "local_lock=flock or local_lock=all, BeeGFS without tuneUseGlobalFileLocks). Mount it "
                        "with shared locks (NFS: local_lock=none, lockd running) so radas can tell drivers apart. "
                        f"If that driver is gone (killed, or its machine went down), its heartbeat expires within "
                        f"{3 * HEARTBEAT_S:g} s: try again then")
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _take(self, fd: int, info: DriverInfo) -> None:
        self._fd, self._info = fd, info
        self._write()
        _held[str(self.path)] = self
        self._beating.clear()
        threading.Thread(target=self._beat, name=f"radas-lock-{self.path.name}", daemon=True).start()

    def _write(self) -> None:
        if self._fd is None or self._info is None:
            return
        data = json.dumps({**asdict(self._info), "heartbeat": time.time()}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def _beat(self) -> None:
        while not self._beating.wait(HEARTBEAT_S):
            with _held_guard, contextlib.suppress(OSError):
                self._write()

    def release(self) -> None:
        """Let go of the lock (a no-op when not held)."""
        with _held_guard:
            if self._fd is None:
                return
            self._beating.set()
            try:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, 0)
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
                _held.pop(str(self.path), None)

    def holder(self) -> DriverInfo | None:
        """Who holds the lock now (None: nobody). Looks without taking it for more than an
        instant (a shared lock, which a starting driver waits out)."""
        if str(self.path) in _held:
            return self._info or DriverInfo.of_this_process()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except PermissionError:
            raise  # another user's lock folder: not a filesystem that cannot lock
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _planted(self.path) from None
            raise _cannot_lock(self.path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in _HELD_ERRNOS:
                    raise _cannot_lock(self.path, exc) from None
                return _read_fd(fd) or DriverInfo(host="?", pid=-1, process_start="", since="?")
            fcntl.flock(fd, fcntl.LOCK_UN)
            return _fresh_other(_read_fd(fd))
        finally:
            os.close(fd)


# errno of a lock another process holds; every other errno means the filesystem cannot lock
_HELD_ERRNOS = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES})


def _open_lock_file(path: Path) -> int:
    """The lock file, opened without following a link someone planted there."""
    make_private_dirs(path.parent)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _planted(path) from None
        raise


def _planted(path: Path) -> UnsafePathError:
    return UnsafePathError(
        f"{path} is a symbolic link (to {os.readlink(path)!r}): radas does not follow links in the results "
        "folder, where anyone with write access could plant them; remove it")


def _cannot_lock(path: Path, exc: OSError) -> LockUnsupportedError:
    return LockUnsupportedError(
        f"the filesystem of {path.parent} cannot lock files ({errno.errorcode.get(exc.errno or 0, exc.errno)}: "
        f"{exc.strerror}), so radas cannot make sure only one driver runs a sweep. Use a results folder on a "
        "filesystem with locks: a local disk, or NFS with lockd running (not mounted with nolock), "
        "Lustre with -o flock, CephFS, BeeGFS with tuneUseGlobalFileLocks")


def _read_fd(fd: int) -> DriverInfo | None:
    try:
        data = json.loads(os.pread(fd, 65536, 0) or b"null")
        return DriverInfo(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def _fresh_other(info: DriverInfo | None) -> DriverInfo | None:
    """``info`` when it may be another live driver's: on this host, its process still runs; on
    another host (which this one cannot look into), its heartbeat is younger than three beats."""
    if info is None or not info.heartbeat or time.time() - info.heartbeat > 3 * HEARTBEAT_S:
        return None
    if info.host == socket.gethostname():
        return info if info.pid != os.getpid() and _runs_here(info) else None
    return info


def _runs_here(info: DriverInfo) -> bool:
    """True when the process ``info`` names still runs on this host (the same process: its PID
    and start time)."""
    try:
        import psutil

        started = datetime.fromtimestamp(psutil.Process(info.pid).create_time()).isoformat(timespec="seconds")
    except Exception:  # noqa: BLE001 - no such process (or no psutil): it does not run
        return False
    return not info.process_start or started == info.process_start


def index_file(user_root: Path) -> Path:
    """The index page of a user's experiments."""
    return user_root / INDEX_FILE


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _owner(uid: int) -> str:
    """``alice (uid 1001)``, or ``uid 1001`` when the system has no name for it."""
    name = _owner_name(uid)
    return f"uid {uid}" if name == str(uid) else f"{name} (uid {uid})"


def check_own_folder(path: Path, info: os.stat_result | None = None) -> None:
    """Fail unless the folder ``path`` (``info``: its ``lstat``, when already known) is a real
    folder of the current user that no one else can write to: an
    :class:`~radas.errors.UnsafePathError` naming it, its owner and what to do.

    Radas reads what is in such a folder (Tune's saved state is unpickled), so a folder that
    another user made or can write into could run their code in this process; it is never used."""
    info = os.lstat(path) if info is None else info
    if stat.S_ISLNK(info.st_mode):
        raise _planted(path)
    if info.st_uid != os.getuid():
        raise UnsafePathError(
            f"{path} belongs to {_owner(info.st_uid)}, not to you ({_owner(os.getuid())}): radas uses only "
            "folders of your own in the results folder, since whoever owns one decides what is in it (Tune's "
            "saved state there is unpickled: it could run their code as you). Ask its owner or an "
            f"administrator to remove it (or to give it to you: chown {_owner_name(os.getuid())} {path}), then "
            "run again; or use another user_name or results folder")
    writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable:
        who = {stat.S_IWGRP: "its group", stat.S_IWOTH: "every user"}.get(writable, "its group and every user")
        raise UnsafePathError(
            f"{path} (yours, mode {stat.S_IMODE(info.st_mode):04o}) can be written by {who}: whoever can "
            "write there can put files radas reads (Tune's saved state is unpickled: it could run their code "
            f"as you). If everything in it is yours, make it yours only: chmod go-w {path} (radas makes its "
            "folders 0700); else move it aside and run again")


# results folders already warned about in this process (once each)
_warned_open: set[str] = set()


def check_results_folder(results: Path) -> None:
    """Warn (once per process) when the shared results folder can be written by every user but
    has no sticky bit: anyone could then rename a user's folder away and put their own in its
    place (radas refuses that one, but the results are out of reach)."""
    try:
        info = os.stat(results)
    except OSError:
        return
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX and str(results) not in _warned_open:
        _warned_open.add(str(results))
        say("warning", f"the results folder {results} can be written by every user and has no sticky bit (mode "
                       f"{stat.S_IMODE(info.st_mode):04o}): anyone can rename or remove the users' folders in it. "
                       f"Make it sticky, as /tmp is: chmod +t {results}")


def experiment_names(user_root: Path, *, own: bool = True) -> list[str]:
    """The user's experiments: the folders of ``user_root`` that are not radas's own (sorted).

    Only real folders whose names radas could have made (:func:`~radas._names.check_name`): a
    link, or a name such as ``javascript:alert(1)`` that no experiment can have, is skipped with a
    warning, so it reaches no page and no path. ``user_root`` itself as a link is an
    :class:`~radas.errors.UnsafePathError` (pages would be written where it points).

    With ``own`` (the default: this user's folder, which radas writes pages into and reads results
    from), ``user_root`` must be the current user's own folder (:func:`check_own_folder`) and an
    experiment folder that is not is skipped with a warning; ``own=False`` only lists another
    user's folder (or the results folder's user folders). A folder this user cannot read is a
    :class:`~radas.errors.RadasError` naming it."""
    if user_root.is_symlink():
        raise _planted(user_root)
    names = []
    try:
        if own:
            check_results_folder(user_root.parent)
            check_own_folder(user_root)
        with os.scandir(user_root) as entries:
            found = list(entries)
    except FileNotFoundError:
        return []
    except UnsafePathError:
        raise
    except PermissionError as exc:
        try:
            whose = f"; it belongs to {_owner(os.lstat(user_root).st_uid)}"
        except OSError:
            whose = ""
        raise RadasError(f"the folder {user_root} is not readable by you ({exc.strerror}{whose})") from exc
    for entry in found:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            if entry.is_dir():
                say("warning", f"{entry.path} is a symbolic link (to {os.readlink(entry.path)!r}), not an "
                               "experiment folder: skipped (radas does not follow links in the results folder; "
                               "remove it, or move what it points to there)")
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            check_name("experiment_name", entry.name)
        except RadasValueError:
            say("warning", f"the folder {entry.path!r} is not an experiment (its name {entry.name!r} cannot be an "
                           "experiment_name): skipped; rename or remove it")
            continue
        if own:
            try:
                check_own_folder(Path(entry.path), entry.stat(follow_symlinks=False))
            except UnsafePathError as exc:
                say("warning", f"{exc}. Skipped")
                continue
        names.append(entry.name)
    return sorted(names)


def make_private_dirs(path: Path, top: Path | None = None) -> None:
    """Create ``path`` and the folders between ``top`` and it, each readable by its owner only
    (0700, whatever the umask), none of them (created or found) a symbolic link: a link on the way
    is an :class:`~radas.errors.UnsafePathError` naming it. A folder that exists must be the
    current user's own, writable by no one else (:func:`check_own_folder`): another user who made
    ``<results>/<user>`` first cannot have this user's sweeps read or write there.

    ``top`` is the shared folder the path is in (the results folder; default: the grandparent of
    ``path``, the results folder of ``<results>/<user>/<folder>``, where radas makes its folders).
    It is trusted as it is (it may be a link; a warning says when every user can write to it
    without a sticky bit) and, when missing, created as the umask says: other users make their own
    folders in it. Each folder below it is opened relative to the one above, without following a
    link, so a link planted meanwhile is caught too, and checked as opened.
    """
    top = path.parent.parent if top is None else top
    parts = path.relative_to(top).parts
    top.mkdir(parents=True, exist_ok=True)
    check_results_folder(top)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        current = top
        for part in parts:
            current = current / part
            try:
                os.mkdir(part, 0o700, dir_fd=fd)
                created = True
            except FileExistsError:
                created = False
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if current.is_symlink():
                    raise _planted(current) from None
                if not created and isinstance(exc, PermissionError):
                    check_own_folder(current)  # another user's folder this user cannot open: say whose
                raise
            os.close(fd)
            fd = inner
            if created:
                os.fchmod(inner, 0o700)
            else:
                check_own_folder(current, os.fstat(inner))
    finally:
        os.close(fd)


class ExperimentFolder:
    """One experiment's folder and the files of the protocol around it."""

    def __init__(self, user_root: Path, experiment: str) -> None:
        self.user_root = user_root
        self.name = experiment
        self.path = user_root / experiment
        self.progress_file = self.path / PROGRESS_FILE
        self.results_file = self.path / RESULTS_FILE
        self.report_file = self.path / REPORT_FILE
        self.figure_file = self.path / FIGURE_FILE
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

    def check_owned(self) -> None:
        """Fail unless every folder of this experiment that exists (the user's folder, the
        experiment folder, its lock, secrets and archive folders) is the current user's own and
        writable by no one else (:func:`check_own_folder`): before anything in them is read.
        Warns when the results folder can be written by every user without a sticky bit."""
        check_results_folder(self.user_root.parent)
        for path in (self.user_root, self.path, self.user_root / LOCKS_DIR, self.user_root / SECRETS_DIR,
                     self.user_root / ARCHIVE_DIR):
            try:
                info = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            check_own_folder(path, info)

    def has_results(self) -> bool:
        """True when the folder holds anything besides radas's own files (False when there is
        no folder). A folder that cannot be listed is an error, never "empty"; so is one that is
        not the user's own (:meth:`check_owned`: looked at before the results are read)."""
        self.check_owned()
        try:
            return any(not _radas_file(p.name) for p in self.path.iterdir())
        except FileNotFoundError:
            return False

    def holder(self) -> DriverInfo | None:
        """The driver running a sweep of this experiment now, if any."""
        return self.lock.holder()

    def progress(self) -> Progress | None:
        """The last progress the driver wrote (None: none yet)."""
        return Progress.read(self.progress_file)

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
        if not self.has_results():  # only radas's own files: remove them, never a whole tree
            for name in os.listdir(self.path):
                if _radas_file(name):
                    (self.path / name).unlink(missing_ok=True)
            try:
                self.path.rmdir()
                return None
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise  # something appeared meanwhile: it is moved aside below
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.user_root / ARCHIVE_DIR / f"{self.name}-{stamp}"
        n = 1
        while target.exists():
            n += 1
            target = self.user_root / ARCHIVE_DIR / f"{self.name}-{stamp}-{n}"
        make_private_dirs(target.parent)
        shutil.move(str(self.path), str(target))
        return target

    # ---- stop requests ------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the running driver (in any process, on any host sharing the folder) to stop."""
        make_private_dirs(self.path)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.stop_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))

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


_OWN_FILES = (PROGRESS_FILE, STOP_FILE, RESULTS_FILE, REPORT_FILE, FIGURE_FILE)


def _radas_file(name: str) -> bool:
    """A file radas itself writes into an experiment folder (progress, stop request, results log,
    report, their temps)."""
    return name in _OWN_FILES or name == f"{PROGRESS_FILE}.tmp" or (
        name.endswith(".tmp") and any(name.startswith(f".{own}.") for own in _OWN_FILES))


def final_statuses(experiment_path: Path) -> dict[str, str]:
    """Trial id -> status when the experiment's radas driver finished it (``{}`` otherwise: a
    stopped sweep's saved state is what ``restore`` continues from)."""
    progress = Progress.read(experiment_path / PROGRESS_FILE)
    if progress is None or progress.state != FINISHED:
        return {}
    return dict(progress.statuses)
