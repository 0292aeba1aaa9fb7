"""The checkpoint keeper of population-based sweeps removes, of a rotated checkpoint, only what Tune
wrote into its folder: never a file a user put there later, never what a link points to.

Real Tune objects (a trial, its checkpoint register, a PBT scheduler) and real folders, driven the
way Tune's controller drives the keeper: ``on_checkpoint`` with the new checkpoint, then the trial's
register takes it. Ray is not started."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest
from ray.train._internal.session import _TrainingResult
from ray.tune import Checkpoint
from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining

from radas import _ray
from radas.sweep._checkpoints import CheckpointKeeper


def _pbt() -> PopulationBasedTraining:
    return PopulationBasedTraining(time_attr="training_iteration", hyperparam_mutations={"lr": [0.1, 0.01]})


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) + ("@" if p.is_symlink() else "") for p in folder.rglob("*"))


def _save(keeper: CheckpointKeeper, trial: Trial, folder: Path, step: int, dataset: Path) -> Path:
    """What a trainable's checkpoint looks like once Tune persisted it (a file, a model folder, a
    link the trainable made to its dataset), handed to the keeper and registered as Tune does."""
    checkpoint = folder / f"checkpoint_{step:06d}"
    (checkpoint / "model").mkdir(parents=True)
    (checkpoint / "state.json").write_text(f'{{"step": {step}}}')
    (checkpoint / "model" / "weights.bin").write_bytes(b"\0" * 64)
    (checkpoint / "dataset").symlink_to(dataset)
    saved = Checkpoint.from_directory(str(checkpoint))
    keeper.on_checkpoint(iteration=step, trials=[trial], trial=trial, checkpoint=saved)
    # what Trial.on_checkpoint does besides counting (which needs Tune's storage context)
    trial.run_metadata.checkpoint_manager.register_checkpoint(_TrainingResult(checkpoint=saved,
                                                                              metrics={"score": step}))
    return checkpoint


def _registered(trial: Trial) -> list[str]:
    return [Path(result.checkpoint.path).name for result in _ray.checkpoint_results(trial)]


def test_rotation_removes_only_what_tune_wrote_never_a_users_file_or_a_links_target(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="radas")
    dataset = tmp_path / "datasets" / "gsm8k"  # the user's data, outside the experiment
    dataset.mkdir(parents=True)
    (dataset / "train.jsonl").write_text("{}\n")
    outside = tmp_path / "notes"
    outside.mkdir()
    (outside / "thesis.tex").write_text("precious")
    folder = tmp_path / "exp" / "trial_a"
    keeper = CheckpointKeeper(1, None, "max", _pbt())
    trial = Trial("trainable", stub=True, trial_id="a")

    first = _save(keeper, trial, folder, 1, dataset)
    (first / "my-notes.txt").write_text("mine")  # the user's, after Tune wrote the checkpoint
    (first / "model" / "annotations.txt").write_text("mine too")
    (first / "scratch").symlink_to(outside)
    second = _save(keeper, trial, folder, 2, dataset)
    third = _save(keeper, trial, folder, 3, dataset)  # the first is rotated away now

    assert _tree(first) == ["model", "model/annotations.txt", "my-notes.txt", "scratch@"]
    assert _tree(dataset) == ["train.jsonl"] and _tree(outside) == ["thesis.tex"]
    assert any(str(first) in r.getMessage() and "my-notes.txt" in r.getMessage() for r in caplog.records)
    assert _registered(trial) == [second.name, third.name]

    # the sweep is restored: a new keeper, with what the experiment's state saved of the old one
    state = pickle.loads(pickle.dumps(keeper.get_state()))
    restored = CheckpointKeeper(1, None, "max", _pbt())
    restored.set_state(state)
    (second / "model" / "mine.txt").write_text("planted before the restore")
    restored.on_trial_complete(iteration=4, trials=[trial], trial=trial)
    assert _tree(second) == ["model", "model/mine.txt"]
    assert _registered(trial) == [third.name]
    assert _tree(folder) == sorted([
        first.name, *(f"{first.name}/{p}" for p in _tree(first)), second.name, "checkpoint_000002/model",
        "checkpoint_000002/model/mine.txt", third.name, *(f"{third.name}/{p}" for p in _tree(third))])
    assert _tree(dataset) == ["train.jsonl"]


def test_a_checkpoint_only_tune_wrote_to_goes_entirely(tmp_path) -> None:
    dataset = tmp_path / "data"
    dataset.mkdir()
    (dataset / "x.bin").write_bytes(b"x")
    folder = tmp_path / "exp" / "trial_b"
    keeper = CheckpointKeeper(1, "score", "max", _pbt())
    trial = Trial("trainable", stub=True, trial_id="b")
    first, second, third = (_save(keeper, trial, folder, step, dataset) for step in (1, 2, 3))
    keeper.on_experiment_end(trials=[trial])
    assert not first.exists() and not second.exists() and _tree(folder) == [
        third.name, *(f"{third.name}/{p}" for p in _tree(third))]
    assert _registered(trial) == [third.name] and _tree(dataset) == ["x.bin"]


@pytest.mark.parametrize("gone", ["folder", "link"])
def test_a_checkpoint_folder_replaced_by_a_link_is_not_entered(tmp_path, gone: str) -> None:
    """A checkpoint folder that is gone is forgotten; one replaced by a link to a user's folder
    stays as it is, and so does everything the link points to."""
    dataset = tmp_path / "data"
    dataset.mkdir()
    (dataset / "x.bin").write_bytes(b"x")
    user = tmp_path / "user"
    (user / "model").mkdir(parents=True)
    (user / "state.json").write_text("the user's")
    (user / "model" / "weights.bin").write_text("the user's")
    folder = tmp_path / "exp" / "trial_c"
    keeper = CheckpointKeeper(1, None, "max", _pbt())
    trial = Trial("trainable", stub=True, trial_id="c")
    first = _save(keeper, trial, folder, 1, dataset)
    _save(keeper, trial, folder, 2, dataset)
    for path in sorted(first.rglob("*"), key=lambda p: -len(p.parts)):
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    first.rmdir()
    if gone == "link":
        first.symlink_to(user)
    _save(keeper, trial, folder, 3, dataset)
    assert _tree(user) == ["model", "model/weights.bin", "state.json"] and _tree(dataset) == ["x.bin"]
    assert first.is_symlink() == (gone == "link") and first.name not in _registered(trial)
