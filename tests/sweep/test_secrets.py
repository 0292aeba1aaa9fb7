"""Secrets end to end: taken out of the arguments at any depth, told apart by name and value, and a
trial that cannot read them says why (a process of another user, really)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from ray import cloudpickle, tune

import radas
from radas.sweep import ExperimentFolder, take_secrets
from radas.sweep._secrets import SecretsFile, is_secret, read_secrets, remove_secrets, write_secrets


def _contains(value, text: str) -> bool:
    if isinstance(value, dict):
        return any(_contains(v, text) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains(v, text) for v in value)
    if hasattr(value, "categories"):
        return any(_contains(v, text) for v in value.categories)
    return value == text


def test_tracker_keys_are_taken_out_at_any_depth_of_the_search_space():
    space = {
        "wandb": tune.grid_search([{"api_key": "wk-1", "init_kwargs": {"entity": "a"}},
                                   {"api_key": "wk-1", "init_kwargs": {"entity": "b"}}]),
        "nested": {"swanlab": tune.choice([{"api_key": "sk-9", "enable": True}, {"api_key": "sk-9"}])},
        "lr": tune.grid_search([0.1, 0.01]),
    }
    _, cleaned, secrets = take_secrets({}, space)
    assert secrets == {"WANDB_API_KEY": "wk-1", "SWANLAB_API_KEY": "sk-9"}
    assert not _contains(cleaned, "wk-1") and not _contains(cleaned, "sk-9")
    assert cleaned["wandb"]["grid_search"][1]["init_kwargs"] == {"entity": "b"}
    assert [c["enable"] for c in cleaned["nested"]["swanlab"].categories if "enable" in c] == [True]
    assert _contains(space, "wk-1")  # the caller's space is left as it was


def test_a_key_that_is_searched_over_or_differs_between_variants_is_refused():
    with pytest.raises(radas.RadasValueError, match=r"\['wandb'\]\['api_key'\] must be a plain string"):
        take_secrets({}, {"wandb": {"api_key": tune.choice(["a", "b"])}})
    with pytest.raises(radas.RadasValueError, match="2 different wandb api_keys"):
        take_secrets({}, {"wandb": tune.grid_search([{"api_key": "a"}, {"api_key": "b"}])})


@pytest.mark.parametrize(("name", "value", "secret"), [
    ("WANDB_API_KEY", "x", True), ("HF_TOKEN", "x", True), ("GITHUB_PAT", "x", True), ("SENTRY_DSN", "x", True),
    ("AWS_SECRET_ACCESS_KEY", "x", True), ("DB_PASSWORD", "x", True), ("MY_SERVICE_TOKEN", "x", True),
    ("DATABASE_URL", "postgres://lab:hunter2@db:5432/runs", True), ("TOKENIZERS_PARALLELISM", "false", False),
    ("KEYBOARD_LAYOUT", "us", False), ("DATABASE_URL", "sqlite:///runs.db", False), ("OMP_NUM_THREADS", "4", False),
    # a URL's password: without a user (Redis, Celery), with characters left unencoded, a user with an @
    ("REDIS_URL", "redis://:pw@h", True), ("CELERY_BROKER_URL", "redis://:hunter2@cache:6379/1", True),
    ("REDIS_URL", "redis://:123456@cache", True), ("BROKER", "amqp://user:p/w@h", True),
    ("BROKER", "amqp://user:p?w#x@h/vhost", True), ("DATABASE_URL", "postgres://me@lab.org:pw@db/runs", True),
    # no password: a port, an @ in the path or query, a user alone, not a URL
    ("SERVER", "http://host:8080/u/me@lab.org", False), ("SERVER", "http://host:8080", False),
    ("SERVER", "https://h/path?x=a:b@c", False), ("SERVER", "https://user@h", False),
    ("REDIS_URL", "redis://:@h", False), ("SERVER", "http://[::1/", False), ("CONTACT", "mailto:a:b@c", False),
])
def test_secret_looking_variables_by_name_and_value(name, value, secret):
    assert is_secret(name, value) is secret


def test_a_trial_of_another_user_cannot_read_the_secrets_and_says_why():
    """The secrets file is its owner's only; a process running as another user (here: nobody,
    really) gets an error naming both users, not an empty environment."""
    if os.getuid() != 0:
        pytest.skip("needs to start a process as another user")
    root = Path(tempfile.mkdtemp(prefix="radas-shared-"))  # a lab's shared folder, open to everyone
    folder = root / "results" / "alice" / ".radas-secrets"
    path = folder / "exp-abc.json"
    write_secrets(path, {"WANDB_API_KEY": "wk-1"})
    for parent in (root, root / "results", root / "results" / "alice"):
        os.chmod(parent, 0o755)
    os.chmod(folder, 0o711)  # reachable by path, the file itself 0600 (its owner only)
    code = textwrap.dedent(f"""
        import os, pwd
        from pathlib import Path
        from radas.sweep._secrets import load_secrets
        from radas.errors import SecretsUnavailableError
        nobody = pwd.getpwnam("nobody")
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)  # from here on this process is another user, for real
        try:
            load_secrets(Path({str(path)!r}))
        except SecretsUnavailableError as exc:
            print("ERROR", exc)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("ERROR"), done.stderr
    assert "runs as nobody" in done.stdout and "belongs to root" in done.stdout and "another user" in done.stdout
    assert "wk-1" not in done.stdout + done.stderr
    shutil.rmtree(root)


def test_keys_ray_would_put_into_a_runtime_env_go_through_the_sweeps_file(tmp_path, monkeypatch):
    """The channel radas gives Ray's actors instead of their runtime_env: a key the sweep's file
    lacks is added to it (the sweep's own value wins there); another value for a name it holds
    goes into a file of its own; each actor's loader (which holds no value) gives it exactly what
    Ray would have; they all go with the sweep's file, or as an earlier sweep's."""
    folder = ExperimentFolder(tmp_path / "results" / "alice", "exp")
    path = folder.secrets_file("abc123")
    write_secrets(path, {"WANDB_API_KEY": "wk-sweep"})
    channel = SecretsFile(path)
    assert channel.is_secret("AWS_SESSION_TOKEN", "x") and not channel.is_secret("TUNE_RESULT_DELIM", "/")
    trial = channel.keep({"AWS_ACCESS_KEY_ID": "aki-driver", "WANDB_API_KEY": "wk-sweep"})
    logging_actor = channel.keep({"WANDB_API_KEY": "wk-driver"})
    assert read_secrets(path) == {"WANDB_API_KEY": "wk-sweep", "AWS_ACCESS_KEY_ID": "aki-driver"}
    files = sorted(path.parent.iterdir())
    assert [p.name for p in files] == ["exp-abc123.json", "exp-abc123x1.json"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    for loader in (trial, logging_actor):
        shipped = cloudpickle.dumps(loader)
        assert b"wk-" not in shipped and b"aki-" not in shipped
    for name in ("AWS_ACCESS_KEY_ID", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    cloudpickle.loads(cloudpickle.dumps(logging_actor))()
    assert os.environ["WANDB_API_KEY"] == "wk-driver" and "AWS_ACCESS_KEY_ID" not in os.environ
    cloudpickle.loads(cloudpickle.dumps(trial))()
    assert os.environ["WANDB_API_KEY"] == "wk-sweep" and os.environ["AWS_ACCESS_KEY_ID"] == "aki-driver"
    assert sorted(folder.stale_secrets(keep=folder.secrets_file("def456"))) == files  # a killed driver's: go next time
    remove_secrets(path)
    assert not list(path.parent.iterdir())
