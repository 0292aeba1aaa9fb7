"""Secrets for trials (tracker API keys, secret-looking ``env_vars``), kept out of everything Ray
stores or shows: the one owner of secrets, from ``run_experiment``'s arguments to the trials.

A secret never enters the pickled sweep, a runtime_env, job metadata, an entrypoint or a log. It
travels in one file readable by its owner only,
``<results>/<user>/.radas-secrets/<experiment>-<sweep id>.json`` (mode 0600, in a 0700 folder, on
the shared storage for cluster sweeps), written just before the sweep starts and removed when
its driver ends (files of earlier drivers that were killed are removed by the next one). Each
trial reads it when it starts and puts the values into its own environment, where wandb, SwanLab
and the user's code look for them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radas._reporter import say

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
# tracker block of the trial config -> the environment variable its library reads the key from
TRACKER_KEY_ENV = {"wandb": "WANDB_API_KEY", "swanlab": "SWANLAB_API_KEY"}


def take_secrets(runtime_env: Mapping[str, Any], param_space: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Split the secrets out of ``run_experiment``'s arguments: returns ``runtime_env`` without
    its secret-looking ``env_vars``, ``param_space`` without tracker ``api_key`` values, and
    those secrets as environment variables for the trials."""
    env = dict(runtime_env)
    secrets: dict[str, str] = {}
    if env.get("env_vars"):
        plain, secret = split_secret_env(env["env_vars"])
        if secret:
            say("info", f"runtime_env env_vars {sorted(secret)} look like secrets: they reach the trials through "
                "a private file, not through Ray (never in job metadata, logs or the results)")
        env["env_vars"] = plain
        secrets.update(secret)
    space = dict(param_space)
    for key, env_var in TRACKER_KEY_ENV.items():
        block = space.get(key)
        if isinstance(block, Mapping) and isinstance(block.get("api_key"), str):
            secrets[env_var] = block["api_key"]
            space[key] = {k: v for k, v in block.items() if k != "api_key"}
    return env, space, secrets


def split_secret_env(env_vars: Mapping[str, object]) -> tuple[dict[str, str], dict[str, str]]:
    """``env_vars`` split into plain variables and secret-looking ones (names with KEY, TOKEN,
    SECRET, PASSWORD, CREDENTIAL), which travel like other secrets."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in env_vars.items():
        (secret if _SECRET_NAME.search(str(name)) else plain)[str(name)] = str(value)
    return plain, secret


def write_secrets(path: Path, secrets: Mapping[str, str]) -> None:
    """Write ``secrets`` to ``path`` readable by the owner only (atomically)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(dict(secrets), f)
    os.replace(tmp, path)


def remove_secrets(path: Path) -> None:
    """Remove the secrets file (a no-op when there is none)."""
    path.unlink(missing_ok=True)


def load_secrets(path: Path) -> None:
    """In a trial: put the sweep's secrets (the file at ``path``) into this process's
    environment (none: no-op)."""
    try:
        secrets = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(secrets, dict):
        os.environ.update({str(k): str(v) for k, v in secrets.items()})
