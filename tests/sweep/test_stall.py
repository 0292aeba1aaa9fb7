"""The stall watchdog: a trial that stops reporting is ended with where it was stuck, retried like
any failure, and the other trials are untouched."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import threading
import uuid
from pathlib import Path

import pytest
from backend_targets import Target, name
from ray import tune

import radas
from radas.sweep._stall import Fixed, Watchdog, stalled_error

STALL_S = 3


def _started(config):
    """Record a start of the trial (by kind) in the user's data folder."""
    folder = Path(radas.get_data_dir("tester")) / config["tag"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{config['kind']}-{uuid.uuid4().hex}").touch()


def wait_for_the_collective():
    """Waits forever in Python (it runs between the waits: the watchdog's error gets in)."""
    never = threading.Event()
    while not never.wait(0.05):
        pass


def read_reward_reply(port):
    """Waits forever in C: a reward server that accepts and never answers."""
    with socket.create_connection(("127.0.0.1", port)) as server:
        server.sendall(b"score this, please\n")
        return server.recv(1)


def stalling(config):
    """Reports, then (kind "python" / "c") blocks forever, or reports twice more and ends; a
    helper thread of its own waits meanwhile."""
    _started(config)
    threading.Thread(target=threading.Event().wait, name="radas-test-helper", daemon=True).start()
    tune.report({"score": 0})
    if config["kind"] == "python":
        wait_for_the_collective()
    elif config["kind"] == "c":
        read_reward_reply(config["port"])
    for step in (1, 2):
        tune.report({"score": step})


@pytest.fixture
def silent_server():
    """A TCP server on loopback that accepts connections and never answers; its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    held, done = [], threading.Event()

    def serve():
        while not done.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


async def test_a_stalled_trial_is_ended_saying_where_it_was_stuck_and_retried(target: Target, silent_server, capsys):
    exp = name("stall")
    results = await target.run(
        exp, stalling, stall_timeout_s=STALL_S,
        param_space={"kind": tune.grid_search(["ok", "python", "c"]), "port": silent_server, "tag": exp},
        tuner_init_kwargs={"run_config": {"failure_config": {"max_failures": 1}}})
    df = results["df"].set_index("config/kind")
    assert df.loc["ok", "status"] == "TERMINATED" and df.loc["ok", "score"] == 2
    for kind, function in (("python", "wait_for_the_collective"), ("c", "read_reward_reply")):
        error = df.loc[kind, "error"]
        assert df.loc[kind, "status"] == "ERROR", error
        seconds = re.search(r"stalled: no progress for (\d+) s \(stall timeout 3 s\)", error)
        assert seconds and int(seconds[1]) >= STALL_S, error
        assert f"stuck in {function} (" in error or f" < {function} (" in error, error
        where = re.search(r"the stacks of all its threads are in (\S+)$", error)
        assert where, error
        written = Path(where[1])  # as the trial's node sees it
        dump = target.exp_dir(exp) / written.parent.name / written.name
        assert dump.name.startswith("stall-") and dump.parent.parent == target.exp_dir(exp)
        stacks = dump.read_text()
        assert function in stacks and "radas-test-helper" in stacks and "MainThread" in stacks, stacks
        assert "training thread" in stacks and "stall watchdog" in stacks
    if shutil.which("py-spy"):  # the C function the thread waits in, from py-spy's native frames
        assert "stuck in recv (" in df.loc["c", "error"], df.loc["c", "error"]
    starts: dict[str, int] = {}
    for path in (target.data / exp).iterdir():
        kind = path.name.split("-")[0]
        starts[kind] = starts.get(kind, 0) + 1
    assert starts == {"ok": 1, "python": 2, "c": 2}  # max_failures=1: each stalled trial ran again
    assert "stalled: no progress for" in capsys.readouterr().out  # the first error, said at the end


async def test_stall_timeout_s_is_checked_before_anything_starts():
    def trainable(config):
        return {"score": 1}

    for bad in ("3", 0, -1.5, math.nan, math.inf, True, [3]):
        with pytest.raises(radas.RadasValueError, match=r"^stall_timeout_s=.*positive number of seconds"):
            await radas.run_experiment(user_name="tester", experiment_name="stall-check", trainable=trainable,
                                       run_with="memory", stall_timeout_s=bad)
    with pytest.raises(radas.RadasValueError, match=r"run_with='memory' cannot honour stall_timeout_s=5"):
        await radas.run_experiment(user_name="tester", experiment_name="stall-check", trainable=trainable,
                                   run_with="memory", stall_timeout_s=5)
    done = await radas.run_experiment(user_name="tester", experiment_name="stall-check", trainable=trainable,
                                      run_with="memory", stall_timeout_s=False, run_choice="run")
    assert list(done["df"]["score"]) == [1]


def test_the_watchdog_raises_where_the_thread_is_stuck_and_dumps_every_thread(tmp_path):
    """The watchdog itself, without Ray: past the timeout it saves every thread's stack, notes the
    stall and raises a TrialStalledError in the training thread that names where it waited."""
    caught: list[BaseException] = []
    dogs: list[Watchdog] = []

    def train():
        dog = Watchdog(Fixed(0.5), tmp_path, "t-1", grace_s=120)  # never ends this process
        dogs.append(dog)
        dog.start()
        try:
            dog.progress()
            wait_for_the_collective()
        except radas.TrialStalledError as error:
            caught.append(error)
        finally:
            dog.end()

    thread = threading.Thread(target=train, name="the-training-thread")
    thread.start()
    thread.join(timeout=120)
    [error] = caught
    message = str(error)
    assert type(error).__name__ == "TrialStalledError" and isinstance(error, RuntimeError)
    assert message.startswith("trial t-1 stalled: no progress for ") and "wait_for_the_collective (" in message
    [dump] = tmp_path.glob("stall-*.txt")
    assert str(dump) in message
    stacks = dump.read_text()
    assert "'the-training-thread'" in stacks and "MainThread" in stacks and "wait_for_the_collective" in stacks
    notes = json.loads((tmp_path / "radas-notes.json").read_text())
    assert notes == {"stalled": message, "stalled_pid": os.getpid()}
    died = f"Failure # 1 (occurred at 2026-01-01_00-00-00)\nThe actor died unexpectedly.\n\tpid: {os.getpid()}\n"
    assert stalled_error(notes, died) == message
    assert stalled_error(notes, died.replace(str(os.getpid()), "1")) is None  # another process died
    assert stalled_error(notes, died + "Failure # 2 (occurred at 2026-01-01_00-01-00)\nValueError: x\n") is None


def test_grpo_trials_are_watched_by_default_from_their_steps():
    from radas.grpo._trainable import default_stall_timeout_s, grpo_trainable
    from radas.sweep._stall import stall_rule

    assert stall_rule(grpo_trainable, None) is default_stall_timeout_s
    assert default_stall_timeout_s(None) == 1800  # to the end of the first step: download, load, warm up
    assert default_stall_timeout_s(10.0) == 600 and default_stall_timeout_s(300.0) == 1500
    assert stall_rule(grpo_trainable, 42)(300.0) == 42  # the user's stall_timeout_s wins
    assert stall_rule(grpo_trainable, False) is None
    assert stall_rule(lambda config: None, None) is None  # other trainables: not watched by default
