"""While a sweep runs: its live figure and its report page, redrawn from the results so far.

Every :data:`LIVE_EVERY_S` seconds (``RADAS_LIVE_EVERY_S``) the view reads what the sweep reported
since its last look (:meth:`radas.sweep.ResultsSoFar.refresh`, only the new lines of a log) and,
when anything changed, redraws the live figure - in a notebook in place in the cell's output (once
more when the sweep ends), in a terminal into ``radas_figures/<user>/<experiment>.live.png`` - and,
every :data:`PAGE_EVERY_S` seconds, the experiment's report page. Drawing runs off the event loop,
one plot at a time, and waits long enough between looks that it takes at most :data:`BUSY_SHARE`
of the time; so does the page, throttled by its own cost (a rewrite that took 3 s waits 60 s for
the next): the sweep is not slowed by being watched. A live figure that cannot be drawn is said once and turned off;
the sweep goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pandas as pd

from radas._reporter import LiveImage, in_notebook, say
from radas._safefile import write_atomic
from radas.backends import Backend
from radas.errors import RadasTypeError
from radas.experiment import _analysis, _figures, _report
from radas.sweep import RUNNING, ResultsSoFar, SweepSpec

LIVE_EVERY_S = 5.0  # RADAS_LIVE_EVERY_S, read when a sweep starts, overrides it
PAGE_EVERY_S = 30.0
# the share of the time the live view may spend drawing (it waits longer after a slow draw)
BUSY_SHARE = 0.05
LIVE_FORMAT = "live.png"


def _every_s() -> float:
    try:
        return max(float(os.environ["RADAS_LIVE_EVERY_S"]), 0.1)
    except (KeyError, ValueError):
        return LIVE_EVERY_S


def check_live_plot(live_plot: object) -> None:
    """``live_plot`` is None, True, False or a plot function."""
    if live_plot is not None and not isinstance(live_plot, bool) and not callable(live_plot):
        raise RadasTypeError(
            f"live_plot={live_plot!r}: use True (learning curves of the metric, or the metric of each trial so "
            "far), False, None (curves in a notebook when the trainable reports per iteration) or a plot "
            "function called with data=<the results so far, one row per report>")


def live_figure_path(user_name: str, experiment_name: str) -> Path:
    """Where a terminal's live figure is written: ``./radas_figures/<user>/<experiment>.live.png``."""
    return _analysis.figure_paths(user_name, experiment_name, [LIVE_FORMAT])[0]


class LiveView:
    """The live figure and the report page of one running sweep."""

    def __init__(self, results: ResultsSoFar, draw: Callable[[pd.DataFrame], Any] | None, png_path: Path | None,
                 page: Callable[[], None] | None, every_s: float | None = None) -> None:
        self.results = results
        self.draw = draw
        self.png_path = png_path
        self.page = page
        self.every_s = _every_s() if every_s is None else every_s
        self.image = LiveImage()
        self.draws = 0
        self._wait = self.every_s
        self._page_due = 0.0
        self._page_stale = False
        self.page_s = 0.0  # seconds spent writing the page so far

    async def run(self) -> None:
        """Look, redraw and wait, until cancelled."""
        while True:
            await asyncio.sleep(self._wait)
            await self.look(final=False)

    async def look(self, final: bool) -> None:
        """Read the new results; redraw what changed (``final``: the figure only, once more)."""
        started = time.monotonic()
        png = await asyncio.to_thread(self._look, final)
        if png is not None:
            self.image.update(png)
        self._wait = max(self.every_s, (time.monotonic() - started) / BUSY_SHARE)

    def _look(self, final: bool) -> bytes | None:
        changed = self.results.refresh()
        progress = self.results.progress
        if not final and (progress is None or progress.state != RUNNING):
            return None  # the sweep has not started yet (what is there is an earlier run's)
        self._page_stale = self._page_stale or changed
        png = self._draw() if changed else None
        if self.page is not None and self._page_stale and not final and time.monotonic() >= self._page_due:
            self._page_stale = False
            started = time.monotonic()
            try:
                self.page()
            except FileNotFoundError:  # the folder moved (a fresh run archives the earlier one): next time
                self._page_stale = True
            except Exception as exc:  # noqa: BLE001 - a view never breaks the sweep
                say("warning", f"the report page could not be written while the sweep runs: {exc}")
                self.page = None
            # the page takes at most BUSY_SHARE of the time, however long a rewrite takes
            spent = time.monotonic() - started
            self.page_s += spent
            self._page_due = time.monotonic() + max(PAGE_EVERY_S, spent / BUSY_SHARE)
        return png

    def _draw(self) -> bytes | None:
        if self.draw is None:
            return None
        try:
            history = self.results.get_iteration_dataframe()
            fig = self.draw(history) if not history.empty else None
            png = None if fig is None else _figures.drawn(_figures.png, fig)
        except Exception as exc:  # noqa: BLE001 - the user's live_plot may fail on partial results
            say("warning", f"the live figure could not be drawn ({type(exc).__name__}: {exc}); it is off for "
                "the rest of this sweep")
            self.draw = None
            return None
        if png is not None and self.png_path is not None:
            self.png_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.png_path, png, mode=0o644)
            if not self.draws:
                say("info", f"live figure: {self.png_path} (redrawn as results come)")
        self.draws += png is not None
        return png


def _drawer(live_plot: bool | Callable[..., Any] | None, metric: str | None, mode: str | None,
            process_sns_fn: Callable[[Any], Any], rc: dict[str, Any]) -> Callable[[pd.DataFrame], Any] | None:
    if live_plot is False or (live_plot is None and not in_notebook()):
        return None
    if callable(live_plot) and not isinstance(live_plot, bool):
        user_fn = live_plot
        return lambda history: _analysis.plot(history, user_fn, {}, {}, rc, process_sns_fn, lambda g: g)
    # the default: learning curves; with live_plot=True also the trials so far of one-result trainables
    return lambda history: _figures.drawn(_figures.live, history, metric, mode, live_plot is None)


@contextlib.asynccontextmanager
async def watching(backend: Backend, spec: SweepSpec, results: ResultsSoFar,
                   live_plot: bool | Callable[..., Any] | None, run_with: str, process_sns_fn: Callable[[Any], Any],
                   rc: dict[str, Any]) -> AsyncIterator[None]:
    """The live view of ``spec``'s sweep while the body runs (the live figure once more at the end)."""
    draw = _drawer(live_plot, spec.metric, spec.mode, process_sns_fn, rc)
    page_path = backend.report_path(spec)
    page = None
    if page_path is not None:
        def page() -> None:
            if page_path.parent.is_dir():
                _report.write(page_path, _report.page(_report.gather(
                    results, user=spec.user_name, experiment=spec.experiment_name, run_with=run_with,
                    state="running", metric=spec.metric, mode=spec.mode, seconds=None,
                    results_path=str(page_path.parent), page_path=page_path, insights=False, look=False)))

    png_path = None if in_notebook() else live_figure_path(spec.user_name, spec.experiment_name)
    view = LiveView(results, draw, png_path, page)
    if draw is not None:  # imported while the sweep starts (mostly waiting for its workers), not at the first draw
        warm = asyncio.ensure_future(asyncio.to_thread(_figures.warm_up))
    task = asyncio.ensure_future(view.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if draw is not None:
            await warm
    if draw is not None and view.draws and png_path is None:
        await view.look(final=True)  # the notebook's figure stays in the cell: its last state is the sweep's end
