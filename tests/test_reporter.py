"""The reporter's progress bar as a user sees it: a bar on a terminal, a line per change in logs."""

from __future__ import annotations

import io

import pytest

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
