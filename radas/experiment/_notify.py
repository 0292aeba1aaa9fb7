"""The end-of-experiment email: outcome, duration, trials by status, best trial, the head of
the DataFrame, the figure attached. Sending never breaks an experiment."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    """Subject and body of the email for one finished (or failed) experiment."""
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
        if "status" in df.columns:
            counts = df["status"].value_counts().to_dict()
            lines.append("Trials: " + ", ".join(f"{n} {str(s).lower()}" for s, n in counts.items()))
        else:
            lines.append(f"Rows: {len(df)}")
        if metric and mode and metric in df.columns and df[metric].notna().any():
            best: Any = df.loc[df[metric].idxmax() if mode == "max" else df[metric].idxmin()]  # type: ignore[call-overload]
            config = {k: _plain(v) for k, v in best.items() if str(k).startswith("config/")}
            lines.append(f"Best trial ({mode} {metric}): {metric}={_plain(best[metric])} with {config}")
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            lines += ["", "First rows of the results:", df.head(10).to_string()]
    return subject, "\n".join(lines)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (for readable text)."""
    return value.item() if hasattr(value, "item") else value


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

