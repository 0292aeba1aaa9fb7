"""Bayesian search with Optuna (Ray Tune's OptunaSearch)."""

import asyncio

import seaborn as sns
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    return {"score": -((config["x"] - 0.7) ** 2) - (config["y"] - 0.2) ** 2}


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="optuna-search",
        trainable=trainable,
        param_space={"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)},
        tuner_init_kwargs={
            "tune_config": {"search_alg": OptunaSearch(metric="score", mode="max", seed=0), "num_samples": 12}
        },
        plot_fn=sns.scatterplot,
        plot_kwargs={"x": "config/x", "y": "config/y", "hue": "score", "palette": "viridis"},
        run_choice="run",
    )
    print(results["df"].sort_values("score", ascending=False).head(3))


if __name__ == "__main__":
    asyncio.run(main())
