"""A GRPO sweep: learning rate x KL coefficient x 2 seeds on the toy task, reward curves plotted.

    python examples/grpo_sweep.py                      # local Ray, the tiny model, on the CPU
    python examples/grpo_sweep.py cluster:gpu-5090     # the same sweep on a configured cluster

The toy task (examples/grpo/): each prompt asks for a letter; the reward is the share of that
letter in the completion. Set RADAS_GRPO_STEPS to change the number of steps (default 60).
"""

import asyncio
import os
import sys
from pathlib import Path

import seaborn as sns
from ray import tune

from radas import run_experiment
from radas.grpo import grpo_trainable
from radas.utils import get_current_user_name

TOY = Path(__file__).resolve().parent / "grpo"


async def main(run_with: str) -> None:
    results = await run_experiment(
        user_name=get_current_user_name(),
        experiment_name="grpo-sweep",
        trainable=grpo_trainable,
        run_with=run_with,
        param_space={
            "model": "tiny",
            # relative to the current folder, so the same paths work on a cluster's working dir
            "prompt_file": os.path.relpath(TOY / "toy_prompts.jsonl"),
            "reward_file": os.path.relpath(TOY / "toy_reward.py"),
            "learning_rate": tune.grid_search([1e-3, 5e-3]),
            "kl_beta": tune.grid_search([0.0, 0.05]),
            "seed": tune.grid_search([0, 1]),
            "max_steps": int(os.environ.get("RADAS_GRPO_STEPS", "60")),
            "rollout_batch_size": 4,
            "n_samples_per_prompt": 8,
            "rollout_max_response_len": 16,
        },
        tuner_to_df_fn=lambda tuner: tuner.get_iteration_dataframe(),
        plot_fn=sns.relplot,  # seeds are averaged: the line is their mean, the band their spread
        plot_kwargs={"x": "step", "y": "reward_mean", "hue": "config/learning_rate", "col": "config/kl_beta",
                     "kind": "line"},
        rename_mapping={"config/learning_rate": "learning rate", "config/kl_beta": "KL coefficient",
                        "reward_mean": "mean reward"},
        plot_format="png",
        run_choice="run",
    )
    df = results["df"]
    last = df[df["step"] == df["step"].max()]
    print(last.groupby(["config/learning_rate", "config/kl_beta"])["reward_mean"].mean())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "local"))
