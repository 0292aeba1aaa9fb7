"""Helpers used in trainables and analysis code: seeding, user name, messages, reductions."""

from __future__ import annotations

import getpass
import os
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from radas._reporter import say
from radas.errors import RadasValueError


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and (when installed) torch, CPU and CUDA."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def config_seed(config: Mapping[str, Any]) -> int | None:
    """Seed everything from ``config["seed"]`` when present; return the seed used (or None)."""
    seed = config.get("seed")
    if seed is None:
        return None
    set_seed(int(seed))
    return int(seed)


def get_current_user_name() -> str:
    """The login name of the person running this process (``$USER`` first)."""
    return os.environ.get("USER") or getpass.getuser()


def print_info(*parts: Any) -> None:
    """Print an informational message the radas way."""
    say("info", *parts)


def print_warning(*parts: Any) -> None:
    """Print a warning message the radas way (``[radas warning] ...`` on stdout).

    It is a WARNING record of the ``radas`` logger, so it is silenced with
    ``logging.getLogger("radas").setLevel(logging.ERROR)``, like every warning of radas.
    """
    say("warning", *parts)


def print_error(*parts: Any) -> None:
    """Print an error message the radas way (to stderr)."""
    say("error", *parts)


def _check_columns(df: pd.DataFrame, param: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RadasValueError(
            f"{param}: column(s) {missing} not in the DataFrame; available columns: {list(df.columns)}"
        )


def reduce_by_config_cols(
    df: pd.DataFrame,
    metric_col: str,
    reduce_fn: Callable[[pd.Series], Any],
    config_cols: Sequence[str],
) -> pd.DataFrame:
    """Group ``df`` by ``config_cols`` and reduce ``metric_col`` with ``reduce_fn``.

    Returns one row per group with the config columns and the reduced metric, e.g. the
    mean score over seeds for each learning rate.
    """
    config_cols = list(config_cols)
    _check_columns(df, "config_cols", config_cols)
    _check_columns(df, "metric_col", [metric_col])
    grouped = df.groupby(config_cols, dropna=False, sort=True)[metric_col]
    return grouped.apply(reduce_fn).reset_index()


def reduce_by_reduced_col(
    df: pd.DataFrame,
    metric_col: str,
    reduce_fn: Callable[[pd.Series], Any],
    reduced_col: str,
) -> pd.DataFrame:
    """Reduce ``metric_col`` over the values of one config column (e.g. ``config/seed``),
    grouping by all the other ``config/`` columns."""
    _check_columns(df, "reduced_col", [reduced_col])
    others = [c for c in df.columns if c.startswith("config/") and c != reduced_col]
    if not others:
        return pd.DataFrame({metric_col: [reduce_fn(df[metric_col])]})
    return reduce_by_config_cols(df, metric_col, reduce_fn, others)


__all__ = [
    "set_seed",
    "config_seed",
    "get_current_user_name",
    "print_info",
    "print_warning",
    "print_error",
    "reduce_by_config_cols",
    "reduce_by_reduced_col",
]
