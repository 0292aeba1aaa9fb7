"""Plots from the results frame: figure- and axes-level seaborn, renames, scoped rcParams."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
import seaborn as sns
from matplotlib.figure import Figure
from ray import tune

import radas
from radas.experiment import _analysis


def score(config):
    return {"score": config["lr"] * 10 + config["wd"]}


DF = pd.DataFrame({"config/lr": [0.1, 0.2, 0.1, 0.2], "config/wd": [0, 0, 1, 1], "score": [1.0, 2.0, 2.0, 3.0]})


def _plot(plot_fn, plot_kwargs, rename=None, rc=None, save=()):
    return _analysis.plot(DF, plot_fn, plot_kwargs, rename or {}, rc or {},
                          _analysis.default_process_sns_fn, lambda g: g, save)


@pytest.mark.parametrize(
    ("plot_fn", "kwargs"),
    [
        (sns.relplot, {"x": "config/lr", "y": "score", "hue": "config/wd", "kind": "line"}),
        (sns.catplot, {"x": "config/lr", "y": "score", "col": "config/wd", "kind": "bar"}),
        (sns.displot, {"x": "score"}),
        (sns.lineplot, {"x": "config/lr", "y": "score", "hue": "config/wd"}),
        (sns.barplot, {"x": "config/lr", "y": "score"}),
    ],
)
def test_figure_and_axes_level_functions_give_a_figure(plot_fn, kwargs):
    fig = _plot(plot_fn, kwargs)
    assert isinstance(fig, Figure) and fig.axes


def test_rename_mapping_labels_the_axes():
    fig = _plot(sns.lineplot, {"x": "config/lr", "y": "score"}, rename={"config/lr": "learning rate"})
    assert fig.axes[0].get_xlabel() == "learning rate"


def test_heatmap_of_a_pivot_given_as_a_function_of_the_df():
    fig = _plot(sns.heatmap, {"data": lambda df: df.pivot(index="config/wd", columns="config/lr", values="score"),
                              "annot": True}, rename={"config/wd": "weight decay"})
    assert fig.axes[0].get_ylabel() == "weight decay"


def test_rcparams_and_theme_do_not_leak():
    before = dict(matplotlib.rcParams)
    fig = _plot(sns.lineplot, {"x": "config/lr", "y": "score"}, rc={"axes.labelsize": 31.0})
    assert fig.axes[0].xaxis.label.get_fontsize() == 31.0
    assert matplotlib.rcParams["font.size"] == before["font.size"]
    assert dict(matplotlib.rcParams) == before


def test_saves_every_format(tmp_path):
    paths = [tmp_path / "f.png", tmp_path / "f.pdf", tmp_path / "f.svg"]
    _plot(sns.lineplot, {"x": "config/lr", "y": "score"}, save=paths)
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"


def test_missing_column_lists_available():
    with pytest.raises(radas.RadasValueError, match=r"'lr' is not a column.*available columns.*config/lr.*score"):
        _plot(sns.lineplot, {"x": "lr", "y": "score"})


async def test_run_experiment_saves_figures_below_cwd(tmp_path, monkeypatch, local_ray):
    monkeypatch.chdir(tmp_path)
    results = await radas.run_experiment(
        user_name="tester", experiment_name="heat", trainable=score,
        param_space={"lr": tune.grid_search([0.1, 0.2]), "wd": tune.grid_search([0, 1])},
        plot_fn=sns.heatmap,
        plot_kwargs={"data": lambda df: df.pivot(index="config/wd", columns="config/lr", values="score")},
        process_g_fn=lambda ax: ax.set_title("score"),
        plot_format=["png", "pdf"], run_choice="run",
    )
    assert results["fig"].axes[0].get_title() == "score"
    for fmt in ("png", "pdf"):
        assert (tmp_path / "radas_figures" / "tester" / f"heat.{fmt}").stat().st_size > 0


def test_colormap_passes_through_to_seaborn_unchanged():
    cmap = matplotlib.colormaps["magma"]
    fig = _plot(sns.heatmap, {"data": lambda df: df.pivot(index="config/wd", columns="config/lr", values="score"),
                              "cmap": cmap})
    assert fig.axes[0].collections[0].get_cmap().name == "magma"


def test_norm_and_colormap_palette_pass_through_to_seaborn_unchanged():
    from matplotlib.colors import LogNorm

    palette = sns.color_palette("rocket", as_cmap=True)
    fig = _plot(sns.scatterplot, {"x": "config/lr", "y": "score", "hue": "score",
                                  "hue_norm": LogNorm(), "palette": palette})
    colors = fig.axes[0].collections[0].get_facecolors()
    expected = palette(LogNorm(vmin=1.0, vmax=3.0)(DF["score"].to_numpy()))
    assert colors.round(6).tolist() == expected.round(6).tolist()


def test_only_data_is_called_with_the_df():
    import numpy as np

    fig = _plot(sns.regplot, {"data": lambda df: df[df["config/wd"] >= 0], "x": "config/lr", "y": "score",
                              "x_estimator": np.mean, "ci": None, "fit_reg": False})
    points = fig.axes[0].collections[0].get_offsets()
    assert points.tolist() == [[0.1, 1.5], [0.2, 2.5]]


async def test_plots_are_drawn_off_the_event_loop_and_not_kept_by_pyplot(tmp_path, monkeypatch):
    """Two experiments under gather draw without blocking each other's event loop, and a
    notebook session that runs many experiments does not keep every figure alive."""
    import asyncio
    import threading
    import warnings

    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    threads = []

    def drawing(data, x, y):
        threads.append(threading.current_thread() is threading.main_thread())
        return sns.barplot(data=data, x=x, y=y)

    def one(config):
        return {"score": config["a"]}

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "More than 20 figures have been opened"
        for batch in range(12):
            await asyncio.gather(*(radas.run_experiment(
                user_name="tester", experiment_name=f"drawn-{batch}-{i}", trainable=one, run_with="memory",
                param_space={"a": tune.grid_search([1, 2])}, plot_fn=drawing,
                plot_kwargs={"x": "config/a", "y": "score"}) for i in range(2)))
    assert threads == [False] * 24
    assert plt.get_fignums() == []
