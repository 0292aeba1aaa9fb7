"""Asking the person what to do when the experiment exists and run_choice is None: on a real
terminal (a pty), without blocking the event loop, and ended at once by Ctrl-C."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from ray import tune
    import radas

    def trainable(config):
        return {"score": config["a"]}

    async def run(name, **kwargs):
        return await radas.run_experiment(user_name="tester", experiment_name=name, trainable=trainable,
                                          param_space={"a": tune.grid_search([1, 2])}, run_with="memory",
                                          **kwargs)
""")

ASK_TWICE = SCRIPT + textwrap.dedent("""
    async def main():
        await run(sys.argv[1], run_choice="run")
        print("FIRST DONE", flush=True)
        for answer in ("restore", "run"):  # the person is asked each time
            await run(sys.argv[1])
            print(f"ANSWERED {answer} DONE", flush=True)

    asyncio.run(main())
""")

# the second experiment starts when the test says so (a line on a loopback socket), while the first
# one's question waits for its answer
ASK_WHILE_ANOTHER_RUNS = SCRIPT + textwrap.dedent("""
    async def asking():
        await run("asked", run_choice="run")
        await run("asked")
        print("ASKED DONE", flush=True)

    async def other(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        results = await run("other", run_choice="run")
        print(f"OTHER DONE with {len(results['df'])} trials", flush=True)
        writer.close()

    async def main():
        await asyncio.gather(asking(), other(int(sys.argv[1])))

    asyncio.run(main())
""")

# two experiments that exist, run again under asyncio.gather: each asks what to do
ASK_TWO_AT_ONCE = SCRIPT + textwrap.dedent("""
    async def asking(name):
        results = await run(name)
        print(f"{name} DONE with {len(results['df'])} trials", flush=True)

    async def main():
        await run("first", run_choice="run")
        await run("second", run_choice="run")
        print("BOTH EXIST", flush=True)
        await asyncio.gather(asking("first"), asking("second"))

    asyncio.run(main())
""")

DEADLINE_S = 120.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CI"}  # CI means nobody to ask


class _Terminal:
    """Reads what the script writes to its terminal, up to a marker at a time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.unread = ""

    def read_some(self, wait: float) -> bool:
        """Read what is there within ``wait`` seconds; False at the end of the output."""
        ready, _, _ = select.select([self.fd], [], [], wait)
        if ready:
            try:
                data = os.read(self.fd, 4096)
            except OSError:  # EIO: the other side of the pty closed
                return False
            if not data:
                return False
            self.unread += data.decode(errors="replace")
        return True

    def read_until(self, marker: str, timeout: float = DEADLINE_S) -> str:
        deadline = time.monotonic() + timeout
        while marker not in self.unread:
            if time.monotonic() > deadline or not self.read_some(1):
                raise AssertionError(f"{marker!r} never appeared; output so far:\n{self.unread}")
        end = self.unread.find(marker) + len(marker)
        seen, self.unread = self.unread[:end], self.unread[end:]
        return seen


def test_terminal_user_is_asked_and_answer_is_followed(tmp_path: Path) -> None:
    script = tmp_path / "ask.py"
    script.write_text(ASK_TWICE)
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(script), "ask"], stdin=child, stdout=child,
                            stderr=child, cwd=tmp_path, env=_env())
    os.close(child)
    terminal = _Terminal(main)
    try:
        for answer in ("restore", "run"):
            question = terminal.read_until("> ")
            assert "already has results" in question
            assert "restore: continue the saved sweep" in question and "attach" not in question
            os.write(main, f"{answer}\n".encode())
            rest = terminal.read_until(f"ANSWERED {answer} DONE")
            assert ("archived" in rest) == (answer == "run")
        assert proc.wait(timeout=DEADLINE_S) == 0
    finally:
        proc.kill()
        os.close(main)


def test_ctrl_c_at_the_question_ends_the_script_at_once(tmp_path: Path) -> None:
    """Ctrl-C typed on the terminal (the pty is the script's controlling terminal, so the line
    discipline turns it into SIGINT) ends the script without anyone pressing Enter."""
    script = tmp_path / "ask.py"
    script.write_text(ASK_TWICE)
    pid, main = pty.fork()
    if pid == 0:  # the child: the script, in a session whose terminal is the pty
        try:
            os.chdir(tmp_path)
            # as a terminal's shell starts it: Ctrl-C not ignored, whatever this process inherited
            # (a runner started in the background of a shell without job control ignores SIGINT)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execve(sys.executable, [sys.executable, str(script), "ctrl-c"], _env())
        finally:
            os._exit(127)
    terminal = _Terminal(main)
    ended = False
    try:
        terminal.read_until("FIRST DONE")
        terminal.read_until("> ")
        os.write(main, b"\x03")
        status = _wait_for_exit(pid, terminal)
        ended = True
        assert os.waitstatus_to_exitcode(status) != 0 and "KeyboardInterrupt" in terminal.unread, terminal.unread
        assert "ANSWERED" not in terminal.unread
    finally:
        if not ended:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(main)


def _wait_for_exit(pid: int, terminal: _Terminal) -> int:
    """The wait status of ``pid``, reading its terminal meanwhile (it must end within the deadline
    on its own: nothing more is typed)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        terminal.read_some(0.5)
    raise AssertionError(f"the script did not end after Ctrl-C; output:\n{terminal.unread}")


def test_another_experiment_runs_while_the_terminal_question_waits(tmp_path: Path) -> None:
    script = tmp_path / "gather.py"
    script.write_text(ASK_WHILE_ANOTHER_RUNS)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(DEADLINE_S)
        main, child = pty.openpty()
        proc = subprocess.Popen([sys.executable, str(script), str(server.getsockname()[1])], stdin=child,
                                stdout=child, stderr=child, cwd=tmp_path, env=_env())
        os.close(child)
        terminal = _Terminal(main)
        try:
            connection, _ = server.accept()
            with connection:
                assert "What should radas do?" in terminal.read_until("> ")
                connection.sendall(b"go\n")  # the other experiment starts now, while the question waits
                terminal.read_until("OTHER DONE with 2 trials")
                assert "ASKED DONE" not in terminal.unread
                os.write(main, b"restore\n")
                terminal.read_until("ASKED DONE")
            assert proc.wait(timeout=DEADLINE_S) == 0
        finally:
            proc.kill()
            os.close(main)


def test_two_gathered_experiments_are_asked_one_after_the_other_and_both_answers_count(tmp_path: Path) -> None:
    """Two questions at once on one terminal: each is asked (the second after the first is
    answered), each answer reaches its own question, and both experiments finish."""
    script = tmp_path / "two.py"
    script.write_text(ASK_TWO_AT_ONCE)
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(script)], stdin=child, stdout=child, stderr=child,
                            cwd=tmp_path, env=_env())
    os.close(child)
    terminal = _Terminal(main)
    try:
        terminal.read_until("BOTH EXIST")
        asked = []
        for _ in range(2):
            question = terminal.read_until("> ")
            assert "What should radas do?" in question
            asked += [n for n in ("first", "second") if f"experiment {n!r}" in question]
            os.write(main, b"restore\n")
        assert sorted(asked) == ["first", "second"]
        ends = terminal.read_until("DONE with 2 trials") + terminal.read_until("DONE with 2 trials")
        assert "first DONE" in ends and "second DONE" in ends and "archived" not in ends
        assert proc.wait(timeout=DEADLINE_S) == 0
    finally:
        proc.kill()
        os.close(main)
