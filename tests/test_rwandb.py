"""radas.rwandb with real wandb: offline runs, a loopback server for the online path, a Ray Tune grid."""

from __future__ import annotations

import base64
import http.server
import json
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wandb

from radas import rwandb
from radas._tracking import tracker_block
from radas.errors import RadasTypeError, RadasValueError
from radas.rwandb import rwandb_finish, rwandb_init, rwandb_log

API_KEY = "radastestkey0123456789abcdef0123456789abcdef"  # 40+ characters, like a real key
REPO = Path(__file__).resolve().parents[1]
WANDB_ENV = {"WANDB_ERROR_REPORTING": "false", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}


# ---------------------------------------------------------------------------------------------
# helpers: read what wandb wrote


def wandb_records(path: Path) -> list[Any]:
    """Every record of a ``.wandb`` file (LevelDB log format: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending, payloads = 7, b"", []
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0:  # zero padding up to the end of the block
            pos += left - 7
            continue
        chunk, pos = data[pos : pos + length], pos + length
        if kind == 1:
            payloads.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            payloads.append(pending + chunk)
    records = []
    for payload in payloads:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def finished_records(run_dir: Path, timeout: float = 60.0) -> list[Any]:
    """The records of the run in ``run_dir``, once wandb-core has written its exit record."""
    deadline = time.monotonic() + timeout
    while True:
        (wandb_file,) = run_dir.glob("*.wandb")
        records = wandb_records(wandb_file)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def run_summary(run_dir: Path) -> dict[str, Any]:
    """The run header, config and logged history of one run folder."""
    out: dict[str, Any] = {"history": [], "config": {}, "run": None}
    for record in finished_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "run" and out["run"] is None:
            out["run"] = record.run
            for item in record.run.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            items = record.history.item
            out["history"].append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in items})
    return out


def files_containing(folder: Path, *needles: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            if any(n.encode() in content for n in needles):
                found.append(str(path))
    return found


SECRETS = (API_KEY, base64.b64encode(f"api:{API_KEY}".encode()).decode())


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RADAS_CONFIG", str(tmp_path / "no-config.toml"))
    for var in list(os.environ):
        if var.startswith("WANDB_"):
            monkeypatch.delenv(var)
    for var, value in WANDB_ENV.items():
        monkeypatch.setenv(var, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rwandb._tracker, "run", None)
    wandb.teardown()  # wandb reads its environment variables once per setup
    yield
    rwandb_finish()
    wandb.teardown()


def block(**init_kwargs: Any) -> dict[str, Any]:
    return {"enable": True, "api_key": API_KEY, "init_kwargs": init_kwargs}


# ---------------------------------------------------------------------------------------------
# outside Ray


def test_absent_or_disabled_are_noops(tmp_path: Path) -> None:
    for config in ({"lr": 0.1}, {"wandb": None}, {"wandb": {"enable": False, "api_key": API_KEY}}):
        assert rwandb_init(config) is None
        assert rwandb_log({"score": 1.0}) is None
        assert rwandb_log({"score": 1.0}, step=3) is None
        assert rwandb_finish() is None
    assert not list(tmp_path.rglob("wandb"))


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


def test_reinit_finishes_previous_run(tmp_path: Path) -> None:
    config = {"wandb": block(mode="offline", dir=str(tmp_path))}
    first = rwandb_init(config)
    second = rwandb_init(config)
    assert first is not second and first.id != second.id
    rwandb_finish()
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 2


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


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """A W&B server stand-in that refuses every request and remembers the credentials."""

    seen: list[str] = []

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append(self.headers.get("Authorization") or "")
        body = b'{"errors": [{"message": "unauthorized"}]}'
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
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        settings = {"base_url": base_url, "init_timeout": 30}
        config = {"wandb": block(mode="online", dir=str(tmp_path / "wb"), settings=settings)}
        with pytest.raises(Exception) as info:
            rwandb_init(config)
        assert API_KEY not in str(info.value)
    finally:
        server.shutdown()
        server.server_close()
    assert f"Basic {SECRETS[1]}" in _Unauthorized.seen
    assert files_containing(tmp_path, *SECRETS) == []
    assert not (tmp_path / "home" / ".netrc").exists()


# ---------------------------------------------------------------------------------------------
# inside a real Ray Tune grid


def test_ray_tune_grid_one_run_per_trial_env_and_init_kwargs_win(local_ray: None, tmp_path: Path) -> None:
    """Trial 1 gets radas's defaults; trial 2 sets W&B's own WANDB_DIR / WANDB_PROJECT, which win
    over them; trial 3 sets those and init_kwargs, which win over both."""
    from ray import tune

    home = tmp_path / "worker-home"
    env = {"HOME": str(home), **WANDB_ENV}
    env.update({f"WANDB_{d}_DIR": str(home / d.lower()) for d in ("CACHE", "CONFIG", "DATA")})
    env_dir, kwargs_dir = tmp_path / "env-dir", tmp_path / "kwargs-dir"

    def trainable(config: dict[str, Any]) -> dict[str, Any]:
        # each trial runs in an actor process: isolate it from the real home and WANDB_*
        for var in [v for v in os.environ if v.startswith("WANDB_")]:
            del os.environ[var]
        os.environ.update(env)
        if config["a"] >= 2:
            os.environ.update(WANDB_DIR=str(env_dir), WANDB_PROJECT="env-project")
        if config["a"] == 3:
            config = {**config, "wandb": {"init_kwargs": {"mode": "offline", "dir": str(kwargs_dir),
                                                          "project": "kwargs-project"}}}
        from radas.rwandb import rwandb_finish, rwandb_init, rwandb_log

        rwandb_init(config)
        score = config["a"] * 10
        rwandb_log({"score": score})
        rwandb_finish()
        return {"score": score}

    tuner = tune.Tuner(
        trainable,
        param_space={"wandb": block(mode="offline"), "a": tune.grid_search([1, 2, 3])},
        run_config=tune.RunConfig(name="wb-sweep", storage_path=str(tmp_path / "results"), verbose=0),
    )
    results = tuner.fit()
    assert not results.errors
    assert len(results) == 3

    (default_dir,) = (tmp_path / "results" / "wb-sweep").glob("*/wandb/offline-run-*")
    (env_run_dir,) = (env_dir / "wandb").glob("offline-run-*")
    (kwargs_run_dir,) = (kwargs_dir / "wandb").glob("offline-run-*")
    seen = {}
    expected = ((default_dir, "wb-sweep"), (env_run_dir, "env-project"), (kwargs_run_dir, "kwargs-project"))
    for run_dir, project in expected:
        summary = run_summary(run_dir)
        run = summary["run"]
        assert run.project == project and run.run_group == "wb-sweep"
        assert run.display_name.endswith(run.run_id)  # trial name "trainable_<trial id>"
        assert run_dir.name.endswith(run.run_id)
        assert "wandb" not in summary["config"]
        seen[summary["config"]["a"]] = summary["history"][-1]["score"]
        assert files_containing(run_dir, *SECRETS) == []
    assert default_dir.parents[1].name.startswith(run_summary(default_dir)["run"].display_name)
    assert seen == {1: 10, 2: 20, 3: 30}
    assert files_containing(home, *SECRETS) == []
