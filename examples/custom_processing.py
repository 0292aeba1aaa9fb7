"""Custom DataFrame processing before plotting: process_df_fn with process_df_fn_kwargs."""

import asyncio

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    return {"tokens": config["batch_size"] * 512, "seconds": 1 + config["batch_size"] / 64}


def add_throughput(df, unit):
    df = df.copy()
    df[f"throughput ({unit})"] = df["tokens"] / df["seconds"] / (1000 if unit == "k tok/s" else 1)
    return df


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="custom-processing",
        trainable=trainable,
        param_space={"batch_size": tune.grid_search([8, 16, 32, 64, 128])},
        process_df_fn=add_throughput,
        process_df_fn_kwargs={"unit": "k tok/s"},
        plot_fn=sns.barplot,
        plot_kwargs={"x": "config/batch_size", "y": "throughput (k tok/s)"},
        rename_mapping={"config/batch_size": "batch size"},
        matplotlib_rcParams_update={"axes.titlesize": 18},
        run_choice="run",
    )
    print(results["df"][["config/batch_size", "throughput (k tok/s)"]])


if __name__ == "__main__":
    asyncio.run(main())
