"""The ``target`` fixture: each backend scenario on this machine's Ray and on the test cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_targets import TRAIN, USER, Target

import radas


@pytest.fixture(params=["local", "cluster"])
def target(request, tmp_path, monkeypatch, config_file, local_ray) -> Target:
    """Each scenario on this machine's Ray and on the test cluster."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "radas_train.py").write_text(TRAIN)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("CI", "true")
    if request.param == "local":
        return Target("local", "local", workdir, Path(radas.get_ray_results_dir(USER)),
                      Path(radas.get_data_dir(USER)))
    cluster = request.getfixturevalue("ray_cluster")
    config_file(cluster.config())
    return Target("cluster", "cluster:testc", workdir, cluster.client_mount / "results" / USER,
                  cluster.shared / "data" / USER, cluster)
