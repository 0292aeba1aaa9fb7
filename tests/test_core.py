"""Per-user folders."""

from __future__ import annotations

from pathlib import Path

import pytest

import radas
from radas.core import get_ray_results_dir


def test_folders_follow_environment(radas_root):
    assert get_ray_results_dir("alice") == str(radas_root / "results" / "alice") + "/"
    data = Path(radas.get_data_dir("alice"))
    cold = Path(radas.get_cold_data_dir("alice"))
    assert data == radas_root / "data" / "alice" and data.is_dir()
    assert cold == radas_root / "cold" / "alice" and cold.is_dir()


def test_config_file_local_table(monkeypatch, config_file, tmp_path):
    monkeypatch.delenv("RADAS_DATA_DIR")
    config_file(f'[local]\ndata_dir = "{tmp_path / "shared"}"\n')
    assert radas.get_data_dir("bob") == str(tmp_path / "shared" / "bob")


def test_default_is_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("RADAS_COLD_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert radas.get_cold_data_dir("carol") == str(tmp_path / "radas" / "cold-data" / "carol")


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden"])
def test_user_names_cannot_escape(bad):
    with pytest.raises(radas.RadasValueError, match="user_name"):
        radas.get_data_dir(bad)
