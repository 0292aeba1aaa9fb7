"""GRPO overhead: ``radas.grpo.grpo_trainable`` against plain TRL on the same training run.

All variants train the same thing: the ``"tiny"`` preset (radas's random 2-layer Qwen2 and byte
tokenizer, built with radas's own ``build_tiny_tokenizer`` / ``build_tiny_model`` and the same
seed, so the weights are identical), on ``examples/grpo/toy_prompts.jsonl`` with the reward of
``examples/grpo/toy_reward.py``, on the CPU in float32, with the same ``trl.GRPOConfig`` values
(one optimizer step per rollout of ``rollout_batch_size * n_samples_per_prompt`` completions,
micro-batches of ``n_samples_per_prompt``, a log every step). Each variant runs in a fresh Python
process with the same ``OMP_NUM_THREADS`` / ``torch.set_num_threads``:

* plain TRL: a script as a TRL user writes it: a ``datasets.Dataset`` of ``prompt`` + ``letter``,
  a reward function calling ``toy_reward.reward_fn``, a ``GRPOConfig`` spelled out by hand (the
  script checks, after training, that it equals the one radas builds, field by field) and
  ``GRPOTrainer(...).train()``. Its PrinterCallback is removed, as radas does.
* radas on a plain ``ray.tune.Tuner``: one trial of ``grpo_trainable`` (1 trial, ``--threads`` CPUs);
  the numbers come from the metrics the trial reported to Tune.
* radas via ``radas.run_experiment`` (context): the same trial through radas's whole front end.

What is timed. The main figure, "train loop", is the same window in every variant: from the
trainer's ``on_train_begin`` to its last step log (step ``max_steps``); it holds all the
rollouts, reward calls, optimizer steps and per-step logging, plus, for radas, its callback and
``tune.report`` each step. Plain TRL measures it with a small timing callback; for radas it is
rebuilt from the reported metrics: every report carries ``tokens_per_s`` = (tokens since the last
report) / (seconds since the last report, the first measured from ``on_train_begin``) and TRL's
cumulative ``num_tokens``, so the sum of delta_tokens / tokens_per_s is that window exactly.
"first step" is the first of those terms: ``on_train_begin`` to the log of step 1 (the first
rollout, the first reward calls, the first optimizer step).
Tokens are TRL's ``num_tokens`` (prompt + completion tokens), the same counter in both, and equal
when both runs sample the same completions (the table shows both counts). For context, "setup+train"
is: plain TRL, building the tokenizer/model/dataset/trainer plus ``train()`` (after the imports);
radas, the trial's ``time_total_s`` (from the trial function's start, so also importing
transformers/TRL in the Ray worker, to its last report). "process" is the whole subprocess, from
the interpreter's start (imports, ``ray.init``) to the results in hand.

    python bench/grpo_overhead.py --max-steps 40 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "examples", "grpo", "toy_prompts.jsonl")
REWARD = os.path.join(ROOT, "examples", "grpo", "toy_reward.py")

# The radas config of the run; the plain TRL script spells out the same GRPOConfig by hand.
COMMON = textwrap.dedent("""
    import json, os, sys, time
    T0 = time.perf_counter()
    ARGS = json.loads(sys.argv[1])
    CFG = {"model": "tiny", "prompt_file": ARGS["prompts"], "reward_file": ARGS["reward"],
           "max_steps": ARGS["max_steps"], "rollout_batch_size": ARGS["rollout_batch_size"],
           "n_samples_per_prompt": ARGS["n"], "rollout_max_response_len": ARGS["max_len"],
           "learning_rate": ARGS["lr"], "seed": ARGS["seed"], "logging_steps": 1}

    def from_reports(df):
        # on_train_begin -> last log, rebuilt from the reported tokens_per_s and cumulative num_tokens.
        tokens = df["num_tokens"].tolist()
        deltas = [t - p for t, p in zip(tokens, [0.0] + tokens[:-1])]
        step_s = [d / r for d, r in zip(deltas, df["tokens_per_s"].tolist())]
        return {"steps": int(df["step"].iloc[-1]), "tokens": tokens[-1], "loop_s": sum(step_s),
                "first_s": step_s[0],
                "setup_train_s": float(df["time_total_s"].iloc[-1]), "reports": len(df)}
""")

PLAIN = COMMON + textwrap.dedent("""
    import torch
    torch.set_num_threads(ARGS["threads"])
    import datasets, transformers, trl
    from radas.grpo._tiny import build_tiny_model, build_tiny_tokenizer
    from radas.utils import set_seed

    sys.path.insert(0, os.path.dirname(ARGS["reward"]))
    import toy_reward

    def reward(completions, letter, **kwargs):
        return [toy_reward.reward_fn(c, letter=l) for c, l in zip(completions, letter)]

    class Timer(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.begin = time.perf_counter()
        def on_log(self, args, state, control, logs=None, **kwargs):
            if "train_runtime" not in (logs or {}):
                self.last, self.steps, self.tokens = time.perf_counter(), state.global_step, logs["num_tokens"]
                if state.global_step == 1:
                    self.first = self.last - self.begin

    t_setup = time.perf_counter()
    set_seed(ARGS["seed"])
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(tokenizer, seed=ARGS["seed"])
    with open(ARGS["prompts"]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    dataset = datasets.Dataset.from_list(rows)
    n, batch = ARGS["n"], ARGS["rollout_batch_size"]
    out = ARGS["tmp"]
    args = trl.GRPOConfig(
        output_dir=out, learning_rate=ARGS["lr"], weight_decay=0.1, adam_beta1=0.9, adam_beta2=0.98, beta=0.0,
        num_generations=n, per_device_train_batch_size=n, gradient_accumulation_steps=batch,
        max_completion_length=ARGS["max_len"], temperature=1.0, epsilon=0.2, epsilon_high=0.28,
        seed=ARGS["seed"], num_train_epochs=1, max_steps=ARGS["max_steps"], logging_strategy="steps",
        logging_steps=1, save_strategy="no", save_steps=500, save_total_limit=1, report_to="none",
        use_cpu=True, bf16=False, disable_tqdm=True, warmup_steps=0.0, gradient_checkpointing=False,
        logging_nan_inf_filter=False)
    timer = Timer()
    trainer = trl.GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[timer])
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    t_train = time.perf_counter()
    trainer.train()
    t_end = time.perf_counter()

    # Same GRPOConfig as radas builds? (after the timing; output folders aside)
    from radas.grpo._config import validate_grpo_config
    from radas.grpo._model import Device
    from radas.grpo._trainable import grpo_args
    ref = grpo_args(validate_grpo_config(CFG), out, Device("cpu", False), ARGS["max_len"]).to_dict()
    mine = args.to_dict()
    diff = sorted(k for k in set(ref) | set(mine) if k not in ("output_dir", "logging_dir")
                  and ref.get(k) != mine.get(k))
    if diff:
        raise SystemExit(f"GRPOConfig differs from radas's in {[(k, mine.get(k), ref.get(k)) for k in diff]}")
    assert torch.get_num_threads() == ARGS["threads"]
    print(json.dumps({"steps": timer.steps, "tokens": timer.tokens, "loop_s": timer.last - timer.begin,
                      "first_s": timer.first,
                      "train_s": t_end - t_train, "setup_train_s": t_end - t_setup,
                      "process_s": time.perf_counter() - T0}))
""")

TUNER = COMMON + textwrap.dedent("""
    import ray, torch
    from ray import tune
    from radas.grpo import grpo_trainable
    ray.init(include_dashboard=False, log_to_driver=False)

    def trainable(config):
        torch.set_num_threads(ARGS["threads"])
        grpo_trainable(config)

    tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": ARGS["threads"]}), param_space=CFG,
                       run_config=tune.RunConfig(name="grpo", storage_path=ARGS["tmp"], verbose=0))
    result = tuner.fit()[0]
    if result.error:
        raise SystemExit(f"trial failed: {result.error}")
    print(json.dumps({**from_reports(result.metrics_dataframe), "process_s": time.perf_counter() - T0}))
""")

RUN_EXPERIMENT = COMMON + textwrap.dedent("""
    import asyncio
    import radas, torch
    from radas.grpo import grpo_trainable

    def trainable(config):
        torch.set_num_threads(ARGS["threads"])
        grpo_trainable(config)

    trainable.check_param_space = grpo_trainable.check_param_space
    results = asyncio.run(radas.run_experiment(
        user_name="bench", experiment_name="grpo", trainable=trainable, param_space=CFG,
        run_choice="run", cpu_per_trial=ARGS["threads"], dos=["run"]))
    (result,) = list(results["tuner"].get_results())
    if result.error:
        raise SystemExit(f"trial failed: {result.error}")
    print(json.dumps({**from_reports(result.metrics_dataframe), "process_s": time.perf_counter() - T0}))
""")


SHORT = {"plain TRL": "plain", "radas grpo_trainable on ray.tune.Tuner": "Tuner",
         "radas.run_experiment": "run_experiment"}


def _run(script: str, args: dict, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", script, json.dumps(args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-steps", type=int, default=40, help="optimizer steps (default 40)")
    parser.add_argument("--rollout-batch-size", type=int, default=4, help="prompts per step (default 4)")
    parser.add_argument("--n-samples", type=int, default=8, help="completions per prompt (default 8)")
    parser.add_argument("--max-len", type=int, default=16, help="max completion tokens (default 16)")
    parser.add_argument("--lr", type=float, default=5e-3, help="learning rate (default 5e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch / OMP threads in every variant (default 1)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per variant, interleaved; the best is kept")
    parser.add_argument("--no-run-experiment", action="store_true", help="skip the radas.run_experiment variant")
    args = parser.parse_args()

    variants = [("plain TRL", PLAIN), ("radas grpo_trainable on ray.tune.Tuner", TUNER)]
    if not args.no_run_experiment:
        variants.append(("radas.run_experiment", RUN_EXPERIMENT))
    best: dict[str, dict[str, float]] = {}
    loops: dict[str, list[float]] = {name: [] for name, _ in variants}
    firsts: dict[str, list[float]] = {name: [] for name, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        threads = str(args.threads)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
               "TOKENIZERS_PARALLELISM": "false", "RADAS_RESULTS_DIR": os.path.join(tmp, "radas"),
               "RAY_AIR_NEW_OUTPUT": "0", "PYTHONPATH": os.pathsep.join(
                   p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
        for r in range(args.repeats):
            for i, (name, script) in enumerate(variants):
                run = {"prompts": PROMPTS, "reward": REWARD, "max_steps": args.max_steps,
                       "rollout_batch_size": args.rollout_batch_size, "n": args.n_samples, "max_len": args.max_len,
                       "lr": args.lr, "seed": args.seed, "threads": args.threads,
                       "tmp": os.path.join(tmp, f"{r}-{i}")}
                res = _run(script, run, env)
                if res["steps"] != args.max_steps:
                    raise SystemExit(f"{name}: trained {res['steps']} steps, not {args.max_steps}")
                loops[name].append(res["loop_s"])
                firsts[name].append(res["first_s"])
                if name not in best or res["loop_s"] < best[name]["loop_s"]:
                    best[name] = res

    print(f"GRPO, tiny model on the CPU, {args.threads} thread(s): {args.max_steps} steps x "
          f"{args.rollout_batch_size} prompts x {args.n_samples} samples, <= {args.max_len} new tokens "
          f"(best of {args.repeats})")
    print(f"  {'variant':40s} {'tokens':>7s} {'loop s':>7s} {'steps/s':>8s} {'tokens/s':>9s} "
          f"{'first step s':>13s} {'setup+train s':>14s} {'process s':>10s}")
    for name, res in best.items():
        print(f"  {name:40s} {res['tokens']:7.0f} {res['loop_s']:7.2f} {res['steps'] / res['loop_s']:8.2f} "
              f"{res['tokens'] / res['loop_s']:9.0f} {res['first_s']:13.3f} {res['setup_train_s']:14.2f} "
              f"{res['process_s']:10.1f}")
    print("  train loop s of every run: " + "; ".join(
        f"{SHORT[name]} {', '.join(f'{x:.2f}' for x in xs)}" for name, xs in loops.items()))
    print("  first step s of every run: " + "; ".join(
        f"{SHORT[name]} {', '.join(f'{x:.3f}' for x in xs)}" for name, xs in firsts.items()))
    plain = best["plain TRL"]
    for name, res in best.items():
        if name == "plain TRL":
            continue
        steps = plain["loop_s"] / res["loop_s"]
        tokens = (res["tokens"] / res["loop_s"]) / (plain["tokens"] / plain["loop_s"])
        print(f"{name} / plain TRL throughput: {steps:.2f}x steps/s, {tokens:.2f}x tokens/s (train loop)")
    print(f"plain TRL trainer.train() wall: {plain['train_s']:.2f} s (train loop {plain['loop_s']:.2f} s)")


if __name__ == "__main__":
    main()
