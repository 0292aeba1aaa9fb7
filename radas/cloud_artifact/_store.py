"""Reading and writing bytes in a user's area: atomic writes, removal, listing."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import uuid

from radas.cloud_artifact._root import TMP_PREFIX, Area
from radas.errors import RadasError, RadasValueError, UnsafePathError


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
    remove other artifacts). In a local folder, links are never followed (see :func:`_remove_local`)."""
    if area.is_local:
        _remove_local(area, rel)
        return
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


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _remove_local(area: Area, rel: str) -> None:
    """Remove ``rel`` from a local area without following a link: each folder of the path is
    opened relative to the one above it, and a link on the way is an :class:`UnsafePathError`;
    a link at ``rel`` itself is removed as a link (what it points to stays: the listing shows it
    as one artifact); a folder's links are removed as links, never entered."""
    parts = rel.split("/")
    try:
        fd = os.open(area.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _not_found(area, rel) from None
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise _not_found(area, rel) from None
            except OSError as exc:
                if _is_link(part, fd):
                    raise _through_link(area, rel, "/".join(parts[: i + 1]), os.readlink(part, dir_fd=fd)) from None
                if exc.errno == errno.ENOTDIR:
                    raise _not_found(area, rel) from None
                raise
            os.close(fd)
            fd = inner
        name = parts[-1]
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            raise _not_found(area, rel) from None
        if stat.S_ISDIR(info.st_mode):
            _remove_tree_at(fd, name)
        else:  # a file, or a link (to a file or a folder): the link goes, its target stays
            os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _remove_tree_at(dir_fd: int, name: str) -> None:
    """Remove the folder ``name`` of ``dir_fd`` and everything in it, entering no link."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        with os.scandir(fd) as entries:
            for entry in list(entries):
                if entry.is_dir(follow_symlinks=False):
                    _remove_tree_at(fd, entry.name)
                else:
                    os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def _through_link(area: Area, rel: str, link: str, target: str) -> UnsafePathError:
    return UnsafePathError(
        f"artifact path {rel!r} goes through the symbolic link {link!r} (to {target!r}) in {area.url}: radas "
        "removes artifacts only inside your artifact folder, never through a link. Remove the link itself with "
        f"rm_cloud_artifact({link!r}) (what it points to stays), or remove the file yourself")


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
