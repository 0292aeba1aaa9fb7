"""Reading and writing bytes in a user's area: atomic writes, removal, listing."""

from __future__ import annotations

import os
import posixpath
import uuid

from radas.cloud_artifact._root import TMP_PREFIX, Area
from radas.errors import RadasError, RadasValueError


class ArtifactNotFoundError(RadasError, FileNotFoundError):
    """No artifact (file or folder) at the given path."""


def _not_found(area: Area, rel: str) -> ArtifactNotFoundError:
    return ArtifactNotFoundError(
        f"no artifact {rel!r} in {area.url}: check the path with list_cloud_artifacts() "
        "(and that rda.init() got the same user_name and root as when it was saved)"
    )


def write_bytes(area: Area, rel: str, data: bytes) -> None:
    """Write ``data`` at ``rel`` so that readers see the old content or the new, never a part.

    Local folders: a temp file in the same folder, fsync, then ``os.replace``. Object stores
    (S3, ...): one PUT, atomic already. Other filesystems: a temp name, then a move.
    """
    path = area.full(rel)
    parent, name = posixpath.split(path)
    if area.is_object_store:
        if area.fs.isdir(path):
            raise RadasValueError(f"artifact {rel!r} is a folder in {area.url}: remove it first or use another path")
        area.fs.pipe_file(path, data)
        return
    area.fs.makedirs(parent, exist_ok=True)
    if area.fs.isdir(path):
        raise RadasValueError(f"artifact {rel!r} is a folder in {area.url}: remove it first or use another path")
    tmp = posixpath.join(parent, f"{TMP_PREFIX}{uuid.uuid4().hex}-{name}")
    try:
        if area.is_local:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        else:
            area.fs.pipe_file(tmp, data)
            area.fs.mv(tmp, path)
    except BaseException:
        try:
            if area.fs.exists(tmp):
                area.fs.rm(tmp)
        except OSError:
            pass
        raise


def read_bytes(area: Area, rel: str) -> bytes:
    """The bytes stored at ``rel``."""
    path = area.full(rel)
    try:
        return area.fs.cat_file(path)
    except FileNotFoundError:
        if area.fs.isdir(path):
            raise RadasValueError(
                f"artifact {rel!r} is a folder in {area.url}: list it with list_cloud_artifacts({rel!r})"
            ) from None
        raise _not_found(area, rel) from None
    except IsADirectoryError:
        raise RadasValueError(
            f"artifact {rel!r} is a folder in {area.url}: list it with list_cloud_artifacts({rel!r})"
        ) from None


def exists(area: Area, rel: str) -> bool:
    """True when ``rel`` is a file or a (non-empty, for object stores) folder."""
    return bool(area.fs.exists(area.full(rel)))


def remove(area: Area, rel: str) -> None:
    """Remove the file or the whole folder at ``rel``, taken literally: ``*``, ``?`` and ``[...]``
    in a name are characters of that name (fsspec's ``rm`` would expand them as wildcards and
    remove other artifacts)."""
    path = area.full(rel)
    if not area.fs.exists(path):
        raise _not_found(area, rel)
    if not area.fs.isdir(path):
        area.fs.rm_file(path)
        return
    files = [f for f in area.fs.find(path, withdirs=False) if f.rstrip("/").startswith(path.rstrip("/") + "/")]
    for file in files:
        area.fs.rm_file(file)
    if not area.is_object_store:  # folders exist on their own there: remove them, deepest first
        folders = [d for d in area.fs.find(path, withdirs=True) if d not in files]
        for folder in sorted({*folders, path}, key=lambda d: d.count("/"), reverse=True):
            if area.fs.exists(folder):
                area.fs.rmdir(folder)


def list_files(area: Area, rel: str) -> list[str]:
    """Every file at or under ``rel``, as paths relative to the user's area, sorted."""
    path = area.full(rel)
    if not area.fs.exists(path):
        return []
    prefix = area.base.rstrip("/") + "/"
    found = []
    for item in area.fs.find(path, withdirs=False):
        item = item.rstrip("/")
        if not item.startswith(prefix):
            continue
        relative = item[len(prefix) :]
        if any(part.startswith(TMP_PREFIX) for part in relative.split("/")):
            continue
        found.append(relative)
    return sorted(found)
