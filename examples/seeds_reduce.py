"""Every configuration with several seeds, averaged with reduce_by_config_cols."""

import asyncio
import random

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.utils import config_seed, get_current_user_name, reduce_by_config_cols


def trainable(config):
    config_seed(config)  # seeds random, numpy (and torch) from config["seed"]
    return {"score": config["lr"] * 100 + random.gauss(0, 1)}


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="seeds-reduce",
        trainable=trainable,
        param_space={"lr": tune.grid_search([0.01, 0.02, 0.05])},
        num_seeds=3,
        process_df_fn=reduce_by_config_cols,
        process_df_fn_kwargs={"metric_col": "score", "reduce_fn": lambda s: s.mean(), "config_cols": ["config/lr"]},
        plot_fn=sns.barplot,
        plot_kwargs={"x": "config/lr", "y": "score"},
        run_choice="run",
    )
    print(results["df"])  # one row per learning rate, score averaged over 3 seeds


if __name__ == "__main__":
    asyncio.run(main())
