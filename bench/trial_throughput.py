"""Trial throughput: radas against raw Ray Tune on the same grid of trivial trials.

Each variant runs in a fresh Python process, timed from its start (imports, ``ray.init``) to
the results DataFrame in hand, so Ray's start-up counts the same for everyone:

* raw Ray Tune with its defaults (a new worker process per trial),
* raw Ray Tune with ``reuse_actors=True``,
* ``radas.run_experiment`` with its defaults,
* ``radas.run_experiment`` with the live view on (``live_plot=True``): the figure of the trials so
  far redrawn every ``RADAS_LIVE_EVERY_S`` seconds (5, radas's default, and 1) into a PNG file
  while the report page is rewritten - it must stay within 10% of the run without it.

    python bench/trial_throughput.py --trials 100
    python bench/trial_throughput.py --variants radas,live5,live1 --repeats 5   # the live view only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

RAW = textwrap.dedent("""
    import json, os, sys, time
    t0 = time.perf_counter()
    import ray
    from ray import tune
    ray.init(include_dashboard=False, log_to_driver=False)
    def trivial(config):
        return {"score": config["i"]}
    tuner = tune.Tuner(trivial, param_space={"i": tune.grid_search(list(range(int(sys.argv[1]))))},
                       tune_config=tune.TuneConfig(reuse_actors=sys.argv[2] == "reuse"),
                       run_config=tune.RunConfig(name="raw", storage_path=sys.argv[3], verbose=0))
    df = tuner.fit().get_dataframe()
    assert len(df) == int(sys.argv[1])
    print(json.dumps({"seconds": time.perf_counter() - t0}))
""")

RADAS = textwrap.dedent("""
    import asyncio, json, os, sys, time
    t0 = time.perf_counter()
    from ray import tune
    import radas
    def trivial(config):
        return {"score": config["i"]}
    if sys.argv[2] != "off":  # the live view on, redrawn every that many seconds
        os.environ["RADAS_LIVE_EVERY_S"] = sys.argv[2]
    results = asyncio.run(radas.run_experiment(
        user_name="bench", experiment_name="radas", trainable=trivial,
        param_space={"i": tune.grid_search(list(range(int(sys.argv[1]))))}, run_choice="run",
        live_plot=sys.argv[2] != "off"))
    assert len(results["df"]) == int(sys.argv[1])
    print(json.dumps({"seconds": time.perf_counter() - t0}))
""")


VARIANTS = {
    "raw": ("raw Ray Tune (defaults)", RAW, ["default", "raw"]),
    "raw-reuse": ("raw Ray Tune (reuse_actors=True)", RAW, ["reuse", "raw"]),
    "radas": ("radas.run_experiment", RADAS, ["off"]),
    "live5": ("radas, live view every 5 s", RADAS, ["5"]),
    "live1": ("radas, live view every 1 s", RADAS, ["1"]),
}


def _time(script: str, *args: str, env: dict[str, str], cwd: str) -> float:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, check=False, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100, help="grid size (default 100)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant; the best is kept")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"which to run, comma-separated (default: all of {','.join(VARIANTS)})")
    args = parser.parse_args()
    chosen = [VARIANTS[key] for key in args.variants.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RADAS_RESULTS_DIR": os.path.join(tmp, "radas"), "RAY_AIR_NEW_OUTPUT": "0"}
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, script, extra in chosen:
                extra = [os.path.join(tmp, e) if e == "raw" else e for e in extra]
                seconds = _time(script, str(args.trials), *extra, env=env, cwd=tmp)
                best[name] = min(seconds, best.get(name, float("inf")))
    print(f"{args.trials} trivial trials, from ray.init to the DataFrame (best of {args.repeats}):")
    for name, seconds in best.items():
        print(f"  {name:34s} {seconds:7.1f} s  {args.trials / seconds:6.1f} trials/s")
    radas_s = best.get("radas.run_experiment")
    if radas_s is None:
        return
    for raw in ("raw Ray Tune (defaults)", "raw Ray Tune (reuse_actors=True)"):
        if raw in best:
            print(f"radas vs {raw}: {best[raw] / radas_s:5.2f}x the speed")
    for every in ("5", "1"):
        live_s = best.get(f"radas, live view every {every} s")
        if live_s is not None:
            print(f"live view every {every} s: {100 * (live_s / radas_s - 1):+5.1f}% time (within 10%: "
                  f"{'yes' if live_s <= 1.1 * radas_s else 'NO'})")


if __name__ == "__main__":
    main()
