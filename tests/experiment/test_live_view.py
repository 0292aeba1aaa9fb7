"""The live view of a running sweep: the figure redrawn from the results so far (only when they
changed, off the event loop, throttled by its own cost) and never a reason for the sweep to fail."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
import pytest
import seaborn as sns
from ray import tune

import radas
from radas.experiment import _live
from radas.sweep import Progress, ResultsSoFar


def stepping(config):
    for step in range(4):
        time.sleep(0.05)
        tune.report({"score": config["a"] * step, "step": step})


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per draw of the live view, once the draw is over (whether or not it worked):
    a sweep that waits for it ends after the figure was written, however slow the draw."""
    drawn: list[int] = []
    draw = _live.LiveView._draw

    def counted(self: _live.LiveView) -> bytes | None:
        try:
            return draw(self)
        finally:
            drawn.append(1)

    monkeypatch.setattr(_live.LiveView, "_draw", counted)
    return drawn


def stepping_until_drawn(drawn: list[int], times: int, last: int):
    """``stepping``, but trial ``a=last`` goes on reporting until the live view has drawn ``times``
    times (at most a minute): the sweep lasts until then however slow a draw is on a busy machine."""
    def trainable(config):
        deadline = time.monotonic() + 60
        step = 0
        while step < 4 or (config["a"] == last and len(drawn) < times and time.monotonic() < deadline):
            time.sleep(0.05)
            tune.report({"score": config["a"] * step, "step": step})
            step += 1

    return trainable


@pytest.fixture
def often(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_live, "LIVE_EVERY_S", 0.05)
    monkeypatch.setattr(_live, "BUSY_SHARE", 1.0)  # no throttle: these sweeps last a second
    return tmp_path / "radas_figures" / "tester"


async def test_a_terminal_gets_the_live_figure_as_a_file_redrawn_as_results_come(often, drawn, capsys):
    await radas.run_experiment(user_name="tester", experiment_name="live", trainable=stepping_until_drawn(drawn, 2, 4),
                               run_with="memory", param_space={"a": tune.grid_search([1, 2, 3, 4])},
                               run_choice="run", live_plot=True)
    png = often / "live.live.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert len(drawn) >= 2  # redrawn while the sweep ran
    assert capsys.readouterr().out.count(f"live figure: {png}") == 1


async def test_by_default_a_terminal_gets_no_live_figure(often):
    await radas.run_experiment(user_name="tester", experiment_name="quiet", trainable=stepping, run_with="memory",
                               param_space={"a": tune.grid_search([1, 2])}, run_choice="run")
    assert not often.exists()


async def test_live_plot_may_be_any_plot_function_of_the_results_so_far(often, drawn):
    seen: list[pd.DataFrame] = []

    def mine(data):
        seen.append(data)
        return sns.lineplot(data=data, x="step", y="score", hue="config/a")

    await radas.run_experiment(user_name="tester", experiment_name="mine", trainable=stepping_until_drawn(drawn, 1, 3),
                               run_with="memory", param_space={"a": tune.grid_search([1, 2, 3])}, run_choice="run",
                               live_plot=mine)
    assert (often / "mine.live.png").exists()
    assert seen and all(len(data) > 0 and not data.duplicated(["trial_id", "step"]).any()
                        for data in seen)  # the results so far: one row per report
    assert {"trial_id", "step", "score", "config/a"} <= set(seen[-1].columns)


async def test_a_live_plot_that_fails_is_said_once_and_the_sweep_goes_on(often, drawn, capsys):
    def broken(data):
        raise KeyError("no such column")

    results = await radas.run_experiment(
        user_name="tester", experiment_name="broken-live", trainable=stepping_until_drawn(drawn, 1, 3),
        run_with="memory", param_space={"a": tune.grid_search([1, 2, 3])}, run_choice="run", live_plot=broken)
    assert len(results["df"]) == 3
    assert capsys.readouterr().out.count("the live figure could not be drawn (KeyError") == 1


def test_live_plot_is_checked_before_anything_runs():
    with pytest.raises(radas.RadasTypeError, match="live_plot='yes'"):
        asyncio.run(radas.run_experiment(user_name="tester", experiment_name="x", trainable=stepping,
                                         run_with="memory", live_plot="yes"))


class Changing(ResultsSoFar):
    def __init__(self, changes: bool) -> None:
        self.changes = changes
        self.progress = Progress(experiment="e")  # running

    def refresh(self) -> bool:
        return self.changes

    def get_iteration_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"trial_id": ["a", "a"], "step": [0, 1], "score": [0.0, 1.0]})


async def test_nothing_is_drawn_when_nothing_changed_or_before_the_sweep_runs_and_slow_drawing_waits_longer():
    calls: list[float] = []

    def slow(history):
        calls.append(time.monotonic())
        time.sleep(0.05)

    idle = _live.LiveView(Changing(False), slow, None, None, every_s=0.01)
    await idle.look(final=False)
    assert not calls and idle._wait < 0.5  # only a look (no draw): it comes back soon
    earlier = Changing(True)
    earlier.progress.state = "finished"  # the folder still holds an earlier run's results
    await _live.LiveView(earlier, slow, None, None, every_s=0.01).look(final=False)
    assert not calls
    busy = _live.LiveView(Changing(True), slow, None, None, every_s=0.01)
    await busy.look(final=False)
    # the draw took >= 50 ms: the next look waits >= 50 ms / 5 %, so drawing takes at most 5 % of the time
    assert len(calls) == 1 and busy._wait >= 0.05 / _live.BUSY_SHARE
