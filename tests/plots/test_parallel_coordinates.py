"""radas.plots.parallel_coordinates on a sweep's DataFrame, alone and as a plot_fn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from radas.errors import RadasTypeError, RadasValueError
from radas.experiment import _analysis
from radas.plots import parallel_coordinates


def axes_by_label(fig: Figure) -> dict[str, object]:
    """The vertical axis of each column: the twin axes, in the order of the x tick labels."""
    main, *twins = fig.axes
    names = [t.get_text() for t in main.get_xticklabels()]
    assert len(twins) == len(names)
    return dict(zip(names, twins, strict=True))


def lines_of(fig: Figure) -> LineCollection:
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    return lines


def test_one_axis_per_config_column_and_the_metric(
    brief_df: pd.DataFrame, tmp_path, config_columns: list[str]
) -> None:
    figures_before = len(plt.get_fignums())
    path = tmp_path / "parallel.png"
    fig = _analysis.plot(brief_df, parallel_coordinates, {"y": "score"}, {}, {},
                         _analysis.default_process_sns_fn, lambda g: None, save_as=[path])
    assert isinstance(fig, Figure) and path.stat().st_size > 0
    assert len(plt.get_fignums()) == figures_before  # pyplot lets the figure go
    axes = axes_by_label(fig)
    assert list(axes) == [*config_columns, "score"]  # the constant config/epochs is left out

    assert axes["config/lr"].get_yscale() == "log"  # 1e-5..1e-3: two decades
    assert axes["config/lr"].get_ylim() == pytest.approx((1e-5, 1e-3))
    assert axes["config/batch_size"].get_yscale() == "linear"
    assert axes["config/batch_size"].get_ylim() == pytest.approx((16, 32))
    assert [t.get_text() for t in axes["config/optimizer"].get_yticklabels()] == ["adam", "sgd"]
    assert axes["score"].get_ylim() == pytest.approx((brief_df["score"].min(), brief_df["score"].max()))

    lines = lines_of(fig)
    finite = np.sort(brief_df["score"].dropna().to_numpy())
    np.testing.assert_allclose(lines.get_array(), finite)  # coloured by the metric, best drawn last
    assert len(lines.get_segments()) == len(finite)  # the errored trial has no line
    best = lines.get_segments()[-1]
    assert best[0][1] == pytest.approx(0.5) and best[1][1] == 0.0  # lr 1e-4 (middle of the log axis), adam
    assert best[-1][1] == pytest.approx(1.0)  # the best score, at the top
    plt.close(fig)


def test_seeds_reduced_frame_rename_and_labels(reduced_df: pd.DataFrame) -> None:
    fig = _analysis.plot(reduced_df, parallel_coordinates,
                         {"y": "score", "params": ["config/optimizer", "config/lr"], "labels": {"config/lr": "lr"}},
                         {"score": "mean score"}, {}, _analysis.default_process_sns_fn, lambda g: None)
    assert list(axes_by_label(fig)) == ["config/optimizer", "lr", "mean score"]
    assert len(lines_of(fig).get_segments()) == len(reduced_df.dropna()) == 12  # one line per config
    plt.close(fig)


def test_log_scale_and_mode(brief_df: pd.DataFrame, tmp_path) -> None:
    fig = parallel_coordinates(brief_df, y="score", log_scale=[], mode="min", palette="magma")
    axes = axes_by_label(fig)
    assert axes["config/lr"].get_yscale() == "linear"
    lines = lines_of(fig)
    assert lines.get_array()[-1] == pytest.approx(brief_df["score"].min())  # lowest on top
    fig.savefig(tmp_path / "min.png")  # drawn: colours computed
    best, worst = lines.get_colors()[-1], lines.get_colors()[0]
    magma = matplotlib.colormaps["magma"]
    np.testing.assert_allclose(best[:3], magma(1.0)[:3])  # the best end of the palette
    np.testing.assert_allclose(worst[:3], magma(0.0)[:3])
    plt.close(fig)
    fig = parallel_coordinates(brief_df, y="score", log_scale=["config/batch_size", "config/lr"])
    assert axes_by_label(fig)["config/batch_size"].get_yscale() == "log"
    plt.close(fig)


def test_errors_name_the_argument(brief_df: pd.DataFrame) -> None:
    with pytest.raises(RadasValueError, match=r"y='loss'.*score"):
        parallel_coordinates(brief_df, y="loss")
    with pytest.raises(RadasValueError, match=r"only 1 trial.*at least 2"):
        parallel_coordinates(brief_df.iloc[[0, -1]], y="score")
    with pytest.raises(RadasValueError, match='mode=.*"max" or "min"'):
        parallel_coordinates(brief_df, y="score", mode="best")  # type: ignore[arg-type]
    with pytest.raises(RadasValueError, match=r"log_scale=.*config/optimizer"):
        parallel_coordinates(brief_df, y="score", log_scale=["config/optimizer"])
    with pytest.raises(RadasValueError, match="contains the metric"):
        parallel_coordinates(brief_df, y="score", params=["config/lr", "score"])
    with pytest.raises(RadasTypeError, match="labels"):
        parallel_coordinates(brief_df, y="score", labels=["lr"])  # type: ignore[arg-type]
    with pytest.raises(RadasTypeError, match="log_scale"):
        parallel_coordinates(brief_df, y="score", log_scale=True)  # type: ignore[arg-type]
