"""radas.rswanlab with real SwanLab: what a SwanLab run records, its modes and names. The
scenarios SwanLab shares with W&B (no-op blocks, re-init, the key sent to a server and written
nowhere, a Ray Tune grid) are in test_tracking.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trackers import SWANLAB, files_containing, swanlab_summary

from radas import rswanlab
from radas._tracking import stable_id
from radas.errors import RadasTypeError, RadasValueError
from radas.rswanlab import project_name, rswanlab_finish, rswanlab_init, rswanlab_log

API_KEY = SWANLAB.api_key
run_summary = swanlab_summary


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with SWANLAB.isolated(monkeypatch, tmp_path):
        yield


def block(**init_kwargs: Any) -> dict[str, Any]:
    return SWANLAB.block(**init_kwargs)


def test_offline_run_records_metrics_and_hides_key(tmp_path: Path) -> None:
    config = {
        "swanlab": block(mode="offline", log_dir=str(tmp_path / "sl"), project="proj", name="first"),
        "wandb": {"api_key": "other-secret"},
        "lr": 0.1,
    }
    run = rswanlab_init(config)
    assert run is not None and rswanlab.rswanlab_run() is run
    for step in range(3):
        rswanlab_log({"score": step * 1.5}, step=step)
    rswanlab_finish()
    assert rswanlab.rswanlab_run() is None
    rswanlab_log({"score": 99.0})  # after finish: a no-op

    (run_dir,) = (tmp_path / "sl").glob("run-*")
    summary = run_summary(run_dir)
    assert summary["finished"] and summary["start"].project == "proj" and summary["start"].name == "first"
    assert summary["scalars"]["score"] == [(0, 0.0), (1, 1.5), (2, 3.0)]
    config_text = (run_dir / "files" / "config.yaml").read_text()
    assert "lr" in config_text and "swanlab" not in config_text and "wandb" not in config_text
    assert files_containing(tmp_path, API_KEY, "other-secret") == []


def test_swanlab_mode_env_and_local_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWANLAB_MODE", "offline")
    assert rswanlab_init({"swanlab": {"api_key": API_KEY}, "a": 1}) is not None  # "enable" defaults to True
    rswanlab_log({"loss": 0.25})
    rswanlab_finish()
    (run_dir,) = (tmp_path / "swanlog").glob("run-*")  # SwanLab's default folder: ./swanlog
    assert run_summary(run_dir)["scalars"]["loss"][0][1] == 0.25

    monkeypatch.delenv("SWANLAB_MODE")
    rswanlab_init({"swanlab": block(mode="local", log_dir=str(tmp_path / "local"))})
    rswanlab_log({"acc": 0.5}, step=7)
    rswanlab_finish()
    (run_dir,) = (tmp_path / "local").glob("run-*")
    assert run_summary(run_dir)["scalars"]["acc"] == [(7, 0.5)]
    assert files_containing(tmp_path, API_KEY) == []


def test_invalid_blocks_and_names() -> None:
    with pytest.raises(RadasTypeError):
        rswanlab_init({"swanlab": ["on"]})
    with pytest.raises(RadasValueError, match="apikey"):
        rswanlab_init({"swanlab": {"apikey": "x"}})
    with pytest.raises(RadasTypeError, match="api_key"):
        rswanlab_init({"swanlab": {"api_key": 1234}})
    assert project_name("sweep@v2,lr=0.1") == "sweep_v2_lr_0.1"
    assert stable_id("exp", "abc_00001") == stable_id("exp", "abc_00001") != stable_id("exp", "abc_00002")
    assert len(stable_id("exp", "t")) == 21 and stable_id("exp", "t").isalnum()
