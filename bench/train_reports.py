"""Reports of a Ray Train run inside a Tune trial: radas against raw Ray Tune.

One trial drives a ``TorchTrainer`` of two gloo workers (Ray's Train + Tune pattern, what a
distributed GRPO trial of radas is), whose workers report ``--reports`` times with nothing else to
do; each rank's ``ray.train.report`` waits until Ray Train's controller takes it, at its next poll
of the workers. Timed inside the workers, from the first report to the last, so start-up counts
for no one:

* raw Ray Tune: Ray's own poll interval (``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S``, 2 s);
* ``radas.run_experiment``: the interval radas gives the Train runs its trials drive (0.2 s).

Each variant runs in a fresh Python process with its own local Ray.

    python bench/train_reports.py --reports 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

DRIVER = textwrap.dedent("""
    import json, os, sys, time
    import ray, ray.train, ray.tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    def per_worker(config):
        first = time.perf_counter()
        for step in range(config["reports"]):
            ray.train.report({"step": step})
        if ray.train.get_context().get_world_rank() == 0:
            with open(config["out"], "w") as f:
                json.dump({"seconds": time.perf_counter() - first}, f)

    def driver(config):
        TorchTrainer(per_worker, train_loop_config=config,
                     scaling_config=ray.train.ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.5}),
                     torch_config=TorchConfig(backend="gloo"),
                     run_config=ray.train.RunConfig(name="bench", storage_path=ray.tune.get_context().get_trial_dir(),
                                                    callbacks=[TuneReportCallback()])).fit()
""")

RAW = DRIVER + textwrap.dedent("""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.tune.Tuner(driver, param_space={"reports": int(sys.argv[1]), "out": sys.argv[2]},
                   run_config=ray.tune.RunConfig(name="raw", storage_path=sys.argv[3], verbose=0)).fit()
""")

RADAS = DRIVER + textwrap.dedent("""
    import asyncio
    import radas
    asyncio.run(radas.run_experiment(user_name="bench", experiment_name="radas", trainable=driver,
                                     param_space={"reports": int(sys.argv[1]), "out": sys.argv[2]}, run_choice="run"))
""")


def _seconds(script: str, reports: int, tmp: str, name: str, env: dict[str, str]) -> float:
    out = os.path.join(tmp, f"{name}.json")
    done = subprocess.run([sys.executable, "-c", script, str(reports), out, os.path.join(tmp, name)],
                          capture_output=True, text=True, env=env, cwd=tmp, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0 or not os.path.exists(out):
        raise SystemExit(f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    with open(out) as f:
        return float(json.load(f)["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=20, help="reports per worker (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"}
        env["RADAS_RESULTS_DIR"] = os.path.join(tmp, "radas")
        raw = _seconds(RAW, args.reports, tmp, "raw", env)
        ours = _seconds(RADAS, args.reports, tmp, "radas", env)
    print(f"{args.reports} reports of two Ray Train workers inside a Tune trial, first to last:")
    print(f"  raw Ray Tune            {raw:6.1f} s  {1000 * raw / args.reports:6.0f} ms per report")
    print(f"  radas.run_experiment    {ours:6.1f} s  {1000 * ours / args.reports:6.0f} ms per report")
    print(f"radas vs raw Ray Tune: {raw / ours:5.1f}x the speed")


if __name__ == "__main__":
    main()
