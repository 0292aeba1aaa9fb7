"""The figures radas draws by itself from a sweep's results - learning curves, parameter importance,
parallel coordinates - and figures as PNG bytes, for the live view and the email (the report page
draws its own, interactive ones). Seeds are understood: a config column ``seed`` (``config/seed``)
is no parameter; the curves show the mean and range of a config's seeds, importance and parallel
coordinates the mean of its seeds.

Figures are made with matplotlib's object API (no pyplot: nothing is kept, nothing is shown) and
drawn one at a time with the call's own plot (pyplot and rcParams are process-wide).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from radas.experiment._analysis import _plotting

logger = logging.getLogger("radas")

DPI = 100
# columns that are no metric of the trial's own
NOT_METRICS = frozenset({"training_iteration", "step", "time_total_s", "time_this_iter_s", "timestamp", "pid",
                          "trial_id", "status", "error", "done", "iterations_since_restore", "time_since_restore"})
# how many trials a legend names (more: no legend)
LEGEND_MAX = 12


def metric_column(df: pd.DataFrame, metric: str | None) -> str | None:
    """The metric to show: ``metric`` when it is a column, else the first numeric column that is
    neither config nor Tune's bookkeeping (None when there is none)."""
    if metric and metric in df.columns:
        return metric
    for column in df.columns:
        name = str(column)
        if name in NOT_METRICS or name.startswith("config/") or not pd.api.types.is_numeric_dtype(df[column]):
            continue
        if pd.api.types.is_bool_dtype(df[column]):
            continue
        return name
    return None


def step_column(df: pd.DataFrame) -> str | None:
    """The x of learning curves: the trainable's own ``step`` when it reports one, else
    ``training_iteration``."""
    for column in ("step", "training_iteration"):
        if column in df.columns and pd.api.types.is_numeric_dtype(df[column]):
            return column
    return None


def is_iterative(history: pd.DataFrame) -> bool:
    """True when some trial reported more than once (per-iteration results)."""
    return not history.empty and "trial_id" in history.columns and bool(history["trial_id"].duplicated().any())


def varying_params(df: pd.DataFrame) -> list[str]:
    """The ``config/`` columns whose value differs between rows."""
    varying = []
    for column in df.columns:
        if str(column).startswith("config/"):
            values = df[column].map(lambda v: v if isinstance(v, (int, float, str, bool)) or v is None else repr(v))
            if values.nunique(dropna=False) > 1:
                varying.append(str(column))
    return varying


SEED_COLUMNS = ("config/seed", "seed")


def seed_column(df: pd.DataFrame) -> str | None:
    """The column of ``df`` that holds the seed (``config/seed`` or ``seed``), if any."""
    return next((c for c in SEED_COLUMNS if c in df.columns), None)


def config_params(df: pd.DataFrame) -> list[str]:
    """The varying config columns that make a config: all but the seed."""
    seed = seed_column(df)
    return [c for c in varying_params(df) if c != seed]


def _config_keys(df: pd.DataFrame, params: list[str]) -> pd.Series:
    if not params:
        return pd.Series(["all trials"] * len(df), index=df.index)
    return df[params].apply(lambda row: ", ".join(f"{p.removeprefix('config/')}={_short(v)}"
                                                  for p, v in zip(params, row, strict=True)), axis=1)


def curves(history: pd.DataFrame, metric: str | None) -> Any:
    """The metric against the step: per config (the varying parameters but the seed) the mean of
    its seeds as a line and their range as a band, labelled by the config (None when no trial
    reported more than once)."""
    x, y = step_column(history), metric_column(history, metric)
    if x is None or y is None or not is_iterative(history):
        return None
    from matplotlib.figure import Figure

    params = config_params(history)
    rows = history[["trial_id", x, y]].assign(config=_config_keys(history, params))
    rows[y] = pd.to_numeric(rows[y], errors="coerce")
    rows[x] = pd.to_numeric(rows[x], errors="coerce")
    rows = rows.drop_duplicates(["trial_id", x], keep="last")
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    configs = list(rows.groupby("config", sort=False))
    seeded = False
    for index, (config, group) in enumerate(configs):
        stats = group.groupby(x)[y].agg(["mean", "min", "max", "count"]).sort_index()
        color = f"C{index % 10}"
        ax.plot(stats.index.to_numpy(dtype=float), stats["mean"].to_numpy(dtype=float), color=color,
                label=str(config), linewidth=1.6, alpha=0.9)
        if group["trial_id"].nunique() > 1:
            seeded = True
            ax.fill_between(stats.index.to_numpy(dtype=float), stats["min"].to_numpy(dtype=float),
                            stats["max"].to_numpy(dtype=float), color=color, alpha=0.15, linewidth=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    trials = rows["trial_id"].nunique()
    what = "mean and range of the seeds per config" if seeded else "one line per trial"
    ax.set_title(f"{y} per {x}: {what} ({len(configs)} configs, {trials} trials)", fontsize="medium")
    ax.grid(alpha=0.3)
    if len(configs) <= LEGEND_MAX:
        ax.legend(fontsize="small", loc="best")
    return fig


def config_means(df: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    """One row per config (the varying parameters but the seed): its parameters and the mean of
    its trials' ``metric``; the seed column left out. ``df`` as it is without a seed column."""
    seed = seed_column(df)
    y = metric_column(df, metric)
    if seed is None or y is None:
        return df
    params = config_params(df)
    if not params:
        return df.drop(columns=[seed])
    keys = [tuple(v if isinstance(v, (int, float, str, bool)) or v is None else repr(v) for v in row)
            for row in df[params].itertuples(index=False, name=None)]
    rows = df[params].assign(**{y: pd.to_numeric(df[y], errors="coerce")}, _key=keys)
    means = rows.groupby("_key", sort=False).agg({**{p: "first" for p in params}, y: "mean"})
    return means.reset_index(drop=True)


def trials_so_far(history: pd.DataFrame, metric: str | None, mode: str | None) -> Any:
    """The metric of each trial in the order they reported, and the best so far as a line when
    ``mode`` is known: for trainables that report once (None when nothing was reported)."""
    y = metric_column(history, metric)
    if y is None or history.empty:
        return None
    from matplotlib.figure import Figure

    values = pd.to_numeric(history.groupby("trial_id", sort=False)[y].last(), errors="coerce").to_numpy(dtype=float)
    order = np.arange(1, len(values) + 1)
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(order, values, s=18, alpha=0.8, label=y)
    if mode in ("min", "max") and np.isfinite(values).any():
        filled = np.where(np.isfinite(values), values, -np.inf if mode == "max" else np.inf)
        best = np.maximum.accumulate(filled) if mode == "max" else np.minimum.accumulate(filled)
        ax.step(order, np.where(np.isfinite(best), best, np.nan), where="post", color="C3", label=f"best ({mode})")
        ax.legend(fontsize="small", loc="best")
    ax.set_xlabel("trial, in the order they reported")
    ax.set_ylabel(y)
    ax.set_title(f"{y} of {len(values)} trials so far")
    ax.grid(alpha=0.3)
    return fig


def live(history: pd.DataFrame, metric: str | None, mode: str | None, iterative_only: bool) -> Any:
    """The default live figure: learning curves when trials report per iteration, else (unless
    ``iterative_only``) :func:`trials_so_far`."""
    if is_iterative(history):
        return curves(history, metric)
    return None if iterative_only else trials_so_far(history, metric, mode)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _insight(draw: Callable[..., Any], df: pd.DataFrame, metric: str | None, **kwargs: Any) -> Any:
    """``draw(data=df, y=metric, ax=...)`` of :mod:`radas.plots` when two or more parameters vary
    and three or more trials have a finite metric; None otherwise (or when it cannot be drawn)."""
    y = metric_column(df, metric)
    if y is None or len(varying_params(df)) < 2:
        return None
    if np.isfinite(pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float)).sum() < 3:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    try:
        draw(data=df, y=y, ax=fig.add_subplot(), **kwargs)
    except (ValueError, TypeError) as exc:  # e.g. the metric never varies: no figure, said in the log
        logger.info("%s not drawn: %s", getattr(draw, "__name__", draw), exc)
        return None
    return fig


def importance(df: pd.DataFrame, metric: str | None) -> Any:
    """fANOVA importance of the varying parameters but the seed for the metric averaged over the
    seeds of each config (:func:`radas.plots.importance`)."""
    from radas.plots import importance as draw

    return _insight(draw, config_means(df, metric), metric)


def parallel(df: pd.DataFrame, metric: str | None, mode: str | None) -> Any:
    """Parallel coordinates of the configs, the metric averaged over their seeds
    (:func:`radas.plots.parallel_coordinates`)."""
    from radas.plots import parallel_coordinates as draw

    return _insight(draw, config_means(df, metric), metric, mode="min" if mode == "min" else "max")


def png(fig: Any, dpi: int = DPI) -> bytes:
    """``fig`` as PNG bytes (pyplot's figures and standalone ones alike); cropped to what it holds
    unless a layout engine placed it already (radas's own figures), which saves a second layout."""
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi, bbox_inches=None if fig.get_layout_engine() is not None else "tight")
    return out.getvalue()


def warm_up() -> None:
    """Import what drawing needs (a live view does it while the sweep starts, not at its first draw)."""
    from matplotlib.backends import backend_agg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def drawn(make: Callable[..., Any], *args: Any) -> Any:
    """``make(*args)`` while no other plot is drawn in this process (see :mod:`._analysis`)."""
    with _plotting:
        return make(*args)
