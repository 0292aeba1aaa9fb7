"""Secrets for trials (tracker API keys, secret-looking ``env_vars``), kept out of everything Ray
stores or shows.

A secret never enters the pickled sweep, a runtime_env, job metadata, an entrypoint or a log. It
travels in one file readable by its owner only,
``<results>/<user>/.radas-secrets/<experiment>-<sweep id>.json`` (mode 0600, in a 0700 folder, on
the shared storage for cluster sweeps), written just before the sweep starts and removed when
its driver ends (files of earlier drivers that were killed are removed by the next one). Each trial reads it when it starts and puts
the values into its own environment, where wandb, SwanLab and the user's code look for them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

SECRETS_DIR = ".radas-secrets"
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)


def secrets_file(user_root: Path, experiment: str, sweep_id: str) -> Path:
    """Where the secrets of one sweep of ``experiment`` are kept."""
    return user_root / SECRETS_DIR / f"{experiment}-{sweep_id}.json"


def remove_stale_secrets(user_root: Path, experiment: str, keep: Path) -> None:
    """Remove the secrets files of ``experiment``'s earlier sweeps (call with its lock held)."""
    for path in (user_root / SECRETS_DIR).glob(f"{experiment}-*.json"):
        if path != keep and path.name[len(experiment) + 1:-len(".json")].isalnum():
            path.unlink(missing_ok=True)


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
    """In a trial: put the sweep's secrets into this process's environment (none: no-op)."""
    try:
        secrets = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(secrets, dict):
        os.environ.update({str(k): str(v) for k, v in secrets.items()})
