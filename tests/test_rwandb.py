"""radas.rwandb with real wandb: what a W&B run records, the W&B settings radas reads. The
scenarios W&B shares with SwanLab (no-op blocks, re-init, the key sent to a server and written
nowhere, a Ray Tune grid) are in test_tracking.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trackers import WANDB, files_containing, wandb_summary

from radas import rwandb
from radas._tracking import tracker_block
from radas.errors import RadasTypeError, RadasValueError
from radas.rwandb import rwandb_finish, rwandb_init, rwandb_log

API_KEY = WANDB.api_key
SECRETS = WANDB.secrets
run_summary = wandb_summary


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with WANDB.isolated(monkeypatch, tmp_path):
        yield


def block(**init_kwargs: Any) -> dict[str, Any]:
    return WANDB.block(**init_kwargs)


def test_offline_run_records_metrics_and_hides_key(tmp_path: Path) -> None:
    config = {"wandb": block(mode="offline", dir=str(tmp_path / "wb"), project="proj", name="first"), "lr": 0.1,
              "swanlab": {"api_key": "other-secret"}}
    run = rwandb_init(config)
    assert run is not None and rwandb.rwandb_run() is run
    for step in range(3):
        rwandb_log({"score": step * 1.5}, step=step)
    rwandb_finish()
    assert rwandb.rwandb_run() is None
    rwandb_log({"score": 99.0})  # after finish: a no-op

    (run_dir,) = (tmp_path / "wb" / "wandb").glob("offline-run-*")
    summary = run_summary(run_dir)
    assert [h["score"] for h in summary["history"]] == [0.0, 1.5, 3.0]
    assert summary["run"].project == "proj" and summary["run"].display_name == "first"
    assert summary["config"]["lr"] == 0.1
    assert "wandb" not in summary["config"] and "swanlab" not in summary["config"]
    assert files_containing(tmp_path, *SECRETS, "other-secret") == []


def test_wandb_mode_env_and_defaults_outside_a_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = rwandb_init({"wandb": {"api_key": API_KEY}, "a": 1})  # "enable" defaults to True
    rwandb_log({"loss": 0.25})
    rwandb_finish()
    assert run is not None
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")  # wandb's default dir: the cwd
    summary = run_summary(run_dir)
    assert summary["history"][0]["loss"] == 0.25 and summary["config"]["a"] == 1
    assert files_containing(tmp_path, *SECRETS) == []


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
    assert API_KEY not in repr(tracker_block({"wandb": block()}, "wandb"))
