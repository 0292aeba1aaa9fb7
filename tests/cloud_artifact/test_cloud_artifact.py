"""radas.cloud_artifact on a local root under tmp_path and on a real S3 server (moto) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import radas
import radas.cloud_artifact as rda
from radas.errors import RadasError, RadasTypeError, RadasValueError


@dataclasses.dataclass
class Point:
    x: int
    y: float


def _torch_value() -> Any:
    import torch

    return {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "step": 3}


FRAME = pd.DataFrame({"lr": [0.1, 0.01], "score": [0.5, 0.75], "name": ["a", "b"]})

CASES: list[tuple[str, Any]] = [
    ("objects/point.pkl", {"p": Point(1, 2.5), "t": (1, 2)}),
    ("cfg/params.json", {"lr": 0.1, "layers": [64, 64], "name": "é", "none": None}),
    ("arrays/a.npy", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ("model/weights.pt", "torch"),
    ("tables/df.parquet", FRAME),
    ("tables/df.csv", FRAME),
    ("notes/readme.txt", "hello\nwörld\n"),
    ("blobs/raw.bin", b"\x00\x01\xffradas"),
]


def assert_same(expected: Any, actual: Any) -> None:
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(expected, actual)
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(expected, actual)
    elif isinstance(expected, dict) and "w" in expected:
        import torch

        assert torch.equal(expected["w"], actual["w"]) and actual["step"] == 3
    else:
        assert actual == expected
        assert type(actual) is type(expected)


def round_trip_all() -> None:
    for path, value in CASES:
        if isinstance(value, str) and value == "torch":
            value = _torch_value()
        url = rda.save_cloud_artifact(path, value)
        assert url.endswith("/alice/" + path)
        assert_same(value, rda.load_cloud_artifact(path))
    assert rda.list_cloud_artifacts() == sorted(p for p, _ in CASES)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RADAS_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("RADAS_ARTIFACT_ROOT", raising=False)
    monkeypatch.setattr(rda, "_area", None)


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    rda.init(user_name="alice", root=str(root))
    return root


# ---------------------------------------------------------------------------------------------
# local root


def test_round_trip_every_format(local_root: Path) -> None:
    round_trip_all()
    assert (local_root / "alice" / "cfg" / "params.json").read_text(encoding="utf-8").startswith("{")
    assert (local_root / "alice" / "notes" / "readme.txt").read_bytes() == "hello\nwörld\n".encode()


def test_overwrite_and_wrong_types(local_root: Path) -> None:
    rda.save_cloud_artifact("x.json", [1])
    rda.save_cloud_artifact("x.json", [2])
    assert rda.load_cloud_artifact("x.json") == [2]
    with pytest.raises(RadasTypeError, match="DataFrame"):
        rda.save_cloud_artifact("t.csv", {"a": 1})
    with pytest.raises(RadasTypeError, match=r"\.pkl"):
        rda.save_cloud_artifact("blob.dat", {"a": 1})
    with pytest.raises(RadasTypeError, match=r"\.pkl"):
        rda.save_cloud_artifact("x.json", {"p": Point(1, 2)})
    with pytest.raises(RadasValueError, match=r"\.pkl"):
        rda.save_cloud_artifact("o.npy", np.array([Point(1, 2)], dtype=object))
    with pytest.raises(RadasTypeError):
        rda.save_cloud_artifact("n.txt", 42)
    assert rda.load_cloud_artifact("x.json") == [2]  # failed saves left the old artifact
    assert rda.list_cloud_artifacts() == ["x.json"]


def test_rm_file_and_folder_list_exists(local_root: Path) -> None:
    for name in ("run1/a.pkl", "run1/sub/b.pkl", "run2/c.pkl", "top.txt"):
        rda.save_cloud_artifact(name, name)
    assert rda.list_cloud_artifacts() == ["run1/a.pkl", "run1/sub/b.pkl", "run2/c.pkl", "top.txt"]
    assert rda.list_cloud_artifacts("run1") == ["run1/a.pkl", "run1/sub/b.pkl"]
    assert rda.list_cloud_artifacts("run1/") == ["run1/a.pkl", "run1/sub/b.pkl"]
    assert rda.list_cloud_artifacts("top.txt") == ["top.txt"]
    assert rda.list_cloud_artifacts("nothing-here") == []
    assert rda.cloud_artifact_exists("run1") and rda.cloud_artifact_exists("run1/sub/b.pkl")
    assert not rda.cloud_artifact_exists("run1/zzz.pkl")

    rda.rm_cloud_artifact("run1/a.pkl")
    assert not rda.cloud_artifact_exists("run1/a.pkl")
    rda.rm_cloud_artifact("run1")
    assert not rda.cloud_artifact_exists("run1") and not (local_root / "alice" / "run1").exists()
    assert rda.list_cloud_artifacts() == ["run2/c.pkl", "top.txt"]

    with pytest.raises(rda.ArtifactNotFoundError, match="run1"):
        rda.rm_cloud_artifact("run1")
    with pytest.raises(FileNotFoundError):
        rda.load_cloud_artifact("run1/a.pkl")
    with pytest.raises(RadasValueError, match="folder"):
        rda.load_cloud_artifact("run2")


def _outside_folder(tmp_path: Path) -> tuple[Path, list[str]]:
    """A user's folder next to the artifact root, with files that are not artifacts."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "thesis.tex").write_text("precious")
    (outside / "deep" / "data.csv").write_text("1,2,3")
    return outside, ["deep", "deep/data.csv", "thesis.tex"]


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_rm_removes_a_linked_folder_as_a_link_never_what_it_points_to(local_root: Path, tmp_path: Path) -> None:
    """A link in the artifact folder to a folder outside it: the listing shows it as one artifact,
    and removing it removes the link; the folder it points to keeps every file."""
    outside, files = _outside_folder(tmp_path)
    area = local_root / "alice"
    rda.save_cloud_artifact("run1/a.pkl", 1)
    (area / "data").symlink_to(outside)
    (area / "run1" / "data").symlink_to(outside)
    (area / "run1" / "notes.txt").symlink_to(outside / "thesis.tex")
    assert rda.list_cloud_artifacts() == ["data", "run1/a.pkl", "run1/data", "run1/notes.txt"]

    rda.rm_cloud_artifact("data")
    assert not (area / "data").is_symlink() and _tree(outside) == files
    rda.rm_cloud_artifact("run1/notes.txt")  # a link to a file: the link goes, the file stays
    assert (outside / "thesis.tex").read_text() == "precious"
    rda.rm_cloud_artifact("run1")  # a folder holding a link: the link is removed, not entered
    assert not (area / "run1").exists() and _tree(outside) == files
    assert rda.list_cloud_artifacts() == []


def test_rm_through_a_linked_folder_is_refused(local_root: Path, tmp_path: Path) -> None:
    outside, files = _outside_folder(tmp_path)
    area = local_root / "alice"
    (area / "run1").mkdir()
    (area / "run1" / "data").symlink_to(outside)
    for path in ("run1/data/thesis.tex", "run1/data/deep"):
        with pytest.raises(radas.UnsafePathError) as info:
            rda.rm_cloud_artifact(path)
        message = str(info.value)
        assert repr(path) in message and "'run1/data'" in message and str(outside) in message
        assert "rm_cloud_artifact('run1/data')" in message
    assert isinstance(info.value, PermissionError) and _tree(outside) == files
    with pytest.raises(rda.ArtifactNotFoundError):
        rda.rm_cloud_artifact("run1/nothing/x.pkl")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/",
        "..",
        "../x.pkl",
        "a/../../b.pkl",
        "/etc/passwd",
        "~/x.pkl",
        "s3://other/x.pkl",
        "a//b.pkl",
        "./a.pkl",
        "a\\b.pkl",
    ],
)
def test_paths_leaving_the_area_refused(local_root: Path, bad: str) -> None:
    with pytest.raises(RadasValueError) as info:
        rda.save_cloud_artifact(bad, b"x")
    assert repr(bad) in str(info.value)
    for fn in (rda.load_cloud_artifact, rda.rm_cloud_artifact, rda.cloud_artifact_exists):
        with pytest.raises(RadasValueError):
            fn(bad)
    if bad:
        with pytest.raises(RadasValueError):
            rda.list_cloud_artifacts(bad)
    assert not (local_root.parent / "x.pkl").exists()


def test_atomic_writes_leave_no_temp_files(local_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        rda.save_cloud_artifact("deep/folder/data.pkl", list(range(i)))
    rda.save_cloud_artifact("deep/folder/frame.parquet", FRAME)
    names = [name for _, _, files in os.walk(local_root) for name in files]
    assert sorted(names) == ["data.pkl", "frame.parquet"]

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full (simulated)")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="simulated"):
        patch.setattr(os, "replace", failing_replace)
        rda.save_cloud_artifact("deep/folder/data.pkl", "new")
    assert rda.load_cloud_artifact("deep/folder/data.pkl") == [0, 1, 2, 3]
    assert sorted(os.listdir(local_root / "alice" / "deep" / "folder")) == ["data.pkl", "frame.parquet"]


def test_not_initialized_and_bad_user() -> None:
    with pytest.raises(rda.NotInitializedError, match=r"rda.init\(user_name="):
        rda.save_cloud_artifact("a.pkl", 1)
    with pytest.raises(RadasError):
        rda.list_cloud_artifacts()
    with pytest.raises(RadasValueError, match="user_name"):
        rda.init(user_name="../bob")


def test_root_from_env_config_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert rda.init("alice") == str(tmp_path / "home" / "radas" / "artifacts" / "alice")
    config = tmp_path / "config.toml"
    config.write_text(f'[local]\nartifact_root = "{tmp_path / "from-config"}"\n')
    monkeypatch.setenv("RADAS_CONFIG", str(config))
    assert rda.init("alice") == str(tmp_path / "from-config" / "alice")
    monkeypatch.setenv("RADAS_ARTIFACT_ROOT", str(tmp_path / "from-env"))
    assert rda.init("alice") == str(tmp_path / "from-env" / "alice")
    rda.save_cloud_artifact("a.txt", "x")
    assert (tmp_path / "from-env" / "alice" / "a.txt").read_text() == "x"
    assert rda.get_cloud_artifact_root() == str(tmp_path / "from-env" / "alice")
    rda.init("bob")
    assert rda.list_cloud_artifacts() == []  # users do not see each other's artifacts


# ---------------------------------------------------------------------------------------------
# S3 (moto server on loopback)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    import s3fs  # noqa: F401 - the s3:// filesystem fsspec uses
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_root(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)  # honoured by botocore (and so s3fs)
    bucket = f"radas-{tmp_path.name.lower().replace('_', '-')[:40]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("RADAS_ARTIFACT_ROOT", f"s3://{bucket}/team")
    yield client, bucket


def keys(client: Any, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_s3_round_trip_every_format(s3_root) -> None:
    client, bucket = s3_root
    assert rda.init(user_name="alice") == f"s3://{bucket}/team/alice"
    round_trip_all()
    assert keys(client, bucket) == sorted(f"team/alice/{p}" for p, _ in CASES)
    body = client.get_object(Bucket=bucket, Key="team/alice/notes/readme.txt")["Body"].read()
    assert body == "hello\nwörld\n".encode()


def test_s3_rm_list_exists_and_escapes(s3_root) -> None:
    client, bucket = s3_root
    rda.init(user_name="alice")
    for name in ("run1/a.pkl", "run1/sub/b.json", "run2/c.txt"):
        rda.save_cloud_artifact(name, name)
    assert rda.list_cloud_artifacts("run1") == ["run1/a.pkl", "run1/sub/b.json"]
    assert rda.cloud_artifact_exists("run1") and not rda.cloud_artifact_exists("run3")
    rda.rm_cloud_artifact("run1/a.pkl")
    assert rda.list_cloud_artifacts() == ["run1/sub/b.json", "run2/c.txt"]
    rda.rm_cloud_artifact("run1")
    assert rda.list_cloud_artifacts() == ["run2/c.txt"]
    assert not rda.cloud_artifact_exists("run1")
    with pytest.raises(rda.ArtifactNotFoundError):
        rda.load_cloud_artifact("run1/sub/b.json")
    with pytest.raises(RadasValueError, match=r"\.\./bob"):
        rda.save_cloud_artifact("../bob/x.pkl", 1)
    rda.init(user_name="bob")
    assert rda.list_cloud_artifacts() == []
    assert keys(client, bucket) == ["team/alice/run2/c.txt"]


WILD = ("runs/lr1.pkl", "runs/lr[1].pkl", "abc.pkl", "ax/y.pkl", "a*.pkl", "a?c.pkl", "keep/[x]/z.pkl")


def _remove_wildcard_names_literally() -> None:
    for name in WILD:
        rda.save_cloud_artifact(name, name)
    rda.rm_cloud_artifact("runs/lr[1].pkl")  # fsspec's rm would take this for runs/lr1.pkl
    rda.rm_cloud_artifact("a*.pkl")  # ... and this for abc.pkl and every a... artifact
    rda.rm_cloud_artifact("a?c.pkl")
    rda.rm_cloud_artifact("keep/[x]")
    assert rda.list_cloud_artifacts() == ["abc.pkl", "ax/y.pkl", "runs/lr1.pkl"]
    assert rda.load_cloud_artifact("runs/lr1.pkl") == "runs/lr1.pkl"


@pytest.mark.parametrize("root", ["memory", "local"])
def test_names_with_wildcard_characters_are_removed_literally(root: str, tmp_path: Path) -> None:
    rda.init(user_name="alice", root=f"memory://wild-{tmp_path.name}" if root == "memory" else str(tmp_path))
    _remove_wildcard_names_literally()


def test_s3_names_with_wildcard_characters_are_removed_literally(s3_root) -> None:
    rda.init(user_name="alice")
    _remove_wildcard_names_literally()
