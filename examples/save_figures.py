"""Save the figure in several formats, and customise it afterwards through results["fig"]."""

import asyncio

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    return {"score": config["width"] ** 0.5 * config["depth"]}


async def main():
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="save-figures",
        trainable=trainable,
        param_space={"width": tune.grid_search([16, 64, 256]), "depth": tune.grid_search([1, 2])},
        plot_fn=sns.catplot,
        plot_kwargs={"x": "config/width", "y": "score", "col": "config/depth", "kind": "bar"},
        rename_mapping={"config/width": "width", "config/depth": "depth"},
        process_g_fn=lambda g: g.set_titles("depth = {col_name}"),
        plot_format=["png", "pdf", "svg"],
        run_choice="run",
    )
    results["fig"].savefig("save-figures-custom.png", dpi=72)


if __name__ == "__main__":
    asyncio.run(main())
