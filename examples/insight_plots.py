"""Which hyperparameters mattered, and how they interact: radas.plots in the call.

    python examples/insight_plots.py

A grid over a learning rate (two decades: a log axis), an optimizer (categorical) and a batch
size, with two seeds. The sweep's call plots fANOVA importances of every config column for the
score; a second call re-analyzes the same results without running anything, averaged over seeds,
as parallel coordinates. Figures: ./radas_figures/<you>/insight-plots.png and .svg.
"""

import asyncio
import math
import random

from ray import tune

import radas.plots
from radas import run_experiment
from radas.utils import config_seed, get_current_user_name, reduce_by_config_cols


def trainable(config):
    """A toy objective: best near lr=3e-3, better with adam, a little better with small batches."""
    config_seed(config)
    score = 1 - (math.log10(config["lr"]) + 2.5) ** 2 / 4 + 0.3 * (config["optimizer"] == "adam")
    score += 0.05 * (config["batch_size"] == 32) + random.gauss(0, 0.02)
    return {"score": score}


async def main():
    common = {"user_name": get_current_user_name(), "experiment_name": "insight-plots", "trainable": trainable}
    results = await run_experiment(
        **common,
        param_space={
            "lr": tune.grid_search([1e-4, 1e-3, 1e-2]),
            "optimizer": tune.grid_search(["adam", "sgd"]),
            "batch_size": tune.grid_search([32, 128]),
        },
        num_seeds=2,
        plot_fn=radas.plots.importance,
        plot_kwargs={"y": "score"},
        plot_format="png",
        run_choice="run",
    )
    print(radas.plots.param_importances(results["df"], y="score"))  # the numbers behind the bars

    config_cols = ["config/lr", "config/optimizer", "config/batch_size"]
    results = await run_experiment(
        **common,
        dos=["analyze"],
        process_df_fn=reduce_by_config_cols,
        process_df_fn_kwargs={"metric_col": "score", "reduce_fn": lambda s: s.mean(), "config_cols": config_cols},
        plot_fn=radas.plots.parallel_coordinates,
        plot_kwargs={"y": "score", "labels": {"config/lr": "learning rate"}},
        plot_format="svg",
    )
    print(results["df"].sort_values("score", ascending=False).head(3))


if __name__ == "__main__":
    asyncio.run(main())
