"""Toy reward for radas.grpo: the share of the completion's characters that are the line's letter.

Each line of ``toy_prompts.jsonl`` asks for one letter (extra field ``letter``). The random
``"tiny"`` model writes a given byte about once in 260 tokens, so ``reward_mean`` starts near
0.005; GRPO on the CPU (``learning_rate=5e-3``, ``rollout_batch_size=4``,
``n_samples_per_prompt=8``, ``rollout_max_response_len=16``, ``lr_scheduler_type="constant"``)
lifts it to about 0.1 in 60 steps (about 10 s) and keeps climbing after. With TRL's default
schedule (``"linear"``: the learning rate decays to 0 over the run) it climbs more slowly.
"""


def reward_fn(completion, letter, **kwargs):
    """Share (0..1) of the characters of ``completion[0]["content"]`` equal to ``letter``."""
    text = completion[0]["content"]
    if not text:
        return 0.0
    return sum(ch == letter for ch in text) / len(text)
