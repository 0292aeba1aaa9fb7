"""The experiment-folder protocol: an exclusive lock that cannot go stale, archive only under it,
every wait bounded."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from ray import tune
from two_users import MALLORY, as_user, needs_root, shared_results

import radas
from radas.sweep._folder import DriverInfo, ExperimentFolder

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from radas.sweep._folder import DriverInfo, ExperimentFolder

    folder = ExperimentFolder(Path(sys.argv[1]), sys.argv[2])
    folder.take_lock(DriverInfo.of_this_process())
    print("locked", flush=True)
    time.sleep(600)
""")


def _holder_process(root: Path, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), name], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_the_lock_is_exclusive_across_processes_and_released_when_its_holder_dies(tmp_path):
    folder = ExperimentFolder(tmp_path, "exp")
    proc = _holder_process(tmp_path, "exp")
    try:
        holder = folder.holder()
        assert holder is not None and holder.pid == proc.pid and holder.process_start
        with pytest.raises(radas.ExperimentRunningError, match=f"process {proc.pid}"):
            folder.take_lock(DriverInfo.of_this_process())
    finally:
        proc.kill()
        proc.wait()
    assert folder.holder() is None  # the OS dropped the lock with the process: never stale
    folder.take_lock(DriverInfo.of_this_process())
    with pytest.raises(radas.ExperimentRunningError):  # and in one process, a second take fails too
        ExperimentFolder(tmp_path, "exp").take_lock(DriverInfo.of_this_process())
    folder.lock.release()


def test_a_lock_file_naming_a_live_pid_is_not_a_running_sweep(tmp_path):
    """A PID file left by a dead driver whose PID now belongs to another process (here: this
    one) must not look like a running sweep."""
    folder = ExperimentFolder(tmp_path, "exp")
    folder.lock.path.parent.mkdir(parents=True)
    folder.lock.path.write_text(json.dumps({"host": os.uname().nodename, "pid": os.getppid(),
                                            "process_start": "", "since": "yesterday"}))
    assert folder.holder() is None


def test_archive_needs_the_lock_and_moves_results_aside(tmp_path):
    folder = ExperimentFolder(tmp_path, "exp")
    folder.path.mkdir()
    (folder.path / "result.json").write_text("{}")
    with pytest.raises(RuntimeError):
        folder.archive()
    folder.take_lock(DriverInfo.of_this_process())
    target = folder.archive()
    folder.lock.release()
    assert target is not None and (target / "result.json").exists() and not folder.path.exists()


async def test_following_a_sweep_that_does_not_stop_is_bounded(tmp_path):
    proc = _holder_process(tmp_path, "stuck")
    try:
        with pytest.raises(radas.RadasTimeoutError, match="did not stop within 1 s"):
            await ExperimentFolder(tmp_path, "stuck").follow(lambda progress: None, timeout=1)
    finally:
        proc.kill()
        proc.wait()


def slow(config):
    for step in range(config["steps"]):
        time.sleep(0.2)
        tune.report({"score": step})


async def test_a_second_interrupt_leaves_the_lock_with_the_sweep_until_it_has_saved(local_ray, capsys):
    name = f"twice-{uuid.uuid4().hex[:6]}"
    folder = ExperimentFolder(Path(radas.get_ray_results_dir("tester")), name)
    task = asyncio.ensure_future(radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=slow,
        param_space={"a": tune.grid_search([1, 2]), "steps": 20}))
    deadline = time.monotonic() + 120  # trials starting on a busy machine
    while (progress := folder.progress()) is None or not progress.running:
        assert not task.done() and time.monotonic() < deadline, "the sweep never ran a trial"
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # impatient: Ctrl-C again while the sweep saves its state
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "still saving its state in the background" in capsys.readouterr().out
    deadline = time.monotonic() + 120  # the sweep's thread lets go once Tune has saved and stopped
    while folder.holder() is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert folder.holder() is None and folder.progress().state == "stopped"
    done = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=slow,
                                      param_space={"a": tune.grid_search([1, 2]), "steps": 5}, run_choice="restore")
    assert len(done["df"]) == 2


# ---- faults of real shared filesystems -------------------------------------------------------
def _with_results(tmp_path: Path, name: str) -> ExperimentFolder:
    folder = ExperimentFolder(tmp_path, name)
    (folder.path / "trial_0").mkdir(parents=True)
    (folder.path / "trial_0" / "result.json").write_text("{}")
    (folder.path / ".radas-progress.json").write_text("{}")
    return folder


def test_a_listing_that_fails_during_archive_raises_and_deletes_nothing(tmp_path, monkeypatch):
    """A stale NFS handle (ESTALE) while listing: an error, never "empty" (which once meant
    "only radas files": remove it all)."""
    import errno

    folder = _with_results(tmp_path, "stale")
    folder.take_lock(DriverInfo.of_this_process())
    real_iterdir = Path.iterdir

    def stale(self):
        if self == folder.path:
            raise OSError(errno.ESTALE, "Stale file handle", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", stale)
    try:
        with pytest.raises(OSError, match="Stale file handle"):
            folder.archive()
    finally:
        monkeypatch.undo()
        folder.lock.release()
    assert (folder.path / "trial_0" / "result.json").exists()


def test_archive_removes_only_radas_files_and_moves_everything_else(tmp_path):
    only_ours = ExperimentFolder(tmp_path, "ours")
    only_ours.path.mkdir()
    for name in (".radas-progress.json", ".radas-stop", "..radas-progress.json.1-ab.tmp"):
        (only_ours.path / name).write_text("x")
    only_ours.take_lock(DriverInfo.of_this_process())
    assert only_ours.archive() is None and not only_ours.path.exists()
    only_ours.lock.release()
    theirs = _with_results(tmp_path, "theirs")
    theirs.take_lock(DriverInfo.of_this_process())
    archived = theirs.archive()
    theirs.lock.release()
    assert archived is not None and (archived / "trial_0" / "result.json").exists()


def test_a_filesystem_that_cannot_lock_is_named_not_taken_for_a_running_sweep(tmp_path, monkeypatch):
    """NFS without lockd answers flock with ENOLCK: radas says which setting is needed instead of
    "held by process -1" and a 300 s wait."""
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    folder = ExperimentFolder(tmp_path, "nolock")
    for attempt in (lambda: folder.take_lock(DriverInfo.of_this_process()), folder.holder):
        with pytest.raises(radas.LockUnsupportedError, match="cannot lock files .*ENOLCK.*lockd") as info:
            attempt()
        assert isinstance(info.value, OSError)


def test_a_process_that_only_looks_at_the_lock_does_not_make_a_starting_driver_fail(tmp_path, monkeypatch):
    """``attach`` / ``locate`` from another process look with a shared lock for an instant: a
    driver starting at that instant waits it out instead of saying the sweep is already run."""
    from radas.sweep import _folder

    monkeypatch.setattr(_folder, "ACQUIRE_WAIT_S", 60.0)  # the look's 0.8 s may take longer on a busy machine
    looker = textwrap.dedent("""
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        print("looking", flush=True)
        time.sleep(0.8)
    """)
    folder = ExperimentFolder(tmp_path, "looked-at")
    folder.lock.path.parent.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", looker, str(folder.lock.path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "looking"
    folder.take_lock(DriverInfo.of_this_process())
    folder.lock.release()
    proc.wait()


def test_another_hosts_fresh_heartbeat_counts_even_when_the_os_lock_is_free(tmp_path):
    """On a filesystem whose locks are local to each node, another host's driver holds the OS lock
    only there; its heartbeat in the lock file still says it runs."""
    from radas.sweep import _folder

    folder = ExperimentFolder(tmp_path, "two-hosts")
    folder.lock.path.parent.mkdir(parents=True)
    other = {"host": "gpu-node-7", "pid": 4242, "process_start": "", "since": "now", "heartbeat": time.time()}
    folder.lock.path.write_text(json.dumps(other))
    assert folder.holder() is not None and folder.holder().host == "gpu-node-7"
    with pytest.raises(radas.LockUnsupportedError, match="local_lock=flock.*local_lock=none"):
        folder.take_lock(DriverInfo.of_this_process())
    folder.lock.path.write_text(json.dumps({**other, "heartbeat": time.time() - 4 * _folder.HEARTBEAT_S}))
    folder.take_lock(DriverInfo.of_this_process())  # an old heartbeat: that driver is gone
    assert json.loads(folder.lock.path.read_text())["host"] != "gpu-node-7"
    folder.lock.release()


def test_links_planted_in_the_shared_folder_are_not_followed(tmp_path):
    """A symlink at the lock file, the progress file or the secrets folder: radas refuses (or
    replaces the link), and the file it points to is never written or truncated."""
    from radas.sweep._progress import Progress
    from radas.sweep._secrets import write_secrets

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = ExperimentFolder(tmp_path / "results", "planted")
    folder.lock.path.parent.mkdir(parents=True)
    folder.lock.path.symlink_to(victim)
    with pytest.raises(radas.UnsafePathError, match="symbolic link"):
        folder.take_lock(DriverInfo.of_this_process())
    folder.lock.path.unlink()
    folder.path.mkdir(parents=True)
    folder.progress_file.symlink_to(victim)
    Progress(experiment="planted").write(folder.progress_file)  # the link is replaced, not followed
    assert not folder.progress_file.is_symlink() and victim.read_text() == "precious"
    secrets_dir = folder.secrets_file("abc").parent
    secrets_dir.symlink_to(tmp_path)
    with pytest.raises(radas.UnsafePathError, match="symbolic link"):
        write_secrets(folder.secrets_file("abc"), {"KEY": "k"})
    assert victim.read_text() == "precious" and not (tmp_path / "planted-abc.json").exists()


def test_folders_radas_creates_are_private(tmp_path):
    folder = ExperimentFolder(tmp_path / "results" / "alice", "private")
    folder.take_lock(DriverInfo.of_this_process())
    folder.lock.release()
    folder.request_stop()
    for path in (folder.lock.path.parent, folder.path):
        assert path.stat().st_mode & 0o777 == 0o700


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the usual umask: what Python's mkdir(parents=True) gives the parents
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_every_folder_radas_creates_in_the_shared_folder_is_private(tmp_path, umask_022):
    """The user's folder too (made as a parent of the lock folder or of the secrets folder), the
    experiment, lock, archive and secrets folders: 0700, with a umask that would give 0755."""
    from radas.sweep._secrets import write_secrets

    results = tmp_path / "results"
    folder = ExperimentFolder(results / "alice", "private")
    folder.take_lock(DriverInfo.of_this_process())
    try:
        folder.request_stop()
        (folder.path / "result.json").write_text("{}")
        archived = folder.archive()
    finally:
        folder.lock.release()
    assert archived is not None and archived.parent.name == ".archive"
    bob = ExperimentFolder(results / "bob", "first")  # a cluster client writes secrets before any lock
    write_secrets(bob.secrets_file("abc"), {"KEY": "k"})
    made = [results / "alice", folder.lock.path.parent, archived.parent, archived, results / "bob",
            bob.secrets_file("abc").parent]
    assert {str(path.relative_to(results)): _mode(path) for path in made} == {
        str(path.relative_to(results)): 0o700 for path in made}
    assert _mode(results) == 0o755  # the results folder itself is shared: other users make their folders in it


def test_a_link_planted_at_the_users_folder_is_never_followed(tmp_path):
    """``<results>/<user>`` as a link to another folder: the lock, the stop request, the experiment
    folder and the secrets are refused, naming the link; nothing lands where it points."""
    from radas.sweep import make_private_dirs
    from radas.sweep._secrets import write_secrets

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    results = tmp_path / "results"
    results.mkdir()
    (results / "alice").symlink_to(elsewhere)
    folder = ExperimentFolder(results / "alice", "exp")
    attempts = {
        "lock": lambda: folder.take_lock(DriverInfo.of_this_process()),
        "stop": folder.request_stop,
        "experiment folder": lambda: make_private_dirs(folder.path),
        "secrets": lambda: write_secrets(folder.secrets_file("abc"), {"KEY": "k"}),
    }
    for what, attempt in attempts.items():
        with pytest.raises(radas.UnsafePathError) as info:
            attempt()
        assert f"{results / 'alice'} is a symbolic link (to {str(elsewhere)!r})" in str(info.value), what
        assert "remove it" in str(info.value), what
    assert list(elsewhere.iterdir()) == [] and not folder.lock.held

    (results / "alice").unlink()
    (results / "alice").mkdir()
    (results / "alice" / "exp").symlink_to(elsewhere)  # one level down: the experiment folder
    for attempt in (folder.request_stop, lambda: make_private_dirs(folder.path)):
        with pytest.raises(radas.UnsafePathError, match="exp is a symbolic link"):
            attempt()
    assert list(elsewhere.iterdir()) == []

    (results / "alice" / "exp").unlink()
    (results / "alice" / "exp").mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder.stop_file.symlink_to(victim)  # a stop request is created, never written through a link
    folder.request_stop()
    assert victim.read_text() == "precious"


def test_the_lock_is_let_go_even_when_removing_the_secrets_fails(tmp_path, monkeypatch):
    from radas.backends._base import SweepSpec
    from radas.sweep import _sweep

    spec = SweepSpec(user_name="u", experiment_name="ends", trainable=None, param_space={},
                     tune_config=tune.TuneConfig(), run_config=tune.RunConfig(), sweep_id="abc")
    folder = ExperimentFolder(tmp_path, "ends")
    sweep = _sweep.Sweep(spec, folder, restore=False)
    folder.take_lock(DriverInfo.of_this_process())

    def stale_handle(path):
        raise OSError(116, "Stale file handle")

    monkeypatch.setattr(_sweep, "remove_secrets", stale_handle)
    with pytest.raises(OSError, match="Stale"):
        sweep._end("finished")
    assert not folder.lock.held and folder.holder() is None


def _plant_tuner(folder: Path, proof: Path) -> None:
    """A ``tuner.pkl`` that creates ``proof`` when unpickled (as any code could run there)."""
    (folder / "tuner.pkl").write_bytes(b"cbuiltins\nopen\n(S'" + str(proof).encode() + b"'\nS'w'\ntR.")


@needs_root
def test_a_folder_another_user_made_first_is_never_used(monkeypatch, capsys):
    """mallory (another uid) makes ``<results>/alice`` first, writable by all, with an experiment
    folder whose ``tuner.pkl`` runs code when unpickled. Everything radas does there as alice - the
    lock, a stop request, the experiment and secrets folders, locating the results, reading them
    (``run_experiment(dos=["analyze"])``, ``open_results``), the index's listing - is an
    UnsafePathError naming the folder, its owner and what to do; mallory's code never runs and
    nothing is written into her folder. The same for each folder on the way in alice's own folder
    (the experiment, lock, secrets and archive folders) given to mallory, and for a folder of
    alice's own that others can write to; a results folder that everyone can write to without a
    sticky bit is warned about."""
    from radas.backends import get_backend
    from radas.backends._base import SweepSpec
    from radas.sweep import experiment_names, make_private_dirs
    from radas.sweep._secrets import write_secrets

    def trainable(config):
        return {"score": 1}

    with shared_results() as results:
        proof = results.parent / "mallorys-code-ran"
        alice = results / "alice"

        def plant() -> None:
            for path in (alice, alice / "exp"):
                path.mkdir()
                os.chmod(path, 0o777)
            _plant_tuner(alice / "exp", proof)

        assert as_user(MALLORY, plant) == 0
        monkeypatch.setenv("RADAS_RESULTS_DIR", str(results))
        planted = sorted(alice.rglob("*"))
        folder = ExperimentFolder(alice, "exp")
        spec = SweepSpec(user_name="alice", experiment_name="exp", trainable=trainable, param_space={},
                         tune_config=tune.TuneConfig(), run_config=tune.RunConfig(), sweep_id="abc")
        attempts = {
            "lock": lambda: folder.take_lock(DriverInfo.of_this_process()),
            "stop": folder.request_stop,
            "experiment folder": lambda: make_private_dirs(folder.path),
            "secrets": lambda: write_secrets(folder.secrets_file("abc"), {"KEY": "k"}),
            "locate": lambda: asyncio.run(get_backend("local").locate(spec)),
            "open_results": lambda: asyncio.run(get_backend("local").open_results(spec)),
            "analyze": lambda: asyncio.run(radas.run_experiment(
                user_name="alice", experiment_name="exp", trainable=trainable, param_space={"a": 1},
                run_with="local", dos=["analyze"])),
            "index": lambda: experiment_names(alice),
            "report": lambda: radas.report("alice"),
        }
        for what, attempt in attempts.items():
            with pytest.raises(radas.UnsafePathError) as info:
                attempt()
            message = str(info.value)
            assert f"{alice} belongs to uid {MALLORY}, not to you" in message, (what, message)
            assert "Ask its owner or an administrator to remove it" in message, what
        assert not proof.exists() and sorted(alice.rglob("*")) == planted and not folder.lock.held

        # each folder on the way, in alice's own folder: another user's, or writable by others
        shutil.rmtree(alice)
        make_private_dirs(folder.path)
        own = {"experiment": (folder.path, lambda: make_private_dirs(folder.path)),
               "lock": (alice / ".radas-locks", lambda: folder.take_lock(DriverInfo.of_this_process())),
               "secrets": (alice / ".radas-secrets", lambda: write_secrets(folder.secrets_file("abc"), {"K": "k"})),
               "archive": (alice / ".archive", lambda: make_private_dirs(alice / ".archive" / "exp-1"))}
        for what, (path, attempt) in own.items():
            path.mkdir(mode=0o700, exist_ok=True)
            os.chown(path, MALLORY, MALLORY)
            for step in (attempt, folder.check_owned, folder.has_results):
                with pytest.raises(radas.UnsafePathError, match=f"{path} belongs to uid {MALLORY}"):
                    step()
            os.chown(path, 0, 0)
            os.chmod(path, 0o770)
            for step in (attempt, folder.check_owned):
                with pytest.raises(radas.UnsafePathError) as info:
                    step()
                assert f"{path} (yours, mode 0770) can be written by its group" in str(info.value), what
                assert f"chmod go-w {path}" in str(info.value), what
            os.chmod(path, 0o700)
        folder.check_owned()
        os.chown(folder.path, MALLORY, MALLORY)
        assert experiment_names(alice) == []  # not alice's: off the index, with a warning
        assert f"{folder.path} belongs to uid {MALLORY}" in capsys.readouterr().out
        os.chown(folder.path, 0, 0)
        assert experiment_names(alice) == ["exp"]
        assert "sticky" not in capsys.readouterr().out  # the shared folder is sticky: no warning

    with shared_results(mode=0o777) as results:
        make_private_dirs(results / "alice" / "exp")
        make_private_dirs(results / "alice" / ".radas-locks")
        out = capsys.readouterr().out
        assert out.count(f"the results folder {results} can be written by every user and has no sticky bit") == 1
        assert f"chmod +t {results}" in out
