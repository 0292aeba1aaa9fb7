"""Sample completions: what a trial's model wrote, a few at some of its logged steps, kept in the
trial's folder for the report page (``radas-samples.jsonl``).

A trial hands :class:`SampleLog` the samples of each logged step (for GRPO: the best and the
worst completion of the step's rollout, with its prompt and reward). The log writes them at the
1st, 2nd, 4th, 8th... logged step and at the last one, so a run of ``n`` logged steps writes
about ``log2(n) + 2`` lines of at most :data:`TEXT_CHARS` characters per text: the first, a middle
and the last step are always there, the file stays small, and a step costs the same at step 10
and at step 10,000. The file is appended to without following a link, readable by its owner only;
a write that fails is logged and never ends the trial. :func:`read_samples` reads it back
(bounded, a line being written skipped, the last line of a step that was logged twice - after a
restore - winning).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from radas.sweep._folder import SAMPLES_FILE

logger = logging.getLogger("radas")

TEXT_CHARS = 600  # of a prompt or a completion, kept (the rest cut, said with "...")
MAX_READ = 1 << 20  # bytes of a samples file read back (what a trial wrote beyond it is left out)
Sample = dict[str, Any]
Take = Callable[[], Sequence[Mapping[str, Any]]]  # the samples of the step being logged


def cut(text: str, limit: int = TEXT_CHARS) -> str:
    """``text`` within ``limit`` characters (its end replaced by "...")."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SampleLog:
    """Writes a trial's samples into ``folder``/``radas-samples.jsonl`` at its 1st, 2nd, 4th...
    logged step and at its last (:meth:`end`); ``take()`` gives the samples of the step being
    logged (their texts cut to :data:`TEXT_CHARS` characters). Without a folder (not in a trial,
    or storage that is not a filesystem) it keeps nothing."""

    def __init__(self, folder: str | os.PathLike[str] | None, take: Take) -> None:
        self.path = Path(folder) / SAMPLES_FILE if folder is not None else None
        self.take = take
        self.logged = 0
        self.latest: tuple[int, list[Sample]] | None = None  # the last logged step's, not written yet

    def step(self, step: int) -> None:
        """A step was logged: keep its samples; write them at the 1st, 2nd, 4th... logged step."""
        samples = [{k: cut(v) if isinstance(v, str) else v for k, v in s.items()} for s in self.take()]
        if self.path is None or not samples:
            return
        self.logged += 1
        self.latest = (step, samples)
        if self.logged & (self.logged - 1) == 0:  # a power of two
            self._write()

    def end(self) -> None:
        """Training ended: write the last logged step's samples (unless written already)."""
        if self.latest is not None:
            self._write()

    def _write(self) -> None:
        assert self.path is not None and self.latest is not None
        step, samples = self.latest
        self.latest = None
        line = json.dumps({"step": step, "samples": samples}, default=str) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:  # a full disk or a planted link: no samples, the trial goes on
            logger.warning("radas: sample completions of step %s not kept in %s: %s", step, self.path, exc)


def read_samples(trial_path: str | os.PathLike[str] | None) -> dict[int, list[Sample]]:
    """A trial's samples by logged step, in step order ({} when it kept none or its file cannot be
    read; never through a link)."""
    if not trial_path:
        return {}
    try:
        fd = os.open(Path(trial_path) / SAMPLES_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        data = os.read(fd, MAX_READ)
    except OSError:
        return {}
    finally:
        os.close(fd)
    steps: dict[int, list[Sample]] = {}
    for line in data.decode(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            step, samples = int(entry["step"]), [s for s in entry["samples"] if isinstance(s, Mapping)]
        except (ValueError, KeyError, TypeError):  # a line being written, or not ours
            continue
        steps[step] = [dict(s) for s in samples]
    return dict(sorted(steps.items()))
