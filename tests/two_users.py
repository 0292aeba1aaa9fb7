"""Tests as two users of one shared results folder: the tests run as root, so a forked child can
become another user (``os.setuid``) with only that user's permissions, real ones, on the real
filesystem.

A child cannot import what the parent has not imported (Python's own files are under ``/root``,
0700): call :func:`as_user` only with code whose modules are imported already.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MALLORY = 2002  # another user of the machine (no password entry needed: a uid is a user)
BOB = 2001

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as another user needs root")


def as_user(uid: int, fn: Callable[[], object], output: Path | None = None) -> int:
    """Run ``fn`` in a child process as user ``uid`` (and group ``uid``); its exit status: 0 when
    ``fn`` returned (or its int, when it returned one), 1 when it raised. With ``output``, what it
    printed (stdout and stderr, and the traceback of what it raised) is written there."""
    if output is not None:
        output.write_text("")
        os.chmod(output, 0o666)  # the child, as that user, writes into it
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 1
        printed = io.StringIO()
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                try:
                    returned = fn()
                    code = returned if isinstance(returned, int) else 0
                except BaseException:  # noqa: BLE001 - said in the output, as the exit status
                    traceback.print_exc()
        finally:
            with contextlib.suppress(BaseException):
                if output is not None:
                    output.write_text(printed.getvalue())
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@contextlib.contextmanager
def shared_results(mode: int = 0o1777) -> Iterator[Path]:
    """A results folder every user can reach and make their folder in (sticky, as ``/tmp``: by
    default), in a fresh folder of ``/tmp`` (the tests' own temporary folders are root's, 0700)."""
    base = Path(tempfile.mkdtemp(prefix="radas-two-users-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        results = base / "results"
        results.mkdir()
        os.chmod(results, mode)
        yield results
    finally:
        shutil.rmtree(base, ignore_errors=True)
