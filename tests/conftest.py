"""Shared test setup: every radas folder and the config file live under one temporary
folder for the whole session, set before Ray starts so its workers inherit them.

Tests that start Ray (this machine's, or the test cluster) carry the ``ray`` marker, tests that
train a model the ``train`` marker; the fast lane, ``pytest -m "not ray and not train"``, runs the
others. A test without the marker that starts Ray fails
at once, in either lane, so the lanes stay honest."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

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


RAY_FIXTURES = frozenset({"ray_cluster", "local_ray", "ray_local", "target"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a Ray fixture are ``ray`` tests (``target`` too, unless it is the in-process
    ``memory`` target: that starts no Ray, and the fast lane runs it)."""
    for item in items:
        fixtures = RAY_FIXTURES & set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if fixtures == {"target"} and callspec is not None and callspec.params.get("target") == "memory":
            continue
        if fixtures:
            item.add_marker(pytest.mark.ray)


@pytest.fixture(autouse=True)
def _ray_only_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting Ray in a test without the ``ray`` marker is an error."""
    if request.node.get_closest_marker("ray") is not None:
        return
    import ray

    from radas import _ray

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} starts Ray: mark it with @pytest.mark.ray")

    monkeypatch.setattr(_ray, "install", refuse)
    monkeypatch.setattr(ray, "init", refuse)


@pytest.fixture(autouse=True)
def _memory_sweeps_forgotten():
    """Sweeps that ``run_with="memory"`` ran live in the test process: each test starts without
    another test's."""
    yield
    from radas.backends import memory

    memory.clear()


@pytest.fixture(scope="session")
def radas_root() -> Path:
    """The temporary folder holding results, data, artifacts and the config file."""
    return _ROOT


@pytest.fixture(scope="session")
def local_ray() -> None:
    """This process's Ray, started the way radas starts it (once per test session)."""
    from radas.sweep._sweep import ensure_ray

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


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch):
    """A real SMTP server on loopback that keeps what it receives; radas's settings point at it."""
    from aiosmtpd.controller import Controller
    from smtp_server import Sink, free_port

    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    for var, value in {"RADAS_SMTP_HOST": "127.0.0.1", "RADAS_SMTP_PORT": str(port),
                       "RADAS_SMTP_SECURITY": "none", "RADAS_EMAIL_FROM": "radas@example.org"}.items():
        monkeypatch.setenv(var, value)
    yield sink
    controller.stop()


@pytest.fixture(params=["local", "cluster"])
def target(request, tmp_path, monkeypatch, config_file) -> Any:
    """Each scenario on this machine's Ray and on the test cluster; a module that parametrizes
    ``target`` indirectly may add ``"memory"``, the in-process target (its sweeps forgotten after
    the test)."""
    from backend_targets import TRAIN, USER, Target

    import radas

    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "radas_train.py").write_text(TRAIN)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("CI", "true")
    if request.param == "memory":
        from radas.backends import memory

        memory.clear()
        request.addfinalizer(memory.clear)
        return Target("memory", "memory", workdir, Path(radas.get_ray_results_dir(USER)),
                      Path(radas.get_data_dir(USER)))
    request.getfixturevalue("local_ray")
    if request.param == "local":
        return Target("local", "local", workdir, Path(radas.get_ray_results_dir(USER)),
                      Path(radas.get_data_dir(USER)))
    cluster = request.getfixturevalue("ray_cluster")
    config_file(cluster.config())
    return Target("cluster", "cluster:testc", workdir, cluster.client_mount / "results" / USER,
                  cluster.shared / "data" / USER, cluster)
