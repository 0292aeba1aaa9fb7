"""Secrets for trials (tracker API keys, secret-looking ``env_vars``), kept out of everything Ray
stores or shows: the one owner of secrets, from ``run_experiment``'s arguments to the trials.

A secret never enters the pickled sweep, a runtime_env, job metadata, an entrypoint or a log. It
travels in one file readable by its owner only,
``<results>/<user>/.radas-secrets/<experiment>-<sweep id>.json`` (mode 0600, in a 0700 folder, on
the shared storage for cluster sweeps), written just before the sweep starts and removed when
its driver ends (files of earlier drivers that were killed are removed by the next one). The
sweep's driver and each trial read it when they start and put the values into their own
environment, where wandb, SwanLab, Ray's logger callbacks and the user's code look for them. A
trial that cannot read it (another user than the one who started the sweep, the file gone) fails
with a :class:`~radas.errors.SecretsUnavailableError` that says why, instead of running without
its keys.

Ray itself copies some secrets of the driver's environment into the runtime_env of the actors it
starts, where its State API, dashboard and logs show them: Tune the AWS keys into every trial's,
``WandbLoggerCallback`` the W&B key into its logging actor's. In a radas sweep they go into the
same file instead (:class:`SecretsFile`, the channel of :func:`radas._ray.secrets_through`), and
those actors load it when they start.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from radas._reporter import say
from radas._safefile import write_atomic
from radas.errors import RadasValueError, SecretsUnavailableError, UnsafePathError
from radas.sweep._folder import make_private_dirs

# a variable name that says it holds a secret: one of these words between underscores (or at an
# end), e.g. WANDB_API_KEY, HF_TOKEN, GITHUB_PAT, SENTRY_DSN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD
# (not TOKENIZERS_PARALLELISM, KEYBOARD_LAYOUT)
_SECRET_WORD = re.compile(r"(^|_)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|CREDENTIALS?|PAT|DSN|AUTH|COOKIE)(_|$)",
                          re.IGNORECASE)
# a value that is a URL with a password in it (DATABASE_URL=postgres://user:pw@host/db), the user
# left out too (REDIS_URL=redis://:pw@host, as Redis and Celery write it), the password holding
# characters it should have had encoded (amqp://user:p/w@host): anything but a port after the colon
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:(?!\d*(?:[/?#]|$))[^@\s]+@", re.IGNORECASE)
# tracker block of the trial config -> the environment variable its library reads the key from
TRACKER_KEY_ENV = {"wandb": "WANDB_API_KEY", "swanlab": "SWANLAB_API_KEY"}


def is_secret(name: str, value: object) -> bool:
    """True when an environment variable looks like a secret, by its name or its value."""
    return bool(_SECRET_WORD.search(name)) or (isinstance(value, str) and _has_password(value))


def _has_password(value: str) -> bool:
    """True when ``value`` is a URL with a password, as :mod:`urllib.parse` reads it (the user's
    name may hold an ``@``) or as :data:`_URL_WITH_PASSWORD` does."""
    if _URL_WITH_PASSWORD.match(value):
        return True
    try:
        return bool(urlsplit(value.strip()).password)
    except ValueError:  # not a URL (an unbalanced [ in its host, ...)
        return False


def split_secret_env(env_vars: Mapping[str, object]) -> tuple[dict[str, str], dict[str, str]]:
    """``env_vars`` split into plain variables and secret-looking ones (:func:`is_secret`),
    which travel like other secrets."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, value in env_vars.items():
        (secret if is_secret(str(name), value) else plain)[str(name)] = str(value)
    return plain, secret


def take_secrets(runtime_env: Mapping[str, Any], param_space: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Split the secrets out of ``run_experiment``'s arguments: returns ``runtime_env`` without
    its secret-looking ``env_vars``, ``param_space`` without tracker ``api_key`` values (at any
    depth: inside grid searches and ``tune.choice`` too), and those secrets as environment
    variables for the trials. An ``api_key`` that is not a plain string, or two different keys
    for one tracker, is an error (a key is never searched over)."""
    env = dict(runtime_env)
    secrets: dict[str, str] = {}
    if env.get("env_vars"):
        plain, secret = split_secret_env(env["env_vars"])
        if secret:
            say("info", f"runtime_env env_vars {sorted(secret)} look like secrets: they reach the trials through "
                "a private file, not through Ray (never in job metadata, logs or the results)")
        env["env_vars"] = plain
        secrets.update(secret)
    keys: dict[str, set[str]] = {}
    space = _without_keys(dict(param_space), "param_space", keys)
    for tracker, found in keys.items():
        if len(found) > 1:
            raise RadasValueError(
                f"param_space has {len(found)} different {tracker} api_keys: one sweep logs with one key (it "
                f"reaches every trial as {TRACKER_KEY_ENV[tracker]}); keep one")
        secrets[TRACKER_KEY_ENV[tracker]] = found.pop()
    return env, space, secrets


def _without_keys(value: Any, where: str, keys: dict[str, set[str]], tracker: str | None = None) -> Any:
    """``value`` with the ``api_key`` of every tracker block taken out (into ``keys``)."""
    from ray.tune.search.sample import Categorical

    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if tracker is not None and k == "api_key":
                if not isinstance(v, str):
                    raise RadasValueError(
                        f"{where}['api_key'] must be a plain string (the key itself, never a search space or a "
                        f"function): it is a secret and reaches the trials as {TRACKER_KEY_ENV[tracker]}")
                keys.setdefault(tracker, set()).add(v)
                continue
            inner = k if k in TRACKER_KEY_ENV else (tracker if k == "grid_search" else None)
            out[k] = _without_keys(v, f"{where}[{k!r}]", keys, inner)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(_without_keys(v, f"{where}[{i}]", keys, tracker) for i, v in enumerate(value))
    if isinstance(value, Categorical):
        cleaned = copy.copy(value)
        cleaned.categories = [_without_keys(v, f"{where}.categories[{i}]", keys, tracker)
                              for i, v in enumerate(value.categories)]
        return cleaned
    return value


def write_secrets(path: Path, secrets: Mapping[str, str]) -> None:
    """Write ``secrets`` to ``path`` readable by the owner only (atomically, never through a link)."""
    folder = path.parent
    make_private_dirs(folder)  # <results>/<user>/.radas-secrets: 0700 where created, never through a link
    info = folder.lstat()
    if info.st_uid != os.getuid():
        raise UnsafePathError(f"{folder} belongs to user id {info.st_uid}, not to you ({os.getuid()}): radas keeps "
                              "secrets only in a folder of your own; remove it or fix its owner")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)
    write_atomic(path, json.dumps(dict(secrets)).encode(), mode=0o600)


def remove_secrets(path: Path) -> None:
    """Remove the secrets file and the files :class:`SecretsFile` kept next to it (a no-op when
    there are none)."""
    path.unlink(missing_ok=True)
    for extra in path.parent.glob(f"{path.stem}x*.json"):
        if extra.stem[len(path.stem) + 1:].isdigit():
            extra.unlink(missing_ok=True)


class SecretsFile:
    """A sweep's secrets file as the channel of :func:`radas._ray.secrets_through`: secrets Ray
    would put into an actor's runtime_env are kept in the file and the actor loads it first.

    A value that differs from the one the file holds for that name (a W&B key in the driver's
    environment other than the sweep's ``api_key``) goes into a file of its own next to it
    (``<file>x<n>.json``, removed with it), so each actor sees what Ray would have given it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard = threading.Lock()
        self._extra = 0

    def is_secret(self, name: str, value: str) -> bool:
        """:func:`is_secret`."""
        return is_secret(name, value)

    def keep(self, secrets: Mapping[str, str]) -> Callable[[], None]:
        """Write ``secrets`` where an actor reads them; returns what it calls to load them."""
        with self._guard:
            kept = read_secrets(self.path) if self.path.exists() else {}
            if all(kept.get(name, value) == value for name, value in secrets.items()):
                if not secrets.items() <= kept.items():
                    write_secrets(self.path, {**kept, **secrets})
                return functools.partial(load_secrets, self.path)
            self._extra += 1
            path = self.path.with_name(f"{self.path.stem}x{self._extra}.json")
            write_secrets(path, secrets)
            return functools.partial(load_secrets, path)


def read_secrets(path: Path) -> dict[str, str]:
    """The secrets at ``path``: a :class:`~radas.errors.SecretsUnavailableError` saying why
    when they cannot be read."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SecretsUnavailableError(
            f"the sweep's secrets file {path} is gone: its driver ended (or was stopped) before this trial "
            "started, or this process sees another folder than the driver. Run the sweep again "
            "(run_choice='restore' continues it)") from None
    except PermissionError:
        raise SecretsUnavailableError(_other_user(path)) from None
    except (OSError, ValueError) as exc:
        raise SecretsUnavailableError(f"the sweep's secrets file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise SecretsUnavailableError(f"the sweep's secrets file {path} holds no secrets")
    return {str(k): str(v) for k, v in data.items()}


def load_secrets(path: Path) -> None:
    """Put the sweep's secrets (the file at ``path``) into this process's environment; an error
    saying why when they cannot be read."""
    os.environ.update(read_secrets(path))


def _other_user(path: Path) -> str:
    import pwd

    def name(uid: int) -> str:
        try:
            return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
        except KeyError:
            return f"uid {uid}"

    try:
        owner = name(path.stat().st_uid)
    except OSError:
        owner = "another user"
    return (f"this process runs as {name(os.getuid())} and cannot read the sweep's secrets file {path}, which "
            f"belongs to {owner} and is readable by its owner only. The trials (or the cluster's job) run as "
            "another user than the one who started the sweep: run Ray as that user, or start the sweep as the "
            "user Ray runs as")
