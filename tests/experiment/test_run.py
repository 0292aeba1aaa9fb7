"""run_experiment end to end on real local Ray."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from pathlib import Path

import pytest
import seaborn as sns
from ray import tune

import radas
from radas.sweep._folder import ExperimentFolder

pytestmark = pytest.mark.usefixtures("local_ray")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def product(config):
    return {"score": config["a"] * config["b"]}


def slow(config):
    for step in range(config["steps"]):
        time.sleep(0.2)
        tune.report({"score": config["a"] * step, "step": step})


def gated(config):
    """Reports a step every 0.2 s until the test opens the gate (a file), at most 120 s."""
    for step in range(600):
        time.sleep(0.2)
        tune.report({"score": config["a"] * step, "step": step})
        if step >= 2 and os.path.exists(config["gate"]):
            return


async def test_grid_returns_df_tuner_and_fig():
    name = _name("grid")
    results = await radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=product,
        param_space={"a": tune.grid_search([1, 2, 3]), "b": tune.grid_search([10, 20])},
        plot_fn=sns.relplot, plot_kwargs={"x": "config/a", "y": "score", "hue": "config/b", "kind": "line"},
    )
    df = results["df"]
    assert isinstance(results["tuner"], radas.Tuner)
    assert len(df) == 6 and set(df["status"]) == {"TERMINATED"}
    assert sorted(df["score"]) == [10, 20, 20, 30, 40, 60]
    assert {"config/a", "config/b", "score"} <= set(df.columns)
    assert "time_total_s" not in df.columns and "trial_id" not in df.columns
    assert results["fig"].axes
    folder = ExperimentFolder(Path(radas.get_ray_results_dir("tester")), name)
    assert folder.path.is_dir() and folder.holder() is None and folder.progress().state == "finished"


async def test_iteration_dataframe_and_num_seeds():
    name = _name("curves")
    results = await radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=slow, num_seeds=2,
        param_space={"a": tune.grid_search([1, 2]), "steps": 3},
        tuner_to_df_fn=lambda tuner: tuner.get_iteration_dataframe(),
    )
    df = results["df"]
    assert len(df) == 2 * 2 * 3
    assert set(df["config/seed"]) == {0, 1}
    assert sorted(df.groupby("trial_id")["step"].apply(list).iloc[0]) == [0, 1, 2]


def yielding(config):
    for step in range(3):
        yield {"score": config["a"] * step}


def quick(config):
    for step in range(config["steps"]):
        tune.report({"score": config["a"] * step, "step": step})


def _tensorboard_scores(trial_folder: Path) -> list[list[tuple[int, float]]]:
    """Per TensorBoard event file of a trial: its ``ray/tune/score`` points, read record by record."""
    from tensorboardX.proto.event_pb2 import Event

    files = []
    for path in sorted(trial_folder.glob("events.out.tfevents.*")):
        data, points, at = path.read_bytes(), [], 0
        while at < len(data):  # TFRecord: length (8 bytes), its CRC (4), the event, its CRC (4)
            length = int.from_bytes(data[at:at + 8], "little")
            event = Event.FromString(data[at + 12:at + 12 + length])
            at += 16 + length
            points += [(event.step, v.simple_value) for v in event.summary.value if v.tag == "ray/tune/score"]
        files.append(points)
    return files


async def test_tensorboard_files_hold_every_report():
    """radas's TensorBoard logger (Ray's, flushing each trial's file at most every second instead
    of after every report) loses no report."""
    name = _name("tensorboard")
    results = await radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=quick,
        param_space={"a": tune.grid_search([1, 2]), "steps": 40},
    )
    assert len(results["df"]) == 2
    trials = [p for p in (Path(radas.get_ray_results_dir("tester")) / name).iterdir()
              if p.is_dir() and p.name.startswith("quick")]
    assert len(trials) == 2
    for trial in trials:
        a = 1 if "a=1" in trial.name else 2
        assert _tensorboard_scores(trial) == [[(step + 1, float(a * step)) for step in range(40)]]


async def test_a_stopped_sweeps_tensorboard_file_holds_every_report_its_result_file_does():
    """A sweep stopped with its trial running: Tune ends no trial, and copies the trial's files
    to the results folder as the run ends; the TensorBoard file holds what result.json holds."""
    name = _name("tensorboard-stop")
    folder = Path(radas.get_ray_results_dir("tester")) / name
    task = asyncio.ensure_future(radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=slow, param_space={"a": 1, "steps": 600}))
    deadline = time.monotonic() + 180
    while not any(len(p.read_text().splitlines()) >= 5 for p in folder.glob("slow*/result.json")):
        assert time.monotonic() < deadline, "the trial never reported 5 times"
        await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (result,) = folder.glob("slow*/result.json")
    rows = len(result.read_text().splitlines())
    assert rows >= 5 and _tensorboard_scores(result.parent) == [[(step + 1, float(step)) for step in range(rows)]]


async def test_generator_trainables_report_what_they_yield():
    results = await radas.run_experiment(user_name="tester", experiment_name=_name("yield"), trainable=yielding,
                                         param_space={"a": tune.grid_search([1, 2])},
                                         tuner_to_df_fn=lambda tuner: tuner.get_iteration_dataframe())
    assert sorted(results["df"]["score"]) == [0, 0, 1, 2, 2, 4]


async def test_process_df_fn_and_kwargs():
    results = await radas.run_experiment(
        user_name="tester", experiment_name=_name("proc"), trainable=product,
        param_space={"a": tune.grid_search([1, 2, 3]), "b": 2},
        process_df_fn=lambda df, factor: df.assign(scaled=df["score"] * factor),
        process_df_fn_kwargs={"factor": 10},
    )
    assert sorted(results["df"]["scaled"]) == [20, 40, 60]


async def test_data_dir_is_shared_with_trials():
    def reads(config):
        return {"text": (Path(radas.get_data_dir("tester")) / "shared.txt").read_text()}

    (Path(radas.get_data_dir("tester")) / "shared.txt").write_text("hello from the driver")
    results = await radas.run_experiment(user_name="tester", experiment_name=_name("data"),
                                         trainable=reads, param_space={"x": 1})
    assert list(results["df"]["text"]) == ["hello from the driver"]


async def test_relative_folder_settings_mean_the_same_folder_for_driver_and_trials(tmp_path, monkeypatch):
    def where(config):
        return {"data": radas.get_data_dir("tester")}

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RADAS_DATA_DIR", "relative-data")
    results = await radas.run_experiment(user_name="tester", experiment_name=_name("relative"), trainable=where,
                                         param_space={"x": 1})
    assert list(results["df"]["data"]) == [str(tmp_path / "relative-data" / "tester")]
    assert radas.get_data_dir("tester") == str(tmp_path / "relative-data" / "tester")


def assigned(config):
    import ray

    return {"cpus": ray.get_runtime_context().get_assigned_resources().get("CPU", 0.0)}


async def test_resources_of_tune_with_resources_are_honoured():
    results = await radas.run_experiment(user_name="tester", experiment_name=_name("own"),
                                         trainable=tune.with_resources(assigned, {"cpu": 2}), param_space={"x": 1})
    assert list(results["df"]["cpus"]) == [2.0]
    agreed = await radas.run_experiment(user_name="tester", experiment_name=_name("agree"), cpu_per_trial=2,
                                        trainable=tune.with_resources(assigned, {"cpu": 2}), param_space={"x": 1})
    assert list(agreed["df"]["cpus"]) == [2.0]
    with pytest.raises(radas.RadasValueError, match="cpu_per_trial=1 asks for something else"):
        await radas.run_experiment(user_name="tester", experiment_name=_name("clash"), cpu_per_trial=1,
                                   trainable=tune.with_resources(assigned, {"cpu": 2}), param_space={"x": 1})
    with pytest.raises(radas.InsufficientResourcesError, match="tune.with_resources"):
        await radas.run_experiment(user_name="tester", experiment_name=_name("toobig"), param_space={"x": 1},
                                   trainable=tune.with_resources(assigned, {"cpu": 64}))


async def test_trials_waiting_for_resources_say_so(capsys, monkeypatch):
    import ray

    monkeypatch.setenv("TUNE_WARN_INSUFFICENT_RESOURCE_THRESHOLD_S", "1")  # radas's 10 s, shortened

    @ray.remote
    class Hog:
        def ready(self) -> bool:
            return True

    hog = Hog.options(num_cpus=ray.cluster_resources()["CPU"]).remote()
    ray.get(hog.ready.remote())  # every CPU of this machine's Ray is taken
    task = asyncio.ensure_future(radas.run_experiment(user_name="tester", experiment_name=_name("wait"),
                                                      trainable=product, param_space={"a": 1, "b": 2}))
    try:
        deadline = time.monotonic() + 120  # the sweep starting on a busy machine, then 1 s of waiting
        while "waiting for resources" not in capsys.readouterr().out:
            assert time.monotonic() < deadline, "the progress line never said why nothing runs"
            await asyncio.sleep(0.1)
    finally:
        ray.kill(hog)
    results = await task
    assert list(results["df"]["score"]) == [2]


async def test_tune_log_level_is_the_users_again_after_a_sweep():
    tune_logger = logging.getLogger("ray.tune")
    tune_logger.setLevel(logging.INFO)
    await radas.run_experiment(user_name="tester", experiment_name=_name("quiet"), trainable=product,
                               param_space={"a": 1, "b": 1})
    assert tune_logger.level == logging.INFO


class Climber(tune.Trainable):
    def setup(self, config):
        self.x = 0

    def step(self):
        self.x += 1
        return {"score": self.config["lr"] * self.x}

    def save_checkpoint(self, checkpoint_dir):
        return {"x": self.x}

    def load_checkpoint(self, checkpoint):
        self.x = checkpoint["x"]


async def test_hyperband_with_a_class_trainable_shows_final_statuses():
    from ray.tune.schedulers import HyperBandScheduler

    results = await radas.run_experiment(
        user_name="tester", experiment_name=_name("hyperband"), trainable=Climber,
        param_space={"lr": tune.grid_search([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])},
        tuner_init_kwargs={"tune_config": {"scheduler": HyperBandScheduler(metric="score", mode="max", max_t=9)},
                           "run_config": {"stop": {"training_iteration": 9}}})
    assert set(results["df"]["status"]) == {"TERMINATED"}


async def test_the_report_page_is_rewritten_while_the_sweep_runs_and_written_at_its_end(monkeypatch, tmp_path):
    """The live view reads the results log the driver appends to, on real Ray: the page says
    running, with trials, while the sweep runs; then the final page has every trial."""
    from radas.experiment import _live

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_live, "LIVE_EVERY_S", 0.3)
    monkeypatch.setattr(_live, "PAGE_EVERY_S", 0.5)
    name = _name("paged")
    page = Path(radas.get_ray_results_dir("tester")) / name / "radas-report.html"
    gate = tmp_path / "gate"
    task = asyncio.ensure_future(radas.run_experiment(
        user_name="tester", experiment_name=name, trainable=gated, live_plot=True,
        param_space={"a": tune.grid_search([1, 2, 3]), "gate": str(gate)},
        tuner_init_kwargs={"tune_config": {"metric": "score", "mode": "max"}}))
    seen_running = False
    deadline = time.monotonic() + 300  # the trials run until the running page with trials is seen
    while not task.done() and not seen_running and time.monotonic() < deadline:
        text = page.read_text() if page.exists() else ""
        seen_running = '<span class="state running">' in text and "<td>RUNNING</td>" in text
        await asyncio.sleep(0.2)
    gate.touch()
    await task
    assert seen_running
    text = page.read_text()
    assert '<span class="state succeeded">' in text and text.count("<td>TERMINATED</td>") == 3
    assert 'id="figure-curves"' in text  # the trainable reports per step: learning curves
    assert (tmp_path / "radas_figures" / "tester" / f"{name}.live.png").exists()
