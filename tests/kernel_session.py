"""A real Jupyter kernel (ipykernel, started through jupyter_client) to run cells in as a notebook
does, and to see what a cell shows: its stream output, its input requests, its reply."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

DEADLINE_S = 120.0


class Cell:
    """One execution: what it printed (stdout and stderr apart), the prompts of its input
    requests, and its execute_reply's content once it has ended."""

    def __init__(self, session: KernelSession, msg_id: str) -> None:
        self.session = session
        self.msg_id = msg_id
        self.stdout = ""
        self.stderr = ""
        self.prompts: list[str] = []
        self.reply: dict[str, Any] | None = None
        self.idle = False  # the kernel said it is idle after this cell: all its output is here

    def wait(self, condition: Callable[[Cell], bool], what: str, timeout: float = DEADLINE_S) -> Cell:
        """Take the kernel's messages until ``condition(self)`` holds (``what`` says what was
        awaited when it never does)."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"never happened: {what}; stdout:\n{self.stdout}\nstderr:\n{self.stderr}\n"
                                     f"prompts: {self.prompts}; reply: {self.reply}")
            self.session.pump(0.1)
        return self

    def done(self) -> Cell:
        """Wait for the cell to end; it must have ended without an error."""
        self.ended()
        assert self.reply is not None and self.reply["status"] == "ok", (self.reply, self.stdout, self.stderr)
        return self

    def ended(self) -> Cell:
        """Wait for the cell to end (its reply and all its output)."""
        return self.wait(lambda c: c.reply is not None and c.idle, "the cell ended")

    def answer(self, text: str) -> None:
        """Answer the pending input request with ``text``."""
        self.session.client.input(text)


class KernelSession:
    """A kernel started in ``cwd`` with the environment ``env``; cells run one at a time."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.manager, self.client = start_new_kernel(kernel_name="python3", startup_timeout=DEADLINE_S,
                                                     cwd=str(cwd), env=env)
        self.cells: dict[str, Cell] = {}

    def run(self, code: str) -> Cell:
        """Start a cell (input requests allowed) and return it at once."""
        msg_id = self.client.execute(code, allow_stdin=True)
        cell = self.cells[msg_id] = Cell(self, msg_id)
        return cell

    def pump(self, wait: float) -> None:
        """Take the messages that arrive within about ``wait`` seconds, each to its cell."""
        for get, channel in ((self.client.get_iopub_msg, "iopub"), (self.client.get_stdin_msg, "stdin"),
                             (self.client.get_shell_msg, "shell")):
            try:
                msg = get(timeout=wait / 3)
            except queue.Empty:
                continue
            cell = self.cells.get(msg.get("parent_header", {}).get("msg_id", ""))
            if cell is None:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if channel == "iopub" and kind == "stream":
                if content["name"] == "stdout":
                    cell.stdout += content["text"]
                else:
                    cell.stderr += content["text"]
            elif channel == "iopub" and kind == "status" and content["execution_state"] == "idle":
                cell.idle = True
            elif channel == "iopub" and kind == "error":
                cell.stderr += "\n".join(content.get("traceback", []))
            elif channel == "stdin" and kind == "input_request":
                cell.prompts.append(content["prompt"])
            elif channel == "shell" and kind == "execute_reply":
                cell.reply = content

    def interrupt(self) -> None:
        """Interrupt the kernel (the notebook's stop button: SIGINT)."""
        self.manager.interrupt_kernel()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def kernel_env() -> dict[str, str]:
    """This process's environment (radas's folders) for a kernel where a person can answer
    (no ``CI``)."""
    return {k: v for k, v in os.environ.items() if k != "CI"}
