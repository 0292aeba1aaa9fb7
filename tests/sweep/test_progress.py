"""Progress: the counts, the status text and the ETA from finished trials' durations."""

from __future__ import annotations

from pathlib import Path

from radas.sweep._progress import FINISHED, Progress


def test_eta_from_finished_trials_spread_over_the_running_ones() -> None:
    p = Progress(experiment="e", total=10, done=4, running=2, pending=4, started=1000.0)
    assert p.eta_s(now=1100.0) is None  # no trial finished yet: no guess
    for seconds in (10.0, 20.0, 15.0, 15.0):
        p.trial_ended(seconds)
    p.running_s, p.updated = 10.0, 1100.0  # the two running trials have run 5 s each
    # 4 pending x 15 s + (2 x 15 s - 10 s) left of the running ones, 2 at a time
    assert p.eta_s(now=1100.0) == (4 * 15 + 20) / 2
    assert p.eta_s(now=1104.0) == (4 * 15 + 12) / 2  # a follower reading it 4 s later
    assert p.elapsed_s(now=1100.0) == 100.0
    p.end(FINISHED)
    assert p.eta_s() is None and p.elapsed_s(now=p.ended + 50) == p.ended - 1000.0


def test_status_and_line() -> None:
    p = Progress(experiment="lr", total=12, done=5, running=2, pending=4, errored=1, metric="score", mode="max",
                 best=0.93)
    assert p.line() == "lr: 5/12 done, 2 running, 1 errored, 4 pending, best score=0.93"


def test_timing_survives_the_progress_file(tmp_path: Path) -> None:
    p = Progress(experiment="e", total=3, done=1, started=5.0)
    p.trial_ended(2.0)
    p.write(tmp_path / "p.json")
    back = Progress.read(tmp_path / "p.json")
    assert back is not None and (back.started, back.trial_s, back.timed) == (5.0, 2.0, 1)
