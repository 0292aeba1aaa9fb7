"""Iterative training with early stopping by ASHA, plotting learning curves (live while it runs:
./radas_figures/<you>/asha-iterative.live.png)."""

import asyncio
import math

import seaborn as sns
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    loss = 1.0
    for step in range(1, 21):
        loss = loss * (1 - config["lr"]) + 0.01 * math.sin(step)
        tune.report({"loss": loss, "step": step})


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="asha-iterative",
        trainable=trainable,
        param_space={"lr": tune.grid_search([0.01, 0.05, 0.1, 0.2, 0.3, 0.5])},
        tuner_init_kwargs={
            "tune_config": {
                "scheduler": ASHAScheduler(metric="loss", mode="min", grace_period=3, max_t=20, reduction_factor=2),
            }
        },
        tuner_to_df_fn=lambda tuner: tuner.get_iteration_dataframe(),
        plot_fn=sns.lineplot,
        plot_kwargs={"x": "step", "y": "loss", "hue": "config/lr", "palette": "flare"},
        plot_format="png",
        live_plot=True,
        run_choice="run",
    )
    steps = results["df"].groupby("config/lr")["step"].max()
    print("steps trained per learning rate (ASHA stops the bad ones early):")
    print(steps)


if __name__ == "__main__":
    asyncio.run(main())
