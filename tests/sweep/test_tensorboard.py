"""radas's TensorBoard logger: Tune's, flushing a trial's event file at most every
``TENSORBOARD_FLUSH_S`` (a flush put off is done by the next step of Tune's loop), only where Tune
would add its own, and saved in a sweep's state as an inert callback."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from ray import tune
from ray.tune.logger import TBXLoggerCallback
from tensorboardX import SummaryWriter

from radas import _ray


def _names(callbacks: list[object]) -> list[str]:
    return [type(c).__name__ for c in callbacks]


def test_it_is_added_only_where_tune_would_add_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _names(_ray.with_tensorboard_logger(None)) == ["TensorBoardLogger"]
    users = TBXLoggerCallback()
    assert _ray.with_tensorboard_logger([users]) == [users]
    monkeypatch.setenv("RAY_TUNE_CALLBACKS", "ray.tune.logger.TBXLoggerCallback")  # Tune adds the user's
    assert _ray.with_tensorboard_logger([]) == []
    monkeypatch.setenv("RAY_TUNE_CALLBACKS", "no.such.Callback")  # Tune's error to give, not ours
    assert _names(_ray.with_tensorboard_logger([])) == ["TensorBoardLogger"]
    monkeypatch.delenv("RAY_TUNE_CALLBACKS")
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    assert _ray.with_tensorboard_logger([]) == []


def test_a_sweeps_saved_state_holds_an_inert_callback_that_a_restore_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    saved = pickle.loads(pickle.dumps(_ray.with_tensorboard_logger([])))  # as in tuner.pkl
    assert [type(c) for c in saved] == [tune.Callback]  # a radas without the logger restores it too
    assert _names(_ray.with_tensorboard_logger(saved)) == ["TensorBoardLogger"]  # not one more per restore
    users = tune.Callback()  # a plain Callback of the user's is theirs
    assert _ray.with_tensorboard_logger([users, *saved])[0] is users
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # switched off for the restored run
    assert _ray.with_tensorboard_logger(saved) == []


def _put_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, Path, int]:
    """A trial's writer in radas's logger with a scalar whose flush was put off."""
    monkeypatch.setattr(_ray, "TENSORBOARD_FLUSH_S", 3600.0)
    (logger,) = _ray.with_tensorboard_logger([])
    writer = _ray._SeldomFlushed(SummaryWriter(str(tmp_path), flush_secs=3600))
    logger._trial_writer["trial"] = writer  # what log_trial_start sets up
    writer.add_scalar("ray/tune/score", 1.0, global_step=1)  # the writer's own methods, through it
    writer.flush()
    (events,) = tmp_path.glob("events.out.tfevents.*")
    return logger, events, events.stat().st_size


def test_a_flush_put_off_is_done_at_a_step_of_tunes_loop_once_due(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    logger, events, written = _put_off(tmp_path, monkeypatch)
    logger.on_step_end(iteration=1, trials=[])
    assert events.stat().st_size == written  # not due yet
    monkeypatch.setattr(_ray, "TENSORBOARD_FLUSH_S", 0.0)
    logger.on_step_end(iteration=2, trials=[])
    assert events.stat().st_size > written  # the scalar's event reached the file


def test_a_sweep_that_ends_with_trials_running_writes_what_was_put_off(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    logger, events, written = _put_off(tmp_path, monkeypatch)
    logger.on_experiment_end(trials=[])  # Tune ends no trial of a stopped sweep, it ends the sweep
    assert events.stat().st_size > written
