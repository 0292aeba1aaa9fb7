"""Quickstart: a small grid sweep on local Ray, plotted.

    python examples/quickstart.py

The figure is saved to ./radas_figures/<you>/quickstart.png.
"""

import asyncio

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    """A toy objective: a noisy parabola in the learning rate, better with momentum."""
    import random

    random.seed(config["seed"])
    score = 1 - (config["lr"] - 0.3) ** 2 + 0.1 * config["momentum"] + random.gauss(0, 0.01)
    return {"score": score}


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="quickstart",
        trainable=trainable,
        param_space={
            "lr": tune.grid_search([0.1, 0.2, 0.3, 0.4, 0.5]),
            "momentum": tune.grid_search([0.0, 0.9]),
            "seed": tune.grid_search([0, 1]),
        },
        plot_fn=sns.relplot,
        plot_kwargs={"x": "config/lr", "y": "score", "hue": "config/momentum", "kind": "line", "marker": "o"},
        rename_mapping={"config/lr": "learning rate", "config/momentum": "momentum"},
        plot_format="png",
        run_choice="run",
    )
    print(results["df"].sort_values("score", ascending=False).head())


if __name__ == "__main__":
    asyncio.run(main())
