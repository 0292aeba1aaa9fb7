"""radas.rswanlab with real SwanLab: its modes (SWANLAB_MODE, local), bad blocks and names. The
scenarios SwanLab shares with W&B (no-op blocks, what a run records, re-init, the key sent to a
server and written nowhere, a Ray Tune grid) are in test_tracking.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from trackers import SWANLAB, files_containing, swanlab_summary

from radas._tracking import stable_id
from radas.errors import RadasTypeError, RadasValueError
from radas.rswanlab import project_name, rswanlab_finish, rswanlab_init, rswanlab_log

isolated = SWANLAB.autouse_fixture()


def test_swanlab_mode_env_and_local_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWANLAB_MODE", "offline")
    assert rswanlab_init({"swanlab": {"api_key": SWANLAB.api_key}, "a": 1}) is not None  # "enable" defaults to True
    rswanlab_log({"loss": 0.25})
    rswanlab_finish()
    (run_dir,) = (tmp_path / "swanlog").glob("run-*")  # SwanLab's default folder: ./swanlog
    assert swanlab_summary(run_dir)["scalars"]["loss"][0][1] == 0.25

    monkeypatch.delenv("SWANLAB_MODE")
    rswanlab_init({"swanlab": SWANLAB.block(mode="local", log_dir=str(tmp_path / "local"))})
    rswanlab_log({"acc": 0.5}, step=7)
    rswanlab_finish()
    (run_dir,) = (tmp_path / "local").glob("run-*")
    assert swanlab_summary(run_dir)["scalars"]["acc"] == [(7, 0.5)]
    assert files_containing(tmp_path, SWANLAB.api_key) == []


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
