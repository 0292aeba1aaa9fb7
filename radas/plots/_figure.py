"""The Axes a plot of :mod:`radas.plots` draws on."""

from __future__ import annotations

from typing import Any


def target_axes(ax: Any, size: tuple[float, float]) -> Any:
    """``ax`` when given; else an Axes filling a figure of ``size`` inches: the current pyplot
    figure while it is still empty (``run_experiment`` gives every plot a fresh one), a new one
    otherwise."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    fig = plt.gcf()
    if fig.axes:
        fig = plt.figure()
    fig.set_size_inches(*size)
    return fig.add_subplot()
