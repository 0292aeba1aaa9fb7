"""Checkpoint rotation that a population-based scheduler can live with.

Ray Tune rotates a trial's checkpoints itself (``CheckpointConfig(num_to_keep=...)``): when a
trial registers a new checkpoint, the ones beyond ``num_to_keep`` (by score, or the oldest) are
deleted. Population Based Training clones *another* trial's checkpoint into a lower-ranked trial
and restores from it later; that trial's rotation knows nothing of it, deletes it meanwhile, and
the clone fails with "Could not recover from checkpoint as it does not exist on storage anymore"
(Ray warns about ``num_to_keep <= 2`` with PBT; it happens with more too, sooner the more often
the experiment's state is saved — radas saves it every 2 s so a killed driver loses nothing, and
a trial's save that PBT forces can register the same checkpoint twice, one of which rotation
deletes at once).

So for sweeps whose scheduler is population based (PBT, PB2, also when another scheduler wraps
it), radas turns Tune's rotation off and rotates in a Tune callback instead,
:class:`CheckpointKeeper`: the same policy (``num_to_keep``, ``checkpoint_score_attribute`` and
order), but never deleting a checkpoint that any trial will restore from (a trial's latest, which
is where PBT points a clone) or that the scheduler still holds, and nothing of a trial whose save
the scheduler is still waiting for.

A rotated checkpoint loses only what Tune wrote into its folder, never the tree: the keeper notes
a checkpoint's files, links and folders when Tune registers it (a restored sweep's earlier ones
when it first sees them) and removes those one by one, a link as a link, folders only when empty,
never entering a link. A file that appeared later (a user's) stays, and so does its folder.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import os
import posixpath
import stat
from collections.abc import Iterator
from typing import Any

from ray.tune import Callback

from radas import _ray

logger = logging.getLogger("radas")


def population_based(scheduler: Any) -> Any:
    """The population-based scheduler of a sweep (also when another scheduler wraps it), or None."""
    from ray.tune.schedulers import PopulationBasedTraining

    seen = 0
    while scheduler is not None and seen < 8:
        if isinstance(scheduler, PopulationBasedTraining):
            return scheduler
        scheduler, seen = getattr(scheduler, "scheduler", None), seen + 1
    return None


def protect_from_rotation(run_config: Any, scheduler: Any) -> tuple[Any, CheckpointKeeper | None]:
    """``run_config`` with Tune's rotation off and the keeper that rotates instead, when the sweep's
    scheduler is population based and the user asked for rotation; else as it is, and None."""
    checkpoints = run_config.checkpoint_config
    if population_based(scheduler) is None or checkpoints is None or checkpoints.num_to_keep is None:
        return run_config, None
    keeper = CheckpointKeeper(checkpoints.num_to_keep, checkpoints.checkpoint_score_attribute,
                              checkpoints.checkpoint_score_order, scheduler)
    return dataclasses.replace(run_config, checkpoint_config=dataclasses.replace(checkpoints, num_to_keep=None)), keeper


class CheckpointKeeper(Callback):
    """Tune's checkpoint rotation, minus the checkpoints a trial will restore from (see the module
    docstring). ``num_to_keep`` best by ``score_attribute`` (``score_order`` "max" or "min"), or
    the newest when there is no attribute; every trial's latest checkpoint and the ones the
    population-based ``scheduler`` points at are kept as well."""

    def __init__(self, num_to_keep: int, score_attribute: str | None, score_order: str, scheduler: Any) -> None:
        self.num_to_keep = num_to_keep
        self.score_attribute = score_attribute
        self.score_order = score_order
        self.scheduler = scheduler
        self.contents: dict[str, Contents] = {}  # checkpoint path -> what Tune wrote there

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "scheduler": None}  # Tune saves the scheduler itself

    def get_state(self) -> dict[str, Any] | None:
        """What the checkpoints held when Tune registered them, saved with the experiment's state
        (so a restored sweep still removes only that)."""
        return {_STATE_KEY: dict(self.contents)} if self.contents else None

    def set_state(self, state: dict[str, Any]) -> None:
        contents = state.get(_STATE_KEY) if isinstance(state, dict) else None
        if isinstance(contents, dict):
            self.contents = {**contents, **self.contents}

    def on_checkpoint(self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any,
                      **info: Any) -> None:
        self._note(checkpoint)
        self._rotate([trial], trials)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._rotate(trials, trials)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._rotate(trials, trials)

    def _note(self, checkpoint: Any) -> None:
        """Remember what ``checkpoint``'s folder holds now (once: when Tune registers it)."""
        key = str(checkpoint.path)
        if key in self.contents:
            return
        try:
            self.contents[key] = contents_of(checkpoint.filesystem, key)
        except FileNotFoundError:  # gone already: nothing to remove, Tune forgets it on rotation
            self.contents[key] = ()
        except OSError as exc:  # noted again when it is rotated; the sweep goes on
            logger.warning("radas: could not list the checkpoint %s: %s", key, exc)

    def _rotate(self, rotating: list[Any], trials: list[Any]) -> None:
        paths, pending = _ray.pbt_references(population_based(self.scheduler))
        protected = paths | {str(t.checkpoint.path) for t in trials if t.checkpoint is not None}
        for trial in rotating:
            if trial.trial_id in pending:
                continue
            for result in _ray.checkpoint_results(trial):
                self._note(result.checkpoint)  # a restored sweep's earlier checkpoints: first seen now
            for result in self._surplus(trial, protected):
                checkpoint = result.checkpoint
                key = str(checkpoint.path)
                if key not in self.contents:  # could not be listed: it stays, and stays registered
                    continue
                try:
                    left = remove_contents(checkpoint.filesystem, key, self.contents[key])
                except OSError as exc:  # a checkpoint that cannot be deleted stays; the sweep goes on
                    logger.warning("radas: could not remove the rotated checkpoint %s: %s", key, exc)
                    continue
                if left:
                    logger.warning("radas: the rotated checkpoint %s keeps what Tune did not write there (%s): "
                                   "remove it yourself when you no longer need it", key, ", ".join(left[:5]))
                del self.contents[key]
                _ray.forget_checkpoint(trial, result)

    def _surplus(self, trial: Any, protected: set[str]) -> Iterator[Any]:
        results = _ray.checkpoint_results(trial)
        if len(results) <= self.num_to_keep:
            return
        order = list(range(len(results)))
        if self.score_attribute:
            def score(i: int) -> float:
                value = results[i].metrics.get(self.score_attribute)
                number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
                if math.isnan(number):
                    return -math.inf
                return number if self.score_order == "max" else -number

            order.sort(key=score, reverse=True)
        else:
            order.reverse()  # the newest first
        keep = {str(results[i].checkpoint.path) for i in order[: self.num_to_keep]} | protected
        for result in results:  # a checkpoint registered twice (a save PBT forced) goes once, both entries
            if str(result.checkpoint.path) not in keep:
                yield result


_STATE_KEY = "radas_checkpoint_contents"
# what a checkpoint's folder held: (path relative to it, kind) with kind "file", "link" or "dir"
Contents = tuple[tuple[str, str], ...]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _is_local(filesystem: Any) -> bool:
    from pyarrow.fs import LocalFileSystem

    return isinstance(filesystem, LocalFileSystem)


def contents_of(filesystem: Any, path: str) -> Contents:
    """The files, links and folders in the checkpoint folder ``path``, without entering a link."""
    entries: list[tuple[str, str]] = []
    if _is_local(filesystem):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return ()

        def fail(exc: OSError) -> None:
            raise exc

        for folder, dirs, files in os.walk(path, onerror=fail):  # links to folders: listed, not entered
            for name in (*dirs, *files):
                full = os.path.join(folder, name)
                mode = os.lstat(full).st_mode
                kind = "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "file"
                entries.append((os.path.relpath(full, path), kind))
        return tuple(sorted(entries))
    from pyarrow.fs import FileSelector, FileType

    for info in filesystem.get_file_info(FileSelector(path, recursive=True)):
        rel = posixpath.relpath(info.path, path)
        entries.append((rel, "dir" if info.type == FileType.Directory else "file"))
    return tuple(sorted(entries))


def remove_contents(filesystem: Any, path: str, contents: Contents) -> list[str]:
    """Remove what ``contents`` lists of the checkpoint folder ``path`` (one by one; a link as a
    link; folders, ``path`` too, only when empty; an entry that would leave ``path``, such as a
    listing read from a file on shared storage may hold, never); what stays in it, relative to it."""
    contents = tuple((rel, kind) for rel, kind in contents if _below(rel))
    if not _is_local(filesystem):
        for rel, kind in contents:
            if kind != "dir":
                try:
                    filesystem.delete_file(posixpath.join(path, rel))
                except FileNotFoundError:
                    pass
        from pyarrow.fs import FileSelector, FileType

        left = [posixpath.relpath(info.path, path)
                for info in filesystem.get_file_info(FileSelector(path, recursive=True, allow_not_found=True))
                if info.type != FileType.Directory]
        if not left:
            try:
                filesystem.delete_dir(path)  # nothing but empty folders left (an object store's markers)
            except FileNotFoundError:
                pass
        return sorted(left)
    try:
        root = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # replaced by a link (or a file): not Tune's any more
            return [f"{os.path.basename(path)} itself, now a link or a file, not entered"]
        raise
    try:
        for rel, kind in contents:
            if kind != "dir":
                _at(root, rel, lambda fd, name, kind=kind: _unlink_if(fd, name, kind))
        for rel, kind in sorted(contents, key=lambda entry: entry[0].count(os.sep), reverse=True):
            if kind == "dir":
                _at(root, rel, lambda fd, name: os.rmdir(name, dir_fd=fd))
        with os.scandir(root) as entries:
            left = sorted(entry.name for entry in entries)
    finally:
        os.close(root)
    if not left:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            return sorted(os.listdir(path))  # something appeared meanwhile
    return left


def _below(rel: object) -> bool:
    """``rel`` names something below a folder: relative, with no empty, ``.`` or ``..`` part."""
    if not isinstance(rel, str) or not rel or posixpath.isabs(rel):
        return False
    return not any(part in ("", ".", "..") for part in rel.split("/"))


def _at(root: int, rel: str, act: Any) -> None:
    """``act(fd, name)`` on ``rel`` inside the folder ``root``, reached without following a link
    (nothing when a folder on the way is gone, or is now a link or a file); a folder that is not
    empty, or an entry that is gone, is left alone."""
    *folders, name = rel.split(os.sep)
    fd = root
    try:
        for folder in folders:
            try:
                inner = os.open(folder, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    return
                raise
            if fd != root:
                os.close(fd)
            fd = inner
        try:
            act(fd, name)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
    finally:
        if fd != root:
            os.close(fd)


def _unlink_if(fd: int, name: str, kind: str) -> None:
    """Remove ``name`` when it is still what Tune wrote: a file a file, a link a link."""
    mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
    if (kind == "link" and stat.S_ISLNK(mode)) or (kind == "file" and stat.S_ISREG(mode)):
        os.unlink(name, dir_fd=fd)
