"""No secret in anything Ray keeps or shows, on local Ray and on the test cluster, while the trials
(and Ray's W&B logging actors) still have them in their environment.

Ray copies secrets into actors' runtime_env on its own: Tune the driver's AWS keys into every
trial's, ``WandbLoggerCallback`` the driver's ``WANDB_API_KEY`` into its logging actor's. A
runtime_env is what Ray's State API, its dashboard and its runtime_env agent's logs show. Here
the keys are given in every form radas takes (``runtime_env`` ``env_vars``, a tracker ``api_key``
in ``param_space``, the driver's own environment) and looked for where a user (or anyone who can
reach the dashboard) would find them: each actor's runtime_env as Ray's State API lists it, the
job's from the Jobs API, the trial's own ``ray.get_runtime_context().runtime_env``, every file of
the results and of Ray's session folders, the job's log, and what radas printed and logged.

A cluster job uploads the working dir: radas's own files in it (the config file with the SMTP
password, the cluster's token file, the results folders, any ``.radas-secrets`` folder) stay out
of the package Ray unpacks on the cluster's nodes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import ray
from backend_targets import USER, Target, name
from ray import tune
from ray.air.integrations.wandb import WandbLoggerCallback, _QueueItem, _WandbLoggingActor

import radas
from radas.backends.cluster import ClusterBackend, _check_working_dir
from radas.clusters import Cluster, get_cluster

NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "WANDB_API_KEY", "HF_TOKEN",
         "MY_SERVICE_TOKEN")
AWS = NAMES[:3]


def _digest(value: str | None) -> str:
    return hashlib.sha256((value or "").encode()).hexdigest()


def probe(config: dict[str, Any]) -> dict[str, Any]:
    """A trial: what it has of each secret (digests), and which of them its own runtime_env holds
    (what a user checking Ray sees: ``ray.get_runtime_context().runtime_env``)."""
    runtime_env = json.dumps(ray.get_runtime_context().runtime_env)
    return {**{n: _digest(os.environ.get(n)) for n in NAMES}, "flag": os.environ.get("RADAS_PROBE_FLAG", ""),
            "in_runtime_env": ",".join(n for n in NAMES if os.environ.get(n) and os.environ[n] in runtime_env)}


class KeyRecordingActor(_WandbLoggingActor):
    """Ray's W&B logging actor (started by Ray's callback, as Ray starts it) that records the key
    it sees in the data folder instead of logging to W&B."""

    def run(self) -> None:
        folder = Path(radas.get_data_dir(USER)) / self.kwargs["config"]["tag"]
        folder.mkdir(parents=True, exist_ok=True)
        runtime_env = json.dumps(ray.get_runtime_context().runtime_env)
        key = os.environ.get("WANDB_API_KEY")
        (folder / "wandb-key.json").write_text(json.dumps(
            {"digest": _digest(key), "in_runtime_env": bool(key) and key in runtime_env}))
        while self.queue.get()[0] != _QueueItem.END:
            pass


class KeyRecordingCallback(WandbLoggerCallback):
    _logger_actor_cls = KeyRecordingActor


def _values(prefix: str, names: tuple[str, ...] = NAMES) -> dict[str, str]:
    return {n: f"{prefix}-{n.lower()}-{uuid.uuid4().hex}" for n in names}


async def _sweep(target: Target, exp: str, **kwargs: Any) -> dict[str, Any]:
    """``probe`` once, with Ray's W&B logger callback; the trial's row and the logging actor's record."""
    results = await target.run(exp, probe, tuner_init_kwargs={"run_config": tune.RunConfig(
        callbacks=[KeyRecordingCallback(project="radas-secrets-test")])}, **kwargs)
    record = target.data / exp / "wandb-key.json"
    for _ in range(600):  # the callback waits for its actor at the end; a generous deadline anyway
        if record.is_file():
            break
        await asyncio.sleep(0.1)
    row = results["df"].iloc[0].to_dict()
    return {**row, "logging_actor": json.loads(record.read_text())}


def _trial_actors(target: Target) -> list[str]:
    return [env for cls, env in target.actors() if cls == "probe"]


async def test_keys_given_to_radas_reach_trials_through_no_runtime_env(target: Target, monkeypatch, capsys, caplog):
    """Every key in runtime_env env_vars and the W&B key in param_space; the driver's environment
    holds other keys under some of the same names (a user's shell). The trials see the keys given
    to radas; Ray's W&B logging actor sees the one Ray gives it (the driver's); no key is in any
    runtime_env, job, file, log or output."""
    caplog.set_level(logging.DEBUG, logger="radas")
    given, driver = _values("given"), _values("driver", ("AWS_ACCESS_KEY_ID", "WANDB_API_KEY", "HF_TOKEN"))
    for n, value in driver.items():
        monkeypatch.setenv(n, value)
    flag = f"flag-{uuid.uuid4().hex}"
    exp = name("keys-given")
    env_vars = {n: v for n, v in given.items() if n != "WANDB_API_KEY"}
    space = {"tag": exp, "wandb": {"enable": False, "api_key": given["WANDB_API_KEY"]}}
    row = await _sweep(target, exp, param_space=space, runtime_env={"env_vars": {**env_vars, "RADAS_PROBE_FLAG": flag}})
    assert {n: row[n] for n in NAMES} == {n: _digest(v) for n, v in given.items()}
    assert row["flag"] == flag and row["in_runtime_env"] == ""
    # Ray gives its logging actor the driver's key: the client's locally, on a cluster the one radas gave the job
    wandb_key = driver["WANDB_API_KEY"] if target.kind == "local" else given["WANDB_API_KEY"]
    assert row["logging_actor"] == {"digest": _digest(wandb_key), "in_runtime_env": False}
    trials = await asyncio.to_thread(_trial_actors, target)
    assert any(flag in env for env in trials)  # the State API lists this sweep's trials, plain env_vars and all
    out = capsys.readouterr()
    leaks = await target.leaks(exp, [*given.values(), *driver.values()], out.out + out.err + caplog.text)
    assert not leaks
    assert not list((target.results / ".radas-secrets").glob("*.json"))  # all removed when the sweep ended


async def test_keys_in_the_drivers_environment_reach_no_runtime_env(target: Target, monkeypatch, capsys, caplog):
    """The keys are only in the environment of the process that calls run_experiment. Locally the
    trials get the AWS keys Ray would have copied into their runtime_env, through the sweep's
    secrets file instead, and Ray's W&B logging actor its key; on a cluster nothing of the
    client's environment travels with the job. Nowhere a runtime_env, job, file, log or output."""
    caplog.set_level(logging.DEBUG, logger="radas")
    driver = _values("driver")
    for n, value in driver.items():
        monkeypatch.setenv(n, value)
    exp = name("keys-env")
    row = await _sweep(target, exp, param_space={"tag": exp}, runtime_env={"env_vars": {"WANDB_MODE": "offline"}})
    assert row["in_runtime_env"] == ""
    if target.kind == "local":  # Ray (started before these were set) gives trials the AWS keys only
        assert {n: row[n] for n in AWS} == {n: _digest(driver[n]) for n in AWS}
        assert row["logging_actor"] == {"digest": _digest(driver["WANDB_API_KEY"]), "in_runtime_env": False}
    else:
        assert not {n for n in NAMES if row[n] == _digest(driver[n])}
        assert row["logging_actor"]["digest"] != _digest(driver["WANDB_API_KEY"])
    out = capsys.readouterr()
    assert not await target.leaks(exp, list(driver.values()), out.out + out.err + caplog.text)
    assert not list((target.results / ".radas-secrets").glob("*.json"))


# ---- the working dir a cluster job uploads -----------------------------------------------------
def test_radas_files_in_the_working_dir_match_rays_own_excludes(tmp_path, monkeypatch):
    """The patterns are matched the way Ray matches them when it packs the working dir: radas's
    files (names with pattern characters too), inside it or reached through a link in it, and
    nothing else."""
    from ray._private.runtime_env.packaging import _get_excludes

    shared = tmp_path / "shared"
    (shared / "results" / USER / ".radas-secrets").mkdir(parents=True)
    (shared / "etc").mkdir()
    (shared / "etc" / "radas.toml").touch()
    work = tmp_path / "work"
    (work / "notes" / ".radas-secrets").mkdir(parents=True)
    (work / "we[i]rd *dir ").mkdir()
    (work / "radas.toml").touch()
    (work / "train.py").touch()
    (work / "results").symlink_to(shared / "results")
    (work / "mnt").symlink_to(shared)
    monkeypatch.chdir(work)
    own = [Path("radas.toml"), shared / "results", work / "we[i]rd *dir " / "token", shared / "etc" / "radas.toml"]
    excluded = _get_excludes(work, _check_working_dir({}, own))
    out = ["radas.toml", "notes/.radas-secrets", "results", "mnt/results", "mnt/etc/radas.toml",
           "we[i]rd *dir /token"]
    kept = ["train.py", "notes", "mnt", "mnt/etc", "mnt/etc/other.toml", "we[i]rd *dir ", "we[i]rd *dir /train.py",
            "radas.toml.bak", "results-old"]
    assert [p for p in out if not excluded(work / p)] == [] and [p for p in kept if excluded(work / p)] == []


@pytest.mark.parametrize("lookup", ["~/.ray/auth_token", "$RAY_AUTH_TOKEN_PATH"])
def test_rays_own_token_file_stays_out_of_the_working_dir_upload(tmp_path, monkeypatch, lookup):
    """A cluster without ``auth_token_file``: radas sends the token of Ray's own lookup, and the
    file it reads stays out of a working dir that holds it (a notebook started in the home
    folder); the patterns are the ones :meth:`ClusterBackend.run` gives the job."""
    from ray._private.runtime_env.packaging import _get_excludes

    home = tmp_path / "home"
    token = home / ".ray" / "auth_token" if lookup.startswith("~") else home / "keys" / "ray-token"
    token.parent.mkdir(parents=True)
    token.write_text("tok-from-ray\n")
    (home / "train.py").touch()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    if lookup.startswith("$"):
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    else:
        monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.chdir(home)
    cluster = Cluster(name="c", address="http://127.0.0.1:9", results_dir=str(tmp_path / "shared"))
    assert cluster.auth_token() == "tok-from-ray"
    own = ClusterBackend(cluster)._own_files(SimpleNamespace(user_name=USER))
    excluded = _get_excludes(home, _check_working_dir({}, own))
    assert excluded(token) and not excluded(home / "train.py") and not excluded(token.parent / "other")


TRAIN = "def one(config):\n    return {'score': 1}\n"


async def test_a_cluster_job_uploads_none_of_radass_own_files(ray_cluster, tmp_path, monkeypatch):
    """The working dir holds the radas config file (with the SMTP password), the cluster's token
    file, the client's mount of the cluster's results (a link, as a mount inside a project would
    be), this machine's results folder and an old ``.radas-secrets`` folder: the package Ray
    unpacks on the cluster has none of them, and none of their secrets."""
    work = tmp_path / "work"
    (work / "notes" / ".radas-secrets").mkdir(parents=True)
    password, stale = f"smtp-{uuid.uuid4().hex}", f"stale-{uuid.uuid4().hex}"
    (work / "notes" / ".radas-secrets" / "old.json").write_text(json.dumps({"HF_TOKEN": stale}))
    (work / "cluster-token").write_text(ray_cluster.token_file.read_text())
    (ray_cluster.shared / "results").mkdir(parents=True, exist_ok=True)  # the cluster's storage, as mounted
    (work / "results-mount").symlink_to(ray_cluster.shared / "results")
    (work / "local-results").mkdir()
    (work / "local-results" / "keep.txt").write_text(stale)
    marker = f"marker-{uuid.uuid4().hex}.txt"
    (work / marker).touch()
    (work / "radas_one.py").write_text(TRAIN)
    config = ray_cluster.config(client_results=work / "results-mount").replace(
        str(ray_cluster.token_file), str(work / "cluster-token"))
    (work / "radas.toml").write_text(f'{config}\n[email]\nuser = "me@lab.org"\npassword = "{password}"\n')
    monkeypatch.setenv("RADAS_CONFIG", str(work / "radas.toml"))
    monkeypatch.setenv("RADAS_RESULTS_DIR", str(work / "local-results"))
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    import radas_one

    exp = name("upload")
    results = await radas.run_experiment(user_name=USER, experiment_name=exp, trainable=radas_one.one,
                                         param_space={"a": 1}, run_with="cluster:testc")
    assert list(results["df"]["score"]) == [1]
    packages = {p.parent for p in ray_cluster.root.glob(f"*/session_*/runtime_resources/working_dir_files/*/{marker}")}
    assert packages  # where Ray unpacked this job's working dir
    for package in packages:
        assert (package / "radas_one.py").is_file()
        files = [p.relative_to(package).as_posix() for p in package.rglob("*")]
        assert not [f for f in files if f.split("/")[0] in ("radas.toml", "cluster-token", "results-mount",
                                                             "local-results") or ".radas-secrets" in f]
        assert not [f for f in files if (package / f).is_file()
                    and any(s.encode() in (package / f).read_bytes() for s in (password, stale))]
    [job] = await ClusterBackend(get_cluster("testc")).experiment_jobs(USER, exp)
    assert not {"/radas.toml", "/cluster-token", "/results-mount", "/local-results"} - set(job.runtime_env["excludes"])
