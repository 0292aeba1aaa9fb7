"""Parallel coordinates: each trial a line through its parameter values, coloured by the metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from radas.errors import RadasValueError
from radas.plots._columns import Axis, check_labels, trials_and_axes
from radas.plots._figure import target_axes


def _metric_axis(rows: pd.DataFrame, y: str) -> Axis:
    return Axis(y, "float", False, float(rows[y].min()), float(rows[y].max()))


def _draw_axis(ax: Any, axis: Axis, x: float) -> Any:
    """A vertical axis at ``x`` (0 to 1 across ``ax``) in the column's own units and scale."""
    from matplotlib.ticker import MaxNLocator

    twin = ax.twinx()
    twin.grid(False)
    for side in ("top", "bottom", "left"):
        twin.spines[side].set_visible(False)
    twin.spines["right"].set_position(("axes", x))
    if axis.kind == "categorical":
        twin.set_ylim(*((0, len(axis.categories) - 1) if len(axis.categories) > 1 else (-1, 1)))
        twin.set_yticks(range(len(axis.categories)), list(axis.categories))
        return twin
    if axis.log:
        twin.set_yscale("log")
    twin.set_ylim(*((axis.low, axis.high) if axis.high > axis.low else (axis.low - 1, axis.low + 1)))
    if axis.kind == "int" and not axis.log:
        twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    return twin


def parallel_coordinates(
    data: pd.DataFrame,
    *,
    y: str,
    params: Sequence[str] | None = None,
    log_scale: Literal["auto"] | Sequence[str] = "auto",
    mode: Literal["max", "min"] = "max",
    palette: Any = "viridis",
    labels: Mapping[str, str] | None = None,
    linewidth: float = 2.0,
    alpha: float = 0.8,
    ax: Any = None,
) -> Any:
    """Draw every trial as a line across one vertical axis per parameter and a last one for the
    metric ``y``, coloured by ``y``; return the Figure.

    Use it like a seaborn function, alone or in the call::

        run_experiment(..., plot_fn=radas.plots.parallel_coordinates, plot_kwargs={"y": "score"})

    Each axis is in its column's own units: numbers on a linear axis, or a log one (``log_scale``:
    ``"auto"`` for positive numbers spanning two decades or more, or a list of columns), anything
    else on a categorical axis with one tick per value. The axes are named after the columns
    (``labels={"config/lr": "learning rate"}`` renames them).

    Args:
        data: one row per trial (``results["df"]``, seeds reduced or not); rows without a
            finite ``y`` (errored trials) are left out.
        y: the metric column: the colour of the lines and the last axis.
        params: the parameter columns, left to right; default: every ``config/`` column that varies.
        log_scale: ``"auto"`` or the columns to show on a log scale.
        mode: ``"max"`` or ``"min"``: which end of ``y`` is best; the best lines are drawn on top.
        palette: a matplotlib colormap (name or object) from worst to best.
        labels: axis labels by column.
        linewidth, alpha: of the lines.
        ax: an Axes to draw into; otherwise the figure is sized for the number of axes.

    Raises:
        RadasValueError: ``y`` is not a numeric column, fewer than 2 trials have a finite ``y``,
            ``y`` never varies, ``params`` names a missing column, or ``mode`` is not max/min.
    """
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    if mode not in ("max", "min"):
        raise RadasValueError(f'parallel_coordinates: mode={mode!r}; use "max" or "min" (which end of y is best)')
    names = check_labels(labels, "parallel_coordinates")
    rows, axes = trials_and_axes(data, y, params, log_scale, "parallel_coordinates")
    axes.append(_metric_axis(rows, y))
    rows = rows.sort_values(y, ascending=mode == "max", kind="stable")  # best last: drawn on top
    xs = np.linspace(0.0, 1.0, len(axes))
    ys = np.column_stack([axis.position(rows[axis.column]) for axis in axes])

    ax = target_axes(ax, (max(6.0, 2.4 * len(axes)), 5.0))
    cmap = colormaps[palette] if isinstance(palette, str) else palette
    lines = LineCollection(
        [np.column_stack([xs, row]) for row in ys], array=rows[y].to_numpy(),
        cmap=cmap if mode == "max" else cmap.reversed(), norm=Normalize(rows[y].min(), rows[y].max()),
        linewidths=linewidth, alpha=alpha,
    )
    ax.add_collection(lines)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xticks(xs, [str(names.get(axis.column, axis.column)) for axis in axes])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for axis, x in zip(axes, xs, strict=True):
        _draw_axis(ax, axis, float(x))
    return ax.figure
