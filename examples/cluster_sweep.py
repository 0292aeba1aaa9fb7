"""A sweep on a named Ray cluster: `python examples/cluster_sweep.py <cluster>`.

The cluster is declared in the radas config file (``$RADAS_CONFIG`` or
``~/.config/radas/config.toml``), e.g.::

    [clusters.gpu-5090]
    address = "http://head-node:8265"
    description = "32G GRAM per GPU, choose as the default choice"
    cpu_per_node = 64
    gpu_per_node = 8
    results_dir = "/mnt/nfs/ray-results"       # shared storage as the cluster sees it
    data_dir = "/mnt/nfs/data"
    auth_token_file = "~/.ray/gpu-5090.token"

The cluster name comes from the command line or ``$RADAS_EXAMPLE_CLUSTER``. Run it from the
folder holding your code: it is uploaded with the job (this example needs nothing else).
"""

from __future__ import annotations

import asyncio
import os
import sys

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.clusters import clusters, get_cluster_availability


def trainable(config):
    """Travels to the cluster by value: it may be defined right here in the script."""
    for step in range(5):
        tune.report({"score": config["lr"] * (step + 1) * (1 + config["seed"] / 10), "step": step})


async def main(cluster: str) -> None:
    print(get_cluster_availability())
    results = await run_experiment(
        user_name=os.environ.get("USER", "radas-example"), experiment_name="cluster-sweep",
        trainable=trainable, run_with=f"cluster:{cluster}", run_choice="run",
        param_space={"lr": tune.grid_search([0.01, 0.03, 0.1]), "seed": tune.grid_search([0, 1])},
        cpu_per_trial=1, plot_fn=sns.lineplot, plot_kwargs={"x": "config/lr", "y": "score"},
    )
    print(results["df"])


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RADAS_EXAMPLE_CLUSTER")
    if not name:
        configured = sorted(clusters())
        print("examples/cluster_sweep.py runs a sweep on a named Ray cluster, so it needs one: pass its "
              "name (python examples/cluster_sweep.py NAME) or set RADAS_EXAMPLE_CLUSTER. "
              f"Configured clusters: {configured or 'none'} (declare them as [clusters.<name>] tables "
              "in the radas config file; see this file's docstring). Nothing to do.")
        sys.exit(0)
    asyncio.run(main(name))
