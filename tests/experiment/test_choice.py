"""Asking the person what to do when the experiment exists and run_choice is None."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from ray import tune
    import radas

    def trainable(config):
        return {"score": config["a"]}

    async def main():
        await radas.run_experiment(user_name="tester", experiment_name=sys.argv[1], trainable=trainable,
                                   param_space={"a": tune.grid_search([1, 2])}, run_choice="run")
        print("FIRST DONE", flush=True)
        for answer in ("restore", "run"):  # the person is asked each time
            await radas.run_experiment(user_name="tester", experiment_name=sys.argv[1], trainable=trainable,
                                       param_space={"a": tune.grid_search([1, 2])})
            print(f"ANSWERED {answer} DONE", flush=True)

    asyncio.run(main())
""")


class _Terminal:
    """Reads what the script writes to its terminal, up to a marker at a time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.unread = ""

    def read_until(self, marker: str, timeout: float = 180) -> str:
        seen = self.unread
        deadline = time.monotonic() + timeout
        while marker not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} never appeared; output so far:\n{seen}")
            ready, _, _ = select.select([self.fd], [], [], 1)
            if ready:
                try:
                    seen += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    break
        end = seen.find(marker) + len(marker)
        self.unread = seen[end:]
        return seen[:end]


@pytest.mark.ray  # Ray starts in the subprocess
def test_terminal_user_is_asked_and_answer_is_followed(tmp_path: Path) -> None:
    script = tmp_path / "ask.py"
    script.write_text(SCRIPT)
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen([sys.executable, str(script), "ask"], stdin=child, stdout=child,
                            stderr=child, cwd=tmp_path, env=env)
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
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        os.close(main)
