"""radas.rswanlab with real SwanLab: offline runs, a loopback server for the online path, a Ray Tune grid."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from radas import rswanlab
from radas._tracking import stable_id
from radas.errors import RadasTypeError, RadasValueError
from radas.rswanlab import project_name, rswanlab_finish, rswanlab_init, rswanlab_log

API_KEY = "radasSwanTestKey0123456789abcdef"
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# helpers: read what SwanLab wrote


def swanlab_records(run_dir: Path) -> list[Any]:
    """Every record of the run's ``.swanlab`` file, read with SwanLab's own reader."""
    from swanlab.proto.swanlab.record.v1.record_pb2 import Record
    from swanlab.sdk.internal.core_python.store import DataStoreReader

    (path,) = run_dir.glob("*.swanlab")
    reader = DataStoreReader()
    reader.open(str(path))
    records = []
    try:
        for payload in reader:
            record = Record()
            record.ParseFromString(payload)
            records.append(record)
    finally:
        reader.close()
    return records


def run_summary(run_dir: Path) -> dict[str, Any]:
    """The start record and the logged scalars (key -> [(step, value)]) of one run folder."""
    out: dict[str, Any] = {"start": None, "scalars": {}, "finished": False}
    for record in swanlab_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "start":
            out["start"] = record.start
        elif kind == "scalar":
            out["scalars"].setdefault(record.scalar.key, []).append((record.scalar.step, record.scalar.value.number))
        elif kind == "finish":
            out["finished"] = True
    return out


def files_containing(folder: Path, *needles: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            if any(n.encode() in content for n in needles):
                found.append(str(path))
    return found


# ---------------------------------------------------------------------------------------------
# fixtures


def _swanlab_env(patch: pytest.MonkeyPatch, home: Path) -> None:
    for var in list(os.environ):
        if var.startswith("SWANLAB_"):
            patch.delenv(var)
    patch.setenv("SWANLAB_ROOT", str(home / ".swanlab"))


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RADAS_CONFIG", str(tmp_path / "no-config.toml"))
    _swanlab_env(monkeypatch, home)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rswanlab._tracker, "run", None)
    yield
    rswanlab_finish()


def block(**init_kwargs: Any) -> dict[str, Any]:
    return {"enable": True, "api_key": API_KEY, "init_kwargs": init_kwargs}


# ---------------------------------------------------------------------------------------------
# outside Ray


def test_absent_or_disabled_are_noops(tmp_path: Path) -> None:
    for config in ({"lr": 0.1}, {"swanlab": None}, {"swanlab": {"enable": False, "api_key": API_KEY}}):
        assert rswanlab_init(config) is None
        assert rswanlab_log({"score": 1.0}) is None
        assert rswanlab_finish() is None
    assert not list(tmp_path.rglob("swanlog"))


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


def test_reinit_finishes_previous_run(tmp_path: Path) -> None:
    config = {"swanlab": block(mode="offline", log_dir=str(tmp_path / "sl"))}
    first = rswanlab_init(config)
    second = rswanlab_init(config)
    assert first is not second
    rswanlab_finish()
    assert len(list((tmp_path / "sl").glob("run-*"))) == 2


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


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """A SwanLab server stand-in that refuses every request and remembers the credentials."""

    seen: list[str] = []

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append(self.headers.get("Authorization") or "")
        body = b'{"code": 401, "message": "Unauthorized"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _refuse

    def log_message(self, *args: Any) -> None:
        pass


def test_online_key_sent_to_server_never_written(tmp_path: Path) -> None:
    """The api_key authenticates against the server (here a loopback stand-in) and lands in no file."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Unauthorized.seen = []
    try:
        api_host = f"http://127.0.0.1:{server.server_address[1]}"
        config = {"swanlab": block(mode="online", log_dir=str(tmp_path / "sl"), settings={"api_host": api_host})}
        with pytest.raises(Exception) as info:
            rswanlab_init(config)
        assert API_KEY not in str(info.value)
    finally:
        server.shutdown()
        server.server_close()
    assert any(API_KEY in header for header in _Unauthorized.seen)
    assert files_containing(tmp_path, API_KEY) == []
    assert not (tmp_path / "home" / ".netrc").exists()


# ---------------------------------------------------------------------------------------------
# inside a real Ray Tune grid


def test_ray_tune_grid_one_run_per_trial_env_and_init_kwargs_win(local_ray: None, tmp_path: Path) -> None:
    """Trial 1 gets radas's defaults; trial 2 sets SwanLab's own SWANLAB_LOG_DIR /
    SWANLAB_PROJECT_NAME, which win over them; trial 3 sets those and init_kwargs, which win over both."""
    from ray import tune

    home = tmp_path / "worker-home"
    env = {"HOME": str(home), "SWANLAB_ROOT": str(home / ".swanlab")}
    env_dir, kwargs_dir = tmp_path / "env-dir", tmp_path / "kwargs-dir"

    def trainable(config: dict[str, Any]) -> dict[str, Any]:
        # each trial runs in an actor process: isolate it from the real home and SWANLAB_*
        for var in [v for v in os.environ if v.startswith("SWANLAB_")]:
            del os.environ[var]
        os.environ.update(env)
        if config["a"] >= 2:
            os.environ.update(SWANLAB_LOG_DIR=str(env_dir), SWANLAB_PROJECT_NAME="env-project")
        if config["a"] == 3:
            config = {**config, "swanlab": {"init_kwargs": {"mode": "offline", "log_dir": str(kwargs_dir),
                                                            "project": "kwargs-project"}}}
        from radas.rswanlab import rswanlab_finish, rswanlab_init, rswanlab_log

        rswanlab_init(config)
        score = config["a"] * 10
        rswanlab_log({"score": score}, step=1)
        rswanlab_finish()
        return {"score": score}

    tuner = tune.Tuner(
        trainable,
        param_space={"swanlab": block(mode="offline"), "a": tune.grid_search([1, 2, 3])},
        run_config=tune.RunConfig(name="sl.sweep", storage_path=str(tmp_path / "results"), verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    assert len(results) == 3

    (default_dir,) = (tmp_path / "results" / "sl.sweep").glob("*/swanlog/run-*")
    (env_run_dir,) = env_dir.glob("run-*")
    (kwargs_run_dir,) = kwargs_dir.glob("run-*")
    scores, ids = set(), set()
    expected = ((default_dir, "sl.sweep"), (env_run_dir, "env-project"), (kwargs_run_dir, "kwargs-project"))
    for run_dir, project in expected:
        summary = run_summary(run_dir)
        start = summary["start"]
        assert summary["finished"]
        assert start.project == project and start.group == "sl.sweep"
        ids.add(start.id)
        scores.add(summary["scalars"]["score"][0][1])
        assert files_containing(run_dir, API_KEY) == []
    assert default_dir.parents[1].name.startswith(run_summary(default_dir)["start"].name)
    assert scores == {10.0, 20.0, 30.0} and len(ids) == 3
    assert files_containing(home, API_KEY) == []
