""":class:`KeepBestModels`: a driver-side Tune callback that keeps the final models of only the best
``k`` trials of a GRPO sweep, removing the others' as trials finish."""

from __future__ import annotations

import json
import logging
import math
import posixpath
from collections import Counter
from typing import Any

from radas.errors import RadasValueError
from radas.grpo._export import MARKER, final_model_of

logger = logging.getLogger("radas")

# the trial note (a DataFrame column) of a trial whose final model was removed
REMOVED_NOTE = "final_model"


def _callback_base() -> type:
    from ray.tune import Callback

    return Callback


class KeepBestModels(_callback_base()):  # type: ignore[misc]
    """Keep the final models (``keep_final_model``) of the ``k`` best trials only.

    A Ray Tune callback, run on the sweep's driver: each time a trial finishes, the trials that
    have a final model are ranked by their last ``metric`` (NaN, or none, ranks last), and the
    final-model folders of those below the ``k``-th best (those tied with it stay: which of tied
    trials is "the best" is a matter of order) are removed — only the files radas wrote
    there (listed in the folder's ``radas_final_model.json``), never through a link, and the folder
    itself once empty. A removed trial gets a ``final_model`` note (a DataFrame column) saying so,
    which :func:`radas.grpo.load_model` repeats. Checkpoints of ``checkpoint_every`` are left to
    Tune's ``CheckpointConfig(num_to_keep=...)`` (a trial whose last step had one keeps it).

    ``metric`` / ``mode``: the sweep's (its ``TuneConfig``'s, as ``run_experiment`` has them) when
    not given; with neither, nothing is removed (said once)::

        from ray import tune
        from radas.grpo import KeepBestModels
        run_experiment(..., tuner_init_kwargs={
            "tune_config": {"metric": "reward_mean", "mode": "max"},
            "run_config": tune.RunConfig(callbacks=[KeepBestModels(3)])})
    """

    def __init__(self, k: int, metric: str | None = None, mode: str | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise RadasValueError(f"KeepBestModels: k = {k!r} must be an int >= 1 (how many final models to keep)")
        if mode not in (None, "max", "min"):
            raise RadasValueError(f"KeepBestModels: mode = {mode!r} must be 'max' or 'min'")
        if (metric is None) != (mode is None):
            raise RadasValueError("KeepBestModels: give metric and mode together, or neither (the sweep's)")
        self.k = k
        self.metric = metric
        self.mode = mode
        self._said = False

    def use_sweep_metric(self, metric: str | None, mode: str | None) -> None:
        """The sweep's metric and mode (radas calls this before the sweep starts); ``metric`` /
        ``mode`` given to the constructor win."""
        if self.metric is None and metric and mode in ("max", "min"):
            self.metric, self.mode = metric, mode

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._prune(trials)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._prune(trials)

    def _score(self, trial: Any) -> float:
        value = (trial.last_result or {}).get(self.metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return -math.inf
        return float(value) if self.mode == "max" else -float(value)

    def _prune(self, trials: list[Any]) -> None:
        if self.metric is None:
            if not self._said:
                logger.warning("radas.grpo: KeepBestModels keeps every final model: the sweep has no metric; give "
                               "KeepBestModels(k, metric=..., mode=...) or the TuneConfig's metric and mode")
                self._said = True
            return
        kept = [(trial, folder) for trial in trials if (folder := final_model_of(trial)) is not None]
        if len(kept) <= self.k:
            return
        kept.sort(key=lambda pair: self._score(pair[0]), reverse=True)
        bar = self._score(kept[self.k - 1][0])
        shared = Counter(path for _, (_, path) in kept)
        for trial, (filesystem, path) in kept[self.k:]:
            # a trial tied with the k-th best stays, as the best one might be it; a folder that is not
            # the trial's own (PBT's exploit gives a trial another's checkpoint) or that another trial
            # points to stays
            if self._score(trial) < bar and shared[path] == 1 and _inside(path, trial.path):
                self._remove(trial, filesystem, path)

    def _remove(self, trial: Any, filesystem: Any, path: str) -> None:
        from radas.sweep import annotate_trial, remove_contents

        try:
            with filesystem.open_input_stream(posixpath.join(path, MARKER)) as f:
                written = json.loads(f.read().decode())
            listed = [*((n, "file") for n in written.get("files", [])),
                      *((n, "dir") for n in written.get("folders", []))]
            remove_contents(filesystem, path, tuple((n, kind) for n, kind in listed if n != MARKER))
            # the marker last: a folder without it is never touched again
            left = remove_contents(filesystem, path, ((MARKER, "file"),))
        except (OSError, ValueError) as exc:  # a folder that cannot be removed stays; the sweep goes on
            logger.warning("radas.grpo: could not remove the final model %s: %s", path, exc)
            return
        why = (f"removed: not among the best {self.k} by {self.metric} ({self.mode}) "
               f"(KeepBestModels({self.k}))")
        if left:
            logger.warning("radas.grpo: the removed final model %s keeps what radas did not write there (%s)",
                           path, ", ".join(left[:5]))
        try:
            annotate_trial(trial.path, **{REMOVED_NOTE: why})
        except OSError as exc:
            logger.warning("radas.grpo: could not note the removed final model of trial %s: %s", trial, exc)
        logger.info("radas.grpo: final model of trial %s %s", trial, why)


def _inside(path: str, trial_path: str | None) -> bool:
    """``path`` is in the trial's own folder (both on the sweep's storage)."""
    if not trial_path:
        return False
    inner, outer = posixpath.normpath(path), posixpath.normpath(trial_path)
    return inner != outer and inner.startswith(outer.rstrip("/") + "/")
