"""Sample completions: what a trial's model wrote, a few at some of its logged steps, kept in the
trial's folder for the report page.

A trial hands :class:`SampleLog` the samples of each logged step (for GRPO: the best and the
worst completion of the step's rollout, with its prompt and reward). The log keeps

* the last logged step's in ``radas-samples-last.json``, replaced (atomically) at every logged
  step, so a trial that a scheduler stops, a crash ends or a stall watchdog kills still shows its
  last step;
* in ``radas-samples.jsonl``, the first logged step of each power of two (steps 1, 2-3, 4-7,
  8-15...: one line each), the steps already there read once when the log starts, so a restored or
  retried trial adds no line for a range it has: at most ``log2(last step) + 1`` lines, whatever
  the number of restores.

Texts are cut to :data:`TEXT_CHARS` characters, so the files stay small and a step costs the same
at step 10 and at step 10,000. Files are written without following a link, readable by their
owner only; a write that fails is logged and never ends the trial. :func:`read_samples` reads
them back (bounded; a line being written skipped; a step written twice, after a restore, keeps
its last).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from radas._safefile import write_atomic
from radas.sweep._folder import LAST_SAMPLES_FILE, SAMPLES_FILE

logger = logging.getLogger("radas")

TEXT_CHARS = 600  # of a prompt or a completion, kept (the rest cut, said with "...")
MAX_READ = 4 << 20  # bytes of a samples file read back (what a trial wrote beyond it is left out)
Sample = dict[str, Any]
Take = Callable[[], Sequence[Mapping[str, Any]]]  # the samples of the step being logged


def cut(text: str, limit: int = TEXT_CHARS) -> str:
    """``text`` within ``limit`` characters (its end replaced by "...")."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _range(step: int) -> int:
    """The power-of-two range of ``step`` (0: step 0 or below, 1: step 1, 2: 2-3, 3: 4-7...)."""
    return max(step, 0).bit_length()


class SampleLog:
    """Keeps a trial's samples in ``folder`` (see the module): ``take()`` gives the samples of
    the step being logged (their texts are cut to :data:`TEXT_CHARS` characters). Without a
    folder (not in a trial, or storage that is not a filesystem) it keeps nothing."""

    def __init__(self, folder: str | os.PathLike[str] | None, take: Take) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.take = take
        self.ranges: set[int] | None = None  # the power-of-two ranges written, read at the first step

    def step(self, step: int) -> None:
        """A step was logged: keep its samples."""
        samples = [{k: cut(v) if isinstance(v, str) else v for k, v in s.items()} for s in self.take()]
        if self.folder is None or not samples:
            return
        if self.ranges is None:
            self.ranges = {_range(s) for s in _read_lines(self.folder)}
        line = json.dumps({"step": step, "samples": samples}, ensure_ascii=False, default=str)
        try:
            write_atomic(self.folder / LAST_SAMPLES_FILE, line.encode())
            if _range(step) not in self.ranges:
                self.ranges.add(_range(step))
                fd = os.open(self.folder / SAMPLES_FILE,
                             os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    os.write(fd, (line + "\n").encode())
                finally:
                    os.close(fd)
        except OSError as exc:  # a full disk or a planted link: no samples, the trial goes on
            logger.warning("radas: sample completions of step %s not kept in %s: %s", step, self.folder, exc)


def _read(path: Path) -> str:
    """The text of ``path`` (at most :data:`MAX_READ` bytes; never through a link; "" when it
    cannot be read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return os.read(fd, MAX_READ).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _entry(line: str) -> tuple[int, list[Sample]] | None:
    try:
        entry = json.loads(line)
        return int(entry["step"]), [dict(s) for s in entry["samples"] if isinstance(s, Mapping)]
    except (ValueError, KeyError, TypeError):  # a line being written, or not ours
        return None


def _read_lines(folder: Path) -> dict[int, list[Sample]]:
    steps: dict[int, list[Sample]] = {}
    for line in _read(folder / SAMPLES_FILE).splitlines():
        entry = _entry(line)
        if entry is not None:
            steps[entry[0]] = entry[1]
    return steps


def read_samples(trial_path: Any) -> dict[int, list[Sample]]:
    """A trial's samples by logged step, in step order, its last logged step last ({} when it
    kept none, its files cannot be read or ``trial_path`` is not a path; never through a link)."""
    if not isinstance(trial_path, (str, os.PathLike)) or not str(trial_path):
        return {}
    folder = Path(trial_path)
    steps = _read_lines(folder)
    last = _entry(_read(folder / LAST_SAMPLES_FILE))
    if last is not None:
        steps = {s: kept for s, kept in steps.items() if s < last[0]}
        steps[last[0]] = last[1]
    return dict(sorted(steps.items()))
