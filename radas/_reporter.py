"""The one place user-facing messages go through.

Looks right in a terminal (colour when stdout is a TTY) and in a notebook (plain text; a
sweep's progress bar is one output updated in place through IPython's display). Library diagnostics use
``logging.getLogger("radas")`` instead.

Warnings are log records of the ``radas`` logger: radas's own handler on it shows them as before
(``[radas warning] ...`` on stdout, above a progress bar), so they are seen by default in a terminal
and a notebook, and ``logging.getLogger("radas").setLevel(logging.ERROR)`` silences them (as it
does any other warning of radas's loggers). Records also propagate to the root logger, for a
program's own logging configuration (a log file, say); a program whose own handlers already show
them on the console can set ``logging.getLogger("radas").propagate = False`` to see them once.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import sys
from typing import Any

logger = logging.getLogger("radas")

# the progress bars drawn on the terminal now (messages are written above them)
_bars: list[Any] = []
_COLOURS = {"info": "\033[36m", "warning": "\033[33m", "error": "\033[31m", "ok": "\033[32m"}
_RESET = "\033[0m"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where output goes to a cell)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _use_colour() -> bool:
    return sys.stdout.isatty() and not in_notebook() and "NO_COLOR" not in os.environ


def say(kind: str, *parts: Any) -> None:
    """Print one message of ``kind`` (info, warning, error, ok) with a ``[radas]`` prefix.

    A warning is a record of the ``radas`` logger (see the module's docstring): shown unless that
    logger's level is above WARNING.
    """
    text = " ".join(str(p) for p in parts)
    if kind == "warning":
        logger.warning("%s", text)
        return
    _write(kind, text)
    logger.debug("%s: %s", kind, text)


def _write(kind: str, text: str) -> None:
    prefix = "[radas]" if kind in ("info", "ok") else f"[radas {kind}]"
    if _use_colour():
        prefix = f"{_COLOURS.get(kind, '')}{prefix}{_RESET}"
    stream = sys.stderr if kind == "error" else sys.stdout
    if _bars:  # a progress bar on the terminal: the message goes above it, the bar stays whole
        from tqdm import tqdm

        tqdm.write(f"{prefix} {text}", file=stream)
    else:
        print(f"{prefix} {text}", file=stream, flush=True)


class ConsoleHandler(logging.Handler):
    """Shows the ``radas`` loggers' warnings and errors the reporter's way: ``[radas warning]``
    on stdout, ``[radas error]`` on stderr (the streams of the moment: a notebook's cell, a
    captured stream), above a progress bar. Installed once on the ``radas`` logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write("error" if record.levelno >= logging.ERROR else "warning", self.format(record))
        except Exception:  # noqa: BLE001 - logging's own way: report the failure, never raise it
            self.handleError(record)


if not any(type(h).__name__ == ConsoleHandler.__name__ for h in logger.handlers):  # once, even if reloaded
    logger.addHandler(ConsoleHandler())


def show(figure: Any) -> None:
    """In a notebook, show ``figure`` in the cell's output (elsewhere: nothing; it is saved and
    returned)."""
    if in_notebook():
        from IPython.display import display

        display(figure)


class LiveImage:
    """In a notebook, one PNG image in the cell's output, replaced in place through its display
    handle at every :meth:`update` (elsewhere: nothing; the caller writes a file instead)."""

    def __init__(self) -> None:
        self._handle: Any = None

    def update(self, png: bytes) -> None:
        """Show ``png`` in place of the previous image."""
        if not in_notebook():
            return
        from IPython.display import display

        data = {"image/png": base64.b64encode(png).decode(), "text/plain": "<radas live figure>"}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)


def clock(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _timing(elapsed_s: float | None, eta_s: float | None) -> str:
    parts = []
    if elapsed_s is not None:
        parts.append(f"elapsed {clock(elapsed_s)}")
    if eta_s is not None:
        parts.append(f"ETA {clock(eta_s)}")
    return ", ".join(parts)


_BAR = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}"


class ProgressBar:
    """A sweep's progress, updated in place: a ``tqdm`` bar on a terminal, an HTML bar in a
    notebook (one output, updated through its display handle), and a plain line per change
    in logs and CI (a change of the counts or status, not of the clock)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._notebook = in_notebook()
        self._tty = not self._notebook and sys.stdout.isatty()
        self._handle: Any = None
        self._bar: Any = None
        self._shown: tuple[Any, ...] = ()

    def update(self, done: int, total: int | None, status: str, elapsed_s: float | None = None,
               eta_s: float | None = None) -> None:
        """Show ``done`` of ``total`` trials (None: not known yet), a ``status`` text (running,
        errored, pending, best so far...) and the elapsed time and ETA in seconds."""
        total_n = max(total or 0, done)
        timing = _timing(elapsed_s, eta_s)
        key = (done, total_n, status) if not (self._tty or self._notebook) else (done, total_n, status, timing)
        if key == self._shown:
            return
        self._shown = key
        count = f"{done}/{total_n} done" if total_n else f"{done} done"
        line = f"{self.title}: {count}" + (f", {status}" if status else "")
        if self._notebook:
            self._show_html(done, total_n, status, timing, f"{line} ({timing})" if timing else line)
        elif self._tty:
            self._show_bar(done, total_n, status, timing)
        else:
            print(f"{line} ({timing})" if timing else line, flush=True)

    def _show_html(self, done: int, total: int, status: str, timing: str, plain: str) -> None:
        from IPython.display import display

        value = f'value="{done}" max="{total}"' if total else ""
        count = f"{done}/{total} done" if total else f"{done} done"
        text = " &middot; ".join(html.escape(t) for t in (count, status, timing) if t)
        data = {"text/plain": plain, "text/html": (
            f'<div style="font-family:monospace;line-height:1.6"><b>{html.escape(self.title)}</b> '
            f'<progress {value} style="width:16em;vertical-align:middle"></progress> {text}</div>')}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)

    def _show_bar(self, done: int, total: int, status: str, timing: str) -> None:
        postfix = ", ".join(t for t in (status, timing) if t)
        bar_format = _BAR if total else "{desc}: {n_fmt} done{postfix}"
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total or None, initial=done, desc=self.title, postfix=postfix, file=sys.stdout,
                             dynamic_ncols=True, leave=True, mininterval=0, bar_format=bar_format)
            _bars.append(self._bar)
            return
        self._bar.total, self._bar.n, self._bar.bar_format = total or None, done, bar_format
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """End the display (on a terminal, the bar's last state stays on its line)."""
        if self._bar is not None:
            _bars.remove(self._bar)
            self._bar.close()
            self._bar = None
