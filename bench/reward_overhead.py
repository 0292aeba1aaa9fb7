"""Reward-call overhead per GRPO step: radas's reward runner against calling the functions directly.

One step's reward calls as TRL makes them: a rollout of ``--prompts`` prompts x ``--samples``
completions (the example sweep's 4 x 8), scored by two reward functions — the toy task's
per-completion ``reward_fn(completion, letter)`` (``examples/grpo/toy_reward.py``) and a TRL batch
function ``progress(completions, trainer_state, **kwargs)`` that reads
``trainer_state.global_step / max_steps`` — with TRL's keyword arguments, ``trainer_state``
included, whose ``log_history`` holds 0, 1,000 or 5,000 logged steps (each a dict of the ~30
numbers TRL logs per step).

* raw: the same two functions called directly in this process, as TRL calls plain reward
  functions (the per-completion one wrapped in a list comprehension) — no isolation, no timeout;
* radas: the trial's adapters (:func:`radas.grpo._rewards.make_adapters`) over a
  :class:`radas.grpo._reward_runner.RewardRunner` with ``--workers`` reward worker processes
  (default 2, the trial default), called one after the other as TRL calls them.

Both run in the same process, interleaved step by step, after a warm-up step; the figure is the
median over ``--steps`` steps of one step's reward calls (and radas's best step: on a busy
machine the median swings with the scheduler). The functions do almost nothing, so the radas
column is the runner's own cost: sending the calls to the workers and the results back. It must
not grow with the length of the run (``log_history``).

    python bench/reward_overhead.py --steps 30
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_REWARD = os.path.join(ROOT, "examples", "grpo", "toy_reward.py")

PROGRESS = '''
def progress(completions, trainer_state, **kwargs):
    """A reward shaped by the run's progress (TRL's trainer_state)."""
    share = trainer_state.global_step / max(1, trainer_state.max_steps)
    return [share] * len(completions)
'''

# the numbers TRL's GRPOTrainer logs each step (a log_history entry)
LOG_KEYS = ["loss", "grad_norm", "learning_rate", "num_tokens", "completions/mean_length",
            "completions/min_length", "completions/max_length", "completions/clipped_ratio",
            "completions/mean_terminated_length", "completions/min_terminated_length",
            "completions/max_terminated_length", "rewards/toy_reward/mean", "rewards/toy_reward/std",
            "rewards/progress/mean", "rewards/progress/std", "reward", "reward_std", "frac_reward_zero_std",
            "entropy", "clip_ratio/low_mean", "clip_ratio/low_min", "clip_ratio/high_mean", "clip_ratio/high_max",
            "clip_ratio/region_mean", "step_time", "epoch"]


def trainer_state(logged_steps: int, max_steps: int) -> Any:
    from transformers import TrainerState

    state = TrainerState(global_step=logged_steps, max_steps=max_steps, epoch=logged_steps / 100,
                         num_input_tokens_seen=logged_steps * 18_000)
    state.log_history = [{**{k: 0.123456789 * (i % 7 + 1) for k in LOG_KEYS}, "step": i + 1}
                         for i in range(logged_steps)]
    return state


def one_step(prompts: int, samples: int, state: Any) -> dict[str, Any]:
    """TRL's arguments to each reward function for one step (conversational completions)."""
    import json

    letters = ["abcd"[i % 4] for i in range(prompts) for _ in range(samples)]
    completions = [[{"role": "assistant", "content": f"aab{j}ca{letter}" * 2}] for j, letter in enumerate(letters)]
    return {"prompts": [[{"role": "user", "content": f"Write the letter {letter}."}] for letter in letters],
            "completions": completions, "letter": letters,
            "_radas_extra": [json.dumps({"letter": letter}) for letter in letters],
            "_radas_line": [i // samples + 1 for i in range(prompts * samples)],
            "completion_ids": [[7] * 14 for _ in letters], "trainer_state": state,
            "log_metric": lambda name, value: None, "log_extra": lambda column, values: None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per history length")
    parser.add_argument("--history", default="0,1000,5000", help="logged steps in trainer_state.log_history")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from radas.grpo._reward_runner import RewardRunner
    from radas.grpo._rewards import load_reward_functions, make_adapters

    folder = tempfile.mkdtemp(prefix="radas-reward-bench-")
    progress_file = os.path.join(folder, "progress.py")
    with open(progress_file, "w") as f:
        f.write(PROGRESS)
    reward_file = [TOY_REWARD, f"{progress_file}:progress"]
    toy, progress = (rf.fn for rf in load_reward_functions(reward_file))  # raw: imported here

    def raw(kw: dict[str, Any]) -> None:
        [toy(c, letter=letter) for c, letter in zip(kw["completions"], kw["letter"], strict=True)]
        progress(prompts=kw["prompts"], completions=kw["completions"], completion_ids=kw["completion_ids"],
                 letter=kw["letter"], trainer_state=kw["trainer_state"], log_metric=kw["log_metric"],
                 log_extra=kw["log_extra"])

    runner = RewardRunner(reward_file, args.workers, 120.0, 16)
    adapters, _ = make_adapters(runner, None, "toy_prompts.jsonl", None, args.samples)

    def radas(kw: dict[str, Any]) -> None:
        through = {k: v for k, v in kw.items() if k != "letter"}  # radas passes extra fields as _radas_extra
        for adapter in adapters:
            adapter(**through)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, reward_workers={args.workers}, "
          f"{args.prompts * args.samples} completions per step, 2 reward functions, median of {args.steps} steps")
    print(f"{'logged steps':>12} | {'raw ms/step':>11} | {'radas ms/step':>13} | {'radas - raw':>11} | ratio | "
          "radas best step")
    try:
        for logged in [int(h) for h in args.history.split(",")]:
            kw = one_step(args.prompts, args.samples, trainer_state(logged, max(logged, 1) * 2))
            raw(kw)
            radas(kw)  # warm-up: the workers import the files, the first messages
            times: dict[str, list[float]] = {"raw": [], "radas": []}
            for _ in range(args.steps):
                for name, step in (("raw", raw), ("radas", radas)):
                    start = time.perf_counter()
                    step(kw)
                    times[name].append(time.perf_counter() - start)
            r, d = (statistics.median(times[k]) * 1000 for k in ("raw", "radas"))
            best = min(times["radas"]) * 1000
            print(f"{logged:>12,} | {r:>11.3f} | {d:>13.2f} | {d - r:>11.2f} | {d / r:.0f}x | {best:.2f}", flush=True)
    finally:
        runner.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
