"""radas.get_client: the user's jobs on a cluster, stopping them, their logs."""

from __future__ import annotations

import time

import pytest

import radas


def submit(ray_cluster, user: str, experiment: str, command: str) -> str:
    """A job that carries radas's metadata, submitted straight through Ray's own client."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_cluster.address,
                                 headers={"Authorization": f"Bearer {ray_cluster.token_file.read_text()}"})
    return client.submit_job(entrypoint=command, metadata={
        "radas": "1", "radas_user": user, "radas_experiment": experiment})


def wait_status(client, job_id: str, wanted: set[str], timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = {r.job_id: r.status for r in client.list_experiments()}.get(job_id)
        if status in wanted:
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached {wanted}")


def test_display_stop_and_logs(ray_cluster, config_file, capsys):
    config_file(ray_cluster.config("testc"))
    client = radas.get_client("carol", "cluster:testc")
    done = submit(ray_cluster, "carol", "quick", "echo hello from the cluster")
    running = submit(ray_cluster, "carol", "long", "sleep 60")
    other = submit(ray_cluster, "dave", "theirs", "echo not carol's")
    wait_status(client, done, {"SUCCEEDED"})
    wait_status(client, running, {"RUNNING"})
    df = client.display_experiments()
    table = capsys.readouterr().out
    assert list(df.columns) == ["experiment", "job id", "status", "start", "duration", "stop with"]
    assert {"quick", "long"} <= set(df["experiment"]) and other not in set(df["job id"])
    assert f"radas.get_client('carol', 'cluster:testc').stop_job_by_id('{running}')" in table
    assert "hello from the cluster" in client.get_job_logs(done)
    assert client.stop_job_by_id(running) is True
    assert wait_status(client, running, {"STOPPED"}) == "STOPPED"
    assert client.stop_job_by_id(done) is False


def test_client_needs_a_cluster():
    with pytest.raises(radas.RadasValueError, match="cluster:<name>"):
        radas.get_client("carol", "local")
