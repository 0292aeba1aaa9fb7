"""The experiment-folder protocol: an exclusive lock that cannot go stale, archive only under it,
every wait bounded."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from ray import tune

import radas
from radas.backends._folder import DriverInfo, ExperimentFolder

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from radas.backends._folder import DriverInfo, ExperimentFolder

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
    for _ in range(300):
        progress = folder.progress()
        if progress is not None and progress.running:
            break
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # impatient: Ctrl-C again while the sweep saves its state
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "still saving its state in the background" in capsys.readouterr().out
    for _ in range(300):  # the sweep's thread lets go once Tune has saved and stopped
        if folder.holder() is None:
            break
        await asyncio.sleep(0.1)
    assert folder.holder() is None and folder.progress().state == "stopped"
    done = await radas.run_experiment(user_name="tester", experiment_name=name, trainable=slow,
                                      param_space={"a": tune.grid_search([1, 2]), "steps": 5}, run_choice="restore")
    assert len(done["df"]) == 2
