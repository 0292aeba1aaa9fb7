"""Scoring with a reward model (config key ``reward_model``): radas's adapter against TRL's own.

One step's scoring of ``--prompts`` prompts x ``--samples`` completions (chat prompts, as the toy
task's) by a local sequence-classification model (a Qwen2-shaped classifier of ``--hidden`` x
``--layers``, random weights, the tiny byte-level tokenizer; built here, no download):

* TRL: ``GRPOTrainer`` given the model folder in ``reward_funcs``, timing its
  ``_calculate_rewards`` (chat template, tokenizing, one forward pass, the gather);
* radas: the trial's adapter (:class:`radas.grpo._reward_model.ModelRewardAdapter` over
  :func:`radas.grpo._reward_model.load_reward_model`), as TRL calls it, the rewards also recorded
  for ``percent_correct``.

Both in one process on the CPU, interleaved step by step after a warm-up, median of ``--steps``
steps; the two must give the same rewards. Prints the ratio.

    python bench/reward_model.py --steps 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _reward_model(folder: str, hidden: int, layers: int) -> None:
    import torch
    import transformers

    from radas.grpo._tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    config = transformers.Qwen2Config(vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.pad_token_id,
                                      hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                                      num_attention_heads=max(1, hidden // 64),
                                      num_key_value_heads=max(1, hidden // 128), tie_word_embeddings=False)
    torch.manual_seed(0)
    transformers.Qwen2ForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    import torch
    import trl
    from datasets import Dataset

    from radas.grpo._reward_model import ModelRewardAdapter, load_reward_model
    from radas.grpo._rewards import RewardBook
    from radas.grpo._tiny import build_tiny_model, build_tiny_tokenizer

    torch.set_num_threads(1)
    n = args.prompts * args.samples
    prompts: list[Any] = [[{"role": "user", "content": f"Say the letter {'abcd'[i % 4]}, {i} times."}]
                          for i in range(args.prompts) for _ in range(args.samples)]
    completions: list[Any] = [[{"role": "assistant", "content": "ab" * (3 + i % 13)}] for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "judge")
        _reward_model(folder, args.hidden, args.layers)
        tokenizer = build_tiny_tokenizer()
        trainer = trl.GRPOTrainer(
            model=build_tiny_model(tokenizer), reward_funcs=[folder], processing_class=tokenizer,
            train_dataset=Dataset.from_list([{"prompt": p} for p in prompts[:: args.samples]]),
            args=trl.GRPOConfig(output_dir=os.path.join(tmp, "trl"), use_cpu=True, bf16=False, report_to="none",
                                num_generations=args.samples, per_device_train_batch_size=args.samples,
                                max_completion_length=32),
        )
        inputs = [{"prompt": p} for p in prompts]
        adapter = ModelRewardAdapter(load_reward_model(folder), 0, RewardBook([1.0], None, args.samples),
                                     lambda: ("cpu", False))

        def trl_step() -> list[float]:
            return [float(v) for v in trainer._calculate_rewards(inputs, prompts, completions, [[0]] * n)[:, 0]]

        def radas_step() -> list[float]:
            return adapter(prompts, completions)

        same = max(abs(a - b) for a, b in zip(trl_step(), radas_step(), strict=True))  # warm-up, and equal
        times: dict[str, list[float]] = {"TRL": [], "radas": []}
        for _ in range(args.steps):
            for name, step in (("TRL", trl_step), ("radas", radas_step)):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    trl_s, radas_s = statistics.median(times["TRL"]), statistics.median(times["radas"])
    print(f"one step's reward-model scoring, {n} chat completions, classifier {args.hidden} x {args.layers} "
          f"(median of {args.steps}; largest difference between the two's rewards {same:.2e}):")
    print(f"  TRL's GRPOTrainer   {1000 * trl_s:8.1f} ms")
    print(f"  radas's adapter     {1000 * radas_s:8.1f} ms")
    print(f"radas / TRL: {radas_s / trl_s:5.2f}x the time")


if __name__ == "__main__":
    main()
