"""radas.plots.importance / param_importances on a sweep's DataFrame, alone and as a plot_fn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from radas.errors import RadasTypeError, RadasValueError
from radas.experiment import _analysis
from radas.plots import importance, param_importances


def test_importances_sum_to_one_and_rank_the_parameter_that_matters(
    brief_df: pd.DataFrame, config_columns: list[str]
) -> None:
    scores = param_importances(brief_df, y="score")
    assert sorted(scores.index) == sorted(config_columns)  # every config/ column that varies
    assert scores.sum() == pytest.approx(1.0)
    assert (scores >= 0).all()
    assert list(scores.index[:2]) == ["config/lr", "config/optimizer"]
    assert scores["config/lr"] > 0.5
    assert list(scores) == sorted(scores, reverse=True)
    pd.testing.assert_series_equal(scores, param_importances(brief_df, y="score"))  # seeded: reproducible


def test_seeds_reduced_frame_and_chosen_params(
    reduced_df: pd.DataFrame, brief_df: pd.DataFrame, config_columns: list[str]
) -> None:
    scores = param_importances(reduced_df, y="score")
    assert sorted(scores.index) == sorted(config_columns[:3]) and scores.sum() == pytest.approx(1.0)
    assert scores.index[0] == "config/lr"
    chosen = param_importances(brief_df, y="score", params=["config/optimizer", "config/epochs"])
    assert chosen["config/epochs"] == 0.0 and chosen["config/optimizer"] == pytest.approx(1.0)


def test_plot_as_run_experiment_draws_it(brief_df: pd.DataFrame, tmp_path, config_columns: list[str]) -> None:
    figures_before = len(plt.get_fignums())
    path = tmp_path / "importance.png"
    fig = _analysis.plot(brief_df, importance, {"y": "score"}, {"score": "final score"}, {},
                         _analysis.default_process_sns_fn, lambda g: None, save_as=[path])
    assert isinstance(fig, Figure) and path.stat().st_size > 0
    assert len(plt.get_fignums()) == figures_before  # drawn on the figure it was given, which pyplot lets go
    (ax,) = fig.axes
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(names) == sorted(config_columns) and names[-1] == "config/lr"  # most important on top
    widths = [bar.get_width() for bar in ax.patches]
    assert sum(widths) == pytest.approx(1.0)
    assert ax.get_xlabel() == "importance for final score"
    plt.close(fig)


def test_labels_and_an_axes_of_ones_own(reduced_df: pd.DataFrame) -> None:
    fig, ax = plt.subplots()
    assert importance(reduced_df, y="score", labels={"config/lr": "learning rate"}, ax=ax) is fig
    assert "learning rate" in [t.get_text() for t in ax.get_yticklabels()]
    plt.close(fig)


def test_errors_name_the_argument(brief_df: pd.DataFrame, config_columns: list[str]) -> None:
    with pytest.raises(RadasValueError, match=r"y='reward'.*score"):
        importance(brief_df, y="reward")
    with pytest.raises(RadasValueError, match=r"only 1 trial.*at least 2"):
        param_importances(brief_df.iloc[[0, -1]], y="score")
    with pytest.raises(RadasValueError, match="every trial"):
        param_importances(brief_df.assign(score=1.0), y="score")
    with pytest.raises(RadasValueError, match="numeric"):
        param_importances(brief_df, y="status")
    with pytest.raises(RadasValueError, match=r"\['config/wd'\] not in the DataFrame"):
        param_importances(brief_df, y="score", params=["config/wd"])
    with pytest.raises(RadasTypeError, match="params"):
        param_importances(brief_df, y="score", params="config/lr")
    with pytest.raises(RadasValueError, match="none of them varies"):
        param_importances(brief_df, y="score", params=["config/epochs"])
    with pytest.raises(RadasValueError, match="no config/ column varies"):
        param_importances(brief_df.drop(columns=config_columns), y="score")
    with pytest.raises(RadasTypeError, match="DataFrame"):
        param_importances(brief_df.to_dict(), y="score")  # type: ignore[arg-type]
    assert np.isnan(brief_df["score"]).sum() == 1  # the errored trial is simply left out above
