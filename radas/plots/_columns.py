"""The trials and config columns a plot of :mod:`radas.plots` looks at, checked and typed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from radas.errors import RadasTypeError, RadasValueError

CONFIG_PREFIX = "config/"
MIN_TRIALS = 2
# a positive numeric column whose largest value is at least this many times its smallest is
# shown (and modelled) on a log scale when log_scale="auto": 1e-5..1e-3 yes, 16..64 no
LOG_RATIO = 100.0


@dataclass(frozen=True)
class Axis:
    """One column as a plot axis: categorical (``categories`` in order) or numeric."""

    column: str
    kind: Literal["categorical", "int", "float"]
    log: bool
    low: float
    high: float
    categories: tuple[str, ...] = ()

    def values(self, series: pd.Series) -> list[Any]:
        """The column's values as this axis holds them (str for categorical, int, float)."""
        if self.kind == "categorical":
            return [str(v) for v in series]
        if self.kind == "int":
            return [int(v) for v in series]
        return [float(v) for v in series]

    def position(self, series: pd.Series) -> np.ndarray:
        """Where each value lies on the axis, from 0 (bottom) to 1 (top); 0.5 for a single value."""
        if self.kind == "categorical":
            index = {c: i for i, c in enumerate(self.categories)}
            raw = np.array([index[str(v)] for v in series], dtype=float)
            low, high = 0.0, float(len(self.categories) - 1)
        elif self.log:
            raw, low, high = np.log(series.to_numpy(dtype=float)), math.log(self.low), math.log(self.high)
        else:
            raw, low, high = series.to_numpy(dtype=float), self.low, self.high
        if high == low:
            return np.full(len(raw), 0.5)
        return (raw - low) / (high - low)


def trials_and_axes(
    data: Any,
    y: Any,
    params: Sequence[str] | None,
    log_scale: Literal["auto"] | Sequence[str],
    what: str,
) -> tuple[pd.DataFrame, list[Axis]]:
    """The rows of ``data`` with a finite ``y`` and one :class:`Axis` per parameter column.

    ``params=None`` takes every ``config/`` column that varies among those rows. ``what`` names
    the plot in error messages.
    """
    if not isinstance(data, pd.DataFrame):
        raise RadasTypeError(f"{what}: data must be a pandas DataFrame, got {type(data).__name__}")
    columns = list(data.columns)
    if not isinstance(y, str) or y not in columns:
        raise RadasValueError(
            f"{what}: y={y!r} is not a column of the DataFrame; pass the metric column as y=, "
            f"one of {columns}"
        )
    metric = pd.to_numeric(data[y], errors="coerce")
    if metric.isna().all() and data[y].notna().any():
        raise RadasValueError(f"{what}: y={y!r} must be a numeric column, got values like {data[y].iloc[0]!r}")
    rows = data[np.isfinite(metric.to_numpy(dtype=float))].copy()
    rows[y] = metric[rows.index].astype(float)
    if len(rows) < MIN_TRIALS:
        raise RadasValueError(
            f"{what}: only {len(rows)} trial(s) with a finite {y!r} (of {len(data)} rows); "
            f"it needs at least {MIN_TRIALS}: run more trials or pick another y"
        )
    if rows[y].nunique() < 2:
        raise RadasValueError(
            f"{what}: y={y!r} is {rows[y].iloc[0]!r} in every trial, so no column can explain it; "
            f"pick a metric that varies"
        )
    names = _param_names(rows, y, params, what)
    logs = _log_columns(rows, names, log_scale, what)
    return rows, [_axis(rows[name], name, name in logs) for name in names]


def _param_names(rows: pd.DataFrame, y: str, params: Sequence[str] | None, what: str) -> list[str]:
    columns = list(rows.columns)
    if params is None:
        names = [c for c in columns if c.startswith(CONFIG_PREFIX) and c != y and _varies(rows[c])]
        if not names:
            config = [c for c in columns if c.startswith(CONFIG_PREFIX)]
            raise RadasValueError(
                f"{what}: no config/ column varies among the {len(rows)} trials (config columns: {config}); "
                f"pass params=[...] with the columns to show"
            )
        return names
    if isinstance(params, str) or not isinstance(params, Sequence) or not all(isinstance(p, str) for p in params):
        raise RadasTypeError(f"{what}: params must be a list of column names, got {params!r}")
    missing = [p for p in params if p not in columns]
    if missing or not params or y in params:
        problem = f"{missing} not in the DataFrame" if missing else (
            "is empty" if not params else f"contains the metric y={y!r}")
        raise RadasValueError(f"{what}: params={list(params)!r}: {problem}; available columns: {columns}")
    if not any(_varies(rows[p]) for p in params):
        raise RadasValueError(
            f"{what}: params={list(params)!r}: none of them varies among the {len(rows)} trials; "
            f"pass columns that do"
        )
    return list(dict.fromkeys(params))


def _varies(series: pd.Series) -> bool:
    return series.map(_hashable).nunique(dropna=False) > 1


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _is_numeric(series: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(series)
        and not pd.api.types.is_bool_dtype(series)
        and bool(np.isfinite(series.to_numpy(dtype=float)).all())
    )


def _auto_log(series: pd.Series) -> bool:
    if not _is_numeric(series):
        return False
    low, high = float(series.min()), float(series.max())
    return low > 0 and high / low >= LOG_RATIO


def _log_columns(
    rows: pd.DataFrame, names: list[str], log_scale: Literal["auto"] | Sequence[str], what: str
) -> set[str]:
    if isinstance(log_scale, str) and log_scale == "auto":
        return {name for name in names if _auto_log(rows[name])}
    if isinstance(log_scale, str) or not isinstance(log_scale, Sequence):
        raise RadasTypeError(
            f'{what}: log_scale must be "auto" or a list of parameter columns (e.g. ["config/lr"]), '
            f"got {log_scale!r}"
        )
    bad = [c for c in log_scale if c not in names or not _is_numeric(rows[c]) or float(rows[c].min()) <= 0]
    if bad:
        raise RadasValueError(
            f"{what}: log_scale={list(log_scale)!r}: {bad} are not numeric parameter columns with positive "
            f"values; parameters: {names}"
        )
    return set(log_scale)


def _axis(series: pd.Series, name: str, log: bool) -> Axis:
    if _is_numeric(series):
        kind: Literal["int", "float"] = "int" if pd.api.types.is_integer_dtype(series) else "float"
        return Axis(name, kind, log, float(series.min()), float(series.max()))
    categories = tuple(sorted({str(v) for v in series}, key=_natural))
    return Axis(name, "categorical", False, 0.0, float(len(categories) - 1), categories)


def _natural(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order first, then the other categories alphabetically."""
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    return (0, number, text) if not math.isnan(number) else (1, 0.0, text)


def check_labels(labels: Any, what: str) -> Mapping[str, str]:
    """``labels`` (None or a dict of column -> axis label) as a mapping."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise RadasTypeError(f'{what}: labels must be a dict like {{"config/lr": "learning rate"}}, got {labels!r}')
    return labels
