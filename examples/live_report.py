"""Watch a sweep while it runs, then read its report page and its email.

    python examples/live_report.py

While the sweep runs: a progress bar (done, running, pending, best so far, elapsed time, ETA) and
the learning curves of every trial so far, redrawn every few seconds into
./radas_figures/<you>/live-report.live.png (in a notebook: in the cell, in place). At the end: the
report page next to the results (radas-report.html: counts, the trials to sort, the best config,
the figures, errored trials), the index of your experiments, and - with RADAS_SMTP_* set and
RADAS_NOTIFY=you@lab.org - the same report by email, figures inline.
"""

import asyncio
import math
import os
import time

import seaborn as sns
from ray import tune

import radas
from radas import run_experiment
from radas.utils import get_current_user_name


def trainable(config):
    """A toy training run: the reward climbs faster with a larger learning rate, wobbles with the
    batch size."""
    reward = 0.0
    for step in range(1, 16):
        time.sleep(0.1)  # a step of real work
        reward += config["lr"] * (1 - reward) + 0.01 * math.sin(step * config["batch_size"])
        tune.report({"reward_mean": reward, "step": step})


async def main():
    user = get_current_user_name()
    results = await run_experiment(
        user_name=user,
        experiment_name="live-report",
        trainable=trainable,
        param_space={"lr": tune.grid_search([0.03, 0.1, 0.3]), "batch_size": tune.grid_search([16, 64])},
        tuner_init_kwargs={"tune_config": {"metric": "reward_mean", "mode": "max"}},
        live_plot=True,  # the default in a notebook; a terminal gets the .live.png file
        plot_fn=sns.barplot,
        plot_kwargs={"x": "config/lr", "y": "reward_mean", "hue": "config/batch_size"},
        email_notification_to_address=os.environ.get("RADAS_NOTIFY"),
        run_choice="run",
    )
    print(results["df"].sort_values("reward_mean", ascending=False).head())
    print("open in a browser:", radas.report(user))  # the index of your experiments, linking each report


if __name__ == "__main__":
    asyncio.run(main())
