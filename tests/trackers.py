"""The two trackers radas wraps (W&B and SwanLab), described once for the tests that run the same
scenario on both: how to isolate one from the machine, how to read the runs it wrote, how its
server stand-in answers. Readers use each library's own record format."""

from __future__ import annotations

import base64
import http.server
import json
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WANDB_KEY = "radastestkey0123456789abcdef0123456789abcdef"  # 40+ characters, like a real key
SWANLAB_KEY = "radasSwanTestKey0123456789abcdef"
WANDB_ENV = {"WANDB_ERROR_REPORTING": "false", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
# what W&B sends in its Authorization header
WANDB_BASIC = base64.b64encode(f"api:{WANDB_KEY}".encode()).decode()


def files_containing(folder: Path, *needles: str) -> list[str]:
    """The files under ``folder`` that contain any of ``needles``."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            if any(n.encode() in content for n in needles):
                found.append(str(path))
    return found


# ---------------------------------------------------------------------------------------------
# W&B: the .wandb file of a run


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


def wandb_summary(run_dir: Path) -> dict[str, Any]:
    """The run header, config and logged history of one W&B run folder."""
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


# ---------------------------------------------------------------------------------------------
# SwanLab: the .swanlab file of a run


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


def swanlab_summary(run_dir: Path) -> dict[str, Any]:
    """The start record and the logged scalars (key -> [(step, value)]) of one SwanLab run folder."""
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


# ---------------------------------------------------------------------------------------------
# one tracker, as the shared scenarios see it


@dataclass(frozen=True)
class Run:
    """What a scenario checks of one run a tracker wrote."""

    project: str
    group: str
    name: str
    run_id: str
    scores: list[tuple[int, float]]  # (step, value) of each "score" logged
    config_keys: frozenset[str]
    finished: bool


@dataclass(frozen=True)
class Tracker:
    """A tracker (``wandb`` or ``swanlab``) as radas wraps it (``radas.r<name>``)."""

    name: str
    api_key: str
    secrets: tuple[str, ...]  # what must never be written to a file
    credential: str  # what the server must see in an Authorization header
    prefix: str  # its environment variables' prefix
    dir_key: str  # its init argument for the run folder
    dir_env: str  # ... and the environment variable for it
    project_env: str
    refusal: bytes  # its server's answer to a bad key
    online_settings: Callable[[str], dict[str, Any]]  # the settings that point it at a server
    runs: Callable[[Path], list[Path]]  # the run folders written under an init's run folder
    sweep_runs: str  # glob of the default run folders under a Tune experiment folder
    read: Callable[[Path], Run]

    @property
    def module(self) -> Any:
        import importlib

        return importlib.import_module(f"radas.r{self.name}")

    def init(self, config: dict[str, Any]) -> Any:
        return getattr(self.module, f"r{self.name}_init")(config)

    def log(self, metrics: dict[str, Any], step: int | None = None) -> Any:
        return getattr(self.module, f"r{self.name}_log")(metrics, step=step)

    def finish(self) -> Any:
        return getattr(self.module, f"r{self.name}_finish")()

    def block(self, **init_kwargs: Any) -> dict[str, Any]:
        """A config block that enables it with radas's test key."""
        return {"enable": True, "api_key": self.api_key, "init_kwargs": init_kwargs}

    def settings_env(self, home: Path) -> dict[str, str]:
        """Its own variables that keep it quiet and away from the real home's settings."""
        return dict(WANDB_ENV) if self.name == "wandb" else {"SWANLAB_ROOT": str(home / ".swanlab")}

    def trial_env(self, home: Path) -> dict[str, str]:
        """The environment of a trial process kept away from the real home."""
        env = {"HOME": str(home), **self.settings_env(home)}
        if self.name == "wandb":
            env.update({f"WANDB_{d}_DIR": str(home / d.lower()) for d in ("CACHE", "CONFIG", "DATA")})
        return env

    @contextmanager
    def isolated(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
        """The tracker with a fresh home, none of the machine's settings, no run of an earlier test."""
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("RADAS_CONFIG", str(tmp_path / "no-config.toml"))
        for var in list(os.environ):
            if var.startswith(self.prefix):
                monkeypatch.delenv(var)
        for var, value in self.settings_env(home).items():
            monkeypatch.setenv(var, value)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(self.module._tracker, "run", None)
        self._teardown()
        try:
            yield
        finally:
            self.finish()
            self._teardown()

    def autouse_fixture(self) -> Any:
        """An autouse fixture that isolates every test of a module (:meth:`isolated`)."""

        @pytest.fixture(autouse=True)
        def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
            with self.isolated(monkeypatch, tmp_path):
                yield

        return isolated

    def _teardown(self) -> None:
        if self.name == "wandb":
            import wandb

            wandb.teardown()  # wandb reads its environment variables once per setup


def _wandb_run(run_dir: Path) -> Run:
    summary = wandb_summary(run_dir)
    run = summary["run"]
    exited = any(r.WhichOneof("record_type") == "exit" for r in finished_records(run_dir))
    return Run(project=run.project, group=run.run_group, name=run.display_name, run_id=run.run_id,
               scores=[(h["_step"], h["score"]) for h in summary["history"] if "score" in h],
               config_keys=frozenset(summary["config"]), finished=exited)


def _swanlab_run(run_dir: Path) -> Run:
    import yaml

    summary = swanlab_summary(run_dir)
    start = summary["start"]
    config = run_dir / "files" / "config.yaml"
    keys = frozenset(yaml.safe_load(config.read_text()) or {}) if config.exists() else frozenset()
    return Run(project=start.project, group=start.group, name=start.name, run_id=start.id,
               scores=summary["scalars"].get("score", []), config_keys=keys, finished=summary["finished"])


WANDB = Tracker(
    name="wandb", api_key=WANDB_KEY, secrets=(WANDB_KEY, WANDB_BASIC), credential=f"Basic {WANDB_BASIC}",
    prefix="WANDB_", dir_key="dir", dir_env="WANDB_DIR", project_env="WANDB_PROJECT",
    refusal=b'{"errors": [{"message": "unauthorized"}]}',
    online_settings=lambda url: {"settings": {"base_url": url, "init_timeout": 30}},
    runs=lambda folder: sorted((folder / "wandb").glob("offline-run-*")),
    sweep_runs="*/wandb/offline-run-*", read=_wandb_run,
)
SWANLAB = Tracker(
    name="swanlab", api_key=SWANLAB_KEY, secrets=(SWANLAB_KEY,), credential=SWANLAB_KEY,
    prefix="SWANLAB_", dir_key="log_dir", dir_env="SWANLAB_LOG_DIR", project_env="SWANLAB_PROJECT_NAME",
    refusal=b'{"code": 401, "message": "Unauthorized"}',
    online_settings=lambda url: {"settings": {"api_host": url}},
    runs=lambda folder: sorted(folder.glob("run-*")),
    sweep_runs="*/swanlog/run-*", read=_swanlab_run,
)
TRACKERS = {"wandb": WANDB, "swanlab": SWANLAB}


@contextmanager
def refusing_server(body: bytes) -> Iterator[tuple[str, list[str]]]:
    """A tracker server stand-in on loopback that refuses every request with ``body`` (HTTP 401)
    and remembers each request's Authorization header: yields its URL and those headers."""
    seen: list[str] = []

    class Refuse(http.server.BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(self.headers.get("Authorization") or "")
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _refuse

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
