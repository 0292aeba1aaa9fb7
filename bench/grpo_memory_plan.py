"""gpu_per_trial="auto": the planner's estimate of a GRPO trial's peak GPU memory against the peak
measured on the GPU, for real-shaped models (random weights from a config: no download).

For each shape (Qwen2.5-0.5B's and -1.5B's, with their 151,936-token vocabulary) the script builds
the model folder, prints radas's estimate (``radas.grpo.estimate_trial_memory``: what stays, plus
the larger of generating and training), then — on a GPU — runs one trial of ``--steps`` GRPO
steps with radas's trainable in this process (the rollout and the training of the defaults:
``rollout_batch_size`` x ``n_samples_per_prompt`` sequences of up to ``max_seq_length`` tokens)
and reads the peak ``torch.cuda.max_memory_reserved`` (what the allocator held: what a neighbour
on the GPU cannot use). It prints estimate / measured: the bar is within 25%. Without a GPU it
prints the estimates only.

    python bench/grpo_memory_plan.py                       # on a GPU machine
    python bench/grpo_memory_plan.py --shapes qwen2.5-0.5b --steps 1 --rollout 8 --samples 4 --max-len 256
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2),
}
GIB = 1024**3


def build(folder: str, shape: dict[str, int]) -> None:
    """A model folder of that shape: config, random weights (seed 0), radas's byte tokenizer."""
    import torch
    import transformers

    from radas.grpo._tiny import build_tiny_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tiny_tokenizer()
    config = transformers.Qwen2Config(vocab_size=151936, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                      max_position_embeddings=4096, **shape)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated shapes")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rollout", type=int, default=32, help="rollout_batch_size (default: radas's 32)")
    parser.add_argument("--samples", type=int, default=8, help="n_samples_per_prompt (default: radas's 8)")
    parser.add_argument("--max-len", type=int, default=1024, help="max_seq_length (default: radas's 1024)")
    parser.add_argument("--out", default=None, help="folder for results.json")
    args = parser.parse_args()
    import torch

    from radas.grpo import estimate_trial_memory
    from radas.grpo._trainable import run_grpo

    gpu = torch.cuda.is_available()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        prompts = os.path.join(tmp, "prompts.jsonl")
        with open(prompts, "w") as f:
            for i in range(args.rollout):
                f.write(json.dumps({"prompt": f"Write the letter a {i} times.", "letter": "a"}) + "\n")
        for name in args.shapes.split(","):
            folder = os.path.join(tmp, name)
            build(folder, SHAPES[name])
            config = {"model": folder, "prompt_file": prompts, "reward_file": os.path.join(ROOT, "examples", "grpo",
                                                                                          "toy_reward.py"),
                      "rollout_batch_size": args.rollout, "n_samples_per_prompt": args.samples,
                      "max_seq_length": args.max_len, "max_steps": args.steps, "generation": "transformers"}
            estimate = estimate_trial_memory(config)
            row = {"shape": name, "parameters": estimate.shape.parameters, "estimate_gib": estimate.peak / GIB,
                   "estimate": estimate.describe(), "measured_gib": None, "ratio": None}
            if gpu:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                run_grpo(config, lambda metrics, checkpoint=None: None)
                measured = torch.cuda.max_memory_reserved()
                row.update(measured_gib=measured / GIB, ratio=estimate.peak / measured)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{'shape':<14} {'params':>8} {'estimate':>10} {'measured':>10} {'est/meas':>9}")
    for r in rows:
        measured = f"{r['measured_gib']:.2f} GiB" if r["measured_gib"] else "(no GPU)"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "-"
        params = f"{r['parameters'] / 1e6:.0f}M"
        print(f"{r['shape']:<14} {params:>8} {r['estimate_gib']:>7.2f} GiB {measured:>10} {ratio:>9}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
