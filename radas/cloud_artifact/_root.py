"""Where artifacts live: the root URL, the user's area in it, and safe relative paths."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radas._config import config_path, config_table
from radas._deps import missing
from radas._names import check_name
from radas.errors import RadasError, RadasTypeError, RadasValueError

ENV_VAR = "RADAS_ARTIFACT_ROOT"
TMP_PREFIX = ".radas-tmp-"
# Object stores where one PUT replaces an object atomically (no temp file needed).
OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"}
_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")
# the fsspec implementation of each protocol
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs",
             "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs", "sftp": "paramiko"}


class NotInitializedError(RadasError, RuntimeError):
    """A cloud-artifact function was called before :func:`radas.cloud_artifact.init`."""


@dataclass(frozen=True)
class Area:
    """One user's folder under the artifact root, opened with an fsspec filesystem."""

    fs: Any
    base: str  # the folder, in the filesystem's own path form (no protocol)
    url: str  # the folder as a URL, for messages
    user_name: str

    @property
    def protocols(self) -> set[str]:
        """The filesystem's protocol names (``{"file", "local"}``, ``{"s3", "s3a"}``, ...)."""
        protocol = self.fs.protocol
        return {protocol} if isinstance(protocol, str) else set(protocol)

    @property
    def is_local(self) -> bool:
        """True for a local (or NFS-mounted) folder."""
        return bool(self.protocols & {"file", "local"})

    @property
    def is_object_store(self) -> bool:
        """True for S3-like stores, where a single write is already atomic."""
        return bool(self.protocols & OBJECT_STORES)

    def full(self, rel: str) -> str:
        """The filesystem path of the artifact ``rel`` (already checked by :func:`clean_path`)."""
        return posixpath.join(self.base, rel) if rel else self.base

    def url_of(self, rel: str) -> str:
        """The URL of the artifact ``rel``, for messages."""
        return f"{self.url.rstrip('/')}/{rel}" if rel else self.url


def default_root() -> str:
    """``$RADAS_ARTIFACT_ROOT`` (relative: to the working directory), else ``artifact_root`` of
    ``[local]`` in the config (relative: to its folder), else ``~/radas/artifacts``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return _absolute(env, Path.cwd())
    configured = config_table("local").get("artifact_root")
    if configured:
        return _absolute(str(configured), config_path().parent)
    return str(Path.home() / "radas" / "artifacts")


def _absolute(root: str, base: Path) -> str:
    """A relative local folder made absolute against ``base`` (URLs unchanged), so trials,
    whose working directory differs, see the same root."""
    if _protocol(root) is not None:
        return root
    return str((base / Path(root).expanduser()).absolute())


def _protocol(url: str) -> str | None:
    return url.split("://", 1)[0].lower() if "://" in url else None


def open_area(user_name: str, root: str | os.PathLike[str] | None = None) -> Area:
    """Open ``<root>/<user_name>/`` (creating it when it is a local folder)."""
    user = check_name("user_name", user_name)
    if root is None:
        root = default_root()
    if not isinstance(root, (str, os.PathLike)):
        raise RadasTypeError(f"root must be a path or URL (str), got {type(root).__name__} {root!r}")
    root = os.fspath(root).strip()
    if not root:
        raise RadasValueError(
            f"the artifact root is empty: set {ENV_VAR} (a folder or a URL like s3://bucket/prefix) "
            f"or `artifact_root` in the [local] table of {config_path()}"
        )
    protocol = _protocol(root)
    if protocol in (None, "file", "local"):
        local = root.split("://", 1)[1] if protocol else root
        root = str(Path(local).expanduser().absolute())
    import fsspec

    options: dict[str, Any] = {"skip_instance_cache": True}
    if protocol in ("s3", "s3a"):
        options["use_listings_cache"] = False  # other processes write there too
    try:
        fs, root_path = fsspec.core.url_to_fs(root, **options)
    except ImportError as exc:
        raise missing(_PACKAGES.get(protocol or "", f"fsspec-{protocol}"), f"the artifact root {root!r}", exc) from exc
    except ValueError as exc:
        raise RadasValueError(f"cannot open the artifact root {root!r}: {exc}") from exc
    base = posixpath.join(root_path.rstrip("/") or "/", user)
    url = f"{root.rstrip('/')}/{user}"
    area = Area(fs=fs, base=base, url=url, user_name=user)
    if area.is_local:
        fs.makedirs(base, exist_ok=True)
    return area


def clean_path(path: object, *, allow_empty: bool = False) -> str:
    """``path`` as a normalized path relative to the user's area, or a RadasValueError naming it."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise RadasTypeError(f"artifact path must be a str, got {type(path).__name__} {path!r}")
    rel = path.rstrip("/")
    problem = None
    if path.startswith(("/", "~")) or "://" in path or _DRIVE.match(path):
        problem = "is absolute or a URL"
    elif not rel:
        if allow_empty and path == "":
            return ""
        problem = "is empty"
    elif "\\" in rel or "\0" in rel:
        problem = "contains a backslash or NUL character"
    elif any(part in ("", ".", "..") for part in rel.split("/")):
        problem = "contains an empty, '.' or '..' component"
    elif any(part.startswith(TMP_PREFIX) for part in rel.split("/")):
        problem = f"uses the reserved prefix {TMP_PREFIX!r}"
    if problem:
        raise RadasValueError(
            f"artifact path {path!r} {problem}: artifact paths are relative to your artifact folder, "
            "like 'results/scores.pkl' (no leading '/', no '..')"
        )
    return rel
