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
        await radas.run_experiment(user_name="tester", experiment_name=sys.argv[1], trainable=trainable,
                                   param_space={"a": tune.grid_search([1, 2])})
        print("SECOND DONE", flush=True)

    asyncio.run(main())
""")


def _read_until(fd: int, marker: str, timeout: float = 180) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} never appeared; output so far:\n{seen}")
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


@pytest.mark.parametrize("answer", ["restore", "run"])
def test_terminal_user_is_asked_and_answer_is_followed(tmp_path: Path, answer: str) -> None:
    script = tmp_path / "ask.py"
    script.write_text(SCRIPT)
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen([sys.executable, str(script), f"ask-{answer}"], stdin=child, stdout=child,
                            stderr=child, cwd=tmp_path, env=env)
    os.close(child)
    try:
        question = _read_until(main, "> ")
        assert "already has results" in question
        assert "restore: continue the saved sweep" in question and "attach" not in question
        os.write(main, f"{answer}\n".encode())
        rest = _read_until(main, "SECOND DONE")
        assert ("archived" in rest) == (answer == "run")
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        os.close(main)
