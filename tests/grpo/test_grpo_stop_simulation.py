"""The stop rules against simulated GRPO runs: healthy ones must run to the end, collapsing ones must stop soon.

A run is simulated as radas sees it, one report per optimizer step (``logging_steps=1``) with the
metrics the trial's callback hands to :class:`StopWatch` (TRL's logs under radas's names plus
radas's group signals, ``correct_threshold=1.0``). Each step draws ``prompts`` prompts whose
success probabilities come from a Beta distribution (a realistic spread of difficulty: some
prompts always solved, some never), and ``samples`` 0/1 rewards per prompt, so groups whose
rewards are all equal arise by themselves (about a quarter of them). The Beta's mean, the run's
accuracy, rises from 25% to 60% over the first 150 steps, then stays flat, plus a slow wander of
the policy (AR(1), 0.02). A collapsing run is the same until a random step, where its success
probabilities fall to 3% of what they were at once ("fall"), or over 10 steps while the samples
of a group become identical and the entropy vanishes ("degenerate").

``python tests/grpo/test_grpo_stop_simulation.py`` prints the figures of docs/benchmarks.md;
``--stopping FILE`` takes ``StopRules`` / ``StopWatch`` from another version of
``radas/grpo/_stopping.py`` (``git show REV:radas/grpo/_stopping.py > FILE``).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from radas.grpo._stopping import StopRules, StopWatch

SIZES = [(4, 8), (8, 8), (16, 8), (32, 8)]  # prompts x samples per rollout
STEPS = 400
RISE_STEPS = 150
START, PLATEAU = 0.25, 0.60
CONCENTRATION = 1.8  # the Beta's a + b: ~27% of 8-sample groups all-equal over a run
WANDER, WANDER_RHO = 0.02, 0.9  # the policy's slow drift: stationary std, AR(1) coefficient
FALL_FROM, FALL_TO = 50, STEPS - 40  # where a collapsing run falls
FALLEN = 0.03  # what is left of each success probability after the fall
DEGENERATE_STEPS = 10
RUNS = 100

Watch = Callable[[], Any]  # a fresh object with .update(report) -> reason | None


@dataclass
class Outcome:
    stopped_at: int | None  # step of the report that stopped the run, None: ran to its end
    reason: str | None


def accuracy(steps: int) -> np.ndarray:
    t = np.arange(1, steps + 1)
    return START + (PLATEAU - START) * np.minimum(1.0, t / RISE_STEPS)


def simulate(seed: int, runs: int, prompts: int, samples: int, steps: int = STEPS,
             falls: np.ndarray | None = None, kind: str = "fall") -> Iterator[list[dict[str, float]]]:
    """Yield each run's reports (one per optimizer step); ``falls[i]`` is the first step of run i's collapse."""
    rng = np.random.default_rng(seed)
    wander = np.zeros((runs, steps))
    noise = rng.normal(0.0, WANDER * np.sqrt(1 - WANDER_RHO ** 2), size=(runs, steps))
    wander[:, 0] = rng.normal(0.0, WANDER, size=runs)
    for t in range(1, steps):
        wander[:, t] = WANDER_RHO * wander[:, t - 1] + noise[:, t]
    mean = np.clip(accuracy(steps)[None, :] + wander, 0.02, 0.98)[..., None]
    p = rng.beta(mean * CONCENTRATION, (1 - mean) * CONCENTRATION, size=(runs, steps, prompts))
    t = np.arange(1, steps + 1)[None, :]
    entropy = 0.25 + 0.45 * np.exp(-t / 300) + rng.normal(0.0, 0.02, size=(runs, steps))
    same = np.zeros((runs, steps), dtype=bool)  # the group's samples are identical (a degenerate policy)
    if falls is not None:
        since = t - falls[:, None]  # 0 at the first step of the collapse
        if kind == "fall":
            left = np.where(since >= 0, FALLEN, 1.0)
        else:
            ramp = np.clip((since + 1) / DEGENERATE_STEPS, 0.0, 1.0)
            left = 1.0 - (1.0 - FALLEN) * ramp
            same = rng.random((runs, steps)) < ramp
            entropy = np.where(since >= 0, np.maximum(entropy * 0.5 ** (since + 1), 0.003), entropy)
        p = p * left[..., None]
    k = rng.binomial(samples, p)
    if kind == "degenerate" and falls is not None:
        k = np.where(same[..., None], samples * (rng.random(p.shape) < p), k)
    n = prompts * samples
    total = k.sum(axis=-1)
    reward = total / n
    std = np.sqrt(total * (n - total) / (n * (n - 1)))  # TRL's reward_std: the batch's (nanstd)
    failed, solved = (k == 0).mean(axis=-1), (k == samples).mean(axis=-1)
    loss = rng.normal(0.0, 0.02, size=(runs, steps))
    grad_norm = np.abs(rng.normal(0.3, 0.1, size=(runs, steps))) + 0.01
    clipped = rng.binomial(n, 0.02, size=(runs, steps)) / n
    length = 180 + rng.normal(0.0, 15.0, size=(runs, steps))
    for i in range(runs):
        yield [{"step": s + 1, "reward_mean": r, "reward_std": sd, "frac_reward_zero_std": f + so,
                "percent_correct": r, "frac_groups_failed": f, "frac_groups_solved": so, "loss": lo,
                "grad_norm": g, "entropy": e, "completion_clipped_ratio": c, "completion_length": le,
                "learning_rate": 5e-6, "epoch": (s + 1) / steps, "trl/reward/reward_fn/mean": r}
               for s, (r, sd, f, so, lo, g, e, c, le) in enumerate(zip(
                   reward[i].tolist(), std[i].tolist(), failed[i].tolist(), solved[i].tolist(), loss[i].tolist(),
                   grad_norm[i].tolist(), entropy[i].tolist(), clipped[i].tolist(), length[i].tolist(),
                   strict=True))]


def run(watch: Watch, reports: list[dict[str, float]]) -> Outcome:
    w = watch()
    for report in reports:
        reason = w.update(report)
        if reason:
            return Outcome(int(report["step"]), reason)
    return Outcome(None, None)


def healthy(watch: Watch, prompts: int, samples: int, seed: int = 0, runs: int = RUNS) -> list[Outcome]:
    return [run(watch, r) for r in simulate(seed, runs, prompts, samples)]


def collapsing(watch: Watch, prompts: int, samples: int, kind: str, seed: int = 1,
               runs: int = RUNS) -> tuple[np.ndarray, list[Outcome]]:
    """The fall steps and outcomes of runs that collapse; each is fed until 40 steps after its fall."""
    falls = np.random.default_rng(seed + 1000).integers(FALL_FROM, FALL_TO, size=runs)
    outcomes = [run(watch, r[: int(f) + 40]) for r, f in
                zip(simulate(seed, runs, prompts, samples, falls=falls, kind=kind), falls, strict=True)]
    return falls, outcomes


def new_watch() -> StopWatch:
    return StopWatch(StopRules())


@pytest.mark.parametrize(("prompts", "samples"), SIZES)
def test_healthy_runs_are_left_alone(prompts: int, samples: int) -> None:
    outcomes = healthy(new_watch, prompts, samples, seed=prompts)
    stopped = [o for o in outcomes if o.stopped_at is not None]
    assert len(stopped) <= RUNS // 100, [(o.stopped_at, o.reason) for o in stopped]


@pytest.mark.parametrize("kind", ["fall", "degenerate"])
@pytest.mark.parametrize(("prompts", "samples"), SIZES)
def test_collapsed_runs_stop_within_30_steps_of_their_fall(prompts: int, samples: int, kind: str) -> None:
    falls, outcomes = collapsing(new_watch, prompts, samples, kind, seed=100 + prompts, runs=RUNS // 2)
    late = [(int(f), o.stopped_at, o.reason) for f, o in zip(falls, outcomes, strict=True)
            if o.stopped_at is None or not 0 <= o.stopped_at - f <= 30]
    assert not late
    assert all(o.reason and o.reason.startswith(("reward collapse", "entropy collapse", "no learning signal"))
               for o in outcomes)


def figures(watch: Watch, runs: int = RUNS, sizes: list[tuple[int, int]] = SIZES) -> list[str]:
    """One Markdown row per size: the healthy runs' all-equal groups and step-to-step noise of
    ``reward_mean`` on the plateau, how many were stopped, and the steps from a fall to the stop
    (median / max) of the collapsing runs."""
    rows = []
    for prompts, samples in sizes:
        reports = list(simulate(prompts, runs, prompts, samples))
        zero_std = np.mean([r["frac_reward_zero_std"] for run_ in reports for r in run_])
        noise = np.mean([np.std([r["reward_mean"] for r in run_[RISE_STEPS:]]) for run_ in reports])
        outcomes = [run(watch, r) for r in reports]
        stopped = sorted(o.stopped_at for o in outcomes if o.stopped_at is not None)
        median = f", median step {statistics.median(stopped):.0f}" if stopped else ""
        cells = [f"{prompts} x {samples}", f"{zero_std:.0%}", f"{noise:.3f}", f"{len(stopped)}/{runs}{median}"]
        for kind in ("fall", "degenerate"):
            falls, collapsed = collapsing(watch, prompts, samples, kind, seed=100 + prompts, runs=runs // 2)
            delays = [o.stopped_at - int(f) for f, o in zip(falls, collapsed, strict=True) if o.stopped_at is not None]
            missed = len(collapsed) - len(delays)
            early = sum(d < 0 for d in delays)
            after = [d for d in delays if d >= 0]
            text = f"{statistics.median(after):.0f} / {max(after)}" if after else "-"
            if missed or early:
                text += f" ({missed} of {len(collapsed)} not stopped in 40 steps, {early} stopped before the fall)"
            cells.append(text)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


if __name__ == "__main__":
    import argparse
    import importlib.util
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stopping", help="a radas/grpo/_stopping.py to take StopRules and StopWatch from")
    parser.add_argument("--wander", type=float, default=WANDER, help="the policy's slow wander (stationary std)")
    parser.add_argument("--runs", type=int, default=RUNS, help="healthy runs per size (half as many per collapse)")
    parser.add_argument("--prompts", type=int, nargs="+", default=[p for p, _ in SIZES],
                        help="prompts per rollout, one size each (8 samples per prompt)")
    args = parser.parse_args()
    module: Any = sys.modules[__name__]
    if args.stopping:
        spec = importlib.util.spec_from_file_location("stopping_under_test", args.stopping)
        assert spec and spec.loader
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    WANDER = args.wander
    rules = module.StopRules()
    began = time.perf_counter()
    print(f"rules: {rules}; wander {WANDER}")
    print("| prompts x samples | all-equal groups | noise of reward_mean per step | healthy runs stopped | "
          "steps from fall to stop, median / max (fall) | (degenerate) |")
    print("|---|---|---|---|---|---|")
    for row in figures(lambda: module.StopWatch(rules), args.runs, [(p, 8) for p in args.prompts]):
        print(row)
    print(f"({time.perf_counter() - began:.1f} s)")
