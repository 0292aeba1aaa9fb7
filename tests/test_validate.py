"""Bad input: a clear error naming the parameter, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import seaborn as sns
from ray import tune

import radas


def trainable(config):
    return {"score": 1}


BASE = {"user_name": "tester", "experiment_name": "never-runs", "trainable": trainable}


def _never_started() -> None:
    assert not (Path(radas.get_ray_results_dir("tester")) / "never-runs").exists()


@pytest.mark.parametrize(
    ("override", "error", "words"),
    [
        ({"run_with": "gpu-cluster"}, radas.RadasValueError, ["run_with='gpu-cluster'", "'local'", "cluster:<name>"]),
        ({"run_with": "cluster:nope"}, radas.ClusterNotFoundError, ["nope", "Configured clusters: none", "config.toml"]),
        ({"run_choice": "resume"}, radas.RadasValueError, ["run_choice='resume'", "restore", "stop_attach"]),
        ({"dos": ["run", "plot"]}, radas.RadasValueError, ["dos=", "'plot'", "analyze"]),
        ({"dos": "run"}, radas.RadasTypeError, ["dos must be a list"]),
        ({"dos": ["analyze"], "run_choice": "run"}, radas.RadasValueError, ["needs 'run' in dos"]),
        ({"trainable": "train.py"}, radas.RadasTypeError, ["trainable must be callable", "'train.py'"]),
        ({"plot_fn": "relplot"}, radas.RadasTypeError, ["plot_fn must be callable"]),
        ({"process_df_fn": None}, radas.RadasTypeError, ["process_df_fn must be callable"]),
        ({"param_space": [1, 2]}, radas.RadasTypeError, ["param_space must be a dict"]),
        ({"plot_kwargs": "x=a"}, radas.RadasTypeError, ["plot_kwargs must be a dict"]),
        ({"tuner_init_kwargs": {"tune_cfg": {}}}, radas.RadasValueError, ["tune_cfg", "tune_config", "run_config"]),
        ({"tuner_init_kwargs": {"tune_config": {"num_sample": 3}}}, radas.RadasValueError, ["num_sample", "num_samples"]),
        ({"user_name": "../etc"}, radas.RadasValueError, ["user_name='../etc'", "folder name"]),
        ({"experiment_name": "a/b"}, radas.RadasValueError, ["experiment_name='a/b'"]),
        ({"experiment_name": ".."}, radas.RadasValueError, ["experiment_name='..'"]),
        ({"runtime_env": {"working_dir": "/tmp"}}, radas.RadasValueError, ["working_dir", "current working directory"]),
        ({"plot_format": "jpeg"}, radas.RadasValueError, ["jpeg", "png", "svg"]),
        ({"matplotlib_rcParams_update": {"font.sizee": 3}}, radas.RadasValueError, ["font.sizee"]),
        ({"email_notification_to_address": "alice"}, radas.RadasValueError, ["'alice'"]),
        ({"yes": "yes"}, radas.RadasValueError, ["yes='yes'"]),
        ({"cpu_per_trial": 0}, radas.RadasValueError, ["cpu_per_trial=0"]),
        ({"num_seeds": 2, "param_space": {"seed": 1}}, radas.RadasValueError, ["num_seeds", "seed"]),
        ({"tuner_init_kwargs": {"tune_config": {"metric": "score"}}}, radas.RadasValueError, ["metric='score'", "mode=None"]),
    ],
)
async def test_bad_arguments_fail_fast(override, error, words):
    with pytest.raises(error) as info:
        await radas.run_experiment(**{**BASE, **override})
    for word in words:
        assert word in str(info.value)
    _never_started()


async def test_errors_are_builtin_subclasses_too():
    with pytest.raises(ValueError):
        await radas.run_experiment(**BASE, run_choice="again")
    with pytest.raises(TypeError):
        await radas.run_experiment(**{**BASE, "trainable": 3})
    with pytest.raises(LookupError):
        await radas.run_experiment(**BASE, run_with="cluster:missing")


async def test_plot_column_not_in_df_lists_available_columns(local_ray):
    with pytest.raises(radas.RadasValueError) as info:
        await radas.run_experiment(
            user_name="tester", experiment_name="bad-column", trainable=trainable,
            param_space={"a": tune.grid_search([1, 2])},
            plot_fn=sns.lineplot, plot_kwargs={"x": "config/lr", "y": "score"},
        )
    assert "config/lr" in str(info.value) and "config/a" in str(info.value)
