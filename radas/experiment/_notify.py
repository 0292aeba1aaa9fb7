"""The end-of-experiment email: outcome, duration, trials by status, best trial, the head of
the DataFrame, the figure attached. Sending never breaks an experiment."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def summary(
    experiment_name: str,
    run_with: str,
    outcome: str,
    seconds: float,
    df: pd.DataFrame | None,
    metric: str | None,
    mode: str | None,
    error: BaseException | None,
) -> tuple[str, str]:
    """Subject and body of the email for one finished (or failed) experiment. Never raises: what
    cannot be summarized (a DataFrame of an unexpected shape) is said in one line instead."""
    subject = f"[radas] {experiment_name}: {outcome}"
    lines = [
        f"Experiment: {experiment_name}",
        f"Ran on: {run_with} (driver host {socket.gethostname()})",
        f"Outcome: {outcome}",
        f"Duration: {seconds:.1f} s",
    ]
    if error is not None:
        lines.append(f"Error: {type(error).__name__}: {error}")
    if df is not None:
        try:
            lines += _df_lines(df, metric, mode)
        except Exception as exc:  # noqa: BLE001 - the email must go out whatever the DataFrame holds
            lines.append(f"(the results table could not be summarized: {type(exc).__name__}: {exc})")
    return subject, "\n".join(lines)


def _df_lines(df: pd.DataFrame, metric: str | None, mode: str | None) -> list[str]:
    lines = []
    if "status" in df.columns:
        counts = df["status"].value_counts().to_dict()
        lines.append("Trials: " + ", ".join(f"{n} {str(s).lower()}" for s, n in counts.items()))
    else:
        lines.append(f"Rows: {len(df)}")
    if metric and mode and metric in df.columns:
        values = pd.to_numeric(df[metric], errors="coerce").to_numpy(dtype=float)
        if np.isfinite(values).any():
            position = int(np.nanargmax(values) if mode == "max" else np.nanargmin(values))
            best = df.iloc[position]  # by position: the index may be anything process_df_fn made it
            config = {k: _plain(v) for k, v in best.items() if str(k).startswith("config/")}
            key = df.index[position]  # config columns process_df_fn moved into the index
            for name, value in zip(df.index.names, key if isinstance(key, tuple) else (key,), strict=False):
                if name is not None and str(name).startswith("config/"):
                    config[str(name)] = _plain(value)
            lines.append(f"Best trial ({mode} {metric}): {metric}={_plain(values[position])} with {config}")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        lines += ["", "First rows of the results:", df.head(10).to_string()]
    return lines


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (for readable text)."""
    return value.item() if isinstance(value, np.generic) else value


def send_summary(to: Sequence[str], subject: str, body: str, attachments: Sequence[Path]) -> bool:
    """Send the summary; on any failure print a warning and return False."""
    from radas.email import notify

    return notify(list(to), subject, body, attachments=[str(a) for a in attachments] or None)


def outcome_of(df: pd.DataFrame | None, stopped: bool) -> str:
    """"succeeded", "stopped", or "finished with N errored trials"."""
    if stopped:
        return "stopped"
    if df is not None and "status" in df.columns:
        errored = int((df["status"] == "ERROR").sum())
        if errored:
            return f"finished with {errored} errored trial{'s' if errored > 1 else ''}"
    return "succeeded"

