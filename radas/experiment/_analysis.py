"""From results to a DataFrame and a figure: process, plot, save."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from radas._reporter import say
from radas.errors import RadasTypeError, RadasValueError

AXIS_ARGUMENTS: tuple[str, ...] = ("x", "y", "hue", "style", "size", "col", "row", "units")
FIGURE_LEVEL = frozenset(
    {"relplot", "catplot", "displot", "lmplot", "pairplot", "jointplot", "clustermap"}
)
PLOT_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
FIGURES_DIR = "radas_figures"
# the plot arguments that may be given as a function of the df (called with it); every other
# value goes to seaborn unchanged (a Colormap, a Normalize, an estimator are callable objects)
DF_FUNCTION_ARGUMENTS: tuple[str, ...] = ("data",)
# pyplot and rcParams are process-wide: plots drawn off the event loop take turns
_plotting = threading.Lock()


def default_process_sns_fn(sns: Any) -> None:
    """The default ``process_sns_fn``: seaborn's theme in the "talk" context."""
    sns.set_theme(context="talk", style="whitegrid")


def check_plot_format(plot_format: object) -> list[str]:
    """The list of formats to save, from ``None``, ``"png"`` or ``["png", "pdf"]``."""
    if plot_format is None:
        return []
    formats = [plot_format] if isinstance(plot_format, str) else plot_format
    if not isinstance(formats, (list, tuple)) or not all(isinstance(f, str) for f in formats):
        raise RadasTypeError(
            f"plot_format must be None, a str or a list of str, got {plot_format!r}"
        )
    bad = [f for f in formats if f not in PLOT_FORMATS]
    if bad:
        raise RadasValueError(f"plot_format={plot_format!r}: {bad} not supported; use {PLOT_FORMATS}")
    return list(formats)


def process_df(
    tuner: Any,
    tuner_to_df_fn: Callable[[Any], pd.DataFrame],
    process_df_fn: Callable[..., pd.DataFrame],
    process_df_fn_kwargs: Mapping[str, Any],
) -> pd.DataFrame:
    """``process_df_fn(tuner_to_df_fn(tuner), **process_df_fn_kwargs)``, checked."""
    df = tuner_to_df_fn(tuner)
    if not isinstance(df, pd.DataFrame):
        raise RadasTypeError(f"tuner_to_df_fn must return a pandas DataFrame, got {type(df).__name__}")
    df = process_df_fn(df, **process_df_fn_kwargs)
    if not isinstance(df, pd.DataFrame):
        raise RadasTypeError(f"process_df_fn must return a pandas DataFrame, got {type(df).__name__}")
    return df


def _resolve_kwargs(
    df: pd.DataFrame, plot_kwargs: Mapping[str, Any], rename_mapping: Mapping[str, str]
) -> dict[str, Any]:
    kwargs = {
        key: value(df) if key in DF_FUNCTION_ARGUMENTS and callable(value) else value
        for key, value in plot_kwargs.items()
    }
    if "data" in kwargs:
        data = kwargs["data"]
        if isinstance(data, pd.DataFrame) and rename_mapping:
            data = data.rename(columns=rename_mapping, index=rename_mapping)
            data.index.name = rename_mapping.get(str(data.index.name), data.index.name)
            data.columns.name = rename_mapping.get(str(data.columns.name), data.columns.name)
            kwargs["data"] = data
        return kwargs
    available = list(df.columns)
    for arg in AXIS_ARGUMENTS:
        column = kwargs.get(arg)
        if isinstance(column, str) and column not in available:
            raise RadasValueError(
                f"plot_kwargs[{arg!r}]={column!r} is not a column of the DataFrame; "
                f"available columns: {available}"
            )
    named = [kwargs[arg] for arg in AXIS_ARGUMENTS if isinstance(kwargs.get(arg), str)]
    mapping = {column: rename_mapping[column] for column in named if column in rename_mapping}
    for arg in AXIS_ARGUMENTS:
        if isinstance(kwargs.get(arg), str):
            kwargs[arg] = mapping.get(kwargs[arg], kwargs[arg])
    kwargs["data"] = df.rename(columns=mapping)
    return kwargs


def plot(
    df: pd.DataFrame,
    plot_fn: Callable[..., Any],
    plot_kwargs: Mapping[str, Any],
    rename_mapping: Mapping[str, str],
    matplotlib_rcParams_update: Mapping[str, Any],  # noqa: N803
    process_sns_fn: Callable[[Any], Any],
    process_g_fn: Callable[[Any], Any],
    save_as: Sequence[Path] = (),
) -> Any:
    """Draw ``plot_fn(data=df, **plot_kwargs)`` and return its matplotlib Figure.

    ``plot_kwargs`` go to ``plot_fn`` as given, except a callable ``data`` (see
    :data:`DF_FUNCTION_ARGUMENTS`), which is called with ``df`` and its result plotted instead.

    Theme and rcParams changes are scoped to this plot: the caller's matplotlib state is
    restored afterwards. Figures are saved to ``save_as`` inside the same scope. Safe to call
    from a worker thread (one plot at a time); the figure is handed back, not kept by pyplot
    (which would keep every figure of a long notebook session alive).
    """
    import matplotlib
    import matplotlib.pyplot as plt
    import seaborn as sns

    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg", force=False)
    with _plotting, matplotlib.rc_context():
        process_sns_fn(sns)
        matplotlib.rcParams.update(dict(matplotlib_rcParams_update))  # type: ignore[arg-type]  # keys checked
        kwargs = _resolve_kwargs(df, plot_kwargs, rename_mapping)
        name = getattr(getattr(plot_fn, "func", plot_fn), "__name__", "")  # functools.partial: its function's
        if name not in FIGURE_LEVEL and "ax" not in kwargs:
            plt.figure()  # axes-level functions draw on the current figure: give them their own
        g = plot_fn(**kwargs)
        g = process_g_fn(g) or g
        fig = _figure_of(g)
        try:
            for path in save_as:
                path.parent.mkdir(parents=True, exist_ok=True)
                fig.savefig(path, bbox_inches="tight")
                say("info", f"figure saved: {path}")
        finally:
            plt.close(fig)
    return fig


def _figure_of(g: Any) -> Any:
    from matplotlib.figure import Figure

    if isinstance(g, Figure):
        return g
    for attr in ("figure", "fig"):
        fig = getattr(g, attr, None)
        if isinstance(fig, Figure):
            return fig
    if hasattr(g, "get_figure"):
        return g.get_figure()
    raise RadasTypeError(
        f"plot_fn returned {type(g).__name__}; expected a seaborn grid, an Axes or a Figure"
    )


def figure_paths(user_name: str, experiment_name: str, formats: Sequence[str]) -> list[Path]:
    """Where figures are saved: ``./radas_figures/<user_name>/<experiment_name>.<format>``."""
    folder = Path.cwd() / FIGURES_DIR / user_name
    return [folder / f"{experiment_name}.{fmt}" for fmt in formats]
