"""A heatmap of a pivot of the results: plot_kwargs values may be functions of the df."""

import asyncio

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    return {"accuracy": 1 - abs(config["lr"] - 0.01) * 20 - abs(config["batch_size"] - 64) / 256}


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="heatmap",
        trainable=trainable,
        param_space={"lr": tune.grid_search([0.001, 0.01, 0.03]), "batch_size": tune.grid_search([32, 64, 128])},
        plot_fn=sns.heatmap,
        plot_kwargs={
            "data": lambda df: df.pivot(index="config/batch_size", columns="config/lr", values="accuracy"),
            "annot": True,
            "fmt": ".2f",
            "cmap": "viridis",
        },
        rename_mapping={"config/batch_size": "batch size", "config/lr": "learning rate"},
        process_g_fn=lambda ax: ax.set_title("accuracy"),
        plot_format="png",
        run_choice="run",
    )
    print(results["fig"])


if __name__ == "__main__":
    asyncio.run(main())
