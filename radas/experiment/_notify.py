"""The end-of-experiment email: the report in a mail. An HTML message (with a plain-text
alternative) with the outcome, duration, trials by status, the best trials, the first errors,
every figure of the call inline as PNG, and where the results and the report page are - the same
on failure and interruption, with what is known so far. Figures and attachments stay within
what mail servers accept; what is left out is said. Sending never breaks an experiment."""

from __future__ import annotations

import html
import socket
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from radas._reporter import clock
from radas.experiment import _figures
from radas.experiment._page import number
from radas.experiment._report import BEST_ROWS, Report

# inline figures and attachments each stay under these sizes in all (mail servers commonly refuse
# messages over 10-25 MB; base64 makes everything a third larger)
MAX_IMAGES_BYTES = 5 * 1024**2
MAX_ATTACHMENTS_BYTES = 5 * 1024**2
# errored trials the email names
FIRST_ERRORS = 3
_CELL = 'style="padding:4px 10px;border-bottom:1px solid #e3e6ee;text-align:left"'


class Email:
    """One notification: subject, text, HTML, the images the HTML shows and the attachments.

    Made by :func:`compose` lazily: its text, HTML and images (the figures, drawn then) are made
    when first asked for - when it is sent - so a call that sends no email draws nothing."""

    def __init__(self, subject: str, text: str = "", html: str = "", images: dict[str, bytes] | None = None,
                 attachments: list[Path] | None = None,
                 make: Callable[[], tuple[str, str, dict[str, bytes], list[Path]]] | None = None) -> None:
        self.subject = subject
        self._parts = None if make is not None else (text, html, images or {}, attachments or [])
        self._make = make

    def _made(self) -> tuple[str, str, dict[str, bytes], list[Path]]:
        if self._parts is None:
            assert self._make is not None
            self._parts = self._make()
        return self._parts

    @property
    def text(self) -> str:
        return self._made()[0]

    @property
    def html(self) -> str:
        return self._made()[1]

    @property
    def images(self) -> dict[str, bytes]:
        return self._made()[2]

    @property
    def attachments(self) -> list[Path]:
        return self._made()[3]


def compose(report: Report, saved: Sequence[Path] = ()) -> Email:
    """The email of ``report``; ``saved``: the figure files of the call (PNG ones are inline
    already, the others - PDF, SVG - attached). Never raises: what cannot be summarized is said.
    Its content is made (and the report's figures drawn) when first asked for."""
    return Email(subject=f"[radas] {report.experiment}: {report.state}", make=lambda: _made(report, saved))


def _made(report: Report, saved: Sequence[Path]) -> tuple[str, str, dict[str, bytes], list[Path]]:
    try:
        return _content(report, saved)
    except Exception as problem:  # noqa: BLE001 - the email goes out whatever the results hold
        seconds = report.seconds or 0.0
        error = RuntimeError(report.error) if report.error else None
        short = fallback(report.experiment, report.state, seconds, error, problem)
        return short.text, short.html, {}, []


def _content(report: Report, saved: Sequence[Path]) -> tuple[str, str, dict[str, bytes], list[Path]]:
    facts = [("Experiment", report.experiment), ("Ran on", f"{report.run_with} (driver host {socket.gethostname()})"),
             ("Outcome", report.state)]
    if report.seconds is not None:
        facts.append(("Duration", f"{report.seconds:.1f} s ({clock(report.seconds)})"))
    facts.append(("Trials", _safe(report.counts)))
    text = [f"{k}: {v}" for k, v in facts]
    parts = [f"<h2 style=\"margin:0 0 8px\">{html.escape(report.experiment)}: {html.escape(report.state)}</h2>",
             _facts_html(facts)]
    if report.error:
        text.append(f"Error: {report.error}")
        parts.append(f"<h3>Error</h3><pre>{html.escape(report.error)}</pre>")
    try:
        best_text, best_html = _best(report)
    except Exception as exc:  # noqa: BLE001 - the email must go out whatever the results hold
        best_text, best_html = [f"(the trials could not be summarized: {type(exc).__name__}: {exc})"], ""
    text += best_text
    parts.append(best_html)
    errors = report.errors()
    if errors:
        shown = errors[:FIRST_ERRORS]
        text += ["", f"Errored trials ({len(errors)}, first {len(shown)}):"]
        text += [f"  {trial}: {line}" + (f" ({folder})" if folder else "") for trial, line, folder in shown]
        items = [f"<li><code>{html.escape(trial)}</code>: {html.escape(line)}"
                 + (f"<br><small>{html.escape(folder)}</small>" if folder else "") + "</li>"
                 for trial, line, folder in shown]
        parts.append(f"<h3>Errored trials ({len(errors)})</h3><ul>{''.join(items)}</ul>")
    images, left_out, figure_html = _inline(report)
    attachments, attachment_notes = _attachments(saved)
    left_out += attachment_notes
    if figure_html:
        parts.append("<h3>Figures</h3>" + "".join(figure_html))
        text += ["", f"Figures: {len(images)} in the HTML version of this email."]
    where = [("Results", report.results_path)]
    if report.page_path is not None:
        where.append(("Report", str(report.page_path)))
    text += ["", *(f"{k}: {v}" for k, v in where)]
    parts.append(_facts_html(where))
    if left_out:
        text += ["", *left_out]
        parts.append("".join(f"<p style=\"color:#8d1c17\">{html.escape(n)}</p>" for n in left_out))
    body = ('<html><body style="font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2230">'
            + "".join(parts) + "</body></html>")
    return "\n".join(text), body, images, attachments




def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a part that cannot be summarized is said, never raised
        return f"(could not be summarized: {type(exc).__name__}: {exc})"


def _facts_html(rows: Sequence[tuple[str, str]]) -> str:
    return ("<table style=\"border-collapse:collapse\">" + "".join(
        f"<tr><th {_CELL}>{html.escape(k)}</th><td {_CELL}>{html.escape(str(v))}</td></tr>" for k, v in rows)
        + "</table>")


def _best(report: Report) -> tuple[list[str], str]:
    """The best trial in a line, and the best trials as a text and an HTML table."""
    if report.trials.empty:
        return [], ""
    ranked = report.ranked().head(BEST_ROWS)
    columns = [c for c in report.columns() if c != "trial_id"]
    text: list[str] = []
    y = _figures.metric_column(report.trials, report.metric)
    best = report.best_config()
    if y is not None and best:
        value = ranked.iloc[0][y]
        order = f"{report.mode} {y}" if report.mode else y
        config = {f"config/{k}": v for k, v in best.items()}
        text.append(f"Best trial ({order}): {y}={number(value)} with {config}")
    table = ranked[columns].rename(columns=lambda c: str(c).removeprefix("config/"))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        text += ["", f"Best trials (of {len(report.trials)}):", table.to_string(index=False)]
    head = "".join(f"<th {_CELL}>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td {_CELL}>{html.escape(number(v))}</td>" for v in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return text, (f"<h3>Best trials (of {len(report.trials)})</h3><table id=\"best-trials\" "
                  f"style=\"border-collapse:collapse\"><tr>{head}</tr>{rows}</table>")


def _inline(report: Report) -> tuple[dict[str, bytes], list[str], list[str]]:
    """The report's figures as inline images within :data:`MAX_IMAGES_BYTES`; notes on those left out."""
    images: dict[str, bytes] = {}
    notes: list[str] = []
    parts: list[str] = []
    total = 0
    where = f"; it is in the report page {report.page_path}" if report.page_path else ""
    try:
        figures = report.figures
    except Exception as exc:  # noqa: BLE001 - the email goes out without figures rather than not at all
        return images, [f"(the figures could not be drawn: {type(exc).__name__}: {exc})"], parts
    for figure in figures:
        if total + len(figure.png) > MAX_IMAGES_BYTES:
            notes.append(f"Left out: the figure '{figure.caption}' ({_size(len(figure.png))}) would take the "
                         f"email's figures over {_size(MAX_IMAGES_BYTES)}{where}.")
            continue
        total += len(figure.png)
        cid = f"{figure.name}-{uuid.uuid4().hex[:8]}@radas"
        images[cid] = figure.png
        parts.append(f'<p><img src="cid:{cid}" alt="{html.escape(figure.caption)}" style="max-width:100%"><br>'
                     f"<small>{html.escape(figure.caption)}</small></p>")
    return images, notes, parts


def _size(n: int) -> str:
    return f"{n / 1024**2:.1f} MB" if n >= 1024**2 else f"{max(round(n / 1024), 1)} KB"


def _attachments(saved: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The call's saved figure files other than PNG (inline already), within :data:`MAX_ATTACHMENTS_BYTES`."""
    files, notes, total = [], [], 0
    for path in saved:
        if path.suffix == ".png" or not path.exists():
            continue
        size = path.stat().st_size
        if total + size > MAX_ATTACHMENTS_BYTES:
            notes.append(f"Left out: the attachment {path} ({_size(size)}) would take the attachments over "
                         f"{_size(MAX_ATTACHMENTS_BYTES)}.")
            continue
        total += size
        files.append(path)
    return files, notes


def fallback(experiment: str, state: str, seconds: float, error: BaseException | None, problem: Exception) -> Email:
    """A short email for when the report itself could not be gathered."""
    lines = [f"Experiment: {experiment}", f"Outcome: {state}", f"Duration: {seconds:.1f} s"]
    if error is not None:
        lines.append(f"Error: {type(error).__name__}: {error}")
    lines.append(f"(the results could not be summarized: {type(problem).__name__}: {problem})")
    text = "\n".join(lines)
    return Email(subject=f"[radas] {experiment}: {state}", text=text,
                 html=f"<html><body><pre>{html.escape(text)}</pre></body></html>")


def send(to: Sequence[str], email: Email) -> bool:
    """Send ``email``; on any failure print a warning and return False."""
    from radas.email import notify

    return notify(list(to), email.subject, email.text, [str(a) for a in email.attachments] or None,
                  html=email.html, images=email.images)


def outcome_of(df: pd.DataFrame | None, stopped: bool) -> str:
    """"succeeded", "stopped", or "finished with N errored trials"."""
    if stopped:
        return "stopped"
    if df is not None and "status" in df.columns:
        errored = int((df["status"] == "ERROR").sum())
        if errored:
            return f"finished with {errored} errored trial{'s' if errored > 1 else ''}"
    return "succeeded"
