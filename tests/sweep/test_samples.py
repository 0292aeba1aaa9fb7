"""A trial's sample completions (radas.sweep.SampleLog): the first logged step of each power-of-two
range and the last logged step, so a long run keeps a few lines whatever its restores, and a trial
stopped or killed mid-run still shows its last step; texts cut; never written or read through a
link; a line being written, a step logged again after a restore, or no path read back sensibly."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pytest

from radas.sweep import SampleLog, read_samples
from radas.sweep._folder import LAST_SAMPLES_FILE, SAMPLES_FILE
from radas.sweep._samples import TEXT_CHARS


def _log(folder: Path | None, steps: range, text: str = "c") -> SampleLog:
    """A trial that logs ``steps`` (never told that training ended: a scheduler may stop it)."""
    written: list[dict] = []
    log = SampleLog(folder, written.copy)
    for step in steps:
        written[:] = [{"sample": "best", "reward": 1.0, "prompt": "p" * 5000, "completion": f"{text}@{step}"}]
        log.step(step)
    return log


def _lines(folder: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (folder / SAMPLES_FILE).read_text().splitlines()]


def test_a_run_of_5000_logged_steps_keeps_a_line_per_power_of_two_and_its_last_step(tmp_path: Path) -> None:
    _log(tmp_path, range(1, 5001))
    assert _lines(tmp_path) == [2**k for k in range(13)]
    steps = read_samples(tmp_path)
    assert list(steps) == [2**k for k in range(13)] + [5000]
    (sample,) = steps[4096]
    assert len(sample["prompt"]) == TEXT_CHARS and sample["prompt"].endswith("...") and sample["completion"] == "c@4096"
    assert steps[5000][0]["completion"] == "c@5000"  # never told that training ended: the last step is there
    for name in (SAMPLES_FILE, LAST_SAMPLES_FILE):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_restores_add_no_lines_and_a_step_logged_again_keeps_its_last_samples(tmp_path: Path) -> None:
    # logged every 10 steps, restored from the checkpoint of every 300th step after running 120 more
    for start in range(0, 6000, 300):
        _log(tmp_path, range(start + 10, min(start + 420, 6001), 10), text=f"run{start}")
    assert _lines(tmp_path) == [10, 20, 40, 70, 130, 260, 520, 1030, 2050, 4100]
    steps = read_samples(tmp_path)
    assert max(steps) == 6000 and steps[6000][0]["completion"] == "run5700@6000"
    # restored from step 300 after a first run that had logged up to 420: steps past 300 are re-run
    other = tmp_path / "other"
    other.mkdir()
    _log(other, range(10, 421, 10), text="first")
    _log(other, range(310, 351, 10), text="again")
    steps = read_samples(other)
    assert max(steps) == 350 and steps[350][0]["completion"] == "again@350" and 260 in steps


def test_long_texts_in_any_script_stay_within_their_bound(tmp_path: Path) -> None:
    _log(tmp_path, range(1, 2001), text="漢字" * 1000)
    size = (tmp_path / SAMPLES_FILE).stat().st_size
    assert size < 12 * 2 * TEXT_CHARS * 4  # 12 lines, two texts of at most 600 characters of 4 bytes
    assert read_samples(tmp_path)[2000][0]["completion"].startswith("漢字")


def test_no_folder_keeps_nothing_and_nothing_taken_writes_nothing(tmp_path: Path) -> None:
    taken = []
    log = SampleLog(None, lambda: taken.append(1) or [{"completion": "x"}])
    log.step(1)
    assert taken == [1]  # taken (the step's samples are not left for the next) and dropped
    SampleLog(tmp_path, lambda: []).step(1)
    assert not (tmp_path / SAMPLES_FILE).exists() and not (tmp_path / LAST_SAMPLES_FILE).exists()


def test_a_link_planted_as_a_samples_file_is_neither_written_through_nor_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    trial = tmp_path / "trial"
    trial.mkdir()
    os.symlink(victim, trial / SAMPLES_FILE)
    with caplog.at_level(logging.WARNING, logger="radas"):
        _log(trial, range(1, 4))
    assert victim.read_text() == "keep me\n"
    assert "not kept" in caplog.text
    os.replace(trial / LAST_SAMPLES_FILE, tmp_path / "moved")
    os.symlink(tmp_path / "moved", trial / LAST_SAMPLES_FILE)
    assert read_samples(trial) == {}


def test_read_back_skips_a_line_being_written_and_anything_that_is_not_a_path(tmp_path: Path) -> None:
    lines = [{"step": 4, "samples": [{"completion": "before the restore"}]},
             {"step": 2, "samples": [{"completion": "two"}]},
             {"step": 4, "samples": [{"completion": "after the restore"}]}]
    text = "".join(json.dumps(line) + "\n" for line in lines) + '{"step": 8, "samp'
    (tmp_path / SAMPLES_FILE).write_text(text)
    assert read_samples(tmp_path) == {2: [{"completion": "two"}], 4: [{"completion": "after the restore"}]}
    for nothing in (tmp_path / "missing", None, math.nan, ""):
        assert read_samples(nothing) == {}
