"""The one place user-facing messages go through.

Looks right in a terminal (colour when stdout is a TTY) and in a notebook (plain text;
progress updates one line in place through IPython's display). Library diagnostics use
``logging.getLogger("radas")`` instead.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

logger = logging.getLogger("radas")

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
    """Print one message of ``kind`` (info, warning, error, ok) with a ``[radas]`` prefix."""
    text = " ".join(str(p) for p in parts)
    prefix = "[radas]" if kind in ("info", "ok") else f"[radas {kind}]"
    if _use_colour():
        prefix = f"{_COLOURS.get(kind, '')}{prefix}{_RESET}"
    stream = sys.stderr if kind == "error" else sys.stdout
    print(f"{prefix} {text}", file=stream, flush=True)
    logger.debug("%s: %s", kind, text)


def show(figure: Any) -> None:
    """In a notebook, show ``figure`` in the cell's output (elsewhere: nothing; it is saved and
    returned)."""
    if in_notebook():
        from IPython.display import display

        display(figure)


class LiveLine:
    """One status line updated in place: ``\\r`` on a TTY, a display handle in a notebook,
    and (for logs and CI) a new line only when the text changes."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._last = ""
        self._tty = _use_colour()
        self._notebook = in_notebook()

    def update(self, text: str) -> None:
        """Show ``text`` as the current status."""
        if text == self._last:
            return
        self._last = text
        if self._notebook:
            from IPython.display import display

            if self._handle is None:
                self._handle = display({"text/plain": text}, raw=True, display_id=True)
            else:
                self._handle.update({"text/plain": text}, raw=True)
        elif self._tty:
            sys.stdout.write("\r\033[2K" + text)
            sys.stdout.flush()
        else:
            print(text, flush=True)

    def close(self) -> None:
        """End the line (a newline on a TTY)."""
        if self._tty and self._last:
            sys.stdout.write("\n")
            sys.stdout.flush()
