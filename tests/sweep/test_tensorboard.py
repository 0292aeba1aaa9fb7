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
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # switched off for the restored run
    assert _ray.with_tensorboard_logger(saved) == []


def test_a_flush_put_off_is_done_once_due(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ray, "TENSORBOARD_FLUSH_S", 3600.0)
    writer = _ray._SeldomFlushed(SummaryWriter(str(tmp_path), flush_secs=3600))
    writer.add_scalar("ray/tune/score", 1.0, global_step=1)  # the writer's own methods, through it
    writer.flush()  # put off
    (events,) = tmp_path.glob("events.out.tfevents.*")
    written = events.stat().st_size
    monkeypatch.setattr(_ray, "TENSORBOARD_FLUSH_S", 0.0)
    writer.flush_due()
    assert events.stat().st_size > written  # the scalar's event reached the file
    writer.close()
