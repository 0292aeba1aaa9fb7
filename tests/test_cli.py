"""The `radas` command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from two_users import BOB, MALLORY, as_user, needs_root, shared_results

import radas
from radas.sweep import FAILED, FINISHED, STOPPED, DriverInfo, ExperimentFolder, Progress

HERE = Path(__file__).parent


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radas.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def table(out: str) -> dict[str, list[str]]:
    """The rows of a printed table by their first cell: ``{"lr-sweep": ["finished", "4/4", ...]}``
    (cells are separated by two spaces or more)."""
    import re

    rows = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]
    return {row[0]: row[1:] for row in rows}


def test_version_is_the_installed_packages() -> None:
    expected = f"radas {importlib.metadata.version('radas')}"
    assert cli("--version").stdout.strip() == expected
    console_script = shutil.which("radas")
    assert console_script is not None, "pip install -e . installs the `radas` command"
    done = subprocess.run([console_script, "--version"], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == expected


def _experiment(root: Path, user: str, name: str, state: str, done: int, total: int, errored: int = 0,
                best: float | None = None) -> ExperimentFolder:
    folder = ExperimentFolder(root / user, name)
    folder.path.mkdir(parents=True)
    progress = Progress(experiment=name, total=total, done=done, errored=errored, metric="score", mode="max",
                        best=best)
    if state != "running":
        progress.end(state)
    progress.write(folder.progress_file)
    return folder


def test_experiments_lists_status_progress_and_best(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _experiment(results, "frank", "lr-finished", FINISHED, 4, 4, best=0.93125)
    _experiment(results, "frank", "lr-stopped", STOPPED, 2, 4, best=0.5)
    _experiment(results, "frank", "lr-failed", FAILED, 1, 4, errored=1)
    _experiment(results, "frank", "lr-died", "running", 3, 8)  # its driver is gone: nobody holds the lock
    running = _experiment(results, "frank", "lr-running", "running", 1, 6, best=2.0)
    (results / "frank" / "plain").mkdir()  # a folder radas did not write
    (results / "frank" / "plain" / "result.json").write_text("{}")
    _experiment(results, "gina", "theirs", FINISHED, 1, 1)
    lock = running.take_lock(DriverInfo.of_this_process())  # this process drives it: the CLI sees a running sweep
    try:
        listed = cli("experiments", "frank", RADAS_RESULTS_DIR=str(results))
    finally:
        lock.release()
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert f"frank's experiments in {results / 'frank'}:" in listed.stdout
    rows = table(listed.stdout)
    assert rows["experiment"] == ["status", "done", "best", "updated"]
    assert rows["lr-finished"][:3] == ["finished", "4/4", "score=0.9313"]
    assert rows["lr-stopped"][:3] == ["stopped", "2/4", "score=0.5"]
    assert rows["lr-failed"][:3] == ["failed", "1/4 (1 errored)", "-"]
    assert rows["lr-died"][:3] == ["died", "3/8", "-"]
    assert rows["lr-running"][:3] == ["running", "1/6", "score=2"]
    assert rows["plain"] == ["unknown", "-", "-", "-"]
    assert "theirs" not in rows

    everyone = cli("experiments", "--all-users", RADAS_RESULTS_DIR=str(results)).stdout
    assert f"experiments in {results}:" in everyone
    rows_of = [line.split()[:4] for line in everyone.splitlines()[2:]]
    assert ["frank", "lr-finished", "finished", "4/4"] in rows_of and ["gina", "theirs", "finished", "1/1"] in rows_of
    assert len(rows_of) == 7

    nobody = cli("experiments", "nobody", RADAS_RESULTS_DIR=str(results))
    assert nobody.returncode == 0 and f"nobody has no experiments in {results / 'nobody'}" in nobody.stdout


def test_the_earlier_spellings_still_work_with_a_warning(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _experiment(results, "frank", "lr-finished", FINISHED, 4, 4)
    old = cli("experiments", "--user", "frank", RADAS_RESULTS_DIR=str(results))
    assert old.returncode == 0 and table(old.stdout)["lr-finished"][0] == "finished"
    assert "radas: warning: --user frank is deprecated" in old.stderr and "radas experiments frank" in old.stderr
    clash = cli("experiments", "gina", "--user", "frank", RADAS_RESULTS_DIR=str(results))
    assert clash.returncode == 2 and "name different users" in clash.stderr


def test_stop_and_logs_name_the_cluster_with_run_with() -> None:
    for command, where in (("stop", ()), ("logs", ("--run-with", "local"))):
        done = cli(command, "some-job", *where)
        assert done.returncode == 2 and "--run-with cluster:NAME" in done.stderr, done.stderr
    clash = cli("stop", "some-job", "--cluster", "a", "--run-with", "cluster:b")
    assert clash.returncode == 2 and "name different targets" in clash.stderr


def test_clusters_experiments_logs_and_stop(ray_cluster, config_file):
    if str(HERE / "clusters") not in sys.path:  # its helpers, when this file runs on its own
        sys.path.append(str(HERE / "clusters"))
    from test_client import submit, wait_status

    config_file(ray_cluster.config("testc") + '\n[clusters.dead]\naddress = "http://127.0.0.1:9"\n'
                'description = "closed"\n')
    out = cli("clusters").stdout
    assert "- [status: online] testc:" in out and "- [status: offline] dead: closed" in out
    # an experiment in the cluster's shared results folder, as this machine sees it
    client_results = Path(radas.get_ray_results_dir("erin", "cluster:testc")).parent
    _experiment(client_results, "erin", "cli-exp", FINISHED, 3, 3, best=0.25)
    job = submit(ray_cluster, "erin", "cli-exp", "sleep 60")
    wait_status(radas.get_client("erin", "cluster:testc"), job, {"RUNNING"})
    listed = cli("experiments", "erin", "--run-with", "cluster:testc")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    folders, jobs = listed.stdout.split("jobs on cluster 'testc':")
    assert table(folders)["cli-exp"][:3] == ["finished", "3/3", "score=0.25"]
    assert job in jobs and "RUNNING" in jobs and "stop_job_by_id" in jobs
    stopped = cli("stop", job, "--run-with", "cluster:testc")
    assert stopped.returncode == 0 and "stop requested" in stopped.stdout
    assert wait_status(radas.get_client("erin", "cluster:testc"), job, {"STOPPED"}) == "STOPPED"
    assert cli("logs", job, "--run-with", "cluster:testc").returncode == 0
    old = cli("logs", "--cluster", "testc", job)  # the earlier spelling, for one more release
    assert old.returncode == 0 and "--cluster testc is deprecated" in old.stderr
    assert "use --run-with cluster:testc" in old.stderr
    missing = cli("logs", job, "--run-with", "cluster:nope")
    assert missing.returncode == 1 and "no cluster named 'nope'" in missing.stderr


def test_unreachable_cluster_cli_error(config_file, tmp_path: Path):
    gone = '[clusters.gone]\naddress = "http://127.0.0.1:9"\n'
    missing = tmp_path / "not-mounted"
    for args, extra, says in (
            (("--run-with", "cluster:gone"), "", "cluster 'gone' has no results_dir in the radas config"),
            (("--cluster", "gone"), f'results_dir = "{missing}"\n',
             f"cluster 'gone': its results folder is not visible here ({missing} does not exist")):
        config_file(gone + extra)
        result = cli("experiments", *args, RADAS_JOBS_RETRY_S="1")  # a closed port: no need to wait it out
        assert result.returncode == 1 and "'gone'" in result.stderr and "does not answer" in result.stderr
        assert says in result.stdout
    assert "--cluster gone is deprecated" in result.stderr


@needs_root
def test_every_users_listing_says_which_folders_you_cannot_read(monkeypatch) -> None:
    """bob and mallory (two real uids) each ran a sweep, so radas made their folders 0700. mallory
    lists every user's experiments: hers, and a line saying she cannot read bob's, never a
    traceback; naming bob is an error naming his folder and its owner."""
    # what the children (other users, who cannot read Python's files under /root) run is imported here
    import psutil  # noqa: F401

    import radas.clusters
    import radas.core
    import radas.utils  # noqa: F401
    from radas.cli import main
    from radas.sweep import make_private_dirs

    def sweep_of(user: str):
        def run() -> None:  # what a sweep's driver does with its folder
            folder = ExperimentFolder(results / user, "exp")
            lock = folder.take_lock(DriverInfo.of_this_process())
            make_private_dirs(folder.path)
            progress = Progress(experiment="exp", total=2, done=2, metric="score", mode="max", best=1.0)
            progress.end(FINISHED)
            progress.write(folder.progress_file)
            lock.release()
        return run

    with shared_results() as results:
        monkeypatch.setenv("RADAS_RESULTS_DIR", str(results))
        monkeypatch.setenv("RADAS_CONFIG", str(results.parent / "no-config.toml"))
        monkeypatch.setenv("USER", "mallory")
        assert as_user(BOB, sweep_of("bob")) == 0 and as_user(MALLORY, sweep_of("mallory")) == 0
        assert stat.S_IMODE((results / "bob").stat().st_mode) == 0o700
        out = results.parent / "printed.txt"
        listed = as_user(MALLORY, lambda: main(["experiments", "--all-users"]), out)
        printed = out.read_text()
        assert listed == 0 and "Traceback" not in printed, printed
        assert f"experiments in {results}:" in printed and table(printed)["mallory"][:3] == ["exp", "finished", "2/2"]
        assert "bob: not readable by you" in printed.splitlines()
        named = as_user(MALLORY, lambda: main(["experiments", "bob"]), out)
        printed = out.read_text()
        assert named == 1 and "Traceback" not in printed, printed
        assert f"radas: error: the folder {results / 'bob'} is not readable by you" in printed
        assert f"it belongs to uid {BOB}" in printed
