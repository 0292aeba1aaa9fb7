"""The radas config file: one TOML file, ``$RADAS_CONFIG`` or ``~/.config/radas/config.toml``.

Environment variables override it (each reader documents its own). No file at all is fine:
every setting has a local default.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from radas.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_cache: dict[tuple[str, float], dict[str, Any]] = {}


def config_path() -> Path:
    """The config file radas reads: ``$RADAS_CONFIG``, else ``~/.config/radas/config.toml``."""
    env = os.environ.get("RADAS_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "radas" / "config.toml"


def load_config() -> dict[str, Any]:
    """The parsed config file, or ``{}`` when there is none. Re-read when the file changes."""
    path = config_path()
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return {}
    key = (str(path), mtime)
    if key not in _cache:
        try:
            with open(path, "rb") as f:
                _cache[key] = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"radas config file {path} is not valid TOML: {exc}") from exc
    return _cache[key]


def config_table(name: str) -> dict[str, Any]:
    """The ``[name]`` table of the config file (``{}`` when absent)."""
    table = load_config().get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(
            f"radas config file {config_path()}: `{name}` must be a table ([{name}]), "
            f"got {type(table).__name__} {table!r}"
        )
    return table
