"""Bad input: a clear error naming the parameter, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import seaborn as sns
from ray import tune

import radas
from radas.experiment import _validate


def trainable(config):
    return {"score": 1}


BASE = {"user_name": "tester", "experiment_name": "never-runs", "trainable": trainable}


def _never_started() -> None:
    assert not (Path(radas.get_ray_results_dir("tester")) / "never-runs").exists()


@pytest.mark.parametrize(
    ("override", "error", "words"),
    [
        ({"run_with": "gpu-cluster"}, radas.RadasValueError, ["run_with='gpu-cluster'", "'local'", "cluster:<name>"]),
        ({"run_with": "cluster:nope"}, radas.ClusterNotFoundError,
         ["nope", "Configured clusters: none", "config.toml"]),
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
        ({"tuner_init_kwargs": {"tune_config": {"num_sample": 3}}}, radas.RadasValueError,
         ["num_sample", "num_samples"]),
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
        ({"tuner_init_kwargs": {"tune_config": {"metric": "score"}}}, radas.RadasValueError,
         ["metric='score'", "mode=None"]),
        # values that once got through the checks and failed later, or never
        ({"experiment_name": "exp\n"}, radas.RadasValueError, ["experiment_name='exp\\n'", "folder name"]),
        ({"experiment_name": "radas-index.html"}, radas.RadasValueError,
         ["experiment_name='radas-index.html'", "radas gives its own files", "pick another name"]),
        ({"cpu_per_trial": float("nan")}, radas.RadasValueError, ["cpu_per_trial=nan", "positive number"]),
        ({"gpu_per_trial": float("inf")}, radas.RadasValueError, ["gpu_per_trial=inf"]),
        ({"tuner_init_kwargs": {"tune_config": {"num_samples": "4"}}}, radas.RadasValueError,
         ["num_samples='4'", "positive int"]),
        ({"runtime_env": {"env_vars": ["A=1"]}}, radas.RadasTypeError, ["runtime_env['env_vars'] must be a dict"]),
        ({"runtime_env": {"py_modules": "mymodule"}}, radas.RadasTypeError,
         ["runtime_env['py_modules'] must be a list", "['mymodule']"]),
        ({"email_notification_to_address": "alice@"}, radas.RadasValueError, ["'alice@'", "alice@lab.org"]),
        ({"email_notification_to_address": "a@b.com,c@d.com"}, radas.RadasValueError, ["in a list"]),
        ({"matplotlib_rcParams_update": {"font.size": "huge"}}, radas.RadasValueError,
         ["matplotlib_rcParams_update['font.size'] = 'huge'"]),
    ],
)
async def test_bad_arguments_fail_fast(override, error, words):
    with pytest.raises(error) as info:
        await radas.run_experiment(**{**BASE, **override})
    for word in words:
        assert word in str(info.value)
    _never_started()


@pytest.mark.parametrize("param", ["experiment_name", "user_name"])
def test_no_name_is_one_radas_gives_its_own_files_in_the_users_folder(param):
    """The index page, the lock, secrets and archive folders sit next to the experiments in a
    user's folder: an experiment (or user) of that name would collide with them, also in another
    case (a case-insensitive filesystem takes one for the other)."""
    from radas._names import check_name
    from radas.sweep import _folder

    own = [_folder.INDEX_FILE, _folder.LOCKS_DIR, _folder.SECRETS_DIR, _folder.ARCHIVE_DIR]
    for name in [*own, _folder.INDEX_FILE.upper(), "Radas-Index.html"]:
        with pytest.raises(radas.RadasValueError) as info:
            check_name(param, name)
        assert str(info.value).startswith(f"{param}={name!r}"), info.value
    assert check_name(param, "radas-index") == "radas-index"  # only the names themselves


@pytest.mark.parametrize("runtime_env", [
    {"env_vars": [("WANDB_API_KEY", "sk-live-0123456789")]},  # the README's own bad-input example
    {"env_vars": "WANDB_API_KEY=sk-live-0123456789"},
    [("env_vars", {"WANDB_API_KEY": "sk-live-0123456789"})],
])
async def test_a_bad_runtime_env_error_never_shows_its_values(runtime_env):
    with pytest.raises(radas.RadasTypeError) as info:
        await radas.run_experiment(**BASE, runtime_env=runtime_env)
    assert "runtime_env" in str(info.value) and "must be a dict" in str(info.value)
    assert "sk-live" not in str(info.value) and "sk-live" not in repr(info.value)
    _never_started()


async def test_a_bad_param_space_error_never_shows_its_values():
    with pytest.raises(radas.RadasTypeError) as info:
        await radas.run_experiment(**BASE, param_space=[("wandb", {"api_key": "sk-live-0123456789"})])
    assert "param_space must be a dict" in str(info.value) and "sk-live" not in str(info.value)


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


class Counter(tune.Trainable):
    def step(self):
        return {"score": 1, "done": True}


@pytest.mark.parametrize(
    ("tuner_init_kwargs", "trainable_", "reuse"),
    [
        (None, trainable, True),  # radas's default for function trainables
        ({"tune_config": {"num_samples": 2}}, trainable, True),
        (None, Counter, False),  # classes need reset_config to be reused: Ray's default
        ({"tune_config": tune.TuneConfig(reuse_actors=False)}, trainable, False),
        ({"tune_config": tune.TuneConfig(num_samples=2)}, trainable, False),  # an object as written
        ({"tune_config": {"reuse_actors": False}}, trainable, False),
        ({"reuse_actors": False}, trainable, False),
        ({"tune_config": tune.TuneConfig(reuse_actors=False), "reuse_actors": True}, trainable, True),
    ],
)
def test_reuse_actors_default_only_where_the_user_said_nothing(tuner_init_kwargs, trainable_, reuse):
    tune_config, _ = _validate.build_configs(tuner_init_kwargs, trainable_)
    assert tune_config.reuse_actors is reuse


@pytest.mark.parametrize(
    ("run_config", "max_failures"),
    [
        (None, _validate.DEFAULT_MAX_FAILURES),
        ({"stop": {"training_iteration": 3}}, _validate.DEFAULT_MAX_FAILURES),
        ({"failure_config": tune.FailureConfig(max_failures=0)}, 0),
        ({"failure_config": {"max_failures": 5}}, 5),
        (tune.RunConfig(failure_config=tune.FailureConfig(max_failures=0)), 0),
        (tune.RunConfig(failure_config=tune.FailureConfig(max_failures=-1)), -1),
    ],
)
def test_failure_config_of_the_user_is_kept(run_config, max_failures):
    _, built = _validate.build_configs({"run_config": run_config}, trainable)
    assert built.failure_config.max_failures == max_failures


@pytest.mark.parametrize(
    ("run_config", "verbose", "log_to_file"),
    [
        (None, 0, True),
        ({}, 0, True),
        (tune.RunConfig(), 0, True),
        (tune.RunConfig(verbose=1), 1, True),
        (tune.RunConfig(verbose=0), 0, True),
        ({"verbose": 2, "log_to_file": False}, 2, False),
        (tune.RunConfig(log_to_file="out.log"), 0, "out.log"),
    ],
)
def test_verbose_and_log_to_file_of_the_user_are_kept(run_config, verbose, log_to_file):
    _, built = _validate.build_configs({"run_config": run_config}, trainable)
    assert built.verbose == verbose and built.log_to_file == log_to_file


@pytest.mark.parametrize(
    ("run_config", "words"),
    [
        ({"name": "mine"}, ["run_config", "name='mine'", "experiment_name"]),
        (tune.RunConfig(name="mine"), ["run_config", "name='mine'", "experiment_name"]),
        ({"storage_path": "/data/ray"}, ["storage_path='/data/ray'", "RADAS_RESULTS_DIR", "results_dir"]),
        (tune.RunConfig(storage_path="/data/ray"), ["storage_path='/data/ray'", "RADAS_RESULTS_DIR"]),
    ],
)
async def test_run_config_name_and_storage_path_are_refused(run_config, words):
    with pytest.raises(radas.RadasValueError) as info:
        await radas.run_experiment(**BASE, tuner_init_kwargs={"run_config": run_config})
    for word in words:
        assert word in str(info.value)
    _never_started()


def worker_pid(config):
    import os

    return {"worker_pid": os.getpid()}


async def test_tune_config_object_without_reuse_isolates_trials(local_ray):
    results = await radas.run_experiment(
        user_name="tester", experiment_name="no-reuse", trainable=worker_pid,
        param_space={"a": tune.grid_search([1, 2])}, run_choice="run",
        tuner_init_kwargs={"tune_config": tune.TuneConfig(reuse_actors=False, max_concurrent_trials=1)},
    )
    assert results["df"]["worker_pid"].nunique() == 2


def always_fails(config):
    from pathlib import Path

    with Path(config["attempts"]).open("a") as f:
        f.write("attempt\n")
    raise RuntimeError("deterministic failure")


async def test_failure_config_object_without_retries_runs_once(local_ray, tmp_path):
    attempts = tmp_path / "attempts.txt"
    results = await radas.run_experiment(
        user_name="tester", experiment_name="no-retries", trainable=always_fails,
        param_space={"attempts": str(attempts)}, run_choice="run",
        tuner_init_kwargs={"run_config": tune.RunConfig(failure_config=tune.FailureConfig(max_failures=0))},
    )
    assert list(results["df"]["status"]) == ["ERROR"]
    assert attempts.read_text().splitlines() == ["attempt"]


async def test_verbose_run_config_shows_tunes_own_table(local_ray, capsys):
    await radas.run_experiment(
        user_name="tester", experiment_name="verbose", trainable=trainable, param_space={"a": 1},
        tuner_init_kwargs={"run_config": tune.RunConfig(verbose=1)}, run_choice="run",
    )
    assert "== Status ==" in capsys.readouterr().out


def test_trials_that_may_start_vllm_get_fresh_workers(monkeypatch):
    from radas.grpo import _trainable, grpo_trainable

    monkeypatch.setattr(_trainable, "vllm_installed", lambda: False)
    assert _validate.build_configs(None, grpo_trainable, {"generation": "auto"})[0].reuse_actors is True
    for space in ({"generation": "vllm"}, {"generation": tune.grid_search(["transformers", "vllm"])}):
        assert _validate.build_configs(None, grpo_trainable, space)[0].reuse_actors is False
    assert _validate.build_configs({"reuse_actors": True}, grpo_trainable, {"generation": "vllm"})[0].reuse_actors
    monkeypatch.setattr(_trainable, "vllm_installed", lambda: True)
    assert _validate.build_configs(None, grpo_trainable, {})[0].reuse_actors is False  # auto picks vLLM


async def test_a_run_config_naming_radas_own_folder_is_accepted():
    """Ray's examples set RunConfig(name=..., storage_path=...): the experiment's own name and the
    user's results folder are what radas uses anyway."""
    root = radas.get_ray_results_dir("tester")
    for run_config in ({"name": "named-as-radas", "storage_path": root},
                       tune.RunConfig(name="named-as-radas", storage_path=root.rstrip("/"))):
        out = await radas.run_experiment(user_name="tester", experiment_name="named-as-radas", trainable=trainable,
                                         run_with="memory", run_choice="run",
                                         tuner_init_kwargs={"run_config": run_config})
        assert list(out["df"]["score"]) == [1]
    with pytest.raises(radas.RadasValueError, match="name='another'"):
        await radas.run_experiment(user_name="tester", experiment_name="named-as-radas", trainable=trainable,
                                   run_with="memory", tuner_init_kwargs={"run_config": {"name": "another"}})
