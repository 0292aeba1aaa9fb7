"""Grid search over two parameters; the results as a DataFrame."""

import asyncio

from ray import tune

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    return {"score": config["a"] * 10 + config["b"]}


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="grid-search",
        trainable=trainable,
        param_space={"a": tune.grid_search([1, 2, 3]), "b": tune.grid_search([0, 5])},
        run_choice="run",
    )
    df = results["df"]
    print(df[["config/a", "config/b", "score", "status"]])
    best = results["tuner"].get_results().get_best_result(metric="score", mode="max")
    print("best config:", best.config)


if __name__ == "__main__":
    asyncio.run(main())
