"""Save and load Python objects by path, on a shared folder or an object store.

>>> import radas.cloud_artifact as rda
>>> rda.init(user_name="alice")
>>> rda.save_cloud_artifact("results/scores.pkl", {"a": 1})
>>> rda.load_cloud_artifact("results/scores.pkl")
{'a': 1}

Artifacts live under ``<root>/<user_name>/``. The root is any fsspec URL: a local or NFS
folder, ``s3://bucket/prefix`` (credentials and ``AWS_ENDPOINT_URL`` from the standard AWS
environment; needs ``pip install "radas[s3]"``), ... It comes from ``init(root=...)``, else
``$RADAS_ARTIFACT_ROOT``, else ``artifact_root`` in the ``[local]`` table of the radas
config file, else ``~/radas/artifacts``.

:func:`init` must be called in each process that uses artifacts, including inside a
trainable (trials run in other processes): before it, every function raises, instead of
guessing a user name that may differ on a cluster node.

The format follows the extension: ``.pkl`` (pickle), ``.json``, ``.npy`` (NumPy array),
``.pt`` (torch), ``.parquet`` and ``.csv`` (pandas DataFrame; ``.csv`` drops the index),
``.txt`` (str); any other extension stores ``bytes`` as they are. Writes are atomic:
readers see the old artifact or the new one, never a partial file. Loading ``.pkl`` and
``.pt`` runs pickle: only load artifacts you (or people you trust) wrote.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from radas.cloud_artifact import _formats, _store
from radas.cloud_artifact._root import ENV_VAR, Area, NotInitializedError, clean_path, default_root, open_area
from radas.cloud_artifact._store import ArtifactNotFoundError

logger = logging.getLogger("radas")

_area: Area | None = None



def init(user_name: str, root: str | os.PathLike[str] | None = None) -> str:
    """Use ``<root>/<user_name>/`` for the artifact functions of this process; return its URL.

    ``root`` defaults to ``$RADAS_ARTIFACT_ROOT``, else ``artifact_root`` of the ``[local]``
    config table, else ``~/radas/artifacts``. A local root is made absolute (and the user's
    folder created).
    """
    global _area
    _area = open_area(user_name, root)
    logger.debug("cloud artifacts of %s at %s", _area.user_name, _area.url)
    return _area.url


def _current() -> Area:
    if _area is None:
        raise NotInitializedError(
            "radas.cloud_artifact is not initialized in this process: call "
            "rda.init(user_name=...) first (also inside the trainable, which runs in another process)"
        )
    return _area


def get_cloud_artifact_root() -> str:
    """The URL of the current user's artifact folder (after :func:`init`)."""
    return _current().url


def save_cloud_artifact(path: str | os.PathLike[str], obj: Any) -> str:
    """Save ``obj`` at ``path`` (relative to your artifact folder), atomically; return its URL.

    The format follows the extension (see the module docstring); an existing artifact is
    replaced, missing folders are created.
    """
    area = _current()
    rel = clean_path(path)
    data = _formats.dumps(rel, obj)
    _store.write_bytes(area, rel, data)
    logger.debug("saved artifact %s (%d bytes)", area.url_of(rel), len(data))
    return area.url_of(rel)


def load_cloud_artifact(path: str | os.PathLike[str]) -> Any:
    """Load the artifact at ``path``; raises :class:`ArtifactNotFoundError` when there is none."""
    area = _current()
    rel = clean_path(path)
    return _formats.loads(rel, _store.read_bytes(area, rel))


def rm_cloud_artifact(path: str | os.PathLike[str]) -> None:
    """Remove the artifact at ``path``: a file, or a folder with everything in it.

    Raises :class:`ArtifactNotFoundError` when there is nothing at ``path``. An empty path
    (your whole folder) is refused.

    In a local (or NFS) folder, symbolic links are never followed: a link at ``path``, or in a
    folder being removed, is removed as a link (the file or folder it points to stays; the
    listing shows a link as one artifact), and a ``path`` that goes through a link (``link/x.pkl``)
    is refused with an :class:`~radas.errors.UnsafePathError` naming the link.
    """
    area = _current()
    _store.remove(area, clean_path(path))


def list_cloud_artifacts(path: str | os.PathLike[str] = "") -> list[str]:
    """Every artifact at or under ``path`` (default: all of yours), as sorted relative paths.

    Returns ``[]`` when nothing is there.
    """
    area = _current()
    return _store.list_files(area, clean_path(path, allow_empty=True))


def cloud_artifact_exists(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is an artifact or a folder holding artifacts."""
    area = _current()
    return _store.exists(area, clean_path(path))


__all__ = [
    "ENV_VAR",
    "default_root",
    "init",
    "save_cloud_artifact",
    "load_cloud_artifact",
    "rm_cloud_artifact",
    "list_cloud_artifacts",
    "cloud_artifact_exists",
    "get_cloud_artifact_root",
    "ArtifactNotFoundError",
    "NotInitializedError",
]
