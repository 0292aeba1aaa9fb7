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
"""

from __future__ import annotations

import dataclasses
import logging
import math
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

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "scheduler": None}  # Tune saves the scheduler itself

    def on_checkpoint(self, iteration: int, trials: list[Any], trial: Any, checkpoint: Any,
                      **info: Any) -> None:
        self._rotate([trial], trials)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._rotate(trials, trials)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._rotate(trials, trials)

    def _rotate(self, rotating: list[Any], trials: list[Any]) -> None:
        paths, pending = _ray.pbt_references(population_based(self.scheduler))
        protected = paths | {str(t.checkpoint.path) for t in trials if t.checkpoint is not None}
        for trial in rotating:
            if trial.trial_id in pending:
                continue
            for result in self._surplus(trial, protected):
                checkpoint = result.checkpoint
                try:
                    checkpoint.filesystem.delete_dir(checkpoint.path)
                except FileNotFoundError:
                    pass
                except OSError as exc:  # a checkpoint that cannot be deleted stays; the sweep goes on
                    logger.warning("radas: could not remove the rotated checkpoint %s: %s", checkpoint.path, exc)
                    continue
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
