"""The cluster registry of the config file."""

from __future__ import annotations

import pytest

import radas
from radas.clusters import clusters, get_cluster
from radas.clusters.addresses import cpu_per_node, gpu_per_cpu, gpu_per_node

CONFIG = """
[clusters.gpu-5090]
address = "http://10.0.0.1:8265"
description = "32G GRAM per GPU, choose as the default choice"
gpu_per_node = 8
cpu_per_node = 64

[clusters.pro6000]
address = "http://10.0.0.2:8265"
gpu_per_node = 4
cpu_per_node = 16
"""


def test_empty_registry_without_config():
    assert clusters() == {} and dict(gpu_per_node) == {}


def test_addresses_read_the_registry(config_file):
    config_file(CONFIG)
    assert get_cluster("gpu-5090").description.startswith("32G")
    assert gpu_per_cpu["gpu-5090"] == 8 / 64 and cpu_per_node["pro6000"] == 16 and gpu_per_node["pro6000"] == 4
    assert sorted(gpu_per_node) == ["gpu-5090", "pro6000"]


def test_unknown_cluster_lists_configured_ones_and_the_file(config_file):
    path = config_file(CONFIG)
    with pytest.raises(radas.ClusterNotFoundError) as info:
        get_cluster("a100")
    assert "gpu-5090, pro6000" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[clusters.x]\ndescription = 'no address'\n", ["[clusters.x]", "address", "required"]),
        ("[clusters.x]\naddress = 'http://h:8265'\ngpus = 2\n", ["[clusters.x]", "unknown key `gpus`", "gpu_per_node"]),
        ("[clusters.x]\naddress = 'http://h:8265'\ngpu_per_node = 'eight'\n", ["gpu_per_node", "int", "'eight'"]),
        ("[clusters\n", ["not valid TOML"]),
    ],
)
def test_invalid_config_names_file_table_and_key(config_file, text, words):
    path = config_file(text)
    with pytest.raises(radas.ConfigError) as info:
        clusters()
    for word in [str(path), *words]:
        assert word in str(info.value)


def test_the_token_path_is_the_file_the_token_is_read_from(tmp_path, monkeypatch):
    """``token_path`` follows ``auth_token``'s lookup: ``auth_token_file``, else ``$RAY_AUTH_TOKEN``
    (no file), else ``$RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``, whichever is a file."""
    from radas.clusters import Cluster

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    cluster = Cluster(name="c", address="http://127.0.0.1:9")
    assert cluster.token_path() is None and cluster.auth_token() is None
    default = tmp_path / ".ray" / "auth_token"
    default.parent.mkdir()
    default.write_text("from-default\n")
    assert (cluster.token_path(), cluster.auth_token()) == (default, "from-default")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    assert cluster.token_path() == default
    (tmp_path / "path-token").write_text("from-path\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "path-token"))
    assert (cluster.token_path(), cluster.auth_token()) == (tmp_path / "path-token", "from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert (cluster.token_path(), cluster.auth_token()) == (None, "from-env")
    (tmp_path / "file-token").write_text("from-file\n")
    configured = Cluster(name="c", address="http://127.0.0.1:9", auth_token_file="~/file-token")
    assert (configured.token_path(), configured.auth_token()) == (tmp_path / "file-token", "from-file")
