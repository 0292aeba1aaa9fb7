"""Shared test setup: every radas folder and the config file live under one temporary
folder for the whole session, set before Ray starts so its workers inherit them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["ray_cluster_fixture"]  # the `ray_cluster` fixture: a real Ray cluster on 127.0.0.1

_ROOT = Path(tempfile.mkdtemp(prefix="radas-tests-"))
for _var, _sub in (
    ("RADAS_RESULTS_DIR", "results"),
    ("RADAS_DATA_DIR", "data"),
    ("RADAS_COLD_DATA_DIR", "cold"),
    ("RADAS_ARTIFACT_ROOT", "artifacts"),
):
    os.environ[_var] = str(_ROOT / _sub)
os.environ["RADAS_CONFIG"] = str(_ROOT / "config.toml")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def radas_root() -> Path:
    """The temporary folder holding results, data, artifacts and the config file."""
    return _ROOT


@pytest.fixture(scope="session")
def local_ray() -> None:
    """This process's Ray, started the way radas starts it (once per test session)."""
    from radas.backends._sweep import ensure_ray

    ensure_ray()


@pytest.fixture
def config_file(radas_root: Path):
    """Write the radas config file for one test (removed afterwards)."""
    path = radas_root / "config.toml"

    def write(text: str) -> Path:
        path.write_text(text)
        return path

    yield write
    path.unlink(missing_ok=True)
