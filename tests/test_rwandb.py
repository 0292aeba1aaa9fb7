"""radas.rwandb with real wandb: W&B's own settings (WANDB_MODE, defaults outside a trial) and
bad blocks. The scenarios W&B shares with SwanLab (no-op blocks, what a run records, re-init, the
key sent to a server and written nowhere, a Ray Tune grid) are in test_tracking.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from trackers import WANDB, files_containing, wandb_summary

from radas._tracking import tracker_block
from radas.errors import RadasTypeError, RadasValueError
from radas.rwandb import rwandb_finish, rwandb_init, rwandb_log

isolated = WANDB.autouse_fixture()


def test_wandb_mode_env_and_defaults_outside_a_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = rwandb_init({"wandb": {"api_key": WANDB.api_key}, "a": 1})  # "enable" defaults to True
    rwandb_log({"loss": 0.25})
    rwandb_finish()
    assert run is not None
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")  # wandb's default dir: the cwd
    summary = wandb_summary(run_dir)
    assert summary["history"][0]["loss"] == 0.25 and summary["config"]["a"] == 1
    assert files_containing(tmp_path, *WANDB.secrets) == []


def test_invalid_blocks() -> None:
    with pytest.raises(RadasTypeError):
        rwandb_init({"wandb": "yes"})
    with pytest.raises(RadasValueError, match="init_kwarg"):
        rwandb_init({"wandb": {"enable": True, "init_kwarg": {}}})
    with pytest.raises(RadasTypeError, match="enable"):
        rwandb_init({"wandb": {"enable": "false"}})
    with pytest.raises(RadasTypeError, match="init_kwargs"):
        rwandb_init({"wandb": {"init_kwargs": ["offline"]}})
    with pytest.raises(RadasTypeError):
        rwandb_init([("wandb", {})])  # type: ignore[arg-type]
    assert WANDB.api_key not in repr(tracker_block({"wandb": WANDB.block()}, "wandb"))
