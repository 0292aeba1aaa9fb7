"""Tree-structured Parzen estimator search with HyperOpt (Ray Tune's HyperOptSearch)."""

import asyncio

from ray import tune
from ray.tune.search.hyperopt import HyperOptSearch

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    return {"loss": (config["lr"] - 3e-3) ** 2 * 1e4 + config["layers"] * 0.01}


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="hyperopt-search",
        trainable=trainable,
        param_space={"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5)},
        tuner_init_kwargs={
            "tune_config": {"search_alg": HyperOptSearch(metric="loss", mode="min", random_state_seed=0),
                            "num_samples": 10}
        },
        run_choice="run",
    )
    print(results["df"].sort_values("loss").head(3))


if __name__ == "__main__":
    asyncio.run(main())
