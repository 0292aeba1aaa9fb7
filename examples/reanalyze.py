"""Re-analyze an existing experiment without running anything: dos=["analyze"].

Runs a sweep once, then plots it again differently - as you would days later from a notebook.
"""

import asyncio

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    return {"score": config["x"] ** 2}


async def main():
    user = get_current_user_name()
    await run_experiment(
        user_name=user, experiment_name="reanalyze", trainable=trainable,
        param_space={"x": tune.grid_search([-2, -1, 0, 1, 2])}, run_choice="run",
    )
    results = await run_experiment(
        user_name=user, experiment_name="reanalyze", trainable=trainable,
        dos=["analyze"],
        plot_fn=sns.scatterplot, plot_kwargs={"x": "config/x", "y": "score"},
        plot_format="svg",
    )
    print(results["df"][["config/x", "score"]].sort_values("config/x"))


if __name__ == "__main__":
    asyncio.run(main())
