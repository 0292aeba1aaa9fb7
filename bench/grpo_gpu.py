"""GRPO at GPU speed: plain TRL vs radas (one trial) vs radas packed (``gpu_per_trial="auto"``).

The model is built here, never downloaded: a Qwen2-style causal LM with random weights (seed 0;
``--size 76m``: 12 layers, hidden 768, MLP 2048, 12 heads / 4 KV heads, ~76M parameters) and
radas's byte-level tokenizer with a chat template, saved to a temporary folder that every variant
loads. The task is radas's toy task (``examples/grpo/``). Every variant trains with the same
``trl.GRPOConfig`` (the plain script spells it out and checks, after training, that it equals the
one radas builds for a one-trial sweep): ``--steps`` optimizer steps of ``--prompts`` prompts x
``--samples`` samples x at most ``--max-len`` new tokens, bf16 autocast on a GPU.

Variants, each run in its own process (radas's in one driver process, each trial a Ray worker):

* plain TRL: a script as a TRL user writes it (``GRPOTrainer(...).train()``), ``--repeats`` runs;
* radas, 1 trial: ``run_experiment(..., gpu_per_trial=1, generation="transformers")``, ``--repeats`` runs;
* radas packed: ``gpu_per_trial="auto"`` (when ``run_experiment`` does not take it yet, the
  fraction radas's ``grpo_trainable.plan_gpu_per_trial`` returns), as many trials as the plan puts
  on the GPU (seeds 0..n-1), with ``generation="transformers"``;
* radas, 1 trial, ``generation="paged"`` (transformers' continuous batching).

The radas driver runs them in this order (one-trial, packed, paged, one-trial again), between
the plain runs; a variant that would start within 40 s of ``--deadline-s`` is skipped.

Measured: "tokens/s" is each trial's training loop (TRL's ``num_tokens``, prompt + completion, over
the time from the trainer's start to its last step log, rebuilt from the reported ``tokens_per_s``
as in ``bench/grpo_overhead.py``), and "after step 1" the same without the first step (CUDA
warm-up: the first step is most of a short run's loop). "wall" is the whole sweep: the plain
script's process, the ``run_experiment`` call for radas (Ray already started by then).
"experiments / GPU-h" = trials x 3600 / wall (one GPU). "GPU memory" is the device's peak used
memory during the variant (NVML, all processes) minus what was used before it (after waiting for
an earlier variant's processes to exit). Without a GPU everything runs on the CPU (``--size tiny``
for a smoke test) and the packed variant runs ``--cpu-trials`` trials with no GPU.

    python bench/grpo_gpu.py --out /tmp/grpo-gpu              # on a GPU machine
    python bench/grpo_gpu.py --size tiny --steps 2 --prompts 2 --samples 2 --max-len 8 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "examples", "grpo", "toy_prompts.jsonl")
REWARD = os.path.join(ROOT, "examples", "grpo", "toy_reward.py")
SIZES = {
    "76m": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 12,
            "num_key_value_heads": 4},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2},
}
ISSUE_RADAS_ONE_TRIAL = (2608 + 2483) / 2  # tokens/s, radas one trial, H200, 2026-11-26 (transformers generate)

BUILD = textwrap.dedent("""
    import json, sys, torch, transformers
    from radas.grpo._tiny import build_tiny_tokenizer
    args = json.loads(sys.argv[1])
    tok = build_tiny_tokenizer()
    config = transformers.Qwen2Config(vocab_size=len(tok), max_position_embeddings=4096, pad_token_id=tok.pad_token_id,
                                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                      tie_word_embeddings=False, **args["arch"])
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    for key in ("pad_token_id", "eos_token_id", "bos_token_id"):
        setattr(model.generation_config, key, getattr(tok, key))
    model.save_pretrained(args["model"])
    tok.save_pretrained(args["model"])
    print("RESULT " + json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
""")

SAMPLER = textwrap.dedent("""
    import json, os, sys, threading, time
    T0 = time.perf_counter()
    ARGS = json.loads(sys.argv[1])

    class GpuMemory:
        # Peak used memory of GPU 0 (all processes) while active, minus the use at the start.
        def __init__(self):
            self.ok = False
            try:
                import pynvml
                pynvml.nvmlInit()
                self.nvml, self.handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
                self.ok = True
            except Exception:
                pass
        def used(self):
            return self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used if self.ok else 0
        def __enter__(self):
            # wait (up to 20 s) for the processes of an earlier variant to give their memory back
            start, first = time.time(), self.used()
            while self.ok and time.time() - start < 20 and self.used() > ARGS.get("idle_gpu_bytes", first) + 2**28:
                time.sleep(0.5)
            self.base, self.peak, self.stop = self.used(), 0, False
            def poll():
                while not self.stop:
                    self.peak = max(self.peak, self.used())
                    time.sleep(0.1)
            self.thread = threading.Thread(target=poll, daemon=True)
            self.thread.start()
            return self
        def __exit__(self, *exc):
            self.stop = True
            self.thread.join()
            self.gib = (self.peak - self.base) / 2**30 if self.ok else None

    def loop_from_reports(df):
        # train loop (on_train_begin -> last log) from the reported tokens_per_s and cumulative num_tokens
        tokens = df["num_tokens"].tolist()
        deltas = [t - p for t, p in zip(tokens, [0.0] + tokens[:-1])]
        times = [d / r for d, r in zip(deltas, df["tokens_per_s"].tolist())]
        return {"tokens": tokens[-1], "loop_s": sum(times), "steps": int(df["step"].iloc[-1]),
                "tokens_after_1": tokens[-1] - tokens[0], "loop_after_1_s": sum(times[1:])}

    CFG = {"model": ARGS["model"], "prompt_file": ARGS["prompts"], "reward_file": ARGS["reward"],
           "max_steps": ARGS["steps"], "rollout_batch_size": ARGS["prompts_per_step"],
           "n_samples_per_prompt": ARGS["n"],
           "rollout_max_response_len": ARGS["max_len"], "learning_rate": 1e-5, "seed": 0, "logging_steps": 1}
""")

PLAIN = SAMPLER + textwrap.dedent("""
    import torch
    torch.set_num_threads(1)
    import datasets, transformers, trl
    from radas.utils import set_seed
    sys.path.insert(0, os.path.dirname(ARGS["reward"]))
    import toy_reward

    def reward(completions, letter, **kwargs):
        return [toy_reward.reward_fn(c, letter=l) for c, l in zip(completions, letter)]

    class Timer(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.begin, self.logs = time.perf_counter(), []
        def on_log(self, args, state, control, logs=None, **kwargs):
            if "train_runtime" not in (logs or {}):
                self.logs.append((time.perf_counter(), logs["num_tokens"]))

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    with GpuMemory() as memory:
        set_seed(0)
        tokenizer = transformers.AutoTokenizer.from_pretrained(ARGS["model"], padding_side="left")
        model = transformers.AutoModelForCausalLM.from_pretrained(ARGS["model"], dtype=torch.float32)
        with open(ARGS["prompts"]) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        n, batch = ARGS["n"], ARGS["prompts_per_step"]
        args = trl.GRPOConfig(
            output_dir=ARGS["tmp"], learning_rate=1e-5, lr_scheduler_type="linear", weight_decay=0.1, adam_beta1=0.9,
            adam_beta2=0.98, beta=0.0, num_generations=n, per_device_train_batch_size=n,
            gradient_accumulation_steps=batch, max_completion_length=ARGS["max_len"], temperature=1.0, epsilon=0.2,
            epsilon_high=0.28, seed=0, num_train_epochs=1, max_steps=ARGS["steps"], logging_strategy="steps",
            logging_steps=1, save_strategy="no", save_steps=500, save_total_limit=1, report_to="none",
            use_cpu=not cuda, bf16=bf16, disable_tqdm=True, warmup_steps=0.0)
        timer = Timer()
        trainer = trl.GRPOTrainer(model=model, reward_funcs=reward, args=args,
                                  train_dataset=datasets.Dataset.from_list(rows),
                                  processing_class=tokenizer, callbacks=[timer])
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        trainer.train()
    wall = time.perf_counter() - T0

    from radas.grpo._config import validate_grpo_config
    from radas.grpo._model import Device
    from radas.grpo._trainable import grpo_args
    ref = grpo_args(validate_grpo_config(CFG), ARGS["tmp"], Device("cuda" if cuda else "cpu", bf16),
                    ARGS["max_len"]).to_dict()
    mine = args.to_dict()
    diff = sorted(k for k in set(ref) | set(mine)
                  if k not in ("output_dir", "logging_dir") and ref.get(k) != mine.get(k))
    if diff:
        raise SystemExit(f"GRPOConfig differs from radas's in {[(k, mine.get(k), ref.get(k)) for k in diff]}")
    (t1, n1), (tn, nn) = timer.logs[0], timer.logs[-1]
    trial = {"tokens": nn, "loop_s": tn - timer.begin, "steps": ARGS["steps"], "tokens_after_1": nn - n1,
             "loop_after_1_s": tn - t1}
    print("RESULT " + json.dumps({"trials": [trial], "wall_s": wall, "gpu_gib": memory.gib,
                                  "torch_peak_gib": torch.cuda.max_memory_reserved() / 2**30 if cuda else None}))
""")

RADAS = SAMPLER + textwrap.dedent("""
    import asyncio, itertools
    import torch
    from ray import tune
    import radas
    from radas.errors import RadasError
    from radas.grpo import grpo_trainable

    cuda = torch.cuda.is_available()
    counter = itertools.count()

    def out(name, record):
        print("RESULT " + json.dumps({"variant": name, **record}), flush=True)

    def sweep(name, space, gpu):
        t = time.perf_counter()
        with GpuMemory() as memory:
            results = asyncio.run(radas.run_experiment(
                user_name="bench", experiment_name=f"grpo-{next(counter)}", trainable=grpo_trainable, param_space=space,
                run_choice="run", cpu_per_trial=1, gpu_per_trial=gpu, dos=["run"]))
        wall = time.perf_counter() - t
        trials, errors = [], []
        for result in results["tuner"].get_results():
            if result.error:
                errors.append(str(result.error).strip().splitlines()[-1][:300])
            else:
                trials.append(loop_from_reports(result.metrics_dataframe))
        if errors:
            return {"failed": f"{len(errors)} trial(s) failed: {errors[0]}", "wall_s": wall, "gpu_gib": memory.gib}
        return {"trials": trials, "wall_s": wall, "gpu_gib": memory.gib}

    def deadline_left():
        return ARGS["deadline"] - time.time()


    def run_variant(variant):
        kind = variant.partition("#")[0]
        if kind in ("transformers", "paged"):
            record = sweep(variant, {**CFG, "generation": kind}, 1 if cuda else 0)
        else:
            engine = "transformers"
            space = {**CFG, "generation": engine}
            if cuda:
                gib = torch.cuda.get_device_properties(0).total_memory / 2**30
                fraction, plan = grpo_trainable.plan_gpu_per_trial(
                    space, gpu_memory_gib=gib, cpus_per_gpu=os.cpu_count() / torch.cuda.device_count(), cpu_per_trial=1)
                n = round(1 / fraction)
            else:
                fraction, plan, n = 0, f"no GPU: {ARGS['cpu_trials']} trials on the CPU", ARGS["cpu_trials"]
            space["seed"] = tune.grid_search(list(range(n)))
            gpu = fraction
            if cuda:
                try:  # run_experiment's own gpu_per_trial="auto", where it has it
                    record = sweep(variant, space, "auto")
                    gpu = "auto"
                except RadasError as exc:
                    if "gpu_per_trial" not in str(exc):
                        raise
                    record = sweep(variant, space, fraction)
            else:
                record = sweep(variant, space, 0)
            record.update(engine=engine, plan=plan, gpu_per_trial=gpu)
        return record

    for variant in ARGS["variants"]:
        if deadline_left() < ARGS["reserve_s"]:
            out(variant, {"skipped": f"only {deadline_left():.0f} s left before the deadline"})
            continue
        try:
            out(variant, run_variant(variant))
        except Exception as exc:  # one variant's failure must not lose the others
            out(variant, {"failed": f"{type(exc).__name__}: {str(exc)[:500]}"})
""")


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def _run(script: str, args: dict, env: dict[str, str], timeout: float) -> list[dict]:
    """Run a variant's script; its ``RESULT {json}`` lines (also those printed before a timeout)."""
    try:
        done = subprocess.run([sys.executable, "-c", script, json.dumps(args)], capture_output=True, text=True,
                              env=env, cwd=ROOT, stdin=subprocess.DEVNULL, check=False, timeout=max(1.0, timeout))
        stdout, stderr, failure = done.stdout, done.stderr, done.returncode and f"exit {done.returncode}"
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, failure = _text(exc.stdout), _text(exc.stderr), f"timed out after {timeout:.0f} s"
    results = [json.loads(line[len("RESULT "):]) for line in stdout.splitlines() if line.startswith("RESULT ")]
    if failure:
        sys.stderr.write(stdout[-3000:] + stderr[-6000:])
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        results.append({"failed": f"{failure}: {last}"})
    return results


def _gpu_used() -> int:
    """GPU 0's used memory now (0 without NVML)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used)
    except Exception:  # noqa: BLE001 - no NVML: the memory column reads 0
        return 0


def _rate(trials: list[dict], after_1: bool = False) -> float:
    if after_1:
        return sum(t["tokens_after_1"] / t["loop_after_1_s"] for t in trials) / len(trials)
    return sum(t["tokens"] / t["loop_s"] for t in trials) / len(trials)


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "n/a" if x is None else format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="76m", help="model size (default 76m)")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per trial (default 4)")
    parser.add_argument("--prompts", type=int, default=16, help="prompts per step (default 16)")
    parser.add_argument("--samples", type=int, default=8, help="completions per prompt (default 8)")
    parser.add_argument("--max-len", type=int, default=128, help="max new tokens (default 128)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of plain TRL and of radas one trial (default 2)")
    parser.add_argument("--cpu-trials", type=int, default=2, help="packed trials when there is no GPU (default 2)")
    parser.add_argument("--deadline-s", type=float, default=None, help="skip variants that would start after this")
    parser.add_argument("--out", default=None, help="folder for results.json (and nothing else)")
    parser.add_argument("--radas", default="transformers,packed,paged",
                        help="radas variants after its first one-trial run, comma-separated, from transformers, "
                             "packed, paged (default: packed,paged, then the other one-trial runs)")
    args = parser.parse_args()
    deadline = time.time() + (args.deadline_s or 7 * 24 * 3600)
    reserve = 40.0  # a variant is not started with less time than this left

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
               "RADAS_RESULTS_DIR": os.path.join(tmp, "radas"), "RAY_AIR_NEW_OUTPUT": "0",
               "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
        model = os.path.join(tmp, "model")
        built = _run(BUILD, {"arch": SIZES[args.size], "model": model}, env, 600)
        params = built[0].get("parameters") if built and "parameters" in built[0] else None
        if params is None:
            raise SystemExit(f"building the model failed: {built}")
        common = {"idle_gpu_bytes": _gpu_used(), "model": model, "prompts": PROMPTS, "reward": REWARD,
                  "steps": args.steps, "prompts_per_step": args.prompts, "n": args.samples, "max_len": args.max_len,
                  "cpu_trials": args.cpu_trials, "deadline": deadline, "reserve_s": reserve}
        runs: dict[str, list[dict]] = {"plain": [], "transformers": [], "paged": [], "packed": []}

        def save() -> None:
            if args.out:
                os.makedirs(args.out, exist_ok=True)
                with open(os.path.join(args.out, "runs.json"), "w") as f:
                    json.dump({"args": vars(args), "parameters": params, "runs": runs}, f, indent=1)

        wanted = [v.strip() for v in args.radas.split(",") if v.strip()]
        unknown = sorted(set(wanted) - {"transformers", "packed", "paged"})
        if unknown:
            raise SystemExit(f"--radas: unknown variants {unknown}; valid: transformers, packed, paged")
        radas_variants = ["transformers#1"] + [v for v in ("packed", "paged") if v in wanted]
        if "transformers" in wanted:
            radas_variants += [f"transformers#{i}" for i in range(2, args.repeats + 1)]
        for i in range(args.repeats):  # plain first, then radas (one driver), then the other plain runs
            if i == 1:
                for res in _run(RADAS, {**common, "variants": radas_variants, "tmp": tmp}, env, deadline - time.time()):
                    kind = res.get("variant", "radas").partition("#")[0]
                    runs.setdefault(kind, []).append(res)
                save()
            if deadline - time.time() < reserve:
                runs["plain"].append({"skipped": "deadline"})
                continue
            runs["plain"] += _run(PLAIN, {**common, "tmp": os.path.join(tmp, f"plain-{i}")}, env,
                                  deadline - time.time())
            save()
        if args.repeats < 2:
            for res in _run(RADAS, {**common, "variants": radas_variants, "tmp": tmp}, env, deadline - time.time()):
                runs.setdefault(res.get("variant", "radas").partition("#")[0], []).append(res)
            save()

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    ok = {k: [r for r in v if "trials" in r] for k, v in runs.items()}
    print(f"GRPO on {device}: {args.size} model ({params / 1e6:.1f}M params), {args.steps} steps x {args.prompts} "
          f"prompts x {args.samples} samples, <= {args.max_len} new tokens")
    print(f"  {'variant':34s} {'trials':>6s} {'tokens/s/trial':>14s} {'after step 1':>12s} {'wall s':>7s} "
          f"{'exp/GPU-h':>9s} {'GPU GiB':>7s}")
    summary: dict[str, dict] = {}
    for kind, label in (("plain", "plain TRL"), ("transformers", "radas 1 trial (transformers)"),
                        ("paged", "radas 1 trial (paged)"), ("packed", "radas packed (auto)")):
        for r in ok.get(kind, []):
            n = len(r["trials"])
            name = label if kind != "packed" else f"{label}, {r['engine']}"
            print(f"  {name:34s} {n:6d} {_rate(r['trials']):14,.0f} {_rate(r['trials'], True):12,.0f} "
                  f"{r['wall_s']:7.1f} {n * 3600 / r['wall_s']:9.0f} {_fmt(r['gpu_gib'], '.1f'):>7s}")
        if ok.get(kind):
            rs = ok[kind]
            summary[kind] = {"tokens_per_s": sum(_rate(r["trials"]) for r in rs) / len(rs),
                             "tokens_per_s_after_1": sum(_rate(r["trials"], True) for r in rs) / len(rs),
                             "wall_s": sum(r["wall_s"] for r in rs) / len(rs),
                             "exp_per_gpu_h": sum(len(r["trials"]) * 3600 / r["wall_s"] for r in rs) / len(rs)}
    for kind, v in runs.items():
        for r in v:
            if "trials" not in r:
                print(f"  {kind}: {r}")
    for r in ok.get("packed", []):
        print(f"  plan: {r['plan']}")
    ratios = {}
    if "plain" in summary and "transformers" in summary:
        ratios["radas_1_trial_vs_plain_tokens_per_s"] = (summary["transformers"]["tokens_per_s"]
                                                         / summary["plain"]["tokens_per_s"])
    if "paged" in summary and "transformers" in summary:
        ratios["paged_vs_transformers_tokens_per_s"] = (summary["paged"]["tokens_per_s"]
                                                        / summary["transformers"]["tokens_per_s"])
    if "packed" in summary and "transformers" in summary:
        ratios["packed_vs_1_trial_exp_per_gpu_h"] = (summary["packed"]["exp_per_gpu_h"]
                                                     / summary["transformers"]["exp_per_gpu_h"])
    best = max((summary[k]["tokens_per_s"] for k in ("transformers", "paged") if k in summary), default=None)
    if best is not None and args.size == "76m" and args.max_len == 128:
        ratios["best_1_trial_vs_issue_table_tokens_per_s"] = best / ISSUE_RADAS_ONE_TRIAL
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}x")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"device": device, "args": vars(args), "parameters": params, "runs": runs, "summary": summary,
                       "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
