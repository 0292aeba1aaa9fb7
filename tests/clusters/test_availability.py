"""Cluster availability: every configured cluster probed at once, with short timeouts."""

from __future__ import annotations

import socket

from ray_cluster_fixture import free_port

from radas.clusters import (
    get_cluster_availability,
    get_cluster_availability_async,
    get_cluster_statuses,
)


def _config(ray_cluster) -> str:
    return (ray_cluster.config("testc")
            + f'\n[clusters.dead]\naddress = "http://127.0.0.1:{free_port()}"\n'
            'description = "96G GRAM, only use when you need GRAM > 32G per GPU"\n'
            f'\n[clusters.badtoken]\naddress = "{ray_cluster.address}"\ndescription = "wrong token"\n'
            f'auth_token_file = "{ray_cluster.root / "wrong-token"}"\n')


def test_online_offline_in_the_reference_format(ray_cluster, config_file):
    (ray_cluster.root / "wrong-token").write_text("not-the-token")
    config_file(_config(ray_cluster))
    text = get_cluster_availability()
    assert text.splitlines() == [
        "All available clusters are listed below, with status and suggestions of when to use which cluster:",
        "- [status: online] testc: local two-node test cluster, choose as the default choice",
        "- [status: offline] dead: 96G GRAM, only use when you need GRAM > 32G per GPU",
        "- [status: unauthorized] badtoken: wrong token",
    ]
    statuses = {s.name: s for s in get_cluster_statuses()}
    assert statuses["testc"].online and statuses["testc"].ray_version
    assert not statuses["dead"].online and "cannot reach http://127.0.0.1:" in statuses["dead"].detail


def test_a_cluster_that_never_answers_is_offline_after_the_timeout(config_file):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config_file(f'[clusters.silent]\naddress = "{address}"\ndescription = "a head that hangs"\n')
        text = get_cluster_availability(timeout=0.5)
        statuses = get_cluster_statuses(timeout=0.5)
    assert "- [status: offline] silent: a head that hangs" in text.splitlines()
    assert statuses[0].detail == f"no answer from {address}/api/version within 0.5 s"


async def test_async_form_inside_an_event_loop(ray_cluster, config_file):
    config_file(ray_cluster.config("testc"))
    assert "[status: online] testc" in await get_cluster_availability_async()
    assert "[status: online] testc" in get_cluster_availability()  # sync form works in a running loop too


def test_no_clusters_configured():
    assert "no clusters are configured" in get_cluster_availability()
