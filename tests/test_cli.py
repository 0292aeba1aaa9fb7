"""The `radas` command line."""

from __future__ import annotations

import os
import subprocess
import sys

from test_client import submit, wait_status

import radas


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radas.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=60)


def test_clusters_experiments_logs_and_stop(ray_cluster, config_file):
    config_file(ray_cluster.config("testc") + '\n[clusters.dead]\naddress = "http://127.0.0.1:9"\n'
                'description = "closed"\n')
    out = cli("clusters").stdout
    assert "- [status: online] testc:" in out and "- [status: offline] dead: closed" in out
    job = submit(ray_cluster, "erin", "cli-exp", "sleep 60")
    wait_status(radas.get_client("erin", "cluster:testc"), job, {"RUNNING"})
    listed = cli("experiments", "--cluster", "testc", "--user", "erin").stdout
    assert "cli-exp" in listed and job in listed and "RUNNING" in listed and "stop_job_by_id" in listed
    stopped = cli("stop", "--cluster", "testc", job)
    assert stopped.returncode == 0 and "stop requested" in stopped.stdout
    assert wait_status(radas.get_client("erin", "cluster:testc"), job, {"STOPPED"}) == "STOPPED"
    assert cli("logs", "--cluster", "testc", job).returncode == 0
    missing = cli("logs", "--cluster", "nope", job)
    assert missing.returncode == 1 and "no cluster named 'nope'" in missing.stderr


def test_unreachable_cluster_cli_error(config_file):
    config_file('[clusters.gone]\naddress = "http://127.0.0.1:9"\n')
    result = cli("experiments", "--cluster", "gone")
    assert result.returncode == 1 and "'gone'" in result.stderr and "does not answer" in result.stderr
