"""The reporter as a user sees it: a progress bar on a terminal, a line per change in logs; warnings
shown by default in a script and a notebook, silenced through the ``radas`` logger."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from kernel_session import KernelSession, kernel_env

from radas._reporter import ProgressBar, clock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_logs_get_one_plain_line_per_change_not_per_tick(capsys) -> None:
    bar = ProgressBar("lr-sweep")
    bar.update(0, 4, "1 running", elapsed_s=1, eta_s=None)
    bar.update(0, 4, "1 running", elapsed_s=2, eta_s=30)  # only the clock moved: no new line
    bar.update(1, 4, "1 running, best score=0.5", elapsed_s=65, eta_s=20)
    bar.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["lr-sweep: 0/4 done, 1 running (elapsed 0:01)",
                     "lr-sweep: 1/4 done, 1 running, best score=0.5 (elapsed 1:05, ETA 0:20)"]


def test_a_terminal_gets_a_bar_updated_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Terminal()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setenv("COLUMNS", "120")
    bar = ProgressBar("lr-sweep")
    for done in range(3):
        bar.update(done, 4, "2 running", elapsed_s=done * 10.0, eta_s=40.0 - done * 10)
    bar.close()
    text = out.getvalue()
    frames = [f for f in text.split("\r") if f.strip()]
    assert "\n" not in text.rstrip("\n")  # one line, redrawn
    assert "lr-sweep  50%|" in frames[-1] and "2/4, 2 running, elapsed 0:20, ETA 0:20" in frames[-1]


def test_messages_during_a_bar_go_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from radas._reporter import say

    out = Terminal()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    bar = ProgressBar("lr-sweep")
    bar.update(1, 4, "1 running")
    say("info", "live figure: x.png")
    bar.update(2, 4, "1 running")
    bar.close()
    lines = out.getvalue().split("\n")
    assert "[radas] live figure: x.png" in [line.split("\r")[-1] for line in lines]
    assert "2/4, 1 running" in lines[-2]  # the bar, whole, below the message


def test_clock() -> None:
    assert (clock(0), clock(75), clock(3725)) == ("0:00", "1:15", "1:02:05")


@contextlib.contextmanager
def radas_log_level(level: int) -> Iterator[None]:
    """The ``radas`` logger at ``level`` for a while (as a user sets it)."""
    radas_logger = logging.getLogger("radas")
    before = radas_logger.level
    radas_logger.setLevel(level)
    try:
        yield
    finally:
        radas_logger.setLevel(before)


def test_warnings_are_shown_by_default_and_silenced_by_the_radas_logger_level(capsys, caplog) -> None:
    from radas.utils import print_info, print_warning

    print_warning("careful")
    with radas_log_level(logging.ERROR):
        print_warning("not shown")
        print_info("info stays")
    out, err = capsys.readouterr()
    assert out.splitlines() == ["[radas warning] careful", "[radas] info stays"] and err == ""
    # the warning is a record of the radas logger, for a program's own logging too
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING] == \
        [("radas", logging.WARNING, "careful")]


SCRIPT = textwrap.dedent("""
    import logging
    from radas.utils import print_warning

    print_warning("before")
    logging.getLogger("radas").setLevel(logging.ERROR)
    print_warning("after")
    print("END")
""")


def test_a_script_sees_warnings_until_it_silences_them() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[radas warning] before", "END"] and done.stderr == ""


def test_a_notebook_sees_warnings_in_the_cell_until_it_silences_them(tmp_path) -> None:
    kernel = KernelSession(tmp_path, kernel_env())
    try:
        # (importing radas in a kernel has Ray and tqdm say on stderr that ipywidgets is missing)
        shown = kernel.run("from radas.utils import print_warning\nprint_warning('careful')").done()
        assert shown.stdout == "[radas warning] careful\n" and "careful" not in shown.stderr
        hushed = kernel.run(SCRIPT).done()
        assert hushed.stdout == "[radas warning] before\nEND\n" and "after" not in hushed.stderr
    finally:
        kernel.close()
