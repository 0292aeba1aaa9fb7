"""A trial's sample completions (radas.sweep.SampleLog): written at the 1st, 2nd, 4th... logged
step and the last, so a long run keeps a few lines; texts cut; never written or read through a
link; a line being written or a step logged twice (after a restore) read back sensibly."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from radas.sweep import SampleLog, read_samples
from radas.sweep._folder import SAMPLES_FILE
from radas.sweep._samples import TEXT_CHARS


def _log(folder: Path | None, steps: int) -> SampleLog:
    log = SampleLog(folder, lambda: [{"sample": "best", "reward": 1.0, "prompt": "p" * 5000, "completion": "c"}])
    for step in range(1, steps + 1):
        log.step(step)
    log.end()
    return log


def test_a_run_of_5000_logged_steps_keeps_its_first_middle_and_last_steps_in_a_few_lines(tmp_path: Path) -> None:
    _log(tmp_path, 5000)
    lines = (tmp_path / SAMPLES_FILE).read_text().splitlines()
    steps = read_samples(tmp_path)
    assert len(lines) == 14 and list(steps) == [2**k for k in range(13)] + [5000]
    (sample,) = steps[4096]
    assert len(sample["prompt"]) == TEXT_CHARS and sample["prompt"].endswith("...") and sample["completion"] == "c"
    assert (tmp_path / SAMPLES_FILE).stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other"
    other.mkdir()
    _log(other, 4)  # the last step was written already: not twice
    assert [json.loads(line)["step"] for line in (other / SAMPLES_FILE).read_text().splitlines()] == [1, 2, 4]


def test_no_folder_keeps_nothing_and_nothing_taken_writes_nothing(tmp_path: Path) -> None:
    taken = []
    log = SampleLog(None, lambda: taken.append(1) or [{"completion": "x"}])
    log.step(1)
    log.end()
    assert taken == [1]  # taken (the step's samples are not left for the next) and dropped
    empty = SampleLog(tmp_path, lambda: [])
    empty.step(1)
    empty.end()
    assert not (tmp_path / SAMPLES_FILE).exists()


def test_a_link_planted_as_the_samples_file_is_neither_written_nor_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    trial = tmp_path / "trial"
    trial.mkdir()
    os.symlink(victim, trial / SAMPLES_FILE)
    with caplog.at_level(logging.WARNING, logger="radas"):
        _log(trial, 3)
    assert victim.read_text() == "keep me\n"
    assert "not kept" in caplog.text
    assert read_samples(trial) == {}


def test_read_back_skips_a_line_being_written_and_a_relogged_step_keeps_its_last_line(tmp_path: Path) -> None:
    lines = [{"step": 4, "samples": [{"completion": "before the restore"}]},
             {"step": 2, "samples": [{"completion": "two"}]},
             {"step": 4, "samples": [{"completion": "after the restore"}]}]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"step": 8, "samp'
    (tmp_path / SAMPLES_FILE).write_text(text)
    assert read_samples(tmp_path) == {2: [{"completion": "two"}], 4: [{"completion": "after the restore"}]}
    assert read_samples(tmp_path / "missing") == {} and read_samples(None) == {}
